"""Typed server -> client messages, with every value already converted to the project's integer units.

Prices are ints in 1/10,000 dollar, sizes ints in 1/100 contract, money ints in 1/1,000,000 dollar (see
``market_making_bot.units``). Each message carries the envelope fields ``sid``, ``seq``, ``id`` and ``sending_ts_ms``
(``None`` when the frame has none) and a ``type`` equal to the wire ``type`` string. Build them with
``decode_frame``; they are plain mutable structs so that tests and the simulator can also build them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

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


_TICKER_LAZY = (
    "price",
    "yes_bid",
    "yes_ask",
    "volume",
    "open_interest",
    "dollar_volume",
    "dollar_open_interest",
    "yes_bid_size",
    "yes_ask_size",
    "last_trade_size",
    "ts_ms",
)


def _lazy_field(name: str) -> Any:
    """A field of ``Ticker`` converted on first read: the wire body is kept until a lazy field is read or set."""
    slot = "_" + name

    def get(self: Ticker) -> Any:
        if self._wire is not None:
            self._load()
        return getattr(self, slot)

    def set_(self: Ticker, value: Any) -> None:
        if self._wire is not None:
            self._load()
        setattr(self, slot, value)

    return property(get, set_, doc=f"``{name}`` (converted from the wire on first read)")


class Ticker:
    """Market summary. ``price`` is the last trade price; ``volume``/``open_interest`` and the ``*_size`` fields are
    sizes; ``dollar_volume``/``dollar_open_interest`` are whole dollars (plain ints, not money units).

    A mutable struct like the other messages (keyword construction, ``==``, ``repr``), but not a msgspec Struct:
    a decoded ticker keeps its wire body and converts the fields below on first read (issue 17: nobody reads most
    tickers' fields per frame, and volume and open interest almost never repeat, so their parse was pure cost).
    ``kalshi.decode`` checked every field's shape when the frame arrived, so a malformed ticker is still refused
    then, and a later read cannot fail."""

    __slots__ = ("_wire", "market_ticker", "sending_ts_ms", "id", "seq", "sid", *("_" + n for n in _TICKER_LAZY))
    type: ClassVar[str] = "ticker"
    _loader: ClassVar[Callable[[Ticker, Any], None] | None] = None
    """Set by ``kalshi.decode``: fills the lazy fields from a wire body."""

    if TYPE_CHECKING:
        price: int | None
        yes_bid: int | None
        yes_ask: int | None
        volume: int | None
        open_interest: int | None
        dollar_volume: int | None
        dollar_open_interest: int | None
        yes_bid_size: int | None
        yes_ask_size: int | None
        last_trade_size: int | None
        ts_ms: int | None
    else:
        price = _lazy_field("price")
        yes_bid = _lazy_field("yes_bid")
        yes_ask = _lazy_field("yes_ask")
        volume = _lazy_field("volume")
        open_interest = _lazy_field("open_interest")
        dollar_volume = _lazy_field("dollar_volume")
        dollar_open_interest = _lazy_field("dollar_open_interest")
        yes_bid_size = _lazy_field("yes_bid_size")
        yes_ask_size = _lazy_field("yes_ask_size")
        last_trade_size = _lazy_field("last_trade_size")
        ts_ms = _lazy_field("ts_ms")

    def __init__(
        self,
        *,
        market_ticker: str,
        sid: int | None = None,
        seq: int | None = None,
        id: int | None = None,
        sending_ts_ms: int | None = None,
        price: int | None = None,
        yes_bid: int | None = None,
        yes_ask: int | None = None,
        volume: int | None = None,
        open_interest: int | None = None,
        dollar_volume: int | None = None,
        dollar_open_interest: int | None = None,
        yes_bid_size: int | None = None,
        yes_ask_size: int | None = None,
        last_trade_size: int | None = None,
        ts_ms: int | None = None,
    ) -> None:
        self.sid = sid
        self.seq = seq
        self.id = id
        self.sending_ts_ms = sending_ts_ms
        self.market_ticker = market_ticker
        self._wire: Any = None
        self._price = price
        self._yes_bid = yes_bid
        self._yes_ask = yes_ask
        self._volume = volume
        self._open_interest = open_interest
        self._dollar_volume = dollar_volume
        self._dollar_open_interest = dollar_open_interest
        self._yes_bid_size = yes_bid_size
        self._yes_ask_size = yes_ask_size
        self._last_trade_size = last_trade_size
        self._ts_ms = ts_ms

    @classmethod
    def _lazy(
        cls, sid: int | None, seq: int | None, id: int | None, sending_ts_ms: int | None, market_ticker: str, wire: Any
    ) -> Ticker:
        """A decoded ticker whose fields are converted from ``wire`` (already checked) on first read."""
        self = cls.__new__(cls)  # no __init__: six stores instead of seventeen (the hot path of tickers)
        self.sid = sid
        self.seq = seq
        self.id = id
        self.sending_ts_ms = sending_ts_ms
        self.market_ticker = market_ticker
        self._wire = wire
        return self

    def _load(self) -> None:
        wire, self._wire = self._wire, None
        loader = Ticker._loader
        assert loader is not None, "a lazy Ticker is only built by kalshi.decode, which sets the loader"
        loader(self, wire)

    def _values(self) -> tuple[Any, ...]:
        return (
            self.sid,
            self.seq,
            self.id,
            self.sending_ts_ms,
            self.market_ticker,
            *(getattr(self, name) for name in _TICKER_LAZY),
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the msgspec structs

    def __repr__(self) -> str:
        names = ("sid", "seq", "id", "sending_ts_ms", "market_ticker", *_TICKER_LAZY)
        return "Ticker(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._values(), strict=True)) + ")"


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


_FILL_FIELDS = (
    "sid",
    "seq",
    "id",
    "sending_ts_ms",
    "market_ticker",
    "yes_price",
    "count",
    "side",
    "action",
    "fee",
    "is_taker",
    "post_position",
    "trade_id",
    "order_id",
    "client_order_id",
    "ts_ms",
)
"""A fill's fields in the order of ``repr`` and of the journal (the order of the struct it was until issue 17)."""
_FILL_LAZY = ("fee", "is_taker", "client_order_id", "ts_ms")
_POSITION_FIELDS = (
    "sid",
    "seq",
    "id",
    "sending_ts_ms",
    "market_ticker",
    "position",
    "position_cost",
    "realized_pnl",
    "fees_paid",
    "position_fee_cost",
    "volume",
)
_POSITION_LAZY = ("position_cost", "realized_pnl", "fees_paid", "position_fee_cost", "volume")


class _LazyMessage:
    """What ``Fill`` and ``MarketPosition`` share: a mutable message that, when decoded, keeps its wire body in
    ``_wire`` and converts the fields nobody reads per frame (money, mostly) on first read or write of one of them
    (``_lazy_field``), like ``Ticker``. ``==`` and ``repr`` are those of the msgspec structs they were (all fields,
    in ``_fields`` order); not hashable (mutable)."""

    __slots__ = ("_wire",)
    _wire: Any
    _fields: ClassVar[tuple[str, ...]] = ()
    _loader: ClassVar[Callable[[Any, Any], None] | None] = None
    """Set by ``kalshi.decode``: fills the lazy fields from a wire body (already checked when the frame arrived)."""

    def _load(self) -> None:
        wire, self._wire = self._wire, None
        loader = self.__class__._loader
        assert loader is not None, "a lazy message is only built by kalshi.decode, which sets the loader"
        loader(self, wire)

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the msgspec structs

    def __repr__(self) -> str:
        pairs = zip(self._fields, self._values(), strict=True)
        return self.__class__.__name__ + "(" + ", ".join(f"{n}={v!r}" for n, v in pairs) + ")"


class Fill(_LazyMessage):
    """One of your fills. ``side`` is the outcome bought or sold (``"yes"``/``"no"``), ``action`` ``"buy"``/``"sell"``
    (as sent); ``fee`` is money units; ``post_position`` is your signed position after the fill (size units).

    Keyword construction, ``==`` and ``repr`` as a msgspec struct; decoded, ``fee``, ``is_taker``,
    ``client_order_id`` and ``ts_ms`` are converted on first read (issue 17: a fee seldom repeats, so its parse and
    cache insertion were pure cost to a listener that never reads it). ``kalshi.decode`` checked their shape when
    the frame arrived, so a malformed fill is still refused then, and a later read cannot fail. What the hot
    consumers read per fill (price, count, side, action, ids, ``post_position``) is a plain attribute."""

    __slots__ = (
        "action",
        "count",
        "id",
        "market_ticker",
        "order_id",
        "post_position",
        "sending_ts_ms",
        "seq",
        "side",
        "sid",
        "trade_id",
        "yes_price",
        *("_" + n for n in _FILL_LAZY),
    )
    type: ClassVar[str] = "fill"
    _fields: ClassVar[tuple[str, ...]] = _FILL_FIELDS

    if TYPE_CHECKING:
        fee: int | None
        is_taker: bool | None
        client_order_id: str | None
        ts_ms: int | None
    else:
        fee = _lazy_field("fee")
        is_taker = _lazy_field("is_taker")
        client_order_id = _lazy_field("client_order_id")
        ts_ms = _lazy_field("ts_ms")

    def __init__(
        self,
        *,
        market_ticker: str,
        yes_price: int,
        count: int,
        sid: int | None = None,
        seq: int | None = None,
        id: int | None = None,
        sending_ts_ms: int | None = None,
        side: str | None = None,
        action: str | None = None,
        fee: int | None = None,
        is_taker: bool | None = None,
        post_position: int | None = None,
        trade_id: str | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
        ts_ms: int | None = None,
    ) -> None:
        self.sid = sid
        self.seq = seq
        self.id = id
        self.sending_ts_ms = sending_ts_ms
        self.market_ticker = market_ticker
        self.yes_price = yes_price
        self.count = count
        self.side = side
        self.action = action
        self.post_position = post_position
        self.trade_id = trade_id
        self.order_id = order_id
        self._wire = None
        self._fee = fee
        self._is_taker = is_taker
        self._client_order_id = client_order_id
        self._ts_ms = ts_ms


class MarketPosition(_LazyMessage):
    """Your position in one market: ``position`` signed size (negative = NO), money fields in money units.

    Like ``Fill``: decoded, the money fields and ``volume`` (which almost never repeat) are converted on first read,
    after a shape check when the frame arrived; ``position`` is a plain attribute."""

    __slots__ = ("id", "market_ticker", "position", "sending_ts_ms", "seq", "sid", *("_" + n for n in _POSITION_LAZY))
    type: ClassVar[str] = "market_position"
    _fields: ClassVar[tuple[str, ...]] = _POSITION_FIELDS

    if TYPE_CHECKING:
        position_cost: int | None
        realized_pnl: int | None
        fees_paid: int | None
        position_fee_cost: int | None
        volume: int | None
    else:
        position_cost = _lazy_field("position_cost")
        realized_pnl = _lazy_field("realized_pnl")
        fees_paid = _lazy_field("fees_paid")
        position_fee_cost = _lazy_field("position_fee_cost")
        volume = _lazy_field("volume")

    def __init__(
        self,
        *,
        market_ticker: str,
        position: int,
        sid: int | None = None,
        seq: int | None = None,
        id: int | None = None,
        sending_ts_ms: int | None = None,
        position_cost: int | None = None,
        realized_pnl: int | None = None,
        fees_paid: int | None = None,
        position_fee_cost: int | None = None,
        volume: int | None = None,
    ) -> None:
        self.sid = sid
        self.seq = seq
        self.id = id
        self.sending_ts_ms = sending_ts_ms
        self.market_ticker = market_ticker
        self.position = position
        self._wire = None
        self._position_cost = position_cost
        self._realized_pnl = realized_pnl
        self._fees_paid = fees_paid
        self._position_fee_cost = position_fee_cost
        self._volume = volume


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
