"""Order entry: the account's REST orders matched on the model's books with Kalshi's semantics (REST.md 4, 6).

Pure and synchronous, like :mod:`.model`: every call (create, amend, decrease, cancel, order groups,
expiry) returns its reply and the :mod:`.events` it caused, in the order a client must see them,
which the server fans out exactly as the order flow's (:mod:`.fanout`). No I/O, no asyncio; time
comes from the model's injectable clock (:meth:`ExchangeModel.now_ms`).

The rules (REST.md 6):

* **One YES book.** ``bid@p`` buys YES at ``p`` and rests on the YES ladder at ``p``; ``ask@p`` sells YES,
  i.e. buys NO at ``1 - p``, and rests on the NO ladder at ``1 - p``. A bid crosses while ``p + best NO
  bid >= 1``. Trades happen at the resting order's price; each match is one public :class:`Trade` whose
  ``trade_id`` both fills share.
* **Price-time priority**: the ladders hold individual orders FIFO per level, so the account's order joins
  the back of its level and the flow's orders, trades and cancels move the queue ahead of it; the flow's
  marketable orders fill it (the model calls :meth:`OrderEntry._maker_fill`).
* **Time in force**: ``good_till_canceled`` rests the remainder (with ``expiration_time``: until then,
  ``ExpiryCancel``), ``immediate_or_cancel`` cancels it, ``fill_or_kill`` fills all now or nothing (a
  self-crossing FOK keeps its fills and follows STP, as Kalshi's changelog 2025-09-25 says).
* ``post_only`` crossing: 400 ``invalid_order`` / ``post only cross``, nothing rests. With IOC/FOK: 400.
* **Self-trade prevention**: ``taker_at_cross`` stops the incoming order at its own resting order (fills
  before stand, nothing rests); ``maker`` cancels the resting own order and keeps matching.
* ``reduce_only`` (IOC only): the count is capped so the position only moves toward zero.
* **Fees** (REST.md 6.8): per fill ``ceil_to_$0.0001(r x C x P x (1 - P))``; the maker's rate by the series'
  ``fee_type`` (:func:`.model.maker_rate_for`).
* **Collateral** (REST.md 6.7): opening ``bid@p`` costs ``p``, opening ``ask@p`` ``1 - p`` per contract, plus
  the taker fee; resting orders reserve that worst case until canceled or filled; not enough: 400
  ``insufficient_balance``.
* **Order groups**: contracts matched by a group's orders in a rolling 15 s window above its limit trigger
  it: its resting orders are canceled and new orders naming it are refused until a reset.
* A duplicate ``client_order_id`` is 409; cancelling an order that is not resting 404.

The built-in user (:meth:`ExchangeModel.activate_user`) stops for good, its orders canceled, at the account's
first order here: from then on every fill of the account comes from its own orders.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from market_making_bot.simulator.book import Market, Order, UserBook, UserOrder
from market_making_bot.simulator.events import BookDelta, Event, Fill, GroupUpdate, OrderUpdate, Position, Ticker, Trade
from market_making_bot.simulator.model import ExchangeModel, kalshi_fee
from market_making_bot.simulator.units import CONTRACT, ONE, fmt_money, fmt_price, fmt_size, rfc3339_ms

WINDOW_MS = 15_000
"""The rolling window of an order group's contract limit."""

TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
STP_TYPES = ("taker_at_cross", "maker")
MAX_GROUP_LIMIT = 1_000_000 * CONTRACT

JSON = dict[str, Any]


class OrderError(Exception):
    """A refused write, in Kalshi's nested error shape (``{"error": {code, message, details}}``)."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {details or message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> JSON:
        return {"code": self.code, "message": self.message, "details": self.details}


def _bad(details: str) -> OrderError:
    return OrderError(400, "bad_request", "bad request", details)


def _invalid(details: str) -> OrderError:
    return OrderError(400, "invalid_order", "invalid order", details)


def _not_found(what: str, ident: str) -> OrderError:
    return OrderError(404, "not_found", f"{what} not found", ident)


# ---- numbers as Kalshi accepts them ------------------------------------------------------------------


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(f"{name} must be a decimal string, not {value!r}")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(f"{name} must be a decimal string, not {value!r}") from None
    if not d.is_finite():
        raise _bad(f"{name} must be a decimal string, not {value!r}")
    return d


def parse_count(value: Any, name: str = "count", *, allow_zero: bool = False) -> int:
    """``"3"``, ``"3.00"``, ``"0.5"``, ``3`` -> size units (1/100 contract); at most 2 decimals."""
    d = _decimal(value, name) * CONTRACT
    if d != d.to_integral_value():
        raise _invalid(f"{name} must be a multiple of 0.01, not {value!r}")
    n = int(d)
    if n < 0 or (n == 0 and not allow_zero):
        raise _invalid(f"{name} must be greater than 0, not {value!r}")
    return n


def parse_yes_price(value: Any, tick: int) -> int:
    """``"0.45"``, ``"0.4500"`` -> price units; on the market's grid, strictly between 0 and 1."""
    d = _decimal(value, "price") * ONE
    if d != d.to_integral_value():
        raise OrderError(400, "invalid_price", "invalid price", f"price {value!r} is not on the market's price grid")
    p = int(d)
    if p <= 0 or p >= ONE:
        raise OrderError(400, "invalid_price", "invalid price", f"price {value!r} must be between 0 and 1")
    if p % tick:
        raise OrderError(400, "invalid_price", "invalid price", f"price {value!r} is not on the market's price grid")
    return p


def _bool(body: JSON, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"{name} must be a boolean, not {value!r}")
    return value


def _int(body: JSON, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{name} must be an integer, not {value!r}")
    return value


def _str(body: JSON, name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"{name} must be a non-empty string, not {value!r}")
    return value


# ---- order groups ----------------------------------------------------------------------------------------


@dataclass
class OrderGroup:
    group_id: str
    limit: int  # size units
    triggered: bool = False
    order_ids: list[str] = field(default_factory=list)
    window: deque[tuple[int, int]] = field(default_factory=deque)  # (ts_ms, size matched)

    def matched(self, now_ms: int) -> int:
        while self.window and self.window[0][0] <= now_ms - WINDOW_MS:
            self.window.popleft()
        return sum(n for _ts, n in self.window)


# ---- the engine ------------------------------------------------------------------------------------------


class OrderEntry:
    """The account's orders on one :class:`ExchangeModel` (install once: it hooks the model's maker fills)."""

    def __init__(self, model: ExchangeModel, *, starting_cash_micro: int) -> None:
        self.model = model
        self.starting_cash = starting_cash_micro
        self.orders: dict[str, UserOrder] = {}
        self.order_list: list[UserOrder] = []  # oldest first
        self.by_coid: dict[str, UserOrder] = {}
        self.groups: dict[str, OrderGroup] = {}
        self.taken_over = False  # the account placed an order: the built-in user stopped
        model.maker_hook = self._maker_fill

    def _count(self, value: Any, name: str, *, allow_zero: bool = False) -> int:
        n = parse_count(value, name, allow_zero=allow_zero)
        if n % CONTRACT and not self.model.fractional_sizes:  # the legacy cent format has whole contracts only
            raise _invalid(f"{name} must be a whole number of contracts, not {value!r}")
        return n

    # ---- money -----------------------------------------------------------------------------------------

    def cash(self) -> int:
        """Cash in micro-dollars: the start, minus what every fill cost, plus $1 per YES+NO pair held."""
        cash = self.starting_cash
        yes_bought: dict[str, int] = {}
        no_bought: dict[str, int] = {}
        for f in self.model.fill_log:
            own_price = f.yes_price if f.side == "yes" else ONE - f.yes_price
            cash -= f.count * own_price + f.fee  # size units x price units = micro-dollars
            bought = yes_bought if f.side == "yes" else no_bought
            bought[f.market.ticker] = bought.get(f.market.ticker, 0) + f.count
        for ticker, y in yes_bought.items():  # a YES and a NO contract held together pay $1
            cash += min(y, no_bought.get(ticker, 0)) * (1_000_000 // CONTRACT)
        return cash

    def reserved(self) -> int:
        """Collateral held for resting orders (REST.md 6.7: the worst case, the full remaining cost)."""
        return sum(o.size * o.price + self._fee(True, o.size, o.price) for o in self.resting())

    def available(self) -> int:
        return self.cash() - self.reserved()

    def _fee(self, taker: bool, count: int, own_price: int) -> int:
        m = self.model
        return kalshi_fee(m.taker_fee_rate if taker else m.maker_fee_rate, count, own_price)

    # ---- reads -----------------------------------------------------------------------------------------

    def resting(self) -> list[UserOrder]:
        return [o for o in self.order_list if o.status == "resting"]

    def get(self, order_id: str) -> UserOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise _not_found("order", order_id)
        return order

    def queue_position(self, order: UserOrder) -> int:
        if not order.rested:
            raise _not_found("resting order", order.order_id)
        return order.market.ladder(order.side).ahead_of(order.price, order)

    # ---- create ----------------------------------------------------------------------------------------

    def create(self, body: Any) -> tuple[JSON, list[Event]]:
        """``POST /portfolio/events/orders``: the reply (201) and the events; raises :class:`OrderError`."""
        model = self.model
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        ticker = _str(body, "ticker", required=True)
        assert ticker is not None
        side = body.get("side")
        if side not in ("bid", "ask"):
            raise _bad(f"side must be bid or ask, not {side!r}")
        tif = body.get("time_in_force")
        if tif not in TIME_IN_FORCE:
            raise _bad(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, not {tif!r}")
        stp = body.get("self_trade_prevention_type")
        if stp not in STP_TYPES:
            raise _bad(f"self_trade_prevention_type must be one of {', '.join(STP_TYPES)}, not {stp!r}")
        if "count" not in body or "price" not in body:
            raise _bad("count and price are required")
        coid = _str(body, "client_order_id") or ""
        post_only = _bool(body, "post_only")
        reduce_only = _bool(body, "reduce_only")
        expiration = _int(body, "expiration_time")
        group_id = _str(body, "order_group_id")
        m = model.markets.get(ticker)
        if m is None:
            raise OrderError(404, "market_not_found", "market not found", ticker)
        count = self._count(body["count"], "count")
        yes_price = parse_yes_price(body["price"], m.tick)
        if ticker in model.unopened:
            raise OrderError(409, "market_closed", "market closed", f"{ticker} is not open for trading")
        if coid and coid in self.by_coid:
            raise OrderError(409, "order_already_exists", "order already exists", f"client_order_id {coid}")
        now = model.now_ms()
        if expiration is not None:
            if tif != "good_till_canceled":
                raise _invalid("Cannot specify both immediate_or_cancel and expiration_ts")
            if expiration * 1000 <= now:
                raise _invalid("Expiration timestamp must be in the future")
        if reduce_only and tif != "immediate_or_cancel":
            raise _invalid("reduce_only orders must be immediate_or_cancel")
        if post_only and tif != "good_till_canceled":
            raise _invalid("post_only orders cannot be immediate_or_cancel or fill_or_kill")
        group = None
        if group_id is not None:
            group = self.groups.get(group_id)
            if group is None:
                raise _not_found("order group", group_id)
            if group.triggered:
                raise _invalid(f"order group {group_id} is triggered")
        own_side = "yes" if side == "bid" else "no"
        own_price = yes_price if own_side == "yes" else ONE - yes_price
        other = m.ladder("no" if own_side == "yes" else "yes")
        best_other = other.best()
        crosses = best_other is not None and best_other + own_price >= ONE
        if post_only and crosses:
            raise _invalid("post only cross")
        position = m.user.position if m.user is not None else 0
        reason: str | None = None
        requested = count
        if reduce_only:  # an ask reduces YES, a bid reduces NO
            cap = max(0, position if own_side == "no" else -position)
            if count > cap:
                count, reason = cap, "ReduceOnlyCancel"
        # collateral: the opening part costs its price, the closing part nothing; plus the taker fee
        held_opposite = max(0, -position if own_side == "yes" else position)
        opening = max(0, count - held_opposite)
        need = opening * own_price + self._fee(True, count, own_price)
        if need > self.available():
            raise OrderError(400, "insufficient_balance", "insufficient balance", "not enough balance for this order")
        events: list[Event] = []
        if not self.taken_over:  # the account's first order: the built-in user stops for good
            self.taken_over = True
            events.extend(model.stop_auto_user())
        order = UserOrder(
            model._uuid(),
            count,
            coid,
            market=m,
            side=own_side,
            price=own_price,
            tif=tif,
            stp=stp,
            post_only=post_only,
            expiration_s=expiration,
            group_id=group_id,
            created_ms=now,
        )
        order.initial = requested  # a reduce-only cap cancels the rest: fill + remaining < initial
        self.orders[order.order_id] = order
        self.order_list.append(order)
        if coid:
            self.by_coid[coid] = order
        if group is not None:
            group.order_ids.append(order.order_id)
        clock = self._begin()
        traded = False
        if count == 0:  # reduce-only with nothing to reduce
            order.status = "canceled"
        elif tif == "fill_or_kill" and self._fillable(order, count) < count:
            order.status, order.size = "canceled", 0
        else:
            traded, stopped = self._match(order, clock, now, events)
            if order.status == "resting" and order.size:
                if stopped or tif != "good_till_canceled" or (group is not None and group.triggered):
                    order.status, order.size = "canceled", 0
                    if stopped:
                        reason = "SelfTradeCancel"
                else:
                    self._rest(order, clock, now, events)
            elif order.status == "resting":
                order.status = "executed" if order.filled == order.initial else "canceled"
        order.reason = reason or ("Trade" if order.filled else None)
        order.updated_ms = now
        events.append(self._snapshot(order))
        self._finish(m, clock, now, traded, events)
        reply: JSON = {
            "order_id": order.order_id,
            "client_order_id": coid,
            "fill_count": fmt_size(order.filled),
            "remaining_count": fmt_size(order.size),
            "ts_ms": now,
        }
        reply.update(self._averages(order))
        return reply, events

    def create_batch(self, body: Any) -> tuple[JSON, list[Event]]:
        """``POST /portfolio/events/orders/batched``: every item on its own (an item's error is in its answer)."""
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list) or not body["orders"]:
            raise _bad("orders must be a non-empty list")
        answers: list[JSON] = []
        events: list[Event] = []
        for item in body["orders"]:
            try:
                reply, evs = self.create(item)
            except OrderError as exc:
                coid = item.get("client_order_id") if isinstance(item, dict) else None
                # the count fields are $refs: absent, not null (openapi 3.0 ignores ``nullable`` beside a $ref)
                answers.append(
                    {"client_order_id": coid if isinstance(coid, str) else None, "ts_ms": None, "error": exc.body()}
                )
                continue
            answers.append(reply)
            events.extend(evs)
        return {"orders": answers}, events

    # ---- cancel, decrease, amend -----------------------------------------------------------------------

    def cancel(self, order_id: str) -> tuple[JSON, list[Event]]:
        """``DELETE /portfolio/events/orders/{id}``: 404 unless the order is resting."""
        order = self.orders.get(order_id)
        if order is None or order.status != "resting":
            raise _not_found("order", order_id)
        now = self.model.now_ms()
        clock = self._begin()
        events: list[Event] = []
        reduced = self._cancel(order, None, clock, now, events)
        self._finish(order.market, clock, now, False, events)
        return (
            {
                "order_id": order.order_id,
                "client_order_id": order.client_order_id or "",
                "reduced_by": fmt_size(reduced),
                "ts_ms": now,
            },
            events,
        )

    def cancel_batch(self, body: Any) -> tuple[JSON, list[Event]]:
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list) or not body["orders"]:
            raise _bad("orders must be a non-empty list")
        answers: list[JSON] = []
        events: list[Event] = []
        for item in body["orders"]:
            order_id = item.get("order_id") if isinstance(item, dict) else None
            if not isinstance(order_id, str):
                answers.append(
                    {"order_id": "", "reduced_by": "0.00", "ts_ms": None, "error": _bad("order_id is required").body()}
                )
                continue
            try:
                reply, evs = self.cancel(order_id)
            except OrderError as exc:
                answers.append(
                    {
                        "order_id": order_id,
                        "client_order_id": None,
                        "reduced_by": "0.00",
                        "ts_ms": None,
                        "error": exc.body(),
                    }
                )
                continue
            answers.append(reply)
            events.extend(evs)
        return {"orders": answers}, events

    def cancel_all(self) -> list[Event]:
        """``DELETE /portfolio/events/orders``: every resting order of the account (and the built-in user's)."""
        events: list[Event] = []
        if not self.taken_over:
            self.taken_over = True
            events.extend(self.model.stop_auto_user())
        now = self.model.now_ms()
        by_market: dict[str, list[UserOrder]] = {}
        for o in self.resting():
            by_market.setdefault(o.market.ticker, []).append(o)
        for orders in by_market.values():
            clock = self._begin()
            for o in orders:
                self._cancel(o, None, clock, now, events)
            self._finish(orders[0].market, clock, now, False, events)
        return events

    def decrease(self, order_id: str, body: Any) -> tuple[JSON, list[Event]]:
        """``POST .../{id}/decrease``: exactly one of ``reduce_by`` / ``reduce_to``; keeps the queue position."""
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        by, to = body.get("reduce_by"), body.get("reduce_to")
        if (by is None) == (to is None):
            raise _bad("give exactly one of reduce_by and reduce_to")
        order = self.orders.get(order_id)
        if order is None or order.status != "resting":
            raise _not_found("order", order_id)
        if by is not None:
            amount = min(self._count(by, "reduce_by"), order.size)
        else:
            amount = max(0, order.size - self._count(to, "reduce_to", allow_zero=True))
        now = self.model.now_ms()
        clock = self._begin()
        events: list[Event] = []
        if amount:
            self._shrink(order, amount, "Decrease", clock, now, events)
        self._finish(order.market, clock, now, False, events)
        return (
            {
                "order_id": order.order_id,
                "client_order_id": order.client_order_id or "",
                "remaining_count": fmt_size(order.size),
                "ts_ms": now,
            },
            events,
        )

    def amend(self, order_id: str, body: Any) -> tuple[JSON, list[Event]]:
        """``POST .../{id}/amend``: ``count`` is the new total (filled + remaining). A smaller size at the same
        price keeps the queue position; a new price or a larger size goes to the back (and may cross)."""
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        order = self.orders.get(order_id)
        if order is None or order.status != "resting":
            raise _not_found("order", order_id)
        m = order.market
        ticker = _str(body, "ticker", required=True)
        if ticker != m.ticker:
            raise _bad(f"ticker {ticker} is not the order's market {m.ticker}")
        side = body.get("side")
        if side != ("bid" if order.side == "yes" else "ask"):
            raise _bad(f"side {side!r} is not the order's side")
        if "count" not in body or "price" not in body:
            raise _bad("count and price are required")
        total = self._count(body["count"], "count")
        yes_price = parse_yes_price(body["price"], m.tick)
        coid = _str(body, "client_order_id")
        if coid is not None and coid != order.client_order_id:
            raise _bad(f"client_order_id {coid} is not the order's")
        new_coid = _str(body, "updated_client_order_id")
        if new_coid is not None and new_coid != order.client_order_id and new_coid in self.by_coid:
            raise OrderError(409, "order_already_exists", "order already exists", f"client_order_id {new_coid}")
        expiration = _int(body, "expiration_time")
        now = self.model.now_ms()
        if expiration is not None and expiration != 0 and expiration * 1000 <= now:
            raise _invalid("Expiration timestamp must be in the future")
        if total <= order.filled:
            raise _invalid(f"count {body['count']} must exceed the filled count {fmt_size(order.filled)}")
        remaining = total - order.filled
        own_price = yes_price if order.side == "yes" else ONE - yes_price
        if expiration is not None:
            order.expiration_s = expiration or None
        if new_coid is not None:
            order.client_order_id = new_coid
            self.by_coid[new_coid] = order
        clock = self._begin()
        events: list[Event] = []
        traded = stopped = False
        before_fill = order.filled
        order.initial = total
        if own_price == order.price and remaining <= order.size:
            if remaining < order.size:  # keeps its place
                self._shrink(order, order.size - remaining, "Amend", clock, now, events, snapshot=False)
        else:  # to the back of the (new) level: it may cross there
            self._unrest(order, clock, now, events)
            order.price = own_price
            order.size = remaining
            other = m.ladder("no" if order.side == "yes" else "yes").best()
            if order.post_only and other is not None and other + own_price >= ONE:
                order.status, order.size = "canceled", 0
                order.reason = "PostOnlyCrossCancel"
            else:
                traded, stopped = self._match(order, clock, now, events)
                if order.status == "resting" and order.size:
                    if stopped or (order.group_id is not None and self.groups[order.group_id].triggered):
                        order.status, order.size = "canceled", 0
                    else:
                        self._rest(order, clock, now, events)
                elif order.status == "resting":
                    order.status = "executed"
        if order.reason != "PostOnlyCrossCancel":
            order.reason = "Amend" if order.filled == before_fill else "Trade"
            if stopped:
                order.reason = "SelfTradeCancel"
        order.updated_ms = now
        events.append(self._snapshot(order))
        self._finish(m, clock, now, traded, events)
        reply: JSON = {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id or "",
            "remaining_count": fmt_size(order.size),
            "fill_count": fmt_size(order.filled),
            "ts_ms": now,
        }
        reply.update(self._averages(order))
        return reply, events

    # ---- expiry ----------------------------------------------------------------------------------------

    def next_expiry_ms(self) -> int | None:
        times = [o.expiration_s * 1000 for o in self.resting() if o.expiration_s is not None]
        return min(times) if times else None

    def expire(self) -> list[Event]:
        """Cancel (``ExpiryCancel``) every resting order whose ``expiration_time`` has passed."""
        now = self.model.now_ms()
        events: list[Event] = []
        for o in self.resting():
            if o.expiration_s is not None and o.expiration_s * 1000 <= now:
                clock = self._begin()
                self._cancel(o, "ExpiryCancel", clock, now, events)
                self._finish(o.market, clock, now, False, events)
        return events

    # ---- order groups ----------------------------------------------------------------------------------

    def _group_limit(self, body: Any) -> int:
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        whole_limit, fp = body.get("contracts_limit"), body.get("contracts_limit_fp")
        if whole_limit is None and fp is None:
            raise _bad("contracts_limit or contracts_limit_fp is required")
        limit = None
        if whole_limit is not None:
            if isinstance(whole_limit, bool) or not isinstance(whole_limit, int):
                raise _bad(f"contracts_limit must be an integer, not {whole_limit!r}")
            limit = whole_limit * CONTRACT
        if fp is not None:
            limit_fp = parse_count(fp, "contracts_limit_fp")
            if limit is not None and limit != limit_fp:
                raise _bad("contracts_limit and contracts_limit_fp differ")
            limit = limit_fp
        assert limit is not None
        if not CONTRACT <= limit <= MAX_GROUP_LIMIT:
            raise _bad("the contracts limit must be between 1 and 1,000,000")
        return limit

    def group_create(self, body: Any) -> tuple[JSON, list[Event]]:
        limit = self._group_limit(body)
        group = OrderGroup(str(uuid.UUID(int=self.model.rng.getrandbits(128), version=4)), limit)
        self.groups[group.group_id] = group
        reply = {"order_group_id": group.group_id, "subaccount": 0, "exchange_index": 0}
        return reply, [self._group_event("created", group)]

    def group(self, group_id: str) -> OrderGroup:
        group = self.groups.get(group_id)
        if group is None:
            raise _not_found("order group", group_id)
        return group

    def group_trigger(self, group_id: str) -> list[Event]:
        group = self.group(group_id)
        events: list[Event] = []
        self._trigger(group, self.model.now_ms(), self._begin(), events)
        return events

    def group_reset(self, group_id: str) -> list[Event]:
        group = self.group(group_id)
        group.triggered = False
        group.window.clear()
        return [self._group_event("reset", group)]

    def group_delete(self, group_id: str) -> list[Event]:
        group = self.group(group_id)
        events: list[Event] = []
        self._cancel_group_orders(group, self.model.now_ms(), self._begin(), events)
        del self.groups[group_id]
        events.append(self._group_event("deleted", group))
        return events

    def group_set_limit(self, group_id: str, body: Any) -> list[Event]:
        group = self.group(group_id)
        group.limit = self._group_limit(body)
        events: list[Event] = [self._group_event("limit_updated", group)]
        now = self.model.now_ms()
        if not group.triggered and group.matched(now) > group.limit:
            self._trigger(group, now, self._begin(), events)
        return events

    def group_json(self, group: OrderGroup, *, with_orders: bool) -> JSON:
        body: JSON = {
            "is_auto_cancel_enabled": True,
            "contracts_limit_fp": fmt_size(group.limit),
            "exchange_index": 0,
        }
        if with_orders:
            body["orders"] = [i for i in group.order_ids if self.orders[i].status == "resting"]
        else:
            body = {"id": group.group_id, **body}
        return body

    def _group_event(self, kind: str, group: OrderGroup) -> GroupUpdate:
        body: JSON = {"event_type": kind, "order_group_id": group.group_id}
        if kind in ("created", "limit_updated"):
            body["contracts_limit_fp"] = fmt_size(group.limit)
        body["ts_ms"] = self.model.now_ms()
        return GroupUpdate(body)

    def _trigger(self, group: OrderGroup, now: int, clock: int, events: list[Event]) -> None:
        group.triggered = True
        self._cancel_group_orders(group, now, clock, events)
        events.append(self._group_event("triggered", group))

    def _cancel_group_orders(self, group: OrderGroup, now: int, clock: int, events: list[Event]) -> None:
        """Cancel the group's resting orders; ``clock`` is the action's (every event of one action shares it)."""
        touched: dict[str, Market] = {}
        for order_id in group.order_ids:
            o = self.orders[order_id]
            if o.status == "resting" and o.rested:
                self._cancel(o, None, clock, now, events)
                touched[o.market.ticker] = o.market
        for m in touched.values():
            self._finish(m, clock, now, False, events)

    def _group_matched(self, order: UserOrder, count: int, now: int, clock: int, events: list[Event]) -> None:
        if order.group_id is None:
            return
        group = self.groups.get(order.group_id)
        if group is None or group.triggered:
            return
        group.window.append((now, count))
        if group.matched(now) > group.limit:
            self._trigger(group, now, clock, events)

    # ---- matching --------------------------------------------------------------------------------------

    def _begin(self) -> int:
        self.model.clock += 1
        return self.model.clock

    def _finish(self, m: Market, clock: int, now: int, traded: bool, events: list[Event]) -> None:
        m.clock = max(m.clock, clock)
        top = m.top()
        if traded or top != m.last_top:
            m.last_top = top
            events.append(Ticker(m, now))

    def _fillable(self, order: UserOrder, want: int) -> int:
        """What a FOK could fill now; ``want`` when it would meet an own order (then it acts like IOC)."""
        book = order.market.ladder("no" if order.side == "yes" else "yes")
        total = 0
        for price in reversed(book.prices):
            if price + order.price < ONE:
                break
            for o in book.levels[price]:
                if o.user:
                    return want
                total += o.size
                if total >= want:
                    return total
        return total

    def _match(self, order: UserOrder, clock: int, now: int, events: list[Event]) -> tuple[bool, bool]:
        """Match ``order`` (not resting yet) against the other ladder; (traded, stopped by STP)."""
        model = self.model
        m = order.market
        other_side = "no" if order.side == "yes" else "yes"
        book = m.ladder(other_side)
        group = self.groups.get(order.group_id) if order.group_id else None
        traded = False
        while order.size > 0 and book.prices:
            price = book.prices[-1]
            if price + order.price < ONE:
                break
            if group is not None and group.triggered:
                break
            own_price = ONE - price
            yes_price = price if other_side == "yes" else own_price
            matches: list[tuple[Order, int]] = []
            own: list[UserOrder] = []
            stop = False
            left = order.size
            for o in list(book.levels[price]):
                if left == 0:
                    break
                if o.user:
                    if order.stp == "taker_at_cross" or not isinstance(o, UserOrder):
                        stop = True
                        break
                    own.append(o)
                    continue
                q = min(o.size, left)
                left -= q
                matches.append((o, q))
            for o in own:  # STP maker: the resting own order goes
                self._cancel(o, "SelfTradeCancel", clock, now, events)
            consumed = order.size - left
            for o, q in matches:
                book.reduce(price, o, q)
            if consumed:
                events.append(BookDelta(m, other_side, price, -consumed, clock, now, order.client_order_id or None))
            for _o, q in matches:
                trade_id = model._uuid()
                model._record_trade(m, yes_price, q)
                events.append(Trade(m, trade_id, yes_price, q, order.side, clock, now))
                traded = True
                order.size -= q
                fee = self._fee(True, q, own_price)
                order.taker_cost += q * own_price
                order.taker_fees += fee
                self._account_fill(order, trade_id, True, own_price, q, fee, now, clock, events)
            if stop:
                return traded, True
            if not matches and not own:
                break
        return traded, False

    def _maker_fill(
        self, m: Market, order: Order, trade_id: str, price: int, count: int, ts: int, events: list[Event]
    ) -> None:
        """A flow order took ``count`` of the account's resting ``order`` (the ladder is already reduced)."""
        assert isinstance(order, UserOrder)
        fee = self._fee(False, count, price)
        order.maker_cost += count * price
        order.maker_fees += fee
        if order.size == 0:
            order.status = "executed"
            order.rested = False
        order.reason = "Trade"
        order.updated_ms = ts
        events_before = len(events)
        # the flow's step is under way: its clock is the model's (the group may cancel in the same action)
        self._account_fill(order, trade_id, False, price, count, fee, ts, self.model.clock, events)
        events.insert(events_before + 2, self._snapshot(order))  # after the fill and its market_position

    def _account_fill(
        self,
        order: UserOrder,
        trade_id: str,
        is_taker: bool,
        own_price: int,
        count: int,
        fee: int,
        now: int,
        clock: int,
        events: list[Event],
    ) -> None:

        model = self.model
        m = order.market
        if m.user is None:
            m.user = UserBook()
        user = m.user
        order.filled += count
        user.apply_buy(order.side, own_price, count, fee)
        model.fills += 1
        yes_price = own_price if order.side == "yes" else ONE - own_price
        fill = Fill(
            m,
            trade_id,
            order.order_id,
            order.client_order_id or None,
            is_taker,
            order.side,
            yes_price,
            count,
            fee,
            user.position,
            now,
        )
        model.fill_log.append(fill)
        events.append(fill)
        events.append(
            Position(
                m, user.position, user.cost, user.realized_pnl, user.fees_paid, user.position_fee_cost, user.volume, now
            )
        )
        self._group_matched(order, count, now, clock, events)

    def _rest(self, order: UserOrder, clock: int, now: int, events: list[Event]) -> None:
        order.market.ladder(order.side).add(order.price, order)
        order.rested = True
        events.append(
            BookDelta(order.market, order.side, order.price, order.size, clock, now, order.client_order_id or None)
        )

    def _unrest(self, order: UserOrder, clock: int, now: int, events: list[Event]) -> None:
        if order.rested and order.size:
            size = order.size
            order.market.ladder(order.side).reduce(order.price, order, size)
            order.size = size  # out of the ladder, not canceled
            events.append(
                BookDelta(order.market, order.side, order.price, -size, clock, now, order.client_order_id or None)
            )
        order.rested = False

    def _shrink(
        self,
        order: UserOrder,
        amount: int,
        reason: str,
        clock: int,
        now: int,
        events: list[Event],
        *,
        snapshot: bool = True,
    ) -> None:
        order.market.ladder(order.side).reduce(order.price, order, amount)
        events.append(
            BookDelta(order.market, order.side, order.price, -amount, clock, now, order.client_order_id or None)
        )
        if order.size == 0:
            order.status = "canceled"
            order.rested = False
        order.reason = reason
        order.updated_ms = now
        if snapshot:
            events.append(self._snapshot(order))

    def _cancel(self, order: UserOrder, reason: str | None, clock: int, now: int, events: list[Event]) -> int:
        """Take the order off its ladder (delta with its coid) and mark it canceled; returns what rested."""
        size = order.size
        if order.rested and size:
            order.market.ladder(order.side).reduce(order.price, order, size)
            events.append(
                BookDelta(order.market, order.side, order.price, -size, clock, now, order.client_order_id or None)
            )
        order.size = 0
        order.rested = False
        order.status = "canceled"
        order.reason = reason
        order.updated_ms = now
        events.append(self._snapshot(order))
        return size

    # ---- shapes ----------------------------------------------------------------------------------------

    def _averages(self, order: UserOrder) -> JSON:
        """``average_fill_price`` (YES terms) and ``average_fee_paid`` per contract, when something filled."""
        if not order.filled:
            return {}
        cost = order.taker_cost + order.maker_cost  # micro-dollars on the order's own side
        fees = order.taker_fees + order.maker_fees
        own_avg = (2 * cost + order.filled) // (2 * order.filled)  # micro-dollars / size units = price units
        yes_avg = own_avg if order.side == "yes" else ONE - own_avg
        return {
            "average_fill_price": fmt_price(yes_avg),
            "average_fee_paid": fmt_price(-(-fees // order.filled)),  # per contract, rounded up
        }

    def order_json(self, order: UserOrder) -> JSON:
        """The REST ``Order`` (openapi ``Order``)."""
        yes = order.yes_price
        body: JSON = {
            "order_id": order.order_id,
            "user_id": self.model.user_id,
            "client_order_id": order.client_order_id or "",
            "ticker": order.market.ticker,
            "outcome_side": order.side,
            "book_side": "bid" if order.side == "yes" else "ask",
            "side": order.side,
            "action": "buy",
            "type": "limit",
            "status": order.status,
            "yes_price_dollars": fmt_price(yes),
            "no_price_dollars": fmt_price(ONE - yes),
            "fill_count_fp": fmt_size(order.filled),
            "remaining_count_fp": fmt_size(order.size),
            "initial_count_fp": fmt_size(order.initial),
            "taker_fill_cost_dollars": fmt_money(order.taker_cost),
            "maker_fill_cost_dollars": fmt_money(order.maker_cost),
            "taker_fees_dollars": fmt_money(order.taker_fees),
            "maker_fees_dollars": fmt_money(order.maker_fees),
            "created_time": rfc3339_ms(order.created_ms),
            "last_update_time": rfc3339_ms(order.updated_ms),
            "self_trade_prevention_type": order.stp,
            "cancel_order_on_pause": False,
            "subaccount_number": 0,
            "exchange_index": 0,
        }
        if order.expiration_s is not None:
            body["expiration_time"] = rfc3339_ms(order.expiration_s * 1000)
        if order.group_id is not None:
            body["order_group_id"] = order.group_id
        return body

    def _snapshot(self, order: UserOrder) -> OrderUpdate:
        """The ``user_order`` frame's msg now (asyncapi ``userOrderPayload``): cumulative, a full snapshot."""
        yes = order.yes_price
        body: JSON = {
            "order_id": order.order_id,
            "user_id": self.model.user_id,
            "ticker": order.market.ticker,
            "exchange_index": 0,
            "status": order.status,
            "side": order.side,
            "is_yes": order.side == "yes",
            "outcome_side": order.side,
            "book_side": "bid" if order.side == "yes" else "ask",
            "yes_price_dollars": fmt_price(yes),
            "fill_count_fp": fmt_size(order.filled),
            "remaining_count_fp": fmt_size(order.size),
            "initial_count_fp": fmt_size(order.initial),
            "taker_fill_cost_dollars": fmt_money(order.taker_cost),
            "maker_fill_cost_dollars": fmt_money(order.maker_cost),
            "taker_fees_dollars": fmt_money(order.taker_fees),
            "maker_fees_dollars": fmt_money(order.maker_fees),
            "client_order_id": order.client_order_id or "",
            "self_trade_prevention_type": order.stp,
            "created_time": rfc3339_ms(order.created_ms),
            "created_ts_ms": order.created_ms,
            "last_updated_ts_ms": order.updated_ms,
            "subaccount_number": 0,
        }
        if order.group_id is not None:
            body["order_group_id"] = order.group_id
        if order.expiration_s is not None:
            body["expiration_time"] = rfc3339_ms(order.expiration_s * 1000)
            body["expiration_ts_ms"] = order.expiration_s * 1000
        if order.reason is not None:
            body["last_update_reason"] = order.reason
        return OrderUpdate(order.market, body)

    # ---- truth -----------------------------------------------------------------------------------------

    def truth(self) -> JSON:
        """The truth file's ``user`` block: every fill of the account in time order, what rests at the end."""
        fills = [
            {
                "market": f.market.ticker,
                "order_id": f.order_id,
                "side": "bid" if f.side == "yes" else "ask",
                "price": fmt_price(f.yes_price),
                "count": fmt_size(f.count),
                "fee": fmt_money(f.fee),
                "is_taker": f.is_taker,
            }
            for f in self.model.fill_log
        ]
        resting: list[JSON] = []
        for o in self.resting():
            resting.append(
                {
                    "market": o.market.ticker,
                    "order_id": o.order_id,
                    "client_order_id": o.client_order_id or "",
                    "side": "bid" if o.side == "yes" else "ask",
                    "price": fmt_price(o.yes_price),
                    "remaining_count": fmt_size(o.size),
                    "fill_count": fmt_size(o.filled),
                }
            )
        for m in self.model.market_list:  # the built-in user's, while it trades
            if m.user is not None:
                for side, (price, order) in m.user.resting.items():
                    resting.append(
                        {
                            "market": m.ticker,
                            "order_id": order.order_id,
                            "client_order_id": order.client_order_id or "",
                            "side": "bid" if side == "yes" else "ask",
                            "price": fmt_price(price if side == "yes" else ONE - price),
                            "remaining_count": fmt_size(order.size),
                            "fill_count": fmt_size(0),
                        }
                    )
        return {"fills": fills, "resting_orders": resting}
