"""Kalshi market-data foundation for market makers: order books, the trade tape, your fills and positions, as one
stream of typed events, live, from recordings, or from the built-in exchange simulator.

The public API, in a few lines (see the README, "Library")::

    import market_making_bot as mmb

    for event in mmb.replay(["session.jsonl.gz"], kinds=[mmb.BookChanged]):
        ...
    async with mmb.simulate(markets=3) as feed:
        async for event in feed.events(mmb.TradeSeen):
            ...

Names are loaded on first use, so ``import market_making_bot`` stays cheap (the simulator and the command-line
programs import only what they use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from market_making_bot._version import __version__

_EXPORTS: dict[str, str] = {
    # entry points
    "replay": "api",
    "connect": "api",
    "simulate": "api",
    "LiveFeed": "api",
    "Config": "runtime.config",
    "ConnectionPolicy": "runtime.client",
    "RecordingError": "storage.journal",
    # the REST client (Kalshi's API v2)
    "KalshiAPIClient": "runtime.rest",
    "KalshiAPIError": "kalshi.rest",
    "KalshiResponseError": "kalshi.rest",
    "KalshiConnectionError": "runtime.rest",
    # the feed and its state
    "Core": "feed.core",
    "FeedProtocol": "feed.protocol",
    "Session": "feed.session",
    "Health": "feed.health",
    "MarketState": "marketdata.state",
    "MarketDataState": "marketdata.state",
    "OrderBook": "marketdata.orderbook",
    # events
    "Event": "feed.events",
    "EventBus": "feed.events",
    "BookSnapshot": "feed.events",
    "BookChanged": "feed.events",
    "BookUsable": "feed.events",
    "BookUnusable": "feed.events",
    "TradeSeen": "feed.events",
    "FillSeen": "feed.events",
    "PositionChanged": "feed.events",
    "TickerSeen": "feed.events",
    "SequenceProblemSeen": "feed.events",
    "FrameRejected": "feed.events",
    "HandlerFailed": "feed.events",
    "ControlReply": "feed.events",
    "UnknownFrame": "feed.events",
    "ConnectionUp": "feed.events",
    "ConnectionDown": "feed.events",
    "Notice": "feed.events",
    "NoticeKind": "feed.events",
    "HealthReport": "feed.events",
    # units: integer prices (1/10,000 $), sizes (1/100 contract), money (1/1,000,000 $)
    "PRICE_SCALE": "units",
    "SIZE_SCALE": "units",
    "price_str": "units",
    "size_str": "units",
}

__all__ = [
    "__version__",
    "replay",
    "connect",
    "simulate",
    "LiveFeed",
    "Config",
    "ConnectionPolicy",
    "RecordingError",
    "KalshiAPIClient",
    "KalshiAPIError",
    "KalshiResponseError",
    "KalshiConnectionError",
    "Core",
    "FeedProtocol",
    "Session",
    "Health",
    "MarketState",
    "MarketDataState",
    "OrderBook",
    "Event",
    "EventBus",
    "BookSnapshot",
    "BookChanged",
    "BookUsable",
    "BookUnusable",
    "TradeSeen",
    "FillSeen",
    "PositionChanged",
    "TickerSeen",
    "SequenceProblemSeen",
    "FrameRejected",
    "HandlerFailed",
    "ControlReply",
    "UnknownFrame",
    "ConnectionUp",
    "ConnectionDown",
    "Notice",
    "NoticeKind",
    "HealthReport",
    "PRICE_SCALE",
    "SIZE_SCALE",
    "price_str",
    "size_str",
]  # the names of _EXPORTS (a test checks)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'market_making_bot' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from market_making_bot.api import LiveFeed, connect, replay, simulate
    from market_making_bot.feed.core import Core
    from market_making_bot.feed.events import (
        BookChanged,
        BookSnapshot,
        BookUnusable,
        BookUsable,
        ConnectionDown,
        ConnectionUp,
        ControlReply,
        Event,
        EventBus,
        FillSeen,
        FrameRejected,
        HandlerFailed,
        HealthReport,
        Notice,
        NoticeKind,
        PositionChanged,
        SequenceProblemSeen,
        TickerSeen,
        TradeSeen,
        UnknownFrame,
    )
    from market_making_bot.feed.health import Health
    from market_making_bot.feed.protocol import FeedProtocol
    from market_making_bot.feed.session import Session
    from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError
    from market_making_bot.marketdata.orderbook import OrderBook
    from market_making_bot.marketdata.state import MarketDataState, MarketState
    from market_making_bot.runtime.client import ConnectionPolicy
    from market_making_bot.runtime.config import Config
    from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError
    from market_making_bot.storage.journal import RecordingError
    from market_making_bot.units import PRICE_SCALE, SIZE_SCALE, price_str, size_str
