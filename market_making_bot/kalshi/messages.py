"""Typed server -> client messages, with every value already converted to the project's integer units.

Prices are ints in 1/10,000 dollar, sizes ints in 1/100 contract, money ints in 1/1,000,000 dollar (see
``market_making_bot.units``). Each message carries the envelope fields ``sid``, ``seq``, ``id`` and ``sending_ts_ms``
(``None`` when the frame has none) and a ``type`` equal to the wire ``type`` string. Build them with
``decode_frame``; they are plain mutable structs so that tests and the simulator can also build them directly.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

import msgspec

Side = Literal["yes", "no"]


class _Envelope(msgspec.Struct, kw_only=True, gc=False):
    sid: int | None = None
    seq: int | None = None
    id: int | None = None
    sending_ts_ms: int | None = None


class Subscribed(_Envelope, kw_only=True, gc=False):
    """Ack of one channel of a ``subscribe`` command; ``sid`` is the new subscription id (from ``msg.sid``)."""

    type: ClassVar[str] = "subscribed"
    channel: str


class Unsubscribed(_Envelope, kw_only=True, gc=False):
    """A subscription ended (reply to ``unsubscribe`` or server initiated); ``sid`` is always set."""

    type: ClassVar[str] = "unsubscribed"


class Ok(_Envelope, kw_only=True, gc=False):
    """Reply to ``update_subscription`` (``market_tickers``: the full list after the change) or to
    ``list_subscriptions`` (``subscriptions``: ``[{"channel": ..., "sid": ...}, ...]``)."""

    type: ClassVar[str] = "ok"
    market_tickers: list[str] | None = None
    subscriptions: list[dict[str, Any]] | None = None


class ErrorMsg(_Envelope, kw_only=True, gc=False):
    """Server error reply; ``code`` as in PROTOCOL.md section 3.6 (10 and 25 end the subscription)."""

    type: ClassVar[str] = "error"
    code: int
    message: str = ""
    market_ticker: str | None = None
    market_tickers: list[str] | None = None


class OrderbookSnapshot(_Envelope, kw_only=True, gc=False):
    """Full book of one market: ``yes`` and ``no`` bid levels as ``(price, size)``; a missing side is ``[]``."""

    type: ClassVar[str] = "orderbook_snapshot"
    market_ticker: str
    yes: list[tuple[int, int]]
    no: list[tuple[int, int]]
    market_id: str | None = None
    clock: int | None = None


class OrderbookDelta(_Envelope, kw_only=True, gc=False):
    """Signed change ``delta`` (size units) of the resting size at ``price`` on the ``side`` bid ladder."""

    type: ClassVar[str] = "orderbook_delta"
    market_ticker: str
    side: Side
    price: int
    delta: int
    ts_ms: int | None = None
    clock: int | None = None
    client_order_id: str | None = None


class Ticker(_Envelope, kw_only=True, gc=False):
    """Market summary. ``price`` is the last trade price; ``volume``/``open_interest`` and the ``*_size`` fields are
    sizes; ``dollar_volume``/``dollar_open_interest`` are whole dollars (plain ints, not money units)."""

    type: ClassVar[str] = "ticker"
    market_ticker: str
    price: int | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    volume: int | None = None
    open_interest: int | None = None
    dollar_volume: int | None = None
    dollar_open_interest: int | None = None
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None
    last_trade_size: int | None = None
    ts_ms: int | None = None


class TickerV2(_Envelope, kw_only=True, gc=False):
    """Retired (2026-02-12) partial ticker: only the fields that changed, with volume and open interest as deltas."""

    type: ClassVar[str] = "ticker_v2"
    market_ticker: str
    price: int | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    volume_delta: int | None = None
    open_interest_delta: int | None = None
    dollar_volume_delta: int | None = None
    dollar_open_interest_delta: int | None = None
    ts_ms: int | None = None


class Trade(_Envelope, kw_only=True, gc=False):
    """Public trade. ``taker_side`` is ``"yes"``/``"no"`` (from ``taker_outcome_side``, ``taker_side`` or
    ``taker_book_side``), ``None`` if the frame does not say."""

    type: ClassVar[str] = "trade"
    market_ticker: str
    yes_price: int
    no_price: int
    count: int
    taker_side: Side | None = None
    trade_id: str | None = None
    ts_ms: int | None = None


class Fill(_Envelope, kw_only=True, gc=False):
    """One of your fills. ``side`` is the outcome bought or sold (``"yes"``/``"no"``), ``action`` ``"buy"``/``"sell"``
    (as sent); ``fee`` is money units; ``post_position`` is your signed position after the fill (size units)."""

    type: ClassVar[str] = "fill"
    market_ticker: str
    yes_price: int
    count: int
    side: str | None = None
    action: str | None = None
    fee: int | None = None
    is_taker: bool | None = None
    post_position: int | None = None
    trade_id: str | None = None
    order_id: str | None = None
    client_order_id: str | None = None
    ts_ms: int | None = None


class MarketPosition(_Envelope, kw_only=True, gc=False):
    """Your position in one market: ``position`` signed size (negative = NO), money fields in money units."""

    type: ClassVar[str] = "market_position"
    market_ticker: str
    position: int
    position_cost: int | None = None
    realized_pnl: int | None = None
    fees_paid: int | None = None
    position_fee_cost: int | None = None
    volume: int | None = None


class UserOrder(_Envelope, kw_only=True, gc=False):
    """A full snapshot of one of your orders (channel ``user_orders``, no seq; PROTOCOL.md 4.7). ``book_side``
    ``"bid"`` buys YES, ``"ask"`` sells YES; ``yes_price`` price units; the counts cumulative sizes; the costs and
    fees money units. ``status``: ``resting|canceled|executed|unknown``. Apply the newest by
    ``last_updated_ts_ms`` (tie: the larger fill count) and never take a terminal state back (REST.md 4.8)."""

    type: ClassVar[str] = "user_order"
    order_id: str
    ticker: str
    status: str
    book_side: str
    yes_price: int
    fill_count: int
    remaining_count: int
    initial_count: int
    client_order_id: str | None = None
    taker_fill_cost: int | None = None
    maker_fill_cost: int | None = None
    taker_fees: int | None = None
    maker_fees: int | None = None
    order_group_id: str | None = None
    last_updated_ts_ms: int | None = None
    last_update_reason: str | None = None
    created_ts_ms: int | None = None
    expiration_ts_ms: int | None = None
    exchange_index: int | None = None
    subaccount: int | None = None


class OrderGroupUpdate(_Envelope, kw_only=True, gc=False):
    """An order group changed (channel ``order_group_updates``, with seq; PROTOCOL.md 4.8): ``event_type``
    ``created|triggered|reset|deleted|limit_updated``; ``contracts_limit`` (size units) on created/limit_updated."""

    type: ClassVar[str] = "order_group_updates"
    event_type: str
    order_group_id: str
    contracts_limit: int | None = None
    ts_ms: int | None = None


class UnknownMessage(_Envelope, kw_only=True, gc=False):
    """A frame whose ``type`` this project does not model (lifecycle, RFQ, index feeds, ...), kept raw."""

    type: str
    raw: dict[str, Any]


Message: TypeAlias = (
    Subscribed
    | Unsubscribed
    | Ok
    | ErrorMsg
    | OrderbookSnapshot
    | OrderbookDelta
    | Ticker
    | TickerV2
    | Trade
    | Fill
    | MarketPosition
    | UserOrder
    | OrderGroupUpdate
    | UnknownMessage
)

#: The wire ``type`` strings of the modelled messages.
KNOWN_TYPES: frozenset[str] = frozenset(
    cls.type
    for cls in (
        Subscribed,
        Unsubscribed,
        Ok,
        ErrorMsg,
        OrderbookSnapshot,
        OrderbookDelta,
        Ticker,
        TickerV2,
        Trade,
        Fill,
        MarketPosition,
        UserOrder,
        OrderGroupUpdate,
    )
)
