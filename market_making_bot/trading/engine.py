"""The bot's pure engine: feed events in, strategy callbacks, wanted quotes, risk, order writes out (no I/O).

::

    engine = Engine(strategy, tickers, core.state, tracker, portfolio, RiskCheck(limits))
    engine.start(now_ns)
    core.bus.subscribe(Event, engine.on_event)       # books, trades, fills, positions, the connection
    writes = engine.plan(now_ns)                      # -> Place / CancelOrders / Reduce, for the runtime to send
    ...                                               # the runtime sends them, then engine.settle(ticker)

The runtime (``runtime.bot``) owns the sockets and the clock; the order tracker (``trading.orders.OrderTracker``)
is read here, changed only by the runtime's ``OrderManager``. The rules of :meth:`Engine.plan`, per market:

* **one write round at a time**: a market with writes in flight (``settle`` not called yet), an order still
  pending, a change in flight or an unknown outcome (``OrderTracker.blocked``) is skipped until that is over;
* **never quote on a book that is not usable** (gap, crossed, reconnect, before the snapshot, a connection that is
  down, or no frame for ``stale_ns``): every open order of the bot there is cancelled and nothing is created until
  the book is usable again (the strategy's quotes for it are kept and take effect then);
* otherwise the wanted quotes go through ``trading.quotes.diff_quotes`` against the live orders (explicit orders
  of ``ctx.order`` are left out of it): keep what is right, decrease a size in place (queue priority), cancel the
  rest. When a round has cancels, its creates wait for the next round, once the cancels are answered, so that a
  create is always checked against the exposure that really is;
* every create (quote or explicit) is checked by ``trading.risk.RiskCheck`` with the exposure of the moment
  (position from the fills, resting size of every open order including those just accepted in this round); a
  refusal is counted per rule and logged once per reason (``refusal_log``);
* **max-loss**: when the total P&L (fees included, marked at each book's mid) falls below ``-max_loss`` the engine
  halts: every open order of the bot is cancelled and nothing is created again (``halted`` says why). ``stop()``
  halts too.

Orders are named by their client order id everywhere (``LiveOrder.order_id`` carries it here).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from market_making_bot.feed.events import (
    BookChanged,
    BookSnapshot,
    BookUnusable,
    BookUsable,
    ConnectionDown,
    ConnectionUp,
    Event,
    FillSeen,
    OrderFrameSeen,
    PositionChanged,
    TradeSeen,
)
from market_making_bot.kalshi.messages import OrderGroupUpdate
from market_making_bot.marketdata.state import MarketDataState
from market_making_bot.trading.orders import OrderState, OrderTracker, OrderUpdate
from market_making_bot.trading.portfolio import (
    Mark,
    MarketPnL,
    Portfolio,
    PortfolioPnL,
    book_side_of,
    state_mark,
)
from market_making_bot.trading.quotes import (
    BatchCancel,
    BatchCreate,
    Cancel,
    Create,
    Decrease,
    LiveOrder,
    Quote,
    QuoteKey,
    diff_quotes,
)
from market_making_bot.trading.risk import (
    Exposure,
    MarketExposure,
    OrderIntent,
    RiskCheck,
    RiskLimits,
)
from market_making_bot.trading.strategy import (
    BookView,
    Context,
    FillInfo,
    Side,
    Strategy,
    StrategyError,
    check_quote,
)

__all__ = ["CancelOrders", "Engine", "Place", "Reduce", "Write"]

log = logging.getLogger("market_making_bot.bot")

REJECT_PAUSE_NS = 1_000_000_000
"""Creates on a market pause this long after a refused create (doubling while refusals go on)."""
MAX_REJECT_PAUSE_NS = 30_000_000_000


@dataclass(frozen=True, slots=True)
class Place:
    """Create one order. ``handle``: the ``ctx.order`` handle of an explicit order (``None``: a quote)."""

    ticker: str
    side: Side
    price: int
    size: int
    handle: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrders:
    """Cancel these orders (client order ids) of one market, and why."""

    ticker: str
    coids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Reduce:
    """Decrease a resting order to ``remaining`` (keeps its queue priority)."""

    ticker: str
    coid: str
    remaining: int


Write = Place | CancelOrders | Reduce


@dataclass
class _Timer:
    due_ns: int
    interval_ns: int | None
    seq: int


@dataclass
class MarketCounts:
    """Per-market counts of the bot's writes (the summary's ``orders``)."""

    orders: int = 0


@dataclass
class Counters:
    """The summary's ``trading`` block."""

    sent: int = 0
    amended: int = 0
    cancelled: int = 0
    rejected: int = 0
    unknown: int = 0
    strategy_errors: int = 0
    position_mismatches: int = 0
    per_market: dict[str, MarketCounts] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    """Refusals per risk rule, counted once per (market, side) while the same rule keeps refusing it (the raw
    count of refused checks, every planning round, is ``RiskCheck.refusals``)."""


class Engine(Context):
    """The pure engine (module docstring); it is also the strategy's :class:`Context`."""

    def __init__(
        self,
        strategy: Strategy,
        tickers: Sequence[str],
        state: MarketDataState,
        tracker: OrderTracker,
        portfolio: Portfolio,
        risk: RiskCheck,
        *,
        max_batch: int = 20,
        stale_ns: int | None = None,
        dry_run: bool = False,
    ) -> None:
        self.strategy = strategy
        self.tickers = tuple(tickers)
        self._wanted_tickers = frozenset(self.tickers)
        self.state = state
        self.tracker = tracker
        self.portfolio = portfolio
        self.risk = risk
        self.limits: RiskLimits = risk.limits
        self.params: Mapping[str, str] = strategy.params
        self.max_batch = max_batch
        self.stale_ns = stale_ns
        self.dry_run = dry_run
        self.wanted: dict[QuoteKey, Quote | None] = {}
        self.connected = True
        self.stopped = False
        self.halted_ns: int | None = None
        """When the engine halted (its clock, ns)."""
        self.halted: str | None = None
        """Why nothing is created any more (max-loss, stop), else ``None``."""
        self.busy: set[str] = set()
        self.counters = Counters()
        self.refusal_log: dict[tuple[str, str], str] = {}
        """The last refusal reason logged per (market, side): a reason is logged once, not on every round."""
        self.group_id: str | None = None
        """The bot's exchange-side order group: its ``triggered`` update halts the engine."""
        self._paused: dict[str, tuple[int, int]] = {}  # ticker -> (creates paused until, the pause) after a refusal
        self.our_order_ids: set[str] = set()
        self.fill_refs: dict[str, list[tuple[str | None, str | None]]] = {}
        """(order id, client order id) of every fill booked, per market: :meth:`bot_fills` counts the bot's."""
        self._now_ns = 0
        self._usable_told: dict[str, bool] = {}
        self._explicit_queue: list[Place] = []
        self._explicit: dict[str, str] = {}  # handle -> coid once placed
        self._explicit_coids: set[str] = set()
        self._cancel_handles: set[str] = set()
        self._handles = 0
        self._timers: dict[str, _Timer] = {}
        self._timer_heap: list[tuple[int, int, str]] = []
        self._timer_seq = 0
        self._in_callback = False
        self.on_log: Callable[[int, str], None] = lambda level, text: log.log(level, "%s", text)

    # --- Context: reads ----------------------------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        return self._now_ns

    def book(self, ticker: str) -> BookView | None:
        st = self.state.get(ticker)
        if st is None or not st.has_snapshot:
            return None
        return BookView.of(ticker, st.book, self.usable(ticker))

    def usable(self, ticker: str) -> bool:
        return self.unusable_reason(ticker) is None

    def unusable_reason(self, ticker: str) -> str | None:
        """Why quoting on ``ticker`` is not allowed now, else ``None``."""
        st = self.state.get(ticker)
        if st is None:
            return "no book yet"
        if not self.connected:
            return "the connection is down"
        reason = st.unusable_reason
        if reason is not None:
            return reason
        if self.stale_ns is not None and self._now_ns - st.last_recv_ns > self.stale_ns:
            return f"stale: no frame for {(self._now_ns - st.last_recv_ns) / 1e9:.1f} s"
        return None

    def position(self, ticker: str) -> int:
        book = self.portfolio.books.get(ticker)
        return 0 if book is None else book.position

    def marks(self) -> dict[str, Mark | None]:
        """The mark of every market: its book's mid while usable (else the last mark, kept by the portfolio)."""
        out: dict[str, Mark | None] = {}
        for ticker in self.tickers:
            st = self.state.get(ticker)
            out[ticker] = None if st is None else state_mark(st)
        return out

    def pnl(self, ticker: str) -> MarketPnL:
        st = self.state.get(ticker)
        return self.portfolio.pnl(ticker, None if st is None else state_mark(st))

    def total_pnl(self) -> PortfolioPnL:
        return self.portfolio.totals(self.marks())

    def orders(self, ticker: str | None = None) -> list[LiveOrder]:
        return [
            LiveOrder(o.client_order_id, o.ticker, _side(o.side), o.price, o.remaining, o.fill_count)
            for o in self.tracker.open_orders(ticker)
        ]

    # --- Context: writes ---------------------------------------------------------------------------------------------

    def quote(self, ticker: str, bid: tuple[int, int] | None = None, ask: tuple[int, int] | None = None) -> None:
        if ticker not in self._wanted_tickers:
            raise StrategyError(f"quote on {ticker}: not one of the bot's markets ({', '.join(self.tickers)})")
        for side, want in (("bid", bid), ("ask", ask)):
            key: QuoteKey = (ticker, side)  # type: ignore[assignment]
            if want is None:
                self.wanted[key] = None
            else:
                price, size = want
                check_quote(ticker, side, price, size)
                self.wanted[key] = Quote(price, size) if size else None

    def order(self, ticker: str, side: Side, price: int, size: int) -> str:
        if ticker not in self._wanted_tickers:
            raise StrategyError(f"order on {ticker}: not one of the bot's markets")
        if side not in ("bid", "ask"):
            raise StrategyError(f"order on {ticker}: side {side!r} is not bid|ask")
        check_quote(ticker, side, price, size)
        self._handles += 1
        handle = f"x{self._handles}"
        self._explicit_queue.append(Place(ticker, side, price, size, handle))
        return handle

    def cancel(self, handle: str) -> None:
        before = len(self._explicit_queue)
        self._explicit_queue = [p for p in self._explicit_queue if p.handle != handle]
        if len(self._explicit_queue) == before:
            self._cancel_handles.add(handle)

    def set_timer(self, name: str, seconds: float, repeat: bool = False) -> None:
        if not seconds > 0:
            raise StrategyError(f"timer {name!r}: seconds must be > 0, not {seconds!r}")
        interval = int(seconds * 1e9)
        self._timer_seq += 1
        timer = _Timer(self._now_ns + interval, interval if repeat else None, self._timer_seq)
        self._timers[name] = timer
        heapq.heappush(self._timer_heap, (timer.due_ns, timer.seq, name))

    def cancel_timer(self, name: str) -> None:
        self._timers.pop(name, None)

    def log(self, text: str) -> None:
        self.on_log(logging.INFO, f"[{type(self.strategy).__name__}] {text}")

    # --- driving -----------------------------------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> None:
        """Run one strategy callback; an exception is a strategy bug: logged, counted, the bot goes on."""
        try:
            getattr(self.strategy, name)(self, *args)
        except Exception as exc:
            self.counters.strategy_errors += 1
            self.on_log(logging.ERROR, f"strategy {type(self.strategy).__name__}.{name} failed: {exc!r}")

    def start(self, now_ns: int) -> None:
        self._now_ns = now_ns
        self._call("on_start")

    def stop(self, now_ns: int, reason: str = "stopping") -> None:
        """The strategy's ``on_stop``; then nothing is created any more (the runtime cancels every order)."""
        self._now_ns = max(self._now_ns, now_ns)
        if not self.stopped:
            self.stopped = True
            self._call("on_stop")
        if self.halted is None:  # an earlier halt (max-loss, the order group) keeps its reason
            self.halted, self.halted_ns = f"stop: {reason}", self._now_ns

    def tick(self, now_ns: int) -> None:
        """Advance the clock: due timers fire; books that went stale are told to the strategy."""
        self._now_ns = max(self._now_ns, now_ns)
        heap = self._timer_heap
        while heap and heap[0][0] <= self._now_ns:
            due, seq, name = heapq.heappop(heap)
            timer = self._timers.get(name)
            if timer is None or timer.seq != seq:
                continue  # cancelled or re-set
            if timer.interval_ns is None:
                del self._timers[name]
            else:
                timer.due_ns = due + timer.interval_ns
                heapq.heappush(heap, (timer.due_ns, seq, name))
            self._call("on_timer", name)
        if self.stale_ns is not None:
            for ticker in self.tickers:
                self._edge(ticker)

    def next_wake_ns(self) -> int | None:
        """When the engine next needs a round without an event: a timer, or the end of a market's pause."""
        due = self.next_timer_ns()
        for until, _ in self._paused.values():
            if until > self._now_ns and (due is None or until < due):
                due = until
        return due

    def next_timer_ns(self) -> int | None:
        """When the next timer is due (``None``: none set)."""
        heap = self._timer_heap
        while heap:
            due, seq, name = heap[0]
            timer = self._timers.get(name)
            if timer is not None and timer.seq == seq:
                return due
            heapq.heappop(heap)
        return None

    def _edge(self, ticker: str) -> None:
        """Tell the strategy when a market's usability changed."""
        reason = self.unusable_reason(ticker)
        now = reason is None
        if self._usable_told.get(ticker) is now:
            return
        before = self._usable_told.get(ticker)
        self._usable_told[ticker] = now
        if now:
            self._call("on_book_usable", ticker)
        elif before is not None:
            self._call("on_book_unusable", ticker, reason)

    def on_event(self, event: Event) -> None:
        """One feed event (subscribe it to the core's bus for every :class:`Event`)."""
        self._now_ns = max(self._now_ns, event.recv_ns)
        if isinstance(event, (BookChanged, BookSnapshot)):
            if event.ticker in self._wanted_tickers:
                self._edge(event.ticker)
                if self._usable_told.get(event.ticker):
                    self._call("on_book", event.ticker)
        elif isinstance(event, (BookUsable, BookUnusable)):
            if event.ticker in self._wanted_tickers:
                self._edge(event.ticker)
        elif isinstance(event, TradeSeen):
            if event.ticker in self._wanted_tickers:
                self._call("on_trade", event.ticker, event.msg)
        elif isinstance(event, FillSeen):
            self._on_fill(event)
        elif isinstance(event, PositionChanged):
            if event.ticker in self._wanted_tickers:
                mismatch = self.portfolio.check_market_position(event.msg)
                if mismatch is not None:
                    self.counters.position_mismatches += 1
                    self.on_log(logging.WARNING, str(mismatch))
        elif isinstance(event, OrderFrameSeen):
            msg = event.msg
            if (
                isinstance(msg, OrderGroupUpdate)
                and msg.event_type == "triggered"
                and msg.order_group_id == self.group_id
                and self.halted is None
            ):
                # The exchange-side backstop fired (too many contracts filled in 15 s): something is wrong.
                self.halted = f"order group {msg.order_group_id} triggered: too many contracts filled within 15 s"
                self.halted_ns = self._now_ns
                self.on_log(logging.ERROR, f"{self.halted}; quoting stopped")
        elif isinstance(event, ConnectionDown):
            self.connected = False
            for ticker in self.tickers:
                self._edge(ticker)
        elif isinstance(event, ConnectionUp):
            self.connected = True

    def _on_fill(self, event: FillSeen) -> None:
        msg = event.msg
        if msg.market_ticker not in self._wanted_tickers:
            return
        try:
            result = self.portfolio.apply_ws_fill(msg)
        except ValueError as exc:
            self.on_log(logging.ERROR, f"fill not booked: {exc}")
            return
        if not result.applied:
            return
        ours = self.tracker.ours(msg.client_order_id) or (
            msg.order_id is not None and self.tracker.by_order_id(msg.order_id) is not None
        )
        self.fill_refs.setdefault(msg.market_ticker, []).append((msg.order_id, msg.client_order_id))
        fee = msg.fee if msg.fee is not None else 0
        info = FillInfo(
            msg.market_ticker,
            book_side_of(msg.side, msg.action),
            msg.yes_price,
            msg.count,
            fee,
            msg.is_taker,
            msg.order_id,
            ours,
        )
        self._call("on_fill", info)

    def on_order_update(self, update: OrderUpdate) -> None:
        """An order of the bot changed (``OrderManager(on_update=...)``). A refused create pauses the creates of its
        market (``REJECT_PAUSE_NS``, doubling while refusals go on, at most ``MAX_REJECT_PAUSE_NS``), so that a
        market that refuses everything is not hammered; an accepted one ends the pause."""
        ticker = update.ticker
        if update.order_id is not None:
            self.our_order_ids.add(update.order_id)  # the bot's fills stay the bot's after the tracker prunes
        if update.state is OrderState.REJECTED and update.previous is not OrderState.REJECTED:
            self.counters.rejected += 1
            _, last = self._paused.get(ticker, (0, 0))
            delay = min(MAX_REJECT_PAUSE_NS, max(REJECT_PAUSE_NS, 2 * last))
            self._paused[ticker] = (self._now_ns + delay, delay)
            self.on_log(
                logging.WARNING,
                f"creates on {ticker} paused for {delay / 1e9:g} s: order {update.client_order_id} {update.reason}",
            )
        elif update.previous is OrderState.PENDING and update.state is not OrderState.UNKNOWN:
            self._paused.pop(ticker, None)
        self._call("on_order", update)

    # --- planning ----------------------------------------------------------------------------------------------------

    def settle(self, ticker: str) -> None:
        """The writes returned for ``ticker`` by :meth:`plan` are all answered."""
        self.busy.discard(ticker)

    def bind(self, handle: str, coid: str) -> None:
        """An explicit order (``ctx.order``) was placed as ``coid``."""
        self._explicit[handle] = coid
        self._explicit_coids.add(coid)

    def _exposure(self, extra: Mapping[str, tuple[int, int]], extra_orders: int) -> Exposure:
        markets: dict[str, MarketExposure] = {}
        open_orders = self.tracker.open_orders()
        resting: dict[str, list[int]] = {}
        for o in open_orders:
            sizes = resting.setdefault(o.ticker, [0, 0])
            sizes[0 if _side(o.side) == "bid" else 1] += o.remaining
        for ticker in self.tickers:
            bids, asks = resting.get(ticker, (0, 0))
            more = extra.get(ticker, (0, 0))
            reason = self.unusable_reason(ticker)
            markets[ticker] = MarketExposure(
                position=self.position(ticker),
                resting_bids=bids + more[0],
                resting_asks=asks + more[1],
                book_usable=reason is None,
                unusable_reason=reason,
            )
        return Exposure(markets, len(open_orders) + extra_orders, self.total_pnl().total)

    def plan(self, now_ns: int) -> list[Write]:
        """The writes to send now (module docstring); the markets they concern are busy until :meth:`settle`."""
        self._now_ns = max(self._now_ns, now_ns)
        writes: list[Write] = []
        if self.halted is None and self.limits.max_loss is not None:
            tripped = self.risk.observe(self.total_pnl().total)
            if tripped is not None:
                self.halted, self.halted_ns = str(tripped), self._now_ns
                self.on_log(logging.ERROR, f"{tripped}: cancelling every order of the bot")
        accepted: dict[str, tuple[int, int]] = {}
        accepted_orders = 0
        for ticker in self.tickers:
            if ticker in self.busy or self.tracker.blocked(ticker) is not None:
                continue
            open_orders = self.tracker.open_orders(ticker)
            if any(o.state is OrderState.PENDING or o.change is not None for o in open_orders):
                continue  # an answer is on its way: plan this market once it is in
            ready = [o for o in open_orders if o.order_id is not None]
            mine: list[Write] = []
            reason = self.halted or self.unusable_reason(ticker)
            if reason is not None:
                if ready:
                    mine.append(CancelOrders(ticker, tuple(o.client_order_id for o in ready), reason))
                if self.halted is not None:
                    self._explicit_queue = [p for p in self._explicit_queue if p.ticker != ticker]
            else:
                cancels: list[str] = []
                for handle in sorted(self._cancel_handles):
                    coid = self._explicit.get(handle)
                    order = None if coid is None else self.tracker.get(coid)
                    if order is None or order.ticker != ticker:
                        continue
                    if order in ready:
                        cancels.append(order.client_order_id)
                    if order in ready or not order.is_open:
                        self._cancel_handles.discard(handle)
                live = [
                    LiveOrder(o.client_order_id, ticker, _side(o.side), o.price, o.remaining, o.fill_count)
                    for o in ready
                    if o.client_order_id not in self._explicit_coids
                ]
                wanted: dict[QuoteKey, Quote | None] = {}
                for key in ((ticker, "bid"), (ticker, "ask")):
                    if key in self.wanted:  # a side never quoted is left alone
                        wanted[key] = self.wanted[key]
                actions = diff_quotes(wanted, live, max_batch=10**6)  # the runtime batches across markets
                creates: list[Place] = []
                for action in actions:
                    if isinstance(action, Decrease):
                        mine.append(Reduce(ticker, action.order.order_id, action.remaining))
                    elif isinstance(action, Cancel):
                        cancels.append(action.order.order_id)
                    elif isinstance(action, BatchCancel):
                        cancels.extend(o.order_id for o in action.orders)
                    elif isinstance(action, Create):
                        creates.append(Place(ticker, action.side, action.price, action.size))
                    elif isinstance(action, BatchCreate):
                        creates.extend(Place(ticker, c.side, c.price, c.size) for c in action.orders)
                paused = self._paused.get(ticker, (0, 0))[0] > self._now_ns
                if cancels:
                    mine.append(CancelOrders(ticker, tuple(cancels), "quote changed"))
                elif paused:  # after a refusal: no create here for a while (cancels and decreases still go)
                    pass
                else:  # creates only once the market's cancels are answered
                    creates.extend(p for p in self._explicit_queue if p.ticker == ticker)
                    for place in creates:
                        if self._check(place, accepted, accepted_orders):
                            bids, asks = accepted.get(ticker, (0, 0))
                            accepted[ticker] = (
                                (bids + place.size, asks) if place.side == "bid" else (bids, asks + place.size)
                            )
                            accepted_orders += 1
                            mine.append(place)
                        if place.handle is not None:
                            self._explicit_queue.remove(place)
            if mine:
                self.busy.add(ticker)
                writes.extend(mine)
        return writes

    def _check(self, place: Place, accepted: Mapping[str, tuple[int, int]], accepted_orders: int) -> bool:
        intent = OrderIntent(place.ticker, place.side, place.price, place.size)
        result = self.risk.check(intent, self._exposure(accepted, accepted_orders), self._now_ns)
        key = (place.ticker, place.side)
        if result.ok:
            self.refusal_log.pop(key, None)
            return True
        reason = str(result)
        rule = reason.split(" ", 1)[0].rstrip(":")
        if self.refusal_log.get(key, "").split(" ", 1)[0].rstrip(":") != rule:
            # a new refusal of this quote (the same one refused round after round is counted once)
            self.counters.refusals[rule] = self.counters.refusals.get(rule, 0) + 1
            self.on_log(logging.WARNING, f"refused {place.side} {place.ticker}: {reason}")
        self.refusal_log[key] = reason
        return False

    def bot_fills(self, ticker: str) -> int:
        """Fills of the bot's own orders on ``ticker`` (a fill that came before its order's id was known counts
        once the id is)."""
        tracker = self.tracker
        return sum(
            1
            for order_id, coid in self.fill_refs.get(ticker, ())
            if tracker.ours(coid)
            or (order_id is not None and (order_id in self.our_order_ids or tracker.by_order_id(order_id) is not None))
        )

    # --- what the runtime tells back ---------------------------------------------------------------------------------

    def count_sent(self, ticker: str) -> None:
        self.counters.sent += 1
        self.counters.per_market.setdefault(ticker, MarketCounts()).orders += 1


def _side(side: Any) -> Side:
    value = getattr(side, "value", side)
    return "bid" if value == "bid" else "ask"
