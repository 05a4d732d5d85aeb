"""Typed, immutable events: what the feed tells its consumers (log lines, dashboard, metrics, export, a strategy).

Every event carries ``recv_ns``, the time the frame that caused it was received (or, for connection events, the
time the shell saw the connection change), so a replay emits the same events as the live run.

Events that concern one market carry its ``ticker`` and, where the consumer needs more than the event says, the
market's live state (``market``, a :class:`market_making_bot.marketdata.state.MarketState`) and the decoded wire message
(``msg``). The state is the feed's own: read it during the callback, never change it, and copy what must outlive it.

Subscribing costs nothing when nobody listens: an :class:`EventBus` hands the emitter one list of callbacks per
event type (:meth:`EventBus.listeners`); the emitter builds an event only when that list is not empty.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from market_making_bot.feed.health import Health
    from market_making_bot.kalshi.messages import (
        ErrorMsg,
        Fill,
        MarketPosition,
        Ok,
        OrderbookDelta,
        OrderbookSnapshot,
        OrderGroupUpdate,
        Subscribed,
        Ticker,
        TickerV2,
        Trade,
        UnknownMessage,
        Unsubscribed,
        UserOrder,
    )
    from market_making_bot.kalshi.rest import Order
    from market_making_bot.marketdata.sequence import SequenceProblem
    from market_making_bot.marketdata.state import MarketState

__all__ = [
    "AccountRead",
    "BookChanged",
    "BookSnapshot",
    "BookUnusable",
    "BookUsable",
    "ConnectionDown",
    "ConnectionUp",
    "ControlReply",
    "Event",
    "EventBus",
    "FillSeen",
    "FrameRejected",
    "HandlerFailed",
    "HealthReport",
    "Notice",
    "NoticeKind",
    "OrderFrameSeen",
    "PositionChanged",
    "SequenceProblemSeen",
    "TickerSeen",
    "TradeSeen",
    "UnknownFrame",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event."""

    recv_ns: int


# -- order books --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookSnapshot(Event):
    """A snapshot replaced the market's book wholesale (``market.book`` is the new book)."""

    ticker: str
    market: MarketState
    msg: OrderbookSnapshot


@dataclass(frozen=True, slots=True)
class BookChanged(Event):
    """A delta changed one level of the market's book. ``size`` is the level's size after it (size units; 0: the
    level is gone); ``top_changed`` says whether the best YES bid or the best YES ask (1 - best NO bid) moved."""

    ticker: str
    market: MarketState
    msg: OrderbookDelta
    size: int
    top_changed: bool


@dataclass(frozen=True, slots=True)
class BookUsable(Event):
    """The market's book can be trusted from now on (a fresh snapshot on a live subscription)."""

    ticker: str
    market: MarketState


@dataclass(frozen=True, slots=True)
class BookUnusable(Event):
    """The market's book can no longer be trusted (gap, crossed, disconnect, ended subscription, ...), and why."""

    ticker: str
    reason: str
    market: MarketState


# -- the tape, the account, the ticker ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradeSeen(Event):
    """A public trade, new to this market (a trade seen twice is dropped, not emitted)."""

    ticker: str
    market: MarketState
    msg: Trade


@dataclass(frozen=True, slots=True)
class FillSeen(Event):
    """One of the account's fills, new to this market (deduplicated by ``trade_id``). ``backfill``: it came from
    the REST backfill (``GET /portfolio/fills`` after a reconnect or on the timer), not from the stream."""

    ticker: str
    market: MarketState
    msg: Fill
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class OrderFrameSeen(Event):
    """A ``user_order`` snapshot or an ``order_group_updates`` frame about the account's orders: for the order
    tracker (``trading.orders``, driven by ``runtime.orders``), which keeps the orders' state; the feed keeps none."""

    msg: UserOrder | OrderGroupUpdate


@dataclass(frozen=True, slots=True)
class PositionChanged(Event):
    """The account's position in the market, as Kalshi reported it (``market.position`` holds the new value)."""

    ticker: str
    market: MarketState
    msg: MarketPosition


@dataclass(frozen=True, slots=True)
class TickerSeen(Event):
    """A ticker update (``ticker`` or ``ticker_v2`` channel)."""

    ticker: str
    market: MarketState
    msg: Ticker | TickerV2


# -- problems and the protocol ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceProblemSeen(Event):
    """A gap, duplicate, regression, delta without snapshot, crossed book or negative level (see ``problem``).
    For a problem a delta revealed, ``delta`` is that delta; for a negative level, ``size`` is the level's size the
    delta left (below zero: the level was removed)."""

    problem: SequenceProblem
    delta: OrderbookDelta | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class FrameRejected(Event):
    """A frame that could not be decoded (malformed, out of range, too large): counted, never applied."""

    reason: str
    data: str | bytes


@dataclass(frozen=True, slots=True)
class HandlerFailed(Event):
    """Applying a decoded message (or a consumer's callback) raised: a bug, contained and counted."""

    msg_type: str


@dataclass(frozen=True, slots=True)
class ControlReply(Event):
    """A reply to a command: ``subscribed``, ``unsubscribed``, ``ok`` or ``error``."""

    msg: Subscribed | Unsubscribed | Ok | ErrorMsg


@dataclass(frozen=True, slots=True)
class UnknownFrame(Event):
    """A well-formed frame of a type the project does not model (lifecycle, RFQ, ...): counted and kept raw."""

    msg: UnknownMessage


@dataclass(frozen=True, slots=True)
class AccountRead(Event):
    """The account as REST last told it (``--with-private``: at start and on the backfill timer; not from frames).

    ``balance`` (available) and ``portfolio_value`` in money units (1/1,000,000 $), ``resting`` the resting orders in
    the followed markets; ``None`` while never read. ``read_ns``: when they were read (``None``: never).
    ``error``: the latest read failed (and why): the values are those of ``read_ns``, stale, or unknown."""

    balance: int | None
    portfolio_value: int | None
    resting: tuple[Order, ...] | None
    read_ns: int | None
    error: str | None = None


# -- the connection ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionUp(Event):
    """A signed handshake succeeded: connection number ``connection`` (1, 2, ...) to ``url``."""

    connection: int
    url: str


@dataclass(frozen=True, slots=True)
class ConnectionDown(Event):
    """Connection ``connection`` is gone (closed, reset, ping timeout, stall, oversized frame), and why."""

    connection: int
    reason: str


class NoticeKind(enum.Enum):
    """What a :class:`Notice` is about."""

    INFO = "info"
    SUBSCRIBED = "subscribed"
    RESYNC = "resync"
    RESUBSCRIBE = "resubscribe"
    REFUSED = "refused"
    BAD_TICKER = "bad_ticker"
    NO_MARKETS = "no_markets"
    MISSING_BOOK = "missing_book"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """Something the operator should read (a subscription refused, a ticker rejected, a resync), with a log level."""

    level: int
    text: str
    kind: NoticeKind = NoticeKind.INFO


@dataclass(frozen=True, slots=True)
class HealthReport(Event):
    """The periodic health snapshot (``FeedProtocol.tick``, every ``health_interval``); ``recv_ns`` is the tick's
    time. The ``[HEALTH]`` log line is ``health.health_line(event.health)``."""

    health: Health


E = TypeVar("E", bound=Event)
Callback = Callable[[Any], None]


class EventBus:
    """Callbacks per event type. ``subscribe(BookChanged, fn)``; ``subscribe(Event, fn)`` receives every event.

    An emitter asks :meth:`listeners` once for the list of a type's callbacks and keeps it: the bus changes that
    list in place, so ``if listeners:`` is the whole cost of an event nobody listens to. Callbacks run in
    subscription order, synchronously, inside the feed's call; an exception from one is the emitter's to contain.
    """

    __slots__ = ("_all", "_lists")

    def __init__(self) -> None:
        self._lists: dict[type[Event], list[Callback]] = {}
        self._all: list[Callback] = []

    def listeners(self, kind: type[Event]) -> list[Callback]:
        """The live list of callbacks for ``kind`` (those subscribed to ``kind`` and to every event)."""
        found = self._lists.get(kind)
        if found is None:
            found = self._lists[kind] = list(self._all)
        return found

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of type ``kind`` (``Event``: every event); returns a function
        that unsubscribes it."""
        if kind is Event:
            self._all.append(callback)
            for lst in self._lists.values():
                lst.append(callback)
        else:
            self.listeners(kind).append(callback)

        def unsubscribe() -> None:
            if kind is Event:
                _discard(self._all, callback)
                for lst in self._lists.values():
                    _discard(lst, callback)
            else:
                _discard(self._lists.get(kind, []), callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to its listeners (for emitters whose events are rare; hot paths use ``listeners``)."""
        for callback in self.listeners(type(event)):
            callback(event)


def _discard(callbacks: list[Callback], callback: Callback) -> None:
    if callback in callbacks:
        callbacks.remove(callback)
