"""Kalshi WebSocket protocol: typed messages, the frame decoder and command builders (sans-I/O)."""

from market_making_bot.kalshi.commands import list_subscriptions, subscribe, unsubscribe, update_subscription
from market_making_bot.kalshi.decode import DecodeError, decode_frame
from market_making_bot.kalshi.messages import (
    KNOWN_TYPES,
    ErrorMsg,
    Fill,
    MarketPosition,
    Message,
    Ok,
    OrderbookDelta,
    OrderbookSnapshot,
    Side,
    Subscribed,
    Ticker,
    TickerV2,
    Trade,
    UnknownMessage,
    Unsubscribed,
)

__all__ = [
    "KNOWN_TYPES",
    "DecodeError",
    "ErrorMsg",
    "Fill",
    "MarketPosition",
    "Message",
    "Ok",
    "OrderbookDelta",
    "OrderbookSnapshot",
    "Side",
    "Subscribed",
    "Ticker",
    "TickerV2",
    "Trade",
    "UnknownMessage",
    "Unsubscribed",
    "decode_frame",
    "list_subscriptions",
    "subscribe",
    "unsubscribe",
    "update_subscription",
]
