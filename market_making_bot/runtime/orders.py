"""``OrderManager``: the asyncio shell around ``trading.orders.OrderTracker`` and ``KalshiAPIClient``'s writes.

::

    async with KalshiAPIClient.from_config(cfg) as api:
        orders = OrderManager(api, armed=True)          # armed: the caller asked for real orders, explicitly
        orders.attach(listener.core.bus)                 # user_order and fill frames from the feed
        await orders.reconcile()                         # our resting orders from a previous run, if any
        placed = await orders.place("KXHIGHNY-26DEC31-B45", BookSide.BID, price=4500, count=1000)
        ...
        await orders.cancel_mine()                       # every order this program placed; never the others

What it does (the decisions are the tracker's; this only moves requests and answers and keeps the time):

* **Nothing is sent unless armed**: ``OrderManager(api)`` refuses every order (``OrderRefused``) until it is made
  with ``armed=True``. Every order has a ``client_order_id`` from the tracker (its prefix names this program).
* **place**: the tracker records the order, the client sends it (10 write tokens), the answer goes back to the
  tracker. A refusal (4xx) is final; a 429 the client could not get through is a refusal too (not processed). A
  timeout, a dropped connection or a 5xx (``WriteOutcomeUnknown``) leaves it ``UNKNOWN``: its market is blocked and
  :meth:`resolve` (called at once, after ``rest_lag`` seconds) reads ``GET /portfolio/orders?ticker=..&min_ts=..``:
  found, it takes the state read; absent, it never landed and is **re-sent with the same client_order_id**
  (``resend_lost``, default on), so that if it did land after all Kalshi answers 409 and nothing trades twice.
* **cancel / amend / decrease**: the same, with the tracker's in-flight state; an unknown outcome or a 404 is settled
  by ``GET /portfolio/orders/{id}``.
* **reconcile** (at start and after every reconnect): ``GET /portfolio/orders?status=resting`` (all pages); our
  orders there are taken over, ours missing from it are read by id.
* **cancel_mine** (when stopping): no new orders, waits for the creates in flight, settles unknown ones, then
  batch-cancels by order id every open order this tracker knows (2 write tokens each), repeating for those whose
  cancel had an unknown outcome (a cancel is safe to repeat: a second one is a 404). ``cancel_all_orders`` (every
  order of the account) is never used here.
* Stream frames: :meth:`on_message` takes ``UserOrder`` and ``Fill`` messages; :meth:`attach` subscribes it to a
  feed ``EventBus`` (``OrderFrameSeen``, ``FillSeen``, backfilled fills included).

Every change is an ``OrderUpdate``, logged and passed to ``on_update``.

**Journal** (``journal=``, e.g. a ``storage.journal.JournalWriter``): every request and its answer (reply, error
status, unknown outcome), every REST read that settled orders and every ``OrderUpdate`` are written as order records
(``trading.order_log``: bodies in integer units, the coid in each; never a header or a signature). Any user of the
manager journals the same way; a journal that fails never stops order entry (the writer keeps its error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from market_making_bot.feed.events import EventBus, FillSeen, OrderFrameSeen
from market_making_bot.kalshi.messages import Fill, UserOrder
from market_making_bot.kalshi.orders import AmendOrderReply, BookSide, CancelOrderReply, CancelRef, DecreaseOrderReply
from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError, Order
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError, WriteOutcomeUnknown
from market_making_bot.trading.order_log import OrderJournal, error_fields, order_record, update_record
from market_making_bot.trading.orders import (
    OrderRefused,
    OrderState,
    OrderTracker,
    OrderUpdate,
    TrackedOrder,
)

__all__ = ["OrderManager", "OrderRefused", "BATCH_CANCEL_SIZE"]

log = logging.getLogger("market_making_bot.orders")

BATCH_CANCEL_SIZE = 20
"""Orders per batch cancel (40 write tokens: inside the Basic tier's burst of 100)."""

_READ_ERRORS = (KalshiAPIError, KalshiConnectionError, KalshiResponseError)
_LOOKBACK_S = 60
"""``min_ts`` of a resolving read: this many seconds before the oldest unknown send (clocks differ)."""


class OrderManager:
    """Places, changes and cancels this program's orders (see the module docstring). ``rest_lag`` (seconds) is used
    for a tracker made here; a tracker passed in brings its own ``rest_lag_ms``."""

    def __init__(
        self,
        api: KalshiAPIClient,
        tracker: OrderTracker | None = None,
        *,
        armed: bool = False,
        resend_lost: bool = True,
        rest_lag: float = 2.0,
        clock: Callable[[], float] = time.time,
        on_update: Callable[[OrderUpdate], None] | None = None,
        journal: OrderJournal | None = None,
    ) -> None:
        self.api = api
        self.tracker = tracker if tracker is not None else OrderTracker(rest_lag_ms=int(rest_lag * 1000))
        self.armed = armed
        self.resend_lost = resend_lost
        self.rest_lag = self.tracker.rest_lag_ms / 1000
        self._clock = clock
        self.on_update = on_update
        self.journal = journal
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._resolving = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _record(self, op: str, phase: str, coid: str | None, **fields: Any) -> None:
        """One order record to the journal, if there is one (never raises: the journal keeps its own error)."""
        if self.journal is None:
            return
        try:
            self.journal.order(order_record(op, phase, coid, **fields), time.time_ns())
        except Exception:
            log.exception("the order journal failed")

    def _record_error(self, op: str, coid: str | None, exc: BaseException, **fields: Any) -> None:
        if isinstance(exc, KalshiAPIError):
            self._record(op, "error", coid, **fields, **error_fields(exc))
        else:
            status = getattr(exc, "status", None)  # WriteOutcomeUnknown: the 5xx, if one was answered
            self._record(op, "unknown", coid, **fields, status=status, why=str(exc) or type(exc).__name__)

    def _emit(self, updates: list[OrderUpdate]) -> None:
        for u in updates:
            if self.journal is not None:
                try:
                    self.journal.order(update_record(u, self.tracker.get(u.client_order_id)), time.time_ns())
                except Exception:
                    log.exception("the order journal failed")
            log.info(
                "order %s %s on %s: %s -> %s, filled %d, remaining %d (%s)",
                u.client_order_id,
                u.order_id or "-",
                u.ticker,
                u.previous.value,
                u.state.value,
                u.fill_count,
                u.remaining,
                u.reason,
            )
            if self.on_update is not None:
                try:
                    self.on_update(u)
                except Exception:
                    log.exception("on_update callback failed")

    # --- stream frames -----------------------------------------------------------------------------------------------

    def on_message(self, msg: Any) -> None:
        """A decoded stream message: ``UserOrder`` and ``Fill`` go to the tracker, anything else is ignored."""
        if isinstance(msg, UserOrder):
            self._emit(self.tracker.on_user_order(msg, self.now_ms()))
        elif isinstance(msg, Fill):
            self._emit(self.tracker.on_fill(msg, self.now_ms()))

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Take the feed's ``user_order`` frames and fills (stream and backfill) from ``bus``; returns a function
        that detaches."""
        off_orders = bus.subscribe(OrderFrameSeen, lambda e: self.on_message(e.msg))
        off_fills = bus.subscribe(FillSeen, lambda e: self.on_message(e.msg))

        def detach() -> None:
            off_orders()
            off_fills()

        return detach

    # --- placing -----------------------------------------------------------------------------------------------------

    async def place(self, ticker: str, side: BookSide, price: int, count: int, **options: Any) -> TrackedOrder:
        """Place one order (``options``: those of ``OrderTracker.new``); returns it in the state its answer left it
        (``REJECTED`` with ``reason`` if refused; ``UNKNOWN`` if even the read could not settle it)."""
        if not self.armed:
            raise OrderRefused("order entry is not armed: make the OrderManager with armed=True to send real orders")
        request = self.tracker.new(ticker, side, price, count, now_ms=self.now_ms(), **options)
        coid = request.client_order_id
        await self._send_create(coid)
        order = self.tracker.get(coid)
        assert order is not None
        if order.state is OrderState.UNKNOWN:
            await self.resolve()
        return order

    async def _send_create(self, coid: str) -> None:
        order = self.tracker.get(coid)
        assert order is not None and order.request is not None
        self._inflight += 1
        self._idle.clear()
        self._record("create", "request", coid, body=order.request)
        try:
            reply = await self.api.create_order(order.request)
        except KalshiAPIError as exc:
            self._record_error("create", coid, exc)
            log.warning("order %s on %s refused: %s", coid, order.ticker, exc)
            self._emit(self.tracker.on_error(coid, exc, self.now_ms()))
        except (WriteOutcomeUnknown, KalshiResponseError) as exc:
            self._record_error("create", coid, exc)
            log.warning("order %s on %s: outcome unknown: %s", coid, order.ticker, exc)
            self._emit(self.tracker.on_unknown(coid, str(exc), self.now_ms()))
        except KalshiConnectionError as exc:  # could not connect: nothing was sent
            self._record("create", "error", coid, status=0, code="not_sent", message=str(exc))
            self._emit(self.tracker.on_error(coid, KalshiAPIError(0, "not_sent", str(exc)), self.now_ms()))
        except BaseException:
            # Cancelled (or worse) while the request may be on its way: the outcome is unknown.
            self._record("create", "unknown", coid, why="the create was interrupted")
            self._emit(self.tracker.on_unknown(coid, "the create was interrupted", self.now_ms()))
            raise
        else:
            self._record("create", "reply", coid, body=reply)
            self._emit(self.tracker.on_reply(coid, reply, self.now_ms()))
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    # --- resolving what is unknown -----------------------------------------------------------------------------------

    async def resolve(self) -> int:
        """Settle every ``UNKNOWN`` order with REST reads (waiting until each doubt is ``rest_lag`` old); re-send
        with the same coid the creates that never landed (``resend_lost``). Returns how many are still unknown."""
        async with self._resolving:
            for _ in range(3):  # a re-send can itself end unknown; a few rounds, then the caller calls again
                unknown = self.tracker.unresolved()
                if not unknown:
                    return 0
                newest = max(max(o.sent_ms, o.check_since_ms) for o in unknown)
                wait = (newest + self.tracker.rest_lag_ms - self.now_ms()) / 1000
                if wait > 0:
                    await asyncio.sleep(wait)  # REST lags writes: a read sooner proves nothing
                lost = await self._read_unknown(unknown)
                if not lost:
                    break
                for coid in lost:
                    self.tracker.resend(coid, self.now_ms())
                    log.info("order %s never landed: re-sent with the same client_order_id", coid)
                    await self._send_create(coid)
            return len(self.tracker.unresolved())

    async def _read_unknown(self, unknown: list[TrackedOrder]) -> list[str]:
        """One round of reads; the coids found never to have landed (to re-send)."""
        creates: dict[str, list[TrackedOrder]] = {}
        for order in unknown:
            if order.order_id is None:
                creates.setdefault(order.ticker, []).append(order)
            else:
                as_of = self.now_ms()
                try:
                    rest = await self.api.order(order.order_id)
                except _READ_ERRORS as exc:
                    log.warning("order %s: reading it by id failed: %s", order.client_order_id, exc)
                    self._record_error("read", order.client_order_id, exc, what=f"order {order.order_id}")
                    continue
                self._record("read", "reply", order.client_order_id, what=f"order {order.order_id}", orders=[rest])
                self._emit(self.tracker.on_rest_order(rest, as_of))
        lost: list[str] = []
        for ticker, orders in creates.items():
            since_s = min(o.sent_ms for o in orders) // 1000 - _LOOKBACK_S
            as_of = self.now_ms()
            try:
                found: list[Order] = [o async for o in self.api.orders(ticker=ticker, min_ts=since_s)]
            except _READ_ERRORS as exc:
                log.warning("orders on %s: the read to settle unknown orders failed: %s", ticker, exc)
                self._record_error("read", None, exc, what=f"orders ticker={ticker} min_ts={since_s}")
                continue
            self._record(
                "read", "reply", None, what=f"orders ticker={ticker} min_ts={since_s}", orders=self._ours(found)
            )
            self._emit(self.tracker.on_rest_orders(found, as_of, ticker=ticker, since_ms=since_s * 1000))
            for order in orders:
                if order.lost and self.resend_lost and not self.tracker.closed:
                    lost.append(order.client_order_id)
        return lost

    def _ours(self, orders: list[Order]) -> list[Order]:
        """The orders of a read the journal keeps: ours (known here, or with our prefix), never the account's others."""
        t = self.tracker
        return [
            o
            for o in orders
            if t.ours(o.client_order_id) or t.get(o.client_order_id) is not None or t.by_order_id(o.order_id)
        ]

    async def reconcile(self) -> None:
        """At start and after a reconnect: our resting orders from REST (all pages); the open ones missing there
        are read by id; unknown ones settled."""
        as_of = self.now_ms()
        resting = [o async for o in self.api.orders(status="resting")]
        self._record("read", "reply", None, what="orders status=resting", orders=self._ours(resting))
        self._emit(self.tracker.on_rest_orders(resting, as_of, status="resting"))
        await self.resolve()

    # --- changing ----------------------------------------------------------------------------------------------------

    async def cancel(self, coid: str) -> TrackedOrder:
        ref = self.tracker.cancel(coid, self.now_ms())
        return await self._change(
            "cancel", coid, ref.order_id, ref, self.api.cancel_order(ref.order_id, market_ticker=ref.market_ticker)
        )

    async def amend(
        self, coid: str, *, price: int | None = None, remaining: int | None = None, new_client_order_id: bool = False
    ) -> TrackedOrder:
        """New price and/or remaining size (Kalshi takes the new total; see ``OrderTracker.amend``)."""
        order_id, request = self.tracker.amend(
            coid, self.now_ms(), price=price, remaining=remaining, new_client_order_id=new_client_order_id
        )
        return await self._change("amend", coid, order_id, request, self.api.amend_order(order_id, request))

    async def decrease(self, coid: str, *, reduce_by: int | None = None, reduce_to: int | None = None) -> TrackedOrder:
        order_id, request = self.tracker.decrease(coid, self.now_ms(), reduce_by=reduce_by, reduce_to=reduce_to)
        return await self._change("decrease", coid, order_id, request, self.api.decrease_order(order_id, request))

    async def _change(
        self,
        op: str,
        coid: str,
        order_id: str,
        request: Any,
        call: Coroutine[Any, Any, CancelOrderReply | AmendOrderReply | DecreaseOrderReply],
    ) -> TrackedOrder:
        """Send a cancel, amend or decrease the tracker has recorded; its answer back to the tracker."""
        self._record(op, "request", coid, order_id=order_id, body=request)
        try:
            reply = await call
        except KalshiAPIError as exc:
            self._record_error(op, coid, exc, order_id=order_id)
            self._emit(self.tracker.on_change_error(coid, exc, self.now_ms()))
        except (WriteOutcomeUnknown, KalshiResponseError, KalshiConnectionError) as exc:
            self._record_error(op, coid, exc, order_id=order_id)
            self._emit(self.tracker.on_change_unknown(coid, str(exc), self.now_ms()))
        else:
            self._record(op, "reply", coid, order_id=order_id, body=reply)
            self._emit(self.tracker.on_change_reply(coid, reply, self.now_ms()))
        return await self._settled(coid)

    async def refresh(self, coid: str) -> TrackedOrder:
        """Read one known order by id (``GET /portfolio/orders/{id}``) into the tracker: its fees, its state as REST
        has it (a newer stream frame still wins). The read's errors propagate."""
        order = self.tracker.get(coid)
        if order is None or order.order_id is None:
            raise OrderRefused(f"cannot read {coid}: Kalshi has not acknowledged it yet")
        as_of = self.now_ms()
        rest = await self.api.order(order.order_id)
        self._record("read", "reply", coid, what=f"order {order.order_id}", orders=[rest])
        self._emit(self.tracker.on_rest_order(rest, as_of))
        return order

    async def take_over(self, order_id: str) -> TrackedOrder:
        """Track an order of the account by its id, whoever placed it (``OrderTracker.take_over``): the trader named
        it (``account order cancel ID``). Reads it (``GET /portfolio/orders/{id}``); the read's errors propagate."""
        as_of = self.now_ms()
        rest = await self.api.order(order_id)
        self._record("read", "reply", None, what=f"order {order_id}", orders=[rest])
        order, updates = self.tracker.take_over(rest, as_of)
        self._emit(updates)
        return order

    async def _settled(self, coid: str) -> TrackedOrder:
        order = self.tracker.get(coid)
        assert order is not None
        if order.state is OrderState.UNKNOWN:
            await self.resolve()
        return order

    # --- stopping ----------------------------------------------------------------------------------------------------

    async def cancel_mine(self, *, rounds: int = 3) -> int:
        """Cancel every open order this tracker placed or took over (by order id, in batches); never other orders
        of the account. No new order is accepted from now on. Returns how many cancels Kalshi confirmed."""
        self.tracker.close()
        await self._idle.wait()  # creates in flight: their answers give the order ids
        await self.resolve()
        canceled = 0
        for _ in range(rounds):
            targets = [o for o in self.tracker.open_orders() if o.order_id is not None and o.change is None]
            if not targets:
                break
            for start in range(0, len(targets), BATCH_CANCEL_SIZE):
                chunk = targets[start : start + BATCH_CANCEL_SIZE]
                canceled += await self._cancel_batch(chunk)
            await self.resolve()
        left = [o.client_order_id for o in self.tracker.open_orders()]
        if left:
            log.error("orders still open after cancel_mine: %s", ", ".join(left))
        return canceled

    async def _cancel_batch(self, chunk: list[TrackedOrder]) -> int:
        refs: list[CancelRef] = [self.tracker.cancel(o.client_order_id, self.now_ms()) for o in chunk]
        coids = [o.client_order_id for o in chunk]
        self._record("batch_cancel", "request", None, coids=coids, body=refs)
        try:
            reply = await self.api.batch_cancel_orders(refs)
        except KalshiAPIError as exc:
            self._record_error("batch_cancel", None, exc, coids=coids)
            for o in chunk:
                self._emit(self.tracker.on_change_error(o.client_order_id, exc, self.now_ms()))
            return 0
        except (WriteOutcomeUnknown, KalshiResponseError, KalshiConnectionError) as exc:
            self._record_error("batch_cancel", None, exc, coids=coids)
            for o in chunk:
                self._emit(self.tracker.on_change_unknown(o.client_order_id, str(exc), self.now_ms()))
            return 0
        self._record("batch_cancel", "reply", None, coids=coids, body=reply)
        by_id = {o.order_id: o for o in chunk}
        done = 0
        for item in reply.orders:
            order = by_id.pop(item.order_id, None)
            if order is None:
                continue
            self._emit(self.tracker.on_change_reply(order.client_order_id, item, self.now_ms()))
            done += item.error is None
        for order in by_id.values():  # not answered: treat as unknown, read later
            self._emit(self.tracker.on_change_unknown(order.client_order_id, "no answer in the batch", self.now_ms()))
        return done
