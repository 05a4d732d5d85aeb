"""The account's orders and their state, pure: REST replies and stream frames in, order state and events out.

No I/O and no clock of its own: every call takes ``now_ms`` (the caller's wall clock, Unix ms). The asyncio shell
that sends the requests and feeds the answers back is ``market_making_bot.runtime.orders.OrderManager``.

**Identity.** Every order has a ``client_order_id`` (coid) made here before it is sent: ``<prefix>-<random>``. The
prefix names this program (pass the same one after a restart and the orders of the previous run are recognised as
ours when REST or the stream shows them; orders of other programs on the account are never touched). The order is
found by coid first, then by ``order_id`` once Kalshi has given one (REST.md 4.8).

**State** (:class:`OrderState`) follows from *observations* (the create reply, ``user_order`` snapshots, cancel,
amend and decrease replies, REST reads) and *fills* (``fill`` frames, de-duplicated by ``trade_id``), in whatever
order they arrive:

* the newest observation wins, by ``(engine time, fill count, ...)`` (``last_updated_ts_ms`` of a snapshot, ``ts_ms``
  of a reply, ``last_update_time`` of a REST order: REST lags, so a newer stream frame beats an older REST read);
* a terminal observation (executed, canceled) is never taken back by an older or a non-terminal one;
* the fill count is the largest any source reports (snapshots are cumulative; fills are increments summed), and
  fills newer than the winning observation reduce its remaining count (all filled: executed).

These are maxima and set unions, so the final state does not depend on the order of arrival (the tests try every
permutation). Stream frames that arrive before the order is known (a fill that names only an ``order_id`` the create
reply has not told yet) wait in a bounded buffer and are applied once the ``order_id`` is known.

**Unknown outcomes.** A create whose outcome is unknown (timeout, dropped connection, 5xx: :meth:`on_unknown`) is
``UNKNOWN`` and **blocks new orders on its market** (:meth:`blocked`, :meth:`new` refuses with the reason) until
resolved: by any stream frame or REST read that shows it (it landed), or by a REST read of the market's orders
(``GET /portfolio/orders?ticker=..&min_ts=..``) taken late enough (``rest_lag_ms`` after the send) that does not
show it: then it never landed (``REJECTED``, ``lost``) and :meth:`resend` gives the same request **with the same
coid**, so that if it had landed after all Kalshi answers 409 instead of trading twice. A 409 on a re-sent coid means
it landed (the order stays ``UNKNOWN`` until a read shows it, and is never re-sent). A cancel, amend or decrease
whose outcome is unknown, a cancel answered 404 (the order is already terminal), or an open order missing from a
read of the resting orders also make it ``UNKNOWN`` (``check``) until a REST read of it taken ``rest_lag_ms`` after
the doubt, or a terminal frame, settles it.

Every change of an order is returned as an :class:`OrderUpdate` (for views and logs).
"""

from __future__ import annotations

import enum
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from market_making_bot.kalshi.messages import Fill, UserOrder
from market_making_bot.kalshi.orders import (
    AmendOrderReply,
    AmendOrderRequest,
    BatchCancelItem,
    BookSide,
    CancelOrderReply,
    CancelRef,
    CreateOrderReply,
    CreateOrderRequest,
    DecreaseOrderReply,
    DecreaseOrderRequest,
    OrderStatus,
    SelfTradePrevention,
    TimeInForce,
    check_client_order_id,
)
from market_making_bot.kalshi.rest import KalshiAPIError, Order

__all__ = [
    "OrderState",
    "ChangeKind",
    "PendingChange",
    "TrackedOrder",
    "OrderUpdate",
    "OrderRefused",
    "OrderTracker",
    "TERMINAL",
]


class OrderState(enum.Enum):
    PENDING = "pending"
    """Sent, not answered yet."""
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    """Resting, with some fills."""
    EXECUTED = "executed"
    CANCELED = "canceled"
    """Canceled (by us, IOC/FOK remainder, STP, expiry, ...), possibly after fills."""
    REJECTED = "rejected"
    """Refused by Kalshi (4xx), or found never to have landed (``lost``)."""
    UNKNOWN = "unknown"
    """The outcome of a request about it is not known: its market is blocked until a REST read settles it."""


TERMINAL = frozenset({OrderState.EXECUTED, OrderState.CANCELED, OrderState.REJECTED})


class ChangeKind(enum.Enum):
    CANCEL = "cancel"
    AMEND = "amend"
    DECREASE = "decrease"


@dataclass
class PendingChange:
    """A cancel, amend or decrease sent and not answered yet."""

    kind: ChangeKind
    sent_ms: int
    price: int | None = None
    total: int | None = None
    new_client_order_id: str | None = None


class OrderRefused(Exception):
    """The tracker will not send this (a blocked market, an order not acknowledged yet, a terminal order, ...)."""


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed: its new ``state``, counts (1/100 contract) and price (1/10,000 $), and why."""

    at_ms: int
    client_order_id: str
    order_id: str | None
    ticker: str
    state: OrderState
    previous: OrderState
    fill_count: int
    remaining: int
    price: int
    new_fill: int
    """Contracts (1/100) filled since the previous update of this order."""
    reason: str


_TERMINAL_STATUS = frozenset({OrderStatus.EXECUTED, OrderStatus.CANCELED})


@dataclass(frozen=True, slots=True)
class _Obs:
    """What the exchange said about the order at ``ts_ms`` (engine time): ``fill`` -1 when not said."""

    ts_ms: int
    fill: int
    remaining: int
    status: OrderStatus
    price: int | None
    source: str

    def key(self) -> tuple[int, int, int, int, str, int, str]:
        # A total order (every field takes part) so that the winner never depends on the order of arrival.
        return (
            self.ts_ms,
            self.fill,
            1 if self.status in _TERMINAL_STATUS else 0,
            -self.remaining,
            self.status.value,
            self.price or 0,
            self.source,
        )


@dataclass
class TrackedOrder:
    """One of our orders. ``count`` is the size asked (1/100 contract), ``price`` the limit (1/10,000 $, YES leg)."""

    client_order_id: str
    ticker: str
    side: BookSide
    price: int
    count: int
    sent_ms: int
    request: CreateOrderRequest | None = None
    """What was sent (``None`` for an order adopted from REST or the stream after a restart)."""
    order_id: str | None = None
    state: OrderState = OrderState.PENDING
    fill_count: int = 0
    remaining: int = 0
    fees: int = 0
    """Fees of the fills seen (1/1,000,000 $)."""
    reason: str = ""
    error_code: str = ""
    unknown: str | None = None
    """Why the create's outcome is unknown (``None``: known)."""
    landed: bool = False
    """Known to exist at Kalshi (a 409 on a re-send, or any observation)."""
    lost: bool = False
    """Found never to have landed: may be re-sent with the same coid (:meth:`OrderTracker.resend`)."""
    resent: int = 0
    rejected: bool = False
    change: PendingChange | None = None
    check: str | None = None
    """Why its state is in doubt (a change with an unknown outcome, a cancel answered 404, ...)."""
    check_since_ms: int = 0
    fills: dict[str, int] = field(default_factory=dict)
    last_update_ms: int = 0
    _best: _Obs | None = None
    _best_terminal: _Obs | None = None
    _max_fill: int = 0

    @property
    def is_open(self) -> bool:
        """May still trade: acknowledged or not, not terminal."""
        return self.state not in TERMINAL

    @property
    def blocking(self) -> bool:
        return self.state is OrderState.UNKNOWN


def _reply_obs(reply: CreateOrderReply, count: int, price: int) -> _Obs:
    return _Obs(reply.ts_ms, reply.fill_count, reply.remaining_count, reply.status(count), price, "reply")


def _status_of(text: str) -> OrderStatus:
    try:
        return OrderStatus(text)
    except ValueError:
        return OrderStatus.UNKNOWN


class OrderTracker:
    """The state of the orders this program placed (see the module docstring).

    ``prefix``: the start of every coid this tracker makes (1 to 40 characters of ``[-\\w:+=/]``; default a random
    one); ``rest_lag_ms``: how long after a write a REST read is trusted to show it; ``max_buffered``: stream frames
    kept while their order is not known yet; ``make_id``: the random part of new coids (tests pass a counter)."""

    def __init__(
        self,
        prefix: str | None = None,
        *,
        rest_lag_ms: int = 2_000,
        max_buffered: int = 10_000,
        make_id: Callable[[], str] | None = None,
    ) -> None:
        self.prefix = check_client_order_id(prefix if prefix is not None else "mm" + secrets.token_hex(4), "prefix")
        if len(self.prefix) > 40:
            raise ValueError(f"prefix {self.prefix[:40]!r}... is longer than 40 characters")
        if rest_lag_ms < 0 or max_buffered < 0:
            raise ValueError("rest_lag_ms and max_buffered must not be negative")
        self.rest_lag_ms = rest_lag_ms
        self.max_buffered = max_buffered
        self._make_id = make_id or (lambda: secrets.token_hex(8))
        self.orders: dict[str, TrackedOrder] = {}
        """By client order id (the one it was created with)."""
        self._alias: dict[str, str] = {}
        """A coid given by an amend (``updated_client_order_id``) -> the order's first coid."""
        self._by_id: dict[str, str] = {}
        self._buffer: OrderedDict[str, list[Fill | UserOrder]] = OrderedDict()
        self._buffered = 0
        self.closed = False
        self.counters: dict[str, int] = {
            "foreign_frames": 0,
            "buffered": 0,
            "buffer_dropped": 0,
            "duplicate_fills": 0,
            "adopted": 0,
        }

    # --- lookups -----------------------------------------------------------------------------------------------------

    def get(self, coid: str) -> TrackedOrder | None:
        return self.orders.get(self._alias.get(coid, coid))

    def by_order_id(self, order_id: str) -> TrackedOrder | None:
        coid = self._by_id.get(order_id)
        return None if coid is None else self.orders.get(coid)

    def _order(self, coid: str) -> TrackedOrder:
        order = self.get(coid)
        if order is None:
            raise KeyError(f"no order with client_order_id {coid!r}")
        return order

    def ours(self, coid: str | None) -> bool:
        """Whether ``coid`` was made by a tracker with this prefix (this run or an earlier one)."""
        return coid is not None and coid.startswith(self.prefix + "-")

    def blocked(self, ticker: str) -> str | None:
        """Why new orders on ``ticker`` are refused (an order there with an unknown outcome), or ``None``."""
        for order in self.orders.values():
            if order.ticker == ticker and order.state is OrderState.UNKNOWN:
                why = order.unknown or order.check or "unknown"
                return f"order {order.client_order_id} on {ticker} has an unknown outcome ({why})"
        return None

    def open_orders(self, ticker: str | None = None) -> list[TrackedOrder]:
        """Our orders that may still trade (pending, resting, unknown), optionally on one market."""
        return [o for o in self.orders.values() if o.is_open and (ticker is None or o.ticker == ticker)]

    def prune(self, before_ms: int) -> int:
        """Forget terminal orders whose last change is older than ``before_ms`` (a long run would keep them all);
        returns how many. A late frame about one is taken back by its prefix, as the terminal order it is."""
        gone = [
            c for c, o in self.orders.items() if o.state in TERMINAL and not o.lost and o.last_update_ms < before_ms
        ]
        for coid in gone:
            order = self.orders.pop(coid)
            if order.order_id is not None:
                self._by_id.pop(order.order_id, None)
        if gone:
            dropped = set(gone)
            self._alias = {k: v for k, v in self._alias.items() if v not in dropped}
        return len(gone)

    def unresolved(self) -> list[TrackedOrder]:
        """Orders in ``UNKNOWN``: what a REST read must settle."""
        return [o for o in self.orders.values() if o.state is OrderState.UNKNOWN]

    # --- placing -----------------------------------------------------------------------------------------------------

    def new(
        self,
        ticker: str,
        side: BookSide,
        price: int,
        count: int,
        *,
        now_ms: int,
        time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED,
        self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
        post_only: bool = False,
        reduce_only: bool = False,
        expiration_time: int | None = None,
        cancel_order_on_pause: bool = False,
        order_group_id: str | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
        client_order_id: str | None = None,
    ) -> CreateOrderRequest:
        """Record a new order as ``PENDING`` and return the request to send (its ``client_order_id`` is the key of
        every later call). ``OrderRefused`` when the market is blocked or the tracker is closed; ``ValueError`` for
        a bad value (from the request model). ``client_order_id``: the trader's own coid instead of a made one
        (``OrderRefused`` if this tracker already knows it: a second order with it would be answered 409)."""
        if self.closed:
            raise OrderRefused("the order tracker is closed: no new orders")
        why = self.blocked(ticker)
        if why is not None:
            raise OrderRefused(why)
        if client_order_id is not None:
            coid = check_client_order_id(client_order_id)
            if coid in self.orders or coid in self._alias:
                raise OrderRefused(f"client_order_id {coid!r} is already used by an order of this tracker")
        else:
            coid = f"{self.prefix}-{self._make_id()}"
        while coid in self.orders or coid in self._alias:  # pragma: no cover - 64 random bits
            coid = f"{self.prefix}-{self._make_id()}"
        request = CreateOrderRequest(
            ticker=ticker,
            side=side,
            price=price,
            count=count,
            client_order_id=coid,
            time_in_force=time_in_force,
            self_trade_prevention_type=self_trade_prevention,
            post_only=post_only,
            reduce_only=reduce_only,
            expiration_time=expiration_time,
            cancel_order_on_pause=cancel_order_on_pause,
            order_group_id=order_group_id,
            subaccount=subaccount,
            exchange_index=exchange_index,
        )
        self.orders[coid] = TrackedOrder(
            client_order_id=coid,
            ticker=ticker,
            side=side,
            price=price,
            count=count,
            sent_ms=now_ms,
            request=request,
            remaining=count,
            last_update_ms=now_ms,
        )
        return request

    def resend(self, coid: str, now_ms: int) -> CreateOrderRequest:
        """The same request again, same coid, for an order found never to have landed (``lost``)."""
        order = self._order(coid)
        if not order.lost or order.request is None or order.landed:
            raise OrderRefused(f"order {coid} may only be re-sent after a REST read showed it never landed")
        if self.closed:
            raise OrderRefused("the order tracker is closed: no new orders")
        order.lost = order.rejected = False
        order.reason = ""
        order.resent += 1
        order.sent_ms = now_ms
        self._derive(order, now_ms, "re-sent with the same client_order_id")
        return order.request

    def close(self) -> None:
        """Refuse every new order from now on (the program is stopping)."""
        self.closed = True

    # --- answers to a create -----------------------------------------------------------------------------------------

    def on_reply(self, coid: str, reply: CreateOrderReply, now_ms: int) -> list[OrderUpdate]:
        """The create's 201 reply."""
        order = self._order(coid)
        self._set_order_id(order, reply.order_id)
        obs = _reply_obs(reply, order.count, order.price)
        out = self._observe(order, obs, now_ms, "create reply")
        return out + self._drain(reply.order_id, now_ms)

    def on_error(self, coid: str, error: KalshiAPIError, now_ms: int) -> list[OrderUpdate]:
        """The create was answered with an error status. 4xx: refused (429: not processed); 409 on a re-sent coid:
        it had landed; 5xx: the outcome is unknown (as :meth:`on_unknown`)."""
        order = self._order(coid)
        if error.status >= 500:
            return self.on_unknown(coid, f"HTTP {error.status} on the create", now_ms)
        if order._best is not None or order.fills:  # the stream already showed it: it exists, whatever this says
            return []
        if error.status == 409 and order.resent and not error.has_code("market_closed"):
            order.landed = True
            order.unknown = "HTTP 409 on the re-sent client_order_id: it had landed; waiting for a read"
            return self._derive(order, now_ms, order.unknown)
        order.rejected = True
        order.unknown = None
        order.error_code = error.code
        order.reason = f"refused: {error}" if error.status != 429 else "rate limited (HTTP 429, not processed)"
        return self._derive(order, now_ms, order.reason)

    def on_unknown(self, coid: str, why: str, now_ms: int) -> list[OrderUpdate]:
        """The create's outcome is unknown (timeout, dropped connection, 5xx): ``UNKNOWN``, its market blocked."""
        order = self._order(coid)
        if order._best is not None or order.fills or order.rejected:  # already known
            return []
        order.unknown = why
        return self._derive(order, now_ms, f"outcome unknown: {why}")

    # --- stream frames -----------------------------------------------------------------------------------------------

    def on_user_order(self, msg: UserOrder, now_ms: int) -> list[OrderUpdate]:
        """A ``user_order`` snapshot (cumulative counts)."""
        order = self._find(msg.client_order_id, msg.order_id)
        if order is None:
            if self.ours(msg.client_order_id):
                order = self._adopt(
                    msg.client_order_id,  # type: ignore[arg-type]  # ours() is False for None
                    msg.ticker,
                    msg.book_side,
                    msg.yes_price,
                    msg.initial_count,
                    now_ms,
                )
            else:
                return self._hold(msg.order_id, msg) if msg.client_order_id is None else self._foreign()
        self._set_order_id(order, msg.order_id)
        status = _status_of(msg.status)
        ts = msg.last_updated_ts_ms if msg.last_updated_ts_ms is not None else (msg.created_ts_ms or 0)
        obs = _Obs(ts, msg.fill_count, msg.remaining_count, status, msg.yes_price, "user_order")
        reason = f"user_order {msg.status}" + (f" ({msg.last_update_reason})" if msg.last_update_reason else "")
        if (
            order.check is not None
            and order.change is None
            and (status in _TERMINAL_STATUS or msg.last_update_reason in ("Amend", "Decrease"))
        ):
            order.check = None
        out = self._observe(order, obs, now_ms, reason)
        return out + self._drain(msg.order_id, now_ms)

    def on_fill(self, msg: Fill, now_ms: int) -> list[OrderUpdate]:
        """A ``fill`` frame (an increment; de-duplicated by ``trade_id``), or a REST fill made into one."""
        order = self._find(msg.client_order_id, msg.order_id)
        if order is None:
            if msg.order_id is not None and (msg.client_order_id is None or self.ours(msg.client_order_id)):
                return self._hold(msg.order_id, msg)
            return self._foreign()
        if msg.order_id is not None:
            self._set_order_id(order, msg.order_id)
        trade = msg.trade_id if msg.trade_id is not None else f"~{msg.ts_ms}:{msg.yes_price}:{msg.count}"
        if trade in order.fills:
            self.counters["duplicate_fills"] += 1
            return []
        order.unknown = None  # a fill proves it landed
        order.landed = True
        order.lost = order.rejected = False
        order.fills[trade] = msg.count
        order.fees += msg.fee or 0
        return self._derive(order, now_ms, "fill")

    # --- REST reads --------------------------------------------------------------------------------------------------

    def on_rest_orders(
        self,
        orders: Iterable[Order],
        as_of_ms: int,
        *,
        ticker: str | None = None,
        since_ms: int | None = None,
        status: str | None = None,
    ) -> list[OrderUpdate]:
        """The result of ``GET /portfolio/orders`` (all pages) with these filters, read at ``as_of_ms``.

        Every order of ours in it is an observation (REST lags: newer stream frames still win). Then:

        * with no ``status`` filter: an ``UNKNOWN`` create on ``ticker`` (or any market when ``ticker`` is ``None``)
          sent at or after ``since_ms`` and at least ``rest_lag_ms`` before ``as_of_ms``, and absent, never landed:
          ``REJECTED`` with ``lost`` set (re-send it with :meth:`resend`);
        * with ``status="resting"``: an open order of ours on ``ticker`` (or any) that is absent and whose newest news
          is older than ``as_of_ms - rest_lag_ms`` left the book unseen: ``UNKNOWN`` until a read by id.

        Orders with our prefix that we do not know (a previous run) are adopted."""
        out: list[OrderUpdate] = []
        seen: set[str] = set()
        for rest in orders:
            found = self._rest_apply(rest, as_of_ms, out)
            if found is not None:
                seen.add(found)
        trusted = as_of_ms - self.rest_lag_ms
        for order in list(self.orders.values()):
            if order.client_order_id in seen or (ticker is not None and order.ticker != ticker):
                continue
            if status is None:
                if (
                    order.unknown is not None
                    and not order.landed
                    and order._best is None
                    and not order.fills
                    and order.sent_ms <= trusted
                    and (since_ms is None or since_ms <= order.sent_ms)
                ):
                    order.unknown = None
                    order.lost = order.rejected = True
                    order.reason = "never landed: absent from a REST read of the market's orders"
                    out += self._derive(order, as_of_ms, order.reason)
            elif status == "resting" and (
                order.order_id is not None
                and order.state in (OrderState.RESTING, OrderState.PARTIALLY_FILLED)
                and order.change is None
                and order.last_update_ms <= trusted
            ):
                order.check = "not among the resting orders: filled or canceled unseen"
                order.check_since_ms = as_of_ms
                out += self._derive(order, as_of_ms, order.check)
        return out

    def on_rest_order(self, rest: Order, as_of_ms: int) -> list[OrderUpdate]:
        """``GET /portfolio/orders/{id}`` read at ``as_of_ms`` (one order: no conclusion about absent ones)."""
        out: list[OrderUpdate] = []
        self._rest_apply(rest, as_of_ms, out)
        return out

    def take_over(self, rest: Order, as_of_ms: int) -> tuple[TrackedOrder, list[OrderUpdate]]:
        """Track ``rest`` (read by id) even if another program placed it: the trader named it explicitly (the
        command line's ``order cancel ID``). Its key is its coid, or its order id when it has none."""
        order = self._find(rest.client_order_id or None, rest.order_id)
        if order is None:
            key = rest.client_order_id or rest.order_id
            order = self._adopt(
                key, rest.ticker, rest.book_side, rest.yes_price_dollars, rest.initial_count_fp, as_of_ms
            )
        return order, self._rest_observe(order, rest, as_of_ms)

    def _rest_apply(self, rest: Order, as_of_ms: int, out: list[OrderUpdate]) -> str | None:
        """Apply one REST order if it is ours (adopting one with our prefix); its coid, else ``None``."""
        order = self._find(rest.client_order_id or None, rest.order_id)
        if order is None:
            if not self.ours(rest.client_order_id):
                return None
            order = self._adopt(
                rest.client_order_id,
                rest.ticker,
                rest.book_side,
                rest.yes_price_dollars,
                rest.initial_count_fp,
                as_of_ms,
            )
        out += self._rest_observe(order, rest, as_of_ms)
        return order.client_order_id

    def _rest_observe(self, order: TrackedOrder, rest: Order, as_of_ms: int) -> list[OrderUpdate]:
        self._set_order_id(order, rest.order_id)
        order.landed = True
        if order.check is not None and as_of_ms >= order.check_since_ms + self.rest_lag_ms:
            order.check = None
            order.change = None
        order.fees = max(order.fees, rest.maker_fees_dollars + rest.taker_fees_dollars)  # cumulative, as the fills
        ts = rest.last_update_time or rest.created_time or 0
        obs = _Obs(
            ts, rest.fill_count_fp, rest.remaining_count_fp, _status_of(rest.status), rest.yes_price_dollars, "rest"
        )
        return self._observe(order, obs, as_of_ms, f"REST {rest.status}") + self._drain(rest.order_id, as_of_ms)

    # --- cancel, amend, decrease -------------------------------------------------------------------------------------

    def _changeable(self, coid: str, what: str) -> TrackedOrder:
        order = self._order(coid)
        if order.order_id is None:
            raise OrderRefused(f"cannot {what} {coid}: Kalshi has not acknowledged it yet")
        if order.state in TERMINAL:
            raise OrderRefused(f"cannot {what} {coid}: it is {order.state.value}")
        if order.change is not None:
            raise OrderRefused(f"cannot {what} {coid}: a {order.change.kind.value} is in flight")
        return order

    def cancel(self, coid: str, now_ms: int) -> CancelRef:
        """Record a cancel in flight; the reference to send (by order id, routed by ticker)."""
        order = self._changeable(coid, "cancel")
        order.change = PendingChange(ChangeKind.CANCEL, now_ms)
        return CancelRef(order_id=order.order_id, market_ticker=order.ticker)  # type: ignore[arg-type]

    def amend(
        self,
        coid: str,
        now_ms: int,
        *,
        price: int | None = None,
        remaining: int | None = None,
        new_client_order_id: bool = False,
    ) -> tuple[str, AmendOrderRequest]:
        """Record an amend in flight: the new ``price`` and/or the desired ``remaining`` size. Kalshi takes the new
        *total* (filled + remaining, REST.md 4.5): computed from the fills known here, so a fill not seen yet can
        only make the order smaller, never larger. ``new_client_order_id``: give it a new coid (both are known
        here). Returns the order id and the request."""
        order = self._changeable(coid, "amend")
        if order.state is OrderState.UNKNOWN:
            raise OrderRefused(f"cannot amend {coid}: its state is unknown")
        new_price = order.price if price is None else price
        total = order.fill_count + (order.remaining if remaining is None else remaining)
        new_coid = f"{self.prefix}-{self._make_id()}" if new_client_order_id else None
        request = AmendOrderRequest(
            ticker=order.ticker,
            side=order.side,
            price=new_price,
            count=total,
            client_order_id=order.client_order_id if new_coid else None,
            updated_client_order_id=new_coid,
        )
        order.change = PendingChange(ChangeKind.AMEND, now_ms, new_price, total, new_coid)
        if new_coid is not None:
            self._alias[new_coid] = order.client_order_id
        return order.order_id, request  # type: ignore[return-value]

    def decrease(
        self, coid: str, now_ms: int, *, reduce_by: int | None = None, reduce_to: int | None = None
    ) -> tuple[str, DecreaseOrderRequest]:
        """Record a decrease in flight (keeps queue priority); the order id and the request."""
        order = self._changeable(coid, "decrease")
        if order.state is OrderState.UNKNOWN:
            raise OrderRefused(f"cannot decrease {coid}: its state is unknown")
        request = DecreaseOrderRequest(reduce_by=reduce_by, reduce_to=reduce_to, market_ticker=order.ticker)
        order.change = PendingChange(ChangeKind.DECREASE, now_ms)
        return order.order_id, request  # type: ignore[return-value]

    def on_change_reply(
        self, coid: str, reply: CancelOrderReply | BatchCancelItem | AmendOrderReply | DecreaseOrderReply, now_ms: int
    ) -> list[OrderUpdate]:
        """The answer to the cancel, amend or decrease in flight (a batch-cancel item may carry an ``error``)."""
        order = self._order(coid)
        change, order.change = order.change, None
        if isinstance(reply, BatchCancelItem) and reply.error is not None:
            if reply.error.code.startswith("not_found"):
                return self._doubt(order, "cancel answered not found: already filled or canceled", now_ms)
            order.reason = f"cancel refused: {reply.error.code} {reply.error.message}".strip()
            return self._derive(order, now_ms, order.reason)
        if isinstance(reply, (CancelOrderReply, BatchCancelItem)):
            ts = reply.ts_ms if reply.ts_ms is not None else now_ms
            obs = _Obs(ts, -1, 0, OrderStatus.CANCELED, None, "cancel")
            return self._observe(order, obs, now_ms, "canceled")
        if isinstance(reply, DecreaseOrderReply):
            # The reply's remaining count is meant after the fills known now (a decrease does not fill).
            after = int(reply.remaining_count)
            status = OrderStatus.RESTING if after > 0 else OrderStatus.CANCELED
            obs = _Obs(reply.ts_ms, order.fill_count, after, status, None, "decrease")
            return self._observe(order, obs, now_ms, "decreased")
        # amend: the new price (and coid) hold from now; counts only when something filled or the size changed
        old_price = order.price
        if change is not None and change.price is not None:
            order.price = change.price
        if change is not None and change.total is not None:
            order.count = change.total
        # The amend's fill_count counts only what the amend itself filled (it crossed): added to the fills known
        # now, it is the order's cumulative fill at the reply (those fills also come as fill frames).
        fill = order.fill_count + (reply.fill_count or 0)
        left = reply.remaining_count if reply.remaining_count is not None else max(0, order.count - fill)
        status = OrderStatus.RESTING if left > 0 else OrderStatus.EXECUTED
        out = self._observe(order, _Obs(reply.ts_ms, fill, left, status, order.price, "amend"), now_ms, "amended")
        if not out and order.price != old_price:  # only the price changed: set above, so _derive saw no change
            order.last_update_ms = now_ms
            out = [
                OrderUpdate(
                    at_ms=now_ms,
                    client_order_id=order.client_order_id,
                    order_id=order.order_id,
                    ticker=order.ticker,
                    state=order.state,
                    previous=order.state,
                    fill_count=order.fill_count,
                    remaining=order.remaining,
                    price=order.price,
                    new_fill=0,
                    reason="amended",
                )
            ]
        return out

    def on_change_error(self, coid: str, error: KalshiAPIError, now_ms: int) -> list[OrderUpdate]:
        """The cancel, amend or decrease was answered with an error: 404 = the order is already terminal (checked
        by a read); 5xx = outcome unknown; other 4xx = refused, the order is as it was."""
        order = self._order(coid)
        if error.status >= 500:
            return self.on_change_unknown(coid, f"HTTP {error.status}", now_ms)
        change, order.change = order.change, None
        if change is not None and change.new_client_order_id is not None:
            self._alias.pop(change.new_client_order_id, None)
        kind = change.kind.value if change is not None else "change"
        if error.status == 404:
            return self._doubt(order, f"{kind} answered 404: already filled or canceled", now_ms)
        order.reason = f"{kind} refused: {error}"
        return self._derive(order, now_ms, order.reason)

    def on_change_unknown(self, coid: str, why: str, now_ms: int) -> list[OrderUpdate]:
        """The cancel, amend or decrease in flight has an unknown outcome: ``UNKNOWN`` until a read."""
        order = self._order(coid)
        change, order.change = order.change, None
        kind = change.kind.value if change is not None else "change"
        return self._doubt(order, f"{kind} outcome unknown: {why}", now_ms)

    # --- the engine --------------------------------------------------------------------------------------------------

    def _doubt(self, order: TrackedOrder, why: str, now_ms: int) -> list[OrderUpdate]:
        if order.state in (OrderState.EXECUTED, OrderState.CANCELED):
            return self._derive(order, now_ms, why)  # terminal: nothing left to doubt
        order.check = why
        order.check_since_ms = now_ms
        return self._derive(order, now_ms, why)

    def _find(self, coid: str | None, order_id: str | None) -> TrackedOrder | None:
        if coid is not None:
            order = self.get(coid)
            if order is not None:
                return order
        if order_id is not None:
            return self.by_order_id(order_id)
        return None

    def _adopt(self, coid: str, ticker: str, side: str, price: int, count: int, now_ms: int) -> TrackedOrder:
        self.counters["adopted"] += 1
        order = TrackedOrder(
            client_order_id=coid,
            ticker=ticker,
            side=BookSide(side) if side in ("bid", "ask") else BookSide.BID,
            price=price,
            count=count,
            sent_ms=now_ms,
            remaining=count,
            last_update_ms=now_ms,
            landed=True,
        )
        self.orders[coid] = order
        return order

    # --- replay (``storage.bot_replay``): the journal's records put back, no reply models needed ------------------

    def restore_new(self, coid: str, ticker: str, side: str, price: int, count: int, now_ms: int) -> TrackedOrder:
        """A create as journaled (its ``request`` record): the order, pending, as ``new`` left it live."""
        order = TrackedOrder(coid, ticker, BookSide(side), price, count, now_ms, remaining=count, last_update_ms=now_ms)
        self.orders[coid] = order
        return order

    def restore_change(self, coid: str, kind: ChangeKind | None, now_ms: int) -> None:
        """A change journaled as sent (``kind``) or answered (``None``)."""
        order = self.get(coid)
        if order is not None:
            order.change = None if kind is None else PendingChange(kind, now_ms)

    def restore_update(self, update: OrderUpdate, side: str, fees: int | None) -> None:
        """An ``update`` record: the order's state as the live tracker left it (adopted if not known)."""
        order = self.get(update.client_order_id)
        if order is None:
            order = self._adopt(update.client_order_id, update.ticker, side, update.price, update.remaining,
                                update.at_ms)  # fmt: skip
        if update.order_id is not None:
            self._set_order_id(order, update.order_id)
        order.state, order.price = update.state, update.price
        order.fill_count, order.remaining = update.fill_count, update.remaining
        order.last_update_ms = update.at_ms
        if fees is not None:
            order.fees = fees

    def _set_order_id(self, order: TrackedOrder, order_id: str) -> None:
        if order.order_id is None:
            order.order_id = order_id
        self._by_id.setdefault(order_id, order.client_order_id)

    def _foreign(self) -> list[OrderUpdate]:
        self.counters["foreign_frames"] += 1
        return []

    def _hold(self, order_id: str, msg: Fill | UserOrder) -> list[OrderUpdate]:
        """Keep a frame for an order id not known yet (bounded: the oldest go first)."""
        if self.max_buffered == 0:
            return self._foreign()
        self._buffer.setdefault(order_id, []).append(msg)
        self._buffered += 1
        self.counters["buffered"] += 1
        while self._buffered > self.max_buffered:
            _, dropped = self._buffer.popitem(last=False)
            self._buffered -= len(dropped)
            self.counters["buffer_dropped"] += len(dropped)
        return []

    def _drain(self, order_id: str, now_ms: int) -> list[OrderUpdate]:
        held = self._buffer.pop(order_id, None)
        if not held:
            return []
        self._buffered -= len(held)
        out: list[OrderUpdate] = []
        for msg in held:
            out += self.on_fill(msg, now_ms) if isinstance(msg, Fill) else self.on_user_order(msg, now_ms)
        return out

    def _observe(self, order: TrackedOrder, obs: _Obs, now_ms: int, reason: str) -> list[OrderUpdate]:
        order.unknown = None
        order.landed = True
        order.lost = order.rejected = False
        if order._best is None or obs.key() > order._best.key():
            order._best = obs
        if obs.status in _TERMINAL_STATUS and (order._best_terminal is None or obs.key() > order._best_terminal.key()):
            order._best_terminal = obs
        order._max_fill = max(order._max_fill, obs.fill)
        return self._derive(order, now_ms, reason)

    def _derive(self, order: TrackedOrder, now_ms: int, reason: str) -> list[OrderUpdate]:
        """Recompute the order's state from what is known (a function of sets and maxima: order-independent)."""
        before = (order.state, order.fill_count, order.remaining, order.price, order.order_id)
        fill = max(order._max_fill, sum(order.fills.values()))
        base = order._best_terminal or order._best
        if base is None and order.fills:  # fills but no snapshot or reply yet: it rests with what is left
            base = _Obs(0, 0, order.count, OrderStatus.RESTING, None, "fills")
        if base is None:
            if order.unknown is not None:
                state = OrderState.UNKNOWN
            elif order.rejected:
                state = OrderState.REJECTED
            else:
                state = OrderState.PENDING
            remaining = 0 if state is OrderState.REJECTED else order.count
        elif base.status in _TERMINAL_STATUS:
            state = OrderState.EXECUTED if base.status is OrderStatus.EXECUTED else OrderState.CANCELED
            remaining = 0
        else:
            remaining = max(0, base.remaining - max(0, fill - max(base.fill, 0)))
            if remaining == 0:
                state = OrderState.EXECUTED if fill > 0 else OrderState.CANCELED
            else:
                state = OrderState.PARTIALLY_FILLED if fill > 0 else OrderState.RESTING
        if base is not None:
            best = order._best
            if best is not None and best.price is not None and order.change is None:
                order.price = best.price
        if state not in TERMINAL and order.check is not None:
            state = OrderState.UNKNOWN
        elif state in TERMINAL:
            order.check = None
        previous = order.state
        new_fill = fill - order.fill_count
        order.state, order.fill_count, order.remaining = state, fill, remaining
        if (state, fill, remaining, order.price, order.order_id) == before:
            return []
        order.last_update_ms = now_ms
        return [
            OrderUpdate(
                at_ms=now_ms,
                client_order_id=order.client_order_id,
                order_id=order.order_id,
                ticker=order.ticker,
                state=state,
                previous=previous,
                fill_count=fill,
                remaining=remaining,
                price=order.price,
                new_fill=new_fill,
                reason=reason,
            )
        ]
