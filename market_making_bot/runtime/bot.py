"""The bot's asyncio shell: the feed, the engine, the order manager, timers, the kill switch and a clean stop.

::

    bot = Bot(strategy, api, client, BotSettings(tickers, limits))
    result = await bot.run(stop, kill)       # stop: duration, Ctrl-C, SIGTERM; kill: the kill switch
    summary = bot.summary()                  # per-market orders, fills, position, mark, P&L; the trading block

The decisions are the pure engine's (``trading.engine``); this moves frames and requests and keeps the time:

* **at start**: orders go only to the project's simulator unless ``live`` (``trading.safety``: the REST server's
  mark is read first; anything else is refused with the reason, :class:`BotRefused`); the account's positions in
  the bot's markets are read over REST (the P&L starts from them); the bot's own resting orders of an earlier run
  (same ``prefix``) are taken over; an **order group** is created with ``group_limit`` contracts per rolling 15 s
  (Kalshi cancels the group's orders and refuses new ones past it: a backstop against a runaway loop) and every
  order is placed in it;
* **running**: every feed event goes to the engine (strategy callbacks), then the planner runs the engine's plan:
  cancels of all markets in batches (by order id, ``DELETE .../orders/batched``), decreases, creates (batched,
  ``POST .../orders/batched``, when a round has several); a market gets its next round once its writes are
  answered. ``dry_run``: the writes are logged (once per change), never sent;
* **stop** (``stop`` set, a fatal error of the feed) or **kill** (at once: writes in flight are abandoned and
  settled by REST reads): the strategy's ``on_stop``, then every open order of the bot is cancelled by order id
  (``OrderManager.cancel_mine``: batch cancel, repeated for ``stop_timeout`` seconds at most; the account's other
  orders are never touched), the order group deleted, then a bounded wait (``book_wait``) until each cancelled
  order's removal is seen on the book, so that the summary marks at the book without them; positions are checked
  against REST once more. :attr:`BotResult.left` lists the orders that may still rest (the CLI exits non-zero).

**Journal** (``journal=``, ``on_rest=``): beside the frames and the order records, the bot journals what a replay
needs to plan again at the same instants (``trading.order_log.BOT_OPS``: its start, every planning round with its
clock, each round's writes answered, creates dropped, its stop), and the REST updates of its account; ``mm-bot
--replay`` runs them through the same engine (``storage.bot_replay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from market_making_bot.feed.events import BookChanged, Event
from market_making_bot.kalshi.orders import BookSide, CancelRef, CreateOrderGroupRequest, CreateOrderRequest
from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError
from market_making_bot.runtime.account import RestAccount
from market_making_bot.runtime.client import KalshiWebSocketClient
from market_making_bot.runtime.orders import BATCH_CANCEL_SIZE, OrderManager, OrderRefused
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError, WriteOutcomeUnknown
from market_making_bot.trading.engine import CancelOrders, Engine, Place, Reduce, Write
from market_making_bot.trading.order_log import OrderJournal, bot_record
from market_making_bot.trading.orders import OrderState, OrderTracker, OrderUpdate, TrackedOrder
from market_making_bot.trading.portfolio import Portfolio
from market_making_bot.trading.risk import RiskCheck, RiskLimits
from market_making_bot.trading.safety import order_destination_refusal
from market_making_bot.trading.strategy import Strategy
from market_making_bot.trading.summary import bot_summary
from market_making_bot.units import PRICE_SCALE, price_str, size_str

__all__ = ["Bot", "BotRefused", "BotResult", "BotSettings", "SentOrder"]

log = logging.getLogger("market_making_bot.bot")

PRUNE_EVERY_NS = 60_000_000_000
KEEP_TERMINAL_MS = 600_000
"""Terminal orders older than this (10 min) are forgotten by the tracker, once a minute."""
BATCH_CREATE_SIZE = 10
"""Creates per batch (100 write tokens: the Basic tier's whole burst; more waits for the bucket)."""

_WRITE_ERRORS = (KalshiAPIError, KalshiConnectionError, KalshiResponseError, WriteOutcomeUnknown)


class BotRefused(Exception):
    """The bot will not start: orders would go to a server that is not the simulator without ``live``."""


@dataclass
class BotSettings:
    tickers: list[str]
    limits: RiskLimits = field(default_factory=RiskLimits)
    live: bool = False
    """Orders may go to a server that is not the project's simulator (the trader asked for it: ``--live``)."""
    dry_run: bool = False
    group_limit: int | None = None
    """Contracts (size units) the exchange-side order group lets fill in 15 s; ``None``: no group."""
    stop_timeout: float = 10.0
    book_wait: float = 2.0
    stale_after: float | None = None
    prefix: str | None = None
    tick: float = 1.0
    """Seconds between planner rounds when nothing happens (timers, stale books, max-loss at the marks)."""
    rest_lag: float = 2.0


@dataclass(frozen=True)
class SentOrder:
    """One create as it was sent: ``at_ns`` (``time.time_ns``, the feed's clock), and whether the engine saw the
    market's book usable at that instant."""

    at_ns: int
    ticker: str
    side: str
    price: int
    size: int
    usable: bool


@dataclass
class BotResult:
    left: list[TrackedOrder]
    """Orders of the bot that may still rest after the stop (empty: all cancelled)."""
    reason: str


class Bot:
    """See the module docstring."""

    def __init__(
        self,
        strategy: Strategy,
        api: KalshiAPIClient,
        client: KalshiWebSocketClient,
        settings: BotSettings,
        *,
        clock: Callable[[], int] = time.time_ns,
        journal: OrderJournal | None = None,
        on_rest: Callable[[str, int], None] | None = None,
    ) -> None:
        self.api = api
        self.client = client
        self.core = client.core
        self.settings = settings
        self._clock = clock
        self.tracker = OrderTracker(settings.prefix, rest_lag_ms=int(settings.rest_lag * 1000))
        self.portfolio = Portfolio()
        self.risk = RiskCheck(settings.limits)
        self.engine = Engine(
            strategy,
            settings.tickers,
            self.core.state,
            self.tracker,
            self.portfolio,
            self.risk,
            stale_ns=None if settings.stale_after is None else int(settings.stale_after * 1e9),
            dry_run=settings.dry_run,
        )
        # resend_lost=False: a create found never to have landed is not re-sent blindly; the engine plans the
        # market again, with the risk and book checks of that moment.
        self.orders = OrderManager(
            api,
            self.tracker,
            armed=not settings.dry_run,
            resend_lost=False,
            rest_lag=settings.rest_lag,
            on_update=self._on_update,
            journal=journal,  # every order request and answer, and every state change, beside the frames
        )
        # Fills made while the stream was down come back by REST (after every fill subscription, on a timer, and
        # once at the stop): the portfolio takes them, de-duplicated by trade id.
        self.account = RestAccount(api, self.core, settings.tickers, with_private=True, on_update=on_rest)
        self._journal = journal
        self.group_id: str | None = None
        self.sent: list[SentOrder] = []
        self.cancel_requests = 0
        self.decreases = 0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dry_logged: dict[str, str] = {}
        self._stopping = False
        self._removals: set[tuple[str, str, int]] = set()
        self._removed = asyncio.Event()
        self.result: BotResult | None = None

    def _note(self, op: str, **fields: Any) -> None:
        """One of the bot's own journal records (``order_log.BOT_OPS``): what ``--replay`` needs to plan again at
        the same instants (never raises: the journal keeps its own error)."""
        if self._journal is not None:
            try:
                self._journal.order(bot_record(op, **fields), time.time_ns())
            except Exception:
                log.exception("the order journal failed")

    def _count_unknown(self, n: int) -> None:
        """The summary's ``unknown``: counted here, by the runtime (after a create's answer), so journaled too."""
        self.engine.counters.unknown += n
        self._note("counted", unknown=n)

    # --- events ------------------------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        self.engine.on_event(event)
        if self._removals and isinstance(event, BookChanged) and event.msg.delta < 0:
            self._removals.discard((event.ticker, event.msg.side, event.msg.price))
            if not self._removals:
                self._removed.set()
        self._wake.set()

    def _on_update(self, update: OrderUpdate) -> None:
        self.engine.on_order_update(update)
        self._wake.set()

    def _expect_removals(self) -> None:
        """At stop, before the cancels: where each open order of the bot rests (a bid on the YES ladder at p, an
        ask on the NO ladder at 1 - p). The simulator, like Kalshi, may send the book's delta before the cancel's
        reply, so the keys are set before anything is sent; a negative delta there (cancel or fill) removes one."""
        for order in self.tracker.open_orders():
            if order.order_id is None or order.remaining <= 0:
                continue
            if _side_value(order.side) == "bid":
                self._removals.add((order.ticker, "yes", order.price))
            else:
                self._removals.add((order.ticker, "no", PRICE_SCALE - order.price))
        if self._removals:
            self._removed.clear()
        else:
            self._removed.set()

    # --- running -----------------------------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Everything before the first order: the destination check, positions, our old orders, the group."""
        settings = self.settings
        if not settings.dry_run:
            mark = await self.api.simulator_mark()
            refusal = order_destination_refusal(self.api.base_url, mark, live=settings.live)
            if refusal is not None:
                raise BotRefused(refusal)
        seeded: list[dict[str, Any]] = []
        for ticker in settings.tickers:
            positions = [p async for p in self.api.positions(ticker=ticker)]
            self.portfolio.seed_rest(p for p in positions if p.ticker == ticker)
            seeded.extend(
                {"ticker": p.ticker, "position": p.position_fp, "exposure": p.market_exposure_dollars}
                for p in positions
                if p.ticker == ticker and p.position_fp
            )
            if self.portfolio.books.get(ticker) is not None and self.portfolio.books[ticker].position:
                log.info("%s: starting from a position of %s", ticker, size_str(self.portfolio.books[ticker].position))
        self._note(
            "seed",
            tickers=settings.tickers,
            prefix=self.tracker.prefix,
            positions=seeded,
            limits=dataclasses.asdict(settings.limits),
            stale_ns=self.engine.stale_ns,
            dry_run=settings.dry_run,
        )
        if settings.dry_run:
            return
        await self.orders.reconcile()
        if settings.group_limit is not None:
            try:
                reply = await self.api.create_order_group(CreateOrderGroupRequest(contracts_limit=settings.group_limit))
            except _WRITE_ERRORS as exc:
                log.warning("order group not created (%s): going on without the exchange-side backstop", exc)
            else:
                self.group_id = self.engine.group_id = reply.order_group_id
                log.info(
                    "order group %s: at most %s contracts filled per 15 s",
                    self.group_id,
                    size_str(settings.group_limit),
                )

    async def run(self, stop: asyncio.Event, kill: asyncio.Event | None = None) -> BotResult:
        """Prepare, run until ``stop`` or ``kill`` (or the feed ends), then stop clean (module docstring)."""
        kill = kill or asyncio.Event()
        await self.prepare()
        off = self.core.bus.subscribe(Event, self._on_event)
        await self.account.load_start()
        feed_stop = asyncio.Event()
        feed = asyncio.create_task(self.client.run(feed_stop))
        backfill = asyncio.create_task(self.account.run(feed_stop))
        start_ns = self._clock()
        self._note("start", now=start_ns, group_id=self.group_id)
        self.engine.start(start_ns)
        reason = "stopped"
        try:
            reason = await self._loop(stop, kill, feed)
        finally:
            try:
                await self._stop(reason, killed=kill.is_set(), feed=feed)
            finally:
                feed_stop.set()
                backfill.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await backfill
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(feed), timeout=5)
                off()
        assert self.result is not None
        if self.account.auth_error is not None:
            raise self.account.auth_error
        if feed.done() and not feed.cancelled() and feed.exception() is not None:
            raise feed.exception()  # type: ignore[misc]
        return self.result

    async def _loop(self, stop: asyncio.Event, kill: asyncio.Event, feed: asyncio.Task[None]) -> str:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(kill.wait())]
        pruned_ns = self._clock()
        try:
            while True:
                if kill.is_set():
                    return "kill switch"
                if stop.is_set():
                    return "stop"
                if feed.done():
                    return "the feed ended"
                now = self._clock()
                if now - pruned_ns > PRUNE_EVERY_NS:  # a long run would keep every terminal order in the tracker
                    pruned_ns = now
                    self.tracker.prune(now // 1_000_000 - KEEP_TERMINAL_MS)
                self._note("round", now=now)
                self.engine.tick(now)
                self._execute(self.engine.plan(now))
                timeout = self.settings.tick
                due = self.engine.next_wake_ns()
                if due is not None:
                    timeout = max(0.0, min(timeout, (due - now) / 1e9))
                self._wake.clear()
                wake = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([wake, feed, *waiters], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
        finally:
            for w in waiters:
                w.cancel()

    def _execute(self, writes: list[Write]) -> None:
        if not writes:
            return
        if self.settings.dry_run:
            self._dry(writes)
            return
        task = asyncio.create_task(self._send(writes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dry(self, writes: list[Write]) -> None:
        by_ticker: dict[str, list[str]] = {}
        for w in writes:
            if isinstance(w, Place):
                text = f"place {w.side} {price_str(w.price)} x {size_str(w.size)}"
            elif isinstance(w, CancelOrders):
                text = f"cancel {len(w.coids)} ({w.reason})"
            else:
                text = f"decrease {w.coid} to {size_str(w.remaining)}"
            by_ticker.setdefault(w.ticker, []).append(text)
        for ticker, texts in by_ticker.items():
            line = "; ".join(texts)
            if self._dry_logged.get(ticker) != line:
                self._dry_logged[ticker] = line
                log.info("dry-run %s: would %s", ticker, line)
            self.engine.settle(ticker)

    async def _send(self, writes: list[Write]) -> None:
        tickers = {w.ticker for w in writes}
        try:
            cancels = [c for w in writes if isinstance(w, CancelOrders) for c in w.coids]
            for start in range(0, len(cancels), BATCH_CANCEL_SIZE):
                await self._cancel(cancels[start : start + BATCH_CANCEL_SIZE])
            jobs = [self._reduce(w) for w in writes if isinstance(w, Reduce)]
            places = [w for w in writes if isinstance(w, Place)]
            if len(places) == 1:
                jobs.append(self._place(places[0]))
            else:  # several creates (one round of every market): batched, as Kalshi allows
                jobs += [
                    self._place_batch(places[i : i + BATCH_CREATE_SIZE])
                    for i in range(0, len(places), BATCH_CREATE_SIZE)
                ]
            if jobs:
                await asyncio.gather(*jobs)
        except Exception:
            log.exception("sending the bot's writes failed")
        finally:
            self._note("settled", tickers=sorted(tickers))
            for ticker in tickers:
                self.engine.settle(ticker)
            self._wake.set()

    async def _place(self, w: Place) -> None:
        engine = self.engine
        if not self._ready(w):
            return
        self.sent.append(SentOrder(self._clock(), w.ticker, w.side, w.price, w.size, True))
        engine.count_sent(w.ticker)
        side = BookSide.BID if w.side == "bid" else BookSide.ASK
        try:
            order = await self.orders.place(w.ticker, side, w.price, w.size, order_group_id=self.group_id)
        except (OrderRefused, ValueError) as exc:
            log.warning("order on %s not sent: %s", w.ticker, exc)
            return
        if w.handle is not None:
            engine.bind(w.handle, order.client_order_id)
        if order.state is OrderState.UNKNOWN:
            self._count_unknown(1)

    def _ready(self, w: Place) -> bool:
        """Whether a planned create may still go: nothing changed since the plan (this round's cancels were awaited
        first); else it is dropped and the market planned again."""
        reason = self.engine.halted or self.engine.unusable_reason(w.ticker)
        if reason is not None:
            log.info("create on %s dropped: %s", w.ticker, reason)
            self._note("dropped", ticker=w.ticker, side=w.side, price=w.price, size=w.size, reason=reason)
            return False
        return True

    async def _place_batch(self, places: list[Place]) -> None:
        """Several creates in one ``POST .../orders/batched``; each item's answer goes to the tracker as a single
        create's would (an item's error is a refusal; a batch whose outcome is unknown leaves every order unknown,
        settled by REST reads)."""
        orders, tracker, engine = self.orders, self.tracker, self.engine
        sent: list[tuple[Place, CreateOrderRequest]] = []
        for w in places:
            if not self._ready(w):
                continue
            side = BookSide.BID if w.side == "bid" else BookSide.ASK
            try:
                request = tracker.new(
                    w.ticker, side, w.price, w.size, now_ms=orders.now_ms(), order_group_id=self.group_id
                )
            except (OrderRefused, ValueError) as exc:
                log.warning("order on %s not sent: %s", w.ticker, exc)
                continue
            self.sent.append(SentOrder(self._clock(), w.ticker, w.side, w.price, w.size, True))
            engine.count_sent(w.ticker)
            sent.append((w, request))
        if not sent:
            return
        if len(sent) == 1:  # the rest was dropped: a plain create
            await self._create(*sent[0])
            return
        coids = [r.client_order_id for _, r in sent]
        for _, request in sent:  # the journal has one create per order, as for single creates
            orders._record("create", "request", request.client_order_id, body=request)
        try:
            reply = await self.api.batch_create_orders([r for _, r in sent])
        except KalshiAPIError as exc:
            for coid in coids:
                orders._record_error("create", coid, exc)
                orders._emit(tracker.on_error(coid, exc, orders.now_ms()))
        except (WriteOutcomeUnknown, KalshiResponseError) as exc:
            for coid in coids:
                orders._record_error("create", coid, exc)
                orders._emit(tracker.on_unknown(coid, str(exc), orders.now_ms()))
        except KalshiConnectionError as exc:  # could not connect: nothing was sent
            for coid in coids:
                orders._record("create", "error", coid, status=0, code="not_sent", message=str(exc))
                orders._emit(tracker.on_error(coid, KalshiAPIError(0, "not_sent", str(exc)), orders.now_ms()))
        except BaseException:
            for coid in coids:  # cancelled while the batch may be on its way: unknown
                orders._record("create", "unknown", coid, why="the batch create was interrupted")
                orders._emit(tracker.on_unknown(coid, "the batch create was interrupted", orders.now_ms()))
            raise
        else:
            for (w, request), item in zip(sent, reply.orders, strict=True):
                coid = request.client_order_id
                answer = item.reply()
                if answer is not None:
                    orders._record("create", "reply", coid, body=answer)
                    orders._emit(tracker.on_reply(coid, answer, orders.now_ms()))
                elif item.error is not None:
                    error = KalshiAPIError(400, item.error.code, item.error.message, item.error.details)
                    log.warning("order %s on %s refused: %s", coid, w.ticker, error)
                    orders._record_error("create", coid, error)
                    orders._emit(tracker.on_error(coid, error, orders.now_ms()))
                else:
                    why = "the batch answer for it is incomplete"
                    orders._record("create", "unknown", coid, why=why)
                    orders._emit(tracker.on_unknown(coid, why, orders.now_ms()))
        for w, request in sent:
            if w.handle is not None:
                engine.bind(w.handle, request.client_order_id)
        if tracker.unresolved():
            self._count_unknown(len(tracker.unresolved()))
            await orders.resolve()

    async def _create(self, w: Place, request: CreateOrderRequest) -> None:
        """One create already recorded by the tracker (``tracker.new``), sent alone (journaled by the manager)."""
        coid = request.client_order_id
        await self.orders._send_create(coid)
        if w.handle is not None:
            self.engine.bind(w.handle, coid)
        if self.tracker.unresolved():
            self._count_unknown(1)
            await self.orders.resolve()

    async def _reduce(self, w: Reduce) -> None:
        self.decreases += 1
        self.engine.counters.amended += 1
        try:
            await self.orders.decrease(w.coid, reduce_to=w.remaining)
        except (OrderRefused, ValueError, KeyError) as exc:
            log.warning("decrease of %s not sent: %s", w.coid, exc)

    async def _cancel(self, coids: list[str]) -> None:
        """Cancel by order id: one ``DELETE``, or a batch for several; answers go to the tracker."""
        orders = self.orders
        tracker = self.tracker
        refs: list[CancelRef] = []
        chunk: list[str] = []
        for coid in coids:
            try:
                refs.append(tracker.cancel(coid, orders.now_ms()))
                chunk.append(coid)
            except (OrderRefused, KeyError) as exc:
                log.info("cancel of %s skipped: %s", coid, exc)
        if not refs:
            return
        self.cancel_requests += len(refs)
        self.engine.counters.cancelled += len(refs)
        orders._record("batch_cancel", "request", None, coids=chunk, body=refs)
        try:
            reply = await self.api.batch_cancel_orders(refs)
        except KalshiAPIError as exc:
            orders._record_error("batch_cancel", None, exc, coids=chunk)
            for coid in chunk:
                orders._emit(tracker.on_change_error(coid, exc, orders.now_ms()))
        except (WriteOutcomeUnknown, KalshiResponseError, KalshiConnectionError) as exc:
            orders._record_error("batch_cancel", None, exc, coids=chunk)
            for coid in chunk:
                orders._emit(tracker.on_change_unknown(coid, str(exc), orders.now_ms()))
        else:
            orders._record("batch_cancel", "reply", None, coids=chunk, body=reply)
            by_id: dict[str, str] = {r.order_id: c for r, c in zip(refs, chunk, strict=True)}
            for item in reply.orders:
                coid = by_id.pop(item.order_id, "")
                if coid:
                    orders._emit(tracker.on_change_reply(coid, item, orders.now_ms()))
            for coid in by_id.values():
                orders._emit(tracker.on_change_unknown(coid, "no answer in the batch", orders.now_ms()))
        if tracker.unresolved():
            await orders.resolve()

    # --- stopping ----------------------------------------------------------------------------------------------------

    async def _stop(self, reason: str, *, killed: bool, feed: asyncio.Task[None]) -> None:
        self._stopping = True
        stop_ns = self._clock()
        self._note("stop", now=stop_ns, reason=reason)
        self.engine.stop(stop_ns, reason)
        log.info("bot stopping (%s): cancelling every order of the bot", reason)
        tasks = list(self._tasks)
        if tasks:
            if killed:
                for t in tasks:
                    t.cancel()
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*tasks, return_exceptions=True), timeout=self.settings.stop_timeout
                )
        if not self.settings.dry_run:
            self._expect_removals()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.settings.stop_timeout
            delay = 0.05
            while True:
                try:
                    self.engine.counters.cancelled += await asyncio.wait_for(
                        self.orders.cancel_mine(), timeout=max(0.1, deadline - loop.time())
                    )
                except (asyncio.TimeoutError, TimeoutError):
                    log.warning("cancelling the bot's orders: out of time")
                except Exception as exc:
                    log.warning("cancelling the bot's orders failed: %s", exc)
                if not self.tracker.open_orders() or loop.time() >= deadline:
                    break
                await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))  # retry back-off, bounded
                delay = min(1.0, delay * 2)
            if self.group_id is not None:
                try:
                    await self.api.delete_order_group(self.group_id)
                except _WRITE_ERRORS as exc:
                    log.warning("order group %s not deleted: %s", self.group_id, exc)
            if self._removals and not feed.done():
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(self._removed.wait(), timeout=self.settings.book_wait)
                if self._removals:
                    log.info(
                        "%d cancelled orders not seen leaving the book in %g s: %s",
                        len(self._removals),
                        self.settings.book_wait,
                        ", ".join(f"{t} {side} {price_str(p)}" for t, side, p in sorted(self._removals)),
                    )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.account.backfill("stop"), timeout=self.settings.stop_timeout)
            try:
                positions = [p async for p in self.api.positions()]
            except _WRITE_ERRORS as exc:
                log.warning("positions not checked against REST at the end: %s", exc)
            else:
                mine = [p for p in positions if p.ticker in self.engine.tickers]
                mismatches = self.portfolio.check_rest_positions(mine)
                for mismatch in mismatches:
                    self.engine.counters.position_mismatches += 1
                    log.warning("%s", mismatch)
                self._note("end", position_mismatches=len(mismatches))
        left = self.tracker.open_orders()
        if left:
            log.error(
                "%d orders of the bot may still rest: %s",
                len(left),
                ", ".join(f"{o.client_order_id} ({o.order_id or 'no id'}, {o.ticker})" for o in left),
            )
        total = self.engine.total_pnl()
        log.info(
            "bot stopped (%s): %d orders sent, %d cancels, %d fills; %s",
            reason,
            self.engine.counters.sent,
            self.cancel_requests,
            sum(b.fills for b in self.portfolio.books.values()),
            self.portfolio.summary_line(self.engine.marks()) if total.markets else "no position",
        )
        self.result = BotResult(left, reason)

    # --- the summary -------------------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The bot's additions to the listener's summary: per market ``orders``, ``fills``, ``position``, ``mark``,
        ``pnl``; ``trading``; ``pnl`` totals (``trading.summary.bot_summary``, the same for ``--replay``)."""
        return bot_summary(self.engine, self.group_id, self.settings.dry_run)


def _side_value(side: Any) -> str:
    return str(getattr(side, "value", side))
