"""The dashboard's view model: what the screen shows, copied out of the feed's state into frozen dataclasses.

Pure: no rich, no asyncio, no terminal; the clock is passed in (``clock`` for the monotonic time of the frame rate
and the highlights, ``now_ns`` for the ages and the volume window). :class:`ViewModel` keeps what the screen needs
between two refreshes (the selected market, the frame counts of the last seconds, the sizes of the selected
market's levels at the last refresh, for the change highlight) and :meth:`ViewModel.snapshot` builds a
:class:`Snapshot` from :class:`~market_making_bot.feed.core.Core`'s public state: ``core.state.markets``,
``core.counters``, ``core.latencies_ms``, and the client's public ``state`` and ``reconnects``.

Events (:mod:`market_making_bot.feed.events`): :meth:`ViewModel.attach` subscribes the model to a feed's
``EventBus`` for the connection's events (``ConnectionUp`` / ``ConnectionDown``), the
state and the reconnect count of a feed that has no client object (a library user's own shell). The model takes no
event from the hot path: the change highlight compares the selected market's top levels once per refresh (at most
10 per second), which costs the feed nothing per frame, where a ``BookChanged`` subscription would cost a callback
per delta.

P&L figures come from :mod:`market_making_bot.views.dashboard.pnl` (exact integers).
"""

from __future__ import annotations

import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import AccountRead, ConnectionDown, ConnectionUp, EventBus
from market_making_bot.feed.health import Health
from market_making_bot.marketdata.state import MarketState
from market_making_bot.trading.portfolio import Portfolio, state_mark
from market_making_bot.units import PRICE_SCALE
from market_making_bot.views.dashboard.pnl import position_pnl

__all__ = [
    "ORDERS_SHOWN",
    "AccountView",
    "OrderView",
    "DEFAULT_REFRESH_HZ",
    "FILLS_SHOWN",
    "HIGHLIGHT_S",
    "LADDER_DEPTH",
    "MARKET_ROWS",
    "MAX_REFRESH_HZ",
    "TRADES_SHOWN",
    "ClientView",
    "FillView",
    "LevelView",
    "MarketDetail",
    "MarketRow",
    "PositionView",
    "Snapshot",
    "StatusView",
    "TradeView",
    "ViewModel",
    "account_view",
    "common_prefix",
    "portfolio_position_view",
    "position_view",
]

MAX_REFRESH_HZ = 10.0
DEFAULT_REFRESH_HZ = 4.0
LADDER_DEPTH = 10
TRADES_SHOWN = 10
FILLS_SHOWN = 6
ORDERS_SHOWN = 3  # the selected market's resting orders listed on the account line (then "+N more")
MARKET_ROWS = 8  # rows of the markets table shown at once (a window around the selected market)
HIGHLIGHT_S = 1.5  # a level whose size changed stays highlighted this long
RATE_WINDOW_S = 2.0  # frames/s is measured over this window


# ---------------------------------------------------------------------------------------------- snapshot types


@dataclass(frozen=True)
class LevelView:
    """One ladder level in YES terms: ``price`` (price units), ``size`` (size units); ``change`` is +1 when the
    size grew (or the level appeared) within the highlight window, -1 when it shrank, 0 otherwise."""

    price: int
    size: int
    change: int = 0


@dataclass(frozen=True)
class TradeView:
    ts_ms: int | None
    taker_side: str | None
    yes_price: int
    size: int


@dataclass(frozen=True)
class FillView:
    market: str
    ts_ms: int | None
    action: str | None
    side: str | None
    yes_price: int
    size: int
    fee: int | None
    is_taker: bool | None
    post_position: int | None


@dataclass(frozen=True)
class PositionView:
    """A position (size units, negative = NO) with its average cost and mark-to-mid value.

    ``avg_cost`` and ``mark`` are prices of the side held (YES price for a YES position, NO price for a NO
    position); ``pnl`` is the mark-to-mid unrealized P&L in money units: contracts x mark - position cost.
    """

    market: str
    position: int
    avg_cost: int | None = None
    mark: int | None = None
    pnl: int | None = None
    realized: int | None = None
    fees: int | None = None


@dataclass(frozen=True)
class OrderView:
    """A resting order: the outcome it buys (``yes``/``no``), its price (of that outcome), the size left."""

    side: str
    price: int
    remaining: int


@dataclass(frozen=True)
class AccountView:
    """The balance and resting orders as REST last told them (:class:`~market_making_bot.feed.events.AccountRead`).

    Money in money units; ``None``: never read. ``resting``: orders in the followed markets; ``orders``: the
    selected market's (at most ``ORDERS_SHOWN``, ``more`` beyond). ``age_s``: since the read; ``error``: the latest
    read failed, the values are stale (``age_s`` old) or unknown."""

    balance: int | None
    portfolio_value: int | None
    resting: int | None
    orders: tuple[OrderView, ...] = ()
    more: int = 0
    age_s: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class MarketRow:
    """One line of the markets table."""

    ticker: str
    usable: bool
    reason: str | None
    best_bid: int | None
    best_ask: int | None
    spread: int | None
    mid: int | None
    last_price: int | None
    trades: int
    volume_window: int
    position: PositionView | None
    age_s: float | None


@dataclass(frozen=True)
class MarketDetail:
    """The selected market: its ladder (best first, ``LADDER_DEPTH`` levels), trades (newest first), volume."""

    row: MarketRow
    bids: tuple[LevelView, ...]
    asks: tuple[LevelView, ...]
    yes_levels: int
    no_levels: int
    trades: tuple[TradeView, ...]
    volume_total: int
    volume_yes: int
    volume_no: int
    window_s: float
    exchange_volume: int | None
    open_interest: int | None
    spread_min: int | None
    spread_max: int | None
    spread_mean: int | None


@dataclass(frozen=True)
class StatusView:
    state: str
    uptime_s: float
    frames: int
    fps: float | None
    reconnects: int
    gaps: int
    resyncs: int
    malformed: int
    handler_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    usable: int
    markets: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one screen shows."""

    status: StatusView
    rows: tuple[MarketRow, ...]
    first_row: int
    selected: int
    total_markets: int
    detail: MarketDetail | None
    private: bool = False
    positions: tuple[PositionView, ...] = ()
    fills: tuple[FillView, ...] = ()
    """The selected market's fills, newest first."""
    log_file: str | None = None
    keys: bool = False
    refresh_hz: float = DEFAULT_REFRESH_HZ
    ticker_prefix: str | None = None
    """The prefix shared by every market's ticker (elided in the table); ``None``: work it out from ``rows``."""
    account: AccountView | None = None
    """The balance and resting orders (``private``, once REST has been asked); ``None``: not asked."""


# ---------------------------------------------------------------------------------------------- snapshot


def position_view(market: MarketState) -> PositionView | None:
    """The market's position with average cost and mark-to-mid P&L (``None`` when no position is known).

    The maths is :func:`market_making_bot.views.dashboard.pnl.position_pnl`: the cost comes from the last
    ``market_position`` message and is used only while it describes the current position (a later fill changes the
    position before the next ``market_position`` arrives).
    """
    pos = market.position
    if pos is None:
        return None
    pnl = position_pnl(pos, market.book.mid(), market.last_position)
    return PositionView(market.market_ticker, pos, pnl.avg_cost, pnl.mark, pnl.unrealized, pnl.realized, pnl.fees)


def portfolio_position_view(portfolio: Portfolio, market: MarketState) -> PositionView | None:
    """The market's position as the bot's exact portfolio has it (``trading.portfolio``: every fill, fees included),
    in the panel's terms: average cost and mark as prices of the side held, ``pnl`` the unrealized P&L at the mid
    (floored to a money unit), realized P&L and fees. ``None`` before the bot's first fill or seed there."""
    book = portfolio.books.get(market.market_ticker)
    if book is None:
        return None
    pnl = book.pnl(state_mark(market))
    pos = pnl.position
    avg = pnl.average_cost
    mark = None if pnl.mark is None else pnl.mark.twice // 2
    if pos < 0:  # a NO position: the prices of NO
        avg = None if avg is None else PRICE_SCALE - avg
        mark = None if mark is None else PRICE_SCALE - mark
    if pos == 0:
        avg = mark = None
    return PositionView(market.market_ticker, pos, avg, mark, pnl.unrealized, pnl.realized, pnl.fees)


class ClientView(Protocol):
    """What the model reads of the client (:class:`~market_making_bot.runtime.client.KalshiWebSocketClient`): public
    attributes only."""

    @property
    def state(self) -> str: ...

    @property
    def reconnects(self) -> int: ...


class ViewModel:
    """Builds :class:`Snapshot` s of ``core`` (and ``client``: the connection's state), between frames.

    ``private`` adds the positions and the selected market's fills. ``clock`` is the monotonic clock (seconds) of
    the uptime, the frame rate and the highlights.
    """

    def __init__(
        self,
        core: Core,
        client: ClientView | None = None,
        *,
        private: bool = False,
        refresh_hz: float = DEFAULT_REFRESH_HZ,
        log_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < refresh_hz <= MAX_REFRESH_HZ:
            raise ValueError(f"refresh_hz must be in (0, {MAX_REFRESH_HZ:g}], got {refresh_hz!r}")
        self.core = core
        self.client = client
        self.private = private
        self.refresh_hz = refresh_hz
        self.log_file = log_file
        self.keys = False
        """Whether the keys work (a terminal): the footer shows the key help."""
        self._clock = clock
        self._started = clock()
        self._selected: str | None = None
        self._rates: deque[tuple[float, int]] = deque()
        # change highlighting for the selected market: previous sizes and (time, direction) per (side, price)
        self._prev_ticker: str | None = None
        self._prev: dict[str, dict[int, int]] = {}
        self._changed: dict[tuple[str, int], tuple[float, int]] = {}
        # the connection, from the bus's events (a feed without a client object)
        self._connection: str | None = None
        self._connections = 0
        self._account: AccountRead | None = None  # the latest AccountRead (REST, --with-private)
        self.position_source: Callable[[MarketState], PositionView | None] = position_view
        """Where the positions panel's figures come from: Kalshi's ``market_position`` by default; the bot puts its
        exact portfolio here (:func:`portfolio_position_view`)."""

    # -- events ------------------------------------------------------------------------------------------

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Follow the connection's events on ``bus``; returns a function that detaches the model."""
        undo = [
            bus.subscribe(ConnectionUp, self.on_connection_up),
            bus.subscribe(ConnectionDown, self.on_connection_down),
            bus.subscribe(AccountRead, self.on_account),
        ]

        def detach() -> None:
            for unsubscribe in undo:
                unsubscribe()

        return detach

    def on_connection_up(self, event: ConnectionUp) -> None:
        self._connection = "connected"
        self._connections = max(self._connections, event.connection)

    def on_connection_down(self, event: ConnectionDown) -> None:
        self._connection = "reconnecting"

    def on_account(self, event: AccountRead) -> None:
        """The balance and resting orders REST told (also the one read before the dashboard started)."""
        self._account = event

    # -- selection ---------------------------------------------------------------------------------------

    def tickers(self) -> list[str]:
        return sorted(self.core.state.markets)

    def select(self, ticker: str) -> None:
        self._selected = ticker

    def move(self, step: int) -> None:
        tickers = self.tickers()
        if not tickers:
            return
        try:
            index = tickers.index(self._selected) if self._selected is not None else 0
        except ValueError:
            index = 0
        self._selected = tickers[(index + step) % len(tickers)]

    # -- snapshot ----------------------------------------------------------------------------------------

    def snapshot(self, now_ns: int | None = None) -> Snapshot:
        """Copy what the screen shows out of the core (cheap: top levels of one market, a window of rows)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        mono = self._clock()
        markets = self.core.state.markets
        tickers = sorted(markets)
        if tickers and self._selected not in markets:
            self._selected = tickers[0]
        selected = tickers.index(self._selected) if tickers and self._selected is not None else 0
        first = max(0, min(selected - MARKET_ROWS // 2, len(tickers) - MARKET_ROWS))
        rows = tuple(self._row(markets[t], now_ns) for t in tickers[first : first + MARKET_ROWS])
        detail = self._detail(markets[tickers[selected]], now_ns, mono) if tickers else None
        positions: tuple[PositionView, ...] = ()
        fills: tuple[FillView, ...] = ()
        account: AccountView | None = None
        if self.private:
            positions = tuple(p for p in (self.position_source(markets[t]) for t in tickers) if p is not None)
            fills = self._fills(markets[tickers[selected]]) if tickers else ()
            if self._account is not None:
                account = account_view(self._account, tickers[selected] if tickers else None, now_ns)
        return Snapshot(
            status=self._status(mono),
            rows=rows,
            first_row=first,
            selected=selected,
            total_markets=len(tickers),
            detail=detail,
            private=self.private,
            positions=positions,
            fills=fills,
            log_file=self.log_file,
            keys=self.keys,
            refresh_hz=self.refresh_hz,
            ticker_prefix=common_prefix(tickers),
            account=account,
        )

    def _status(self, mono: float) -> StatusView:
        core = self.core
        counters = core.counters
        frames = counters.get("frames", 0)
        rates = self._rates
        rates.append((mono, frames))
        while len(rates) > 2 and mono - rates[1][0] >= RATE_WINDOW_S:
            rates.popleft()
        fps = None
        if len(rates) > 1 and mono > rates[0][0]:
            fps = (frames - rates[0][1]) / (mono - rates[0][0])
        client = self.client
        if client is not None:
            state, reconnects = str(client.state), counters.get("reconnects", 0) or client.reconnects
        elif self._connection is not None:  # the bus's connection events
            state, reconnects = self._connection, counters.get("reconnects", 0) or max(0, self._connections - 1)
        else:  # no connection at all: a replay
            state, reconnects = "replay", counters.get("reconnects", 0)
        h = Health.of(counters, core.latencies_ms, core.state.markets, state=state)  # health: one computation
        return StatusView(
            state=state,
            uptime_s=mono - self._started,
            frames=frames,
            fps=fps,
            reconnects=reconnects,
            gaps=h.gaps,
            resyncs=h.resyncs,
            malformed=h.malformed,
            handler_errors=h.handler_errors,
            latency_p50_ms=h.latency_p50_ms,
            latency_p99_ms=h.latency_p99_ms,
            usable=h.books_usable,
            markets=h.books_total,
        )

    def _row(self, market: MarketState, now_ns: int) -> MarketRow:
        book = market.book
        ticker = market.last_ticker
        last_recv = market.last_recv_ns
        return MarketRow(
            ticker=market.market_ticker,
            usable=market.usable,
            reason=market.unusable_reason,
            best_bid=book.best_yes_bid(),
            best_ask=book.best_yes_ask(),
            spread=book.spread(),
            mid=book.mid(),
            last_price=ticker.price if ticker is not None and ticker.price is not None else _last_trade(market),
            trades=market.trade_count,
            volume_window=market.volume.window(now_ns).contracts,
            position=self.position_source(market),
            age_s=(now_ns - last_recv) / 1e9 if last_recv else None,
        )

    def _detail(self, market: MarketState, now_ns: int, mono: float) -> MarketDetail:
        book = market.book
        top_bids = heapq.nlargest(LADDER_DEPTH, book.yes.items())
        top_no = heapq.nlargest(LADDER_DEPTH, book.no.items())  # best NO bid = best (lowest) YES ask
        changes = self._track_changes(market, mono)
        bids = tuple(LevelView(p, s, changes.get(("yes", p), 0)) for p, s in top_bids)
        asks = tuple(LevelView(PRICE_SCALE - p, s, changes.get(("no", p), 0)) for p, s in top_no)
        window = market.volume.window(now_ns)
        ticker = market.last_ticker
        trades = tuple(
            TradeView(t.ts_ms, t.taker_side, t.yes_price, t.count)
            for t in islice(reversed(market.trades), TRADES_SHOWN)
        )
        return MarketDetail(
            row=self._row(market, now_ns),
            bids=bids,
            asks=asks,
            yes_levels=len(book.yes),
            no_levels=len(book.no),
            trades=trades,
            volume_total=market.volume.total.contracts,
            volume_yes=window.yes_contracts,
            volume_no=window.no_contracts,
            window_s=market.volume.window_ns / 1e9,
            exchange_volume=None if ticker is None else ticker.volume,
            open_interest=None if ticker is None else ticker.open_interest,
            spread_min=market.spread.min,
            spread_max=market.spread.max,
            spread_mean=market.spread.mean(now_ns),
        )

    def _track_changes(self, market: MarketState, mono: float) -> dict[tuple[str, int], int]:
        """Directions of the recent size changes of the selected market's levels (highlighted for HIGHLIGHT_S)."""
        book = market.book
        current = {"yes": book.yes, "no": book.no}
        if market.market_ticker != self._prev_ticker:  # a newly selected market: nothing to compare with yet
            self._prev_ticker = market.market_ticker
            self._changed.clear()
        else:
            changed = self._changed
            for side, levels in current.items():
                prev = self._prev.get(side, {})
                for price, size in levels.items():
                    old = prev.get(price, 0)
                    if size != old:
                        changed[(side, price)] = (mono, 1 if size > old else -1)
            for key in [k for k, (t, _) in changed.items() if mono - t >= HIGHLIGHT_S]:
                del changed[key]
        self._prev = {side: dict(levels) for side, levels in current.items()}
        return {key: direction for key, (_, direction) in self._changed.items()}

    @staticmethod
    def _fills(market: MarketState) -> tuple[FillView, ...]:
        return tuple(
            FillView(
                f.market_ticker, f.ts_ms, f.action, f.side, f.yes_price, f.count, f.fee, f.is_taker, f.post_position
            )
            for f in islice(reversed(market.fills), FILLS_SHOWN)
        )


def account_view(read: AccountRead, ticker: str | None, now_ns: int) -> AccountView:
    """What the screen shows of ``read``: the selected market's (``ticker``) resting orders, best price first."""
    mine: list[OrderView] = []
    for o in read.resting or ():
        if o.ticker == ticker:
            yes = o.outcome_side == "yes"
            mine.append(OrderView(o.outcome_side, o.yes_price_dollars if yes else o.no_price_dollars,
                                  o.remaining_count_fp))  # fmt: skip
    mine.sort(key=lambda v: (v.side != "yes", -v.price))  # YES first, each best price first
    return AccountView(
        balance=read.balance,
        portfolio_value=read.portfolio_value,
        resting=None if read.resting is None else len(read.resting),
        orders=tuple(mine[:ORDERS_SHOWN]),
        more=max(0, len(mine) - ORDERS_SHOWN),
        age_s=None if read.read_ns is None else max(0.0, (now_ns - read.read_ns) / 1e9),
        error=read.error,
    )


def _last_trade(market: MarketState) -> int | None:
    return market.trades[-1].yes_price if market.trades else None


def common_prefix(tickers: Sequence[str]) -> str:
    """The prefix shared by every ticker, up to and including its last ``-`` (``""`` for fewer than 2 tickers).

    ``KXNBAGAME-26DEC01-LAL`` and ``KXNBAGAME-26DEC01-BOS`` share ``KXNBAGAME-26DEC01-``: the table shows ``…LAL`` and
    ``…BOS``. Cut at a ``-`` so that a label is a whole part of the ticker (the event, the market), never half a word.
    """
    if len(tickers) < 2:
        return ""
    shared = os.path.commonprefix(list(tickers))
    return shared[: shared.rfind("-") + 1]
