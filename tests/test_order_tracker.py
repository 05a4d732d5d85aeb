"""The order state machine (``trading.orders.OrderTracker``), pure: every ordering of replies and stream frames, unknown
outcomes resolved both ways without a second order, 409 after a re-send, terminal states that never regress."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from market_making_bot.kalshi.messages import Fill, UserOrder
from market_making_bot.kalshi.orders import (
    AmendOrderReply,
    BatchCancelItem,
    BookSide,
    CancelOrderReply,
    CreateOrderReply,
    CreateOrderRequest,
    DecreaseOrderReply,
    ErrorBody,
    TimeInForce,
)
from market_making_bot.kalshi.rest import Count, KalshiAPIError, Order, RateLimited, parse_error
from market_making_bot.trading.orders import OrderRefused, OrderState, OrderTracker, OrderUpdate

T0 = 1_780_000_000_000  # engine and wall time, Unix ms (2026)
TICKER = "KXTEST-26DEC31-A"
OTHER = "KXTEST-26DEC31-B"


def counter() -> Callable[[], str]:
    n = itertools.count(1)
    return lambda: f"{next(n):04d}"


def tracker(**kw: object) -> OrderTracker:
    return OrderTracker("bot1", make_id=counter(), **kw)  # type: ignore[arg-type]


def reply(fill: int, remaining: int, ts: int = T0, order_id: str = "oid-1", coid: str = "") -> CreateOrderReply:
    return CreateOrderReply(
        order_id=order_id, client_order_id=coid, fill_count=Count(fill), remaining_count=Count(remaining), ts_ms=ts
    )


def snapshot(
    coid: str | None,
    status: str,
    fill: int,
    remaining: int,
    ts: int | None,
    *,
    order_id: str = "oid-1",
    initial: int = 1000,
    price: int = 5600,
    reason: str | None = None,
) -> UserOrder:
    return UserOrder(
        sid=22,
        order_id=order_id,
        ticker=TICKER,
        status=status,
        book_side="bid",
        yes_price=price,
        fill_count=fill,
        remaining_count=remaining,
        initial_count=initial,
        client_order_id=coid,
        last_updated_ts_ms=ts,
        last_update_reason=reason,
    )


def fill(trade_id: str, count: int, coid: str | None, order_id: str = "oid-1", ts: int = T0) -> Fill:
    return Fill(
        sid=13,
        market_ticker=TICKER,
        yes_price=5600,
        count=count,
        fee=1000,
        trade_id=trade_id,
        order_id=order_id,
        client_order_id=coid,
        ts_ms=ts,
    )


def rest_order(coid: str, status: str, fill: int, remaining: int, updated: int | None, **kw: object) -> Order:
    fields: dict[str, object] = {
        "order_id": "oid-1",
        "client_order_id": coid,
        "ticker": TICKER,
        "outcome_side": "yes",
        "book_side": "bid",
        "status": status,
        "yes_price_dollars": 5600,
        "no_price_dollars": 4400,
        "fill_count_fp": fill,
        "remaining_count_fp": remaining,
        "initial_count_fp": 1000,
        "taker_fill_cost_dollars": 0,
        "maker_fill_cost_dollars": 0,
        "taker_fees_dollars": 0,
        "maker_fees_dollars": 0,
        "last_update_time": updated,
        **kw,
    }
    return Order(**fields)  # type: ignore[arg-type]


def place(t: OrderTracker, ticker: str = TICKER, count: int = 1000, now: int = T0) -> CreateOrderRequest:
    return t.new(ticker, BookSide.BID, 5600, count, now_ms=now)


def final(t: OrderTracker, coid: str) -> tuple[OrderState, int, int, int, str | None]:
    o = t.get(coid)
    assert o is not None
    return (o.state, o.fill_count, o.remaining, o.price, o.order_id)


# --- every ordering ---------------------------------------------------------------------------------------------------

Step = Callable[[OrderTracker, str], list[OrderUpdate]]


def scenario(name: str) -> list[Step]:
    """The answers to one 10-contract bid, as steps to apply in any order."""
    at = T0 + 5
    r: Step = lambda t, c: t.on_reply(c, reply(300, 700), at)  # noqa: E731 - a table of small steps
    snap_a: Step = lambda t, c: t.on_user_order(snapshot(c, "resting", 300, 700, T0, reason="Trade"), at)  # noqa: E731
    f1: Step = lambda t, c: t.on_fill(fill("t1", 300, c), at)  # noqa: E731
    f1_id_only: Step = lambda t, c: t.on_fill(fill("t1", 300, None), at)  # noqa: E731
    if name == "executed":
        f2: Step = lambda t, c: t.on_fill(fill("t2", 700, c, ts=T0 + 1000), at)  # noqa: E731
        snap_b: Step = lambda t, c: t.on_user_order(snapshot(c, "executed", 1000, 0, T0 + 1000), at)  # noqa: E731
        return [r, snap_a, f1, f2, snap_b]
    if name == "executed-by-fills":  # no final snapshot: the fills complete it; a fill names only the order id
        f2 = lambda t, c: t.on_fill(fill("t2", 700, None, ts=T0 + 1000), at)  # noqa: E731
        return [r, snap_a, f1_id_only, f2]
    if name == "partial":
        f2 = lambda t, c: t.on_fill(fill("t2", 200, c, ts=T0 + 1000), at)  # noqa: E731
        snap_b = lambda t, c: t.on_user_order(snapshot(c, "resting", 500, 500, T0 + 1000), at)  # noqa: E731
        dup: Step = lambda t, c: t.on_fill(fill("t1", 300, c), at)  # noqa: E731 - the same trade twice
        return [r, snap_a, f1, f2, snap_b, dup]
    if name == "canceled":
        snap_c: Step = lambda t, c: t.on_user_order(snapshot(c, "canceled", 300, 0, T0 + 2000), at)  # noqa: E731
        return [r, snap_a, f1_id_only, snap_c]
    raise AssertionError(name)


EXPECTED = {
    "executed": (OrderState.EXECUTED, 1000, 0),
    "executed-by-fills": (OrderState.EXECUTED, 1000, 0),
    "partial": (OrderState.PARTIALLY_FILLED, 500, 500),
    "canceled": (OrderState.CANCELED, 300, 0),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_ordering_gives_the_same_final_state(name: str) -> None:
    steps = scenario(name)
    finals = set()
    for order in itertools.permutations(range(len(steps))):
        t = tracker()
        coid = place(t).client_order_id
        for i in order:
            steps[i](t, coid)
        finals.add(final(t, coid))
        o = t.get(coid)
        assert o is not None and t.blocked(TICKER) is None
        assert sum(o.fills.values()) <= 1000
    assert finals == {(*EXPECTED[name], 5600, "oid-1")}, name


def test_updates_tell_each_transition_and_the_new_fills() -> None:
    t = tracker()
    coid = place(t).client_order_id
    ups = t.on_reply(coid, reply(0, 1000), T0 + 1)
    assert [(u.previous, u.state) for u in ups] == [(OrderState.PENDING, OrderState.RESTING)]
    ups = t.on_fill(fill("t1", 400, coid), T0 + 2)
    assert [(u.state, u.new_fill, u.remaining) for u in ups] == [(OrderState.PARTIALLY_FILLED, 400, 600)]
    assert t.on_fill(fill("t1", 400, coid), T0 + 3) == []  # a duplicate changes nothing
    assert t.counters["duplicate_fills"] == 1
    ups = t.on_user_order(snapshot(coid, "executed", 1000, 0, T0 + 10), T0 + 4)
    assert [(u.state, u.new_fill) for u in ups] == [(OrderState.EXECUTED, 600)]


def test_terminal_never_regresses() -> None:
    t = tracker()
    coid = place(t).client_order_id
    t.on_user_order(snapshot(coid, "canceled", 0, 0, T0 + 50), T0)
    assert t.on_user_order(snapshot(coid, "resting", 0, 1000, T0 + 10), T0) == []  # older, not terminal
    t.on_reply(coid, reply(0, 1000), T0)
    # REST lags: a read showing it resting (older last_update_time) changes nothing either
    t.on_rest_orders([rest_order(coid, "resting", 0, 1000, T0 + 20)], T0 + 5000, ticker=TICKER)
    assert final(t, coid)[0] is OrderState.CANCELED
    # even a newer non-terminal observation does not bring it back
    t.on_user_order(snapshot(coid, "resting", 0, 1000, T0 + 99), T0)
    assert final(t, coid)[0] is OrderState.CANCELED


def test_newest_snapshot_wins_tie_larger_fill() -> None:
    t = tracker()
    coid = place(t).client_order_id
    t.on_user_order(snapshot(coid, "resting", 400, 600, T0 + 10), T0)
    t.on_user_order(snapshot(coid, "resting", 200, 800, T0 + 10), T0)  # same time, fewer fills: loses
    assert final(t, coid)[:3] == (OrderState.PARTIALLY_FILLED, 400, 600)
    t.on_user_order(snapshot(coid, "resting", 400, 300, T0 + 20, reason="Decrease"), T0)
    assert final(t, coid)[:3] == (OrderState.PARTIALLY_FILLED, 400, 300)


# --- unknown outcomes: a tiny exchange that counts the orders it really made -----------------------------------------


@dataclass
class Exchange:
    """Takes creates by coid (a duplicate coid is 409, as Kalshi); can lose a request before or after applying it."""

    orders: dict[str, Order] = field(default_factory=dict)
    visible: bool = True
    """False: a REST read lags and shows none of them."""

    def create(self, req: CreateOrderRequest, now: int) -> CreateOrderReply:
        if req.client_order_id in self.orders:
            raise parse_error(409, b'{"error":{"code":"order_already_exists","message":"duplicate"}}')
        oid = f"oid-{len(self.orders) + 1}"
        self.orders[req.client_order_id] = rest_order(
            req.client_order_id, "resting", 0, req.count, now, order_id=oid, ticker=req.ticker
        )
        return reply(0, req.count, now, oid, req.client_order_id)

    def read(self, ticker: str) -> Iterator[Order]:
        return iter([o for o in self.orders.values() if o.ticker == ticker] if self.visible else [])


def test_unknown_that_landed_is_found_by_a_read_and_never_sent_twice() -> None:
    ex, t = Exchange(), tracker()
    req = place(t)
    coid = req.client_order_id
    ex.create(req, T0)  # applied ...
    t.on_unknown(coid, "timeout", T0 + 10_000)  # ... but the reply was lost
    assert final(t, coid)[0] is OrderState.UNKNOWN
    assert t.blocked(TICKER) is not None and t.blocked(OTHER) is None
    with pytest.raises(OrderRefused, match="unknown outcome"):
        place(t)
    place(t, OTHER)  # another market is not blocked
    with pytest.raises(OrderRefused, match="never landed"):
        t.resend(coid, T0)
    t.on_rest_orders(ex.read(TICKER), T0 + 11_000, ticker=TICKER, since_ms=T0 - 1000)
    assert final(t, coid)[:3] == (OrderState.RESTING, 0, 1000)
    assert t.blocked(TICKER) is None
    with pytest.raises(OrderRefused):
        t.resend(coid, T0)
    assert len(ex.orders) == 1


def test_unknown_that_never_landed_is_resent_with_the_same_coid_once() -> None:
    ex, t = Exchange(), tracker()
    req = place(t)
    coid = req.client_order_id
    t.on_unknown(coid, "connection reset", T0 + 100)  # never reached the exchange
    # a read too soon after the send proves nothing (REST lags)
    t.on_rest_orders(ex.read(TICKER), T0 + 500, ticker=TICKER, since_ms=T0 - 1000)
    assert final(t, coid)[0] is OrderState.UNKNOWN
    # a read that does not cover the send time proves nothing either
    t.on_rest_orders(ex.read(TICKER), T0 + 5000, ticker=TICKER, since_ms=T0 + 1)
    assert final(t, coid)[0] is OrderState.UNKNOWN
    ups = t.on_rest_orders(ex.read(TICKER), T0 + 5000, ticker=TICKER, since_ms=T0 - 1000)
    assert [u.state for u in ups] == [OrderState.REJECTED]
    o = t.get(coid)
    assert o is not None and o.lost and t.blocked(TICKER) is None
    again = t.resend(coid, T0 + 6000)
    assert again == req and again.client_order_id == coid
    t.on_reply(coid, ex.create(again, T0 + 6000), T0 + 6001)
    assert final(t, coid)[0] is OrderState.RESTING
    with pytest.raises(OrderRefused):
        t.resend(coid, T0 + 7000)
    assert len(ex.orders) == 1


def test_a_lagging_read_then_409_on_the_resend_means_it_landed() -> None:
    ex, t = Exchange(visible=False), tracker()
    req = place(t)
    coid = req.client_order_id
    ex.create(req, T0)
    t.on_unknown(coid, "timeout", T0 + 10_000)
    t.on_rest_orders(ex.read(TICKER), T0 + 12_000, ticker=TICKER, since_ms=T0 - 1000)  # REST does not show it yet
    assert t.get(coid).lost  # type: ignore[union-attr]
    with pytest.raises(KalshiAPIError) as caught:
        ex.create(t.resend(coid, T0 + 12_001), T0 + 12_001)
    t.on_error(coid, caught.value, T0 + 12_002)
    o = t.get(coid)
    assert o is not None and o.state is OrderState.UNKNOWN and o.landed
    # landed: a read that still does not show it is no proof of absence, and it can never be re-sent
    t.on_rest_orders(ex.read(TICKER), T0 + 20_000, ticker=TICKER, since_ms=T0 - 1000)
    assert final(t, coid)[0] is OrderState.UNKNOWN
    with pytest.raises(OrderRefused):
        t.resend(coid, T0 + 20_001)
    ex.visible = True
    t.on_rest_orders(ex.read(TICKER), T0 + 21_000, ticker=TICKER, since_ms=T0 - 1000)
    assert final(t, coid)[0] is OrderState.RESTING and t.blocked(TICKER) is None
    assert len(ex.orders) == 1


def test_a_stream_frame_resolves_an_unknown_create() -> None:
    t = tracker()
    coid = place(t).client_order_id
    t.on_unknown(coid, "timeout", T0 + 10_000)
    t.on_user_order(snapshot(coid, "resting", 0, 1000, T0 + 3), T0 + 10_001)
    assert final(t, coid)[0] is OrderState.RESTING and t.blocked(TICKER) is None
    # a timeout reported after the stream showed the order changes nothing
    coid2 = place(t).client_order_id
    t.on_fill(fill("t9", 1000, coid2, order_id="oid-2"), T0)
    assert t.on_unknown(coid2, "timeout", T0 + 10_000) == []
    assert final(t, coid2)[0] is OrderState.EXECUTED


def test_errors_on_create() -> None:
    t = tracker()
    a = place(t).client_order_id
    t.on_error(a, parse_error(400, b'{"error":{"code":"invalid_order","details":"post only cross"}}'), T0)
    o = t.get(a)
    assert o is not None and o.state is OrderState.REJECTED and o.error_code == "invalid_order"
    b = place(t).client_order_id
    t.on_error(b, RateLimited(429, "", "too many requests"), T0)
    assert final(t, b)[0] is OrderState.REJECTED and "not processed" in t.get(b).reason  # type: ignore[union-attr]
    c = place(t).client_order_id
    t.on_error(c, parse_error(503, b"{}"), T0)
    assert final(t, c)[0] is OrderState.UNKNOWN and t.blocked(TICKER) is not None
    # 409 on a first send is a refusal (a duplicate coid that is not ours to claim), not "landed"
    t2 = tracker()
    d = place(t2).client_order_id
    t2.on_error(d, parse_error(409, b'{"error":{"code":"order_already_exists"}}'), T0)
    assert final(t2, d)[0] is OrderState.REJECTED


def test_409_market_closed_on_a_resend_is_a_refusal() -> None:
    t = tracker()
    coid = place(t).client_order_id
    t.on_unknown(coid, "timeout", T0)
    t.on_rest_orders([], T0 + 5000, ticker=TICKER, since_ms=T0 - 1)
    t.resend(coid, T0 + 5001)
    t.on_error(coid, parse_error(409, b'{"error":{"code":"market_closed"}}'), T0 + 5002)
    assert final(t, coid)[0] is OrderState.REJECTED and t.blocked(TICKER) is None


def test_closed_tracker_refuses_new_orders_and_bad_values_are_value_errors() -> None:
    t = tracker()
    with pytest.raises(ValueError, match="price"):
        t.new(TICKER, BookSide.BID, 10_000, 100, now_ms=T0)
    with pytest.raises(ValueError, match="reduce_only"):
        t.new(TICKER, BookSide.ASK, 5000, 100, now_ms=T0, reduce_only=True)
    t.new(TICKER, BookSide.ASK, 5000, 100, now_ms=T0, reduce_only=True, time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL)
    t.close()
    with pytest.raises(OrderRefused, match="closed"):
        place(t)


# --- cancel, amend, decrease ------------------------------------------------------------------------------------------


def resting(t: OrderTracker, order_id: str = "oid-1") -> str:
    coid = place(t).client_order_id
    t.on_reply(coid, reply(0, 1000, order_id=order_id), T0)
    return coid


def test_cancel_before_the_ack_is_refused_and_after_it_cancels() -> None:
    t = tracker()
    coid = place(t).client_order_id
    with pytest.raises(OrderRefused, match="not acknowledged"):
        t.cancel(coid, T0)
    t.on_reply(coid, reply(0, 1000), T0)
    ref = t.cancel(coid, T0 + 1)
    assert (ref.order_id, ref.market_ticker) == ("oid-1", TICKER)
    with pytest.raises(OrderRefused, match="in flight"):
        t.cancel(coid, T0 + 2)
    t.on_change_reply(coid, CancelOrderReply(order_id="oid-1", reduced_by=Count(1000), ts_ms=T0 + 3), T0 + 3)
    assert final(t, coid)[:3] == (OrderState.CANCELED, 0, 0)
    with pytest.raises(OrderRefused, match="canceled"):
        t.cancel(coid, T0 + 4)


def test_cancel_404_is_checked_by_a_read() -> None:
    t = tracker()
    coid = resting(t)
    t.cancel(coid, T0 + 1)
    t.on_change_error(coid, parse_error(404, b'{"error":{"code":"not_found"}}'), T0 + 2)
    assert final(t, coid)[0] is OrderState.UNKNOWN and t.blocked(TICKER) is not None
    t.on_rest_order(rest_order(coid, "executed", 1000, 0, T0 + 1), T0 + 3)  # a terminal answer settles it at once
    assert final(t, coid)[:3] == (OrderState.EXECUTED, 1000, 0) and t.blocked(TICKER) is None


def test_cancel_with_unknown_outcome_blocks_until_a_late_enough_read() -> None:
    t = tracker()
    coid = resting(t)
    t.cancel(coid, T0 + 1)
    t.on_change_unknown(coid, "timeout", T0 + 10_000)
    assert t.blocked(TICKER) is not None
    t.on_rest_order(rest_order(coid, "resting", 0, 1000, T0), T0 + 10_500)  # too soon: REST may lag
    assert final(t, coid)[0] is OrderState.UNKNOWN
    t.on_rest_order(rest_order(coid, "resting", 0, 1000, T0), T0 + 12_500)  # the cancel did not land
    assert final(t, coid)[0] is OrderState.RESTING and t.blocked(TICKER) is None


def test_batch_cancel_items() -> None:
    t = tracker()
    a, b = resting(t, "oid-a"), resting(t, "oid-b")
    t.cancel(a, T0)
    t.cancel(b, T0)
    t.on_change_reply(a, BatchCancelItem(order_id="oid-a", reduced_by=Count(1000), ts_ms=T0 + 1), T0 + 1)
    gone = BatchCancelItem(order_id="oid-b", reduced_by=Count(0), error=ErrorBody(code="not_found"))
    t.on_change_reply(b, gone, T0 + 1)
    assert final(t, a)[0] is OrderState.CANCELED and final(t, b)[0] is OrderState.UNKNOWN


def test_amend_takes_the_new_total_and_a_new_coid() -> None:
    t = tracker()
    coid = resting(t)
    t.on_fill(fill("t1", 200, coid), T0 + 1)
    order_id, req = t.amend(coid, T0 + 2, price=5700, remaining=500, new_client_order_id=True)
    assert order_id == "oid-1" and req.count == 700 and req.price == 5700  # total = 200 filled + 500
    assert req.client_order_id == coid and req.updated_client_order_id is not None
    t.on_change_reply(coid, AmendOrderReply(order_id="oid-1", remaining_count=Count(500), ts_ms=T0 + 3), T0 + 3)
    assert final(t, coid)[:4] == (OrderState.PARTIALLY_FILLED, 200, 500, 5700)
    # frames under the new coid find the same order
    t.on_user_order(snapshot(req.updated_client_order_id, "executed", 700, 0, T0 + 9, price=5700), T0 + 9)
    assert final(t, coid)[:3] == (OrderState.EXECUTED, 700, 0)


def test_amend_reply_without_counts_keeps_the_size() -> None:
    t = tracker()
    coid = resting(t)
    _, req = t.amend(coid, T0, price=5500)
    assert req.count == 1000 and req.updated_client_order_id is None
    t.on_change_reply(coid, AmendOrderReply(order_id="oid-1", ts_ms=T0 + 1), T0 + 1)
    assert final(t, coid)[:4] == (OrderState.RESTING, 0, 1000, 5500)


def test_decrease() -> None:
    t = tracker()
    coid = resting(t)
    _, req = t.decrease(coid, T0, reduce_by=300)
    assert req.reduce_by == 300 and req.market_ticker == TICKER
    t.on_change_reply(coid, DecreaseOrderReply(order_id="oid-1", remaining_count=Count(700), ts_ms=T0 + 1), T0 + 1)
    assert final(t, coid)[:3] == (OrderState.RESTING, 0, 700)
    t.decrease(coid, T0 + 2, reduce_to=0)
    t.on_change_reply(coid, DecreaseOrderReply(order_id="oid-1", remaining_count=Count(0), ts_ms=T0 + 3), T0 + 3)
    assert final(t, coid)[0] is OrderState.CANCELED


# --- restart and reconnect --------------------------------------------------------------------------------------------


def test_reconcile_adopts_our_prefix_ignores_others_and_doubts_missing_orders() -> None:
    t = tracker()
    mine = resting(t)
    previous_run = rest_order("bot1-old", "resting", 0, 500, T0, order_id="oid-old")
    foreign = rest_order("someone-else-1", "resting", 0, 500, T0, order_id="oid-x")
    t.on_rest_orders([previous_run, foreign], T0 + 60_000, status="resting")
    assert t.get("bot1-old") is not None and t.get("someone-else-1") is None
    assert final(t, "bot1-old")[0] is OrderState.RESTING
    # ours was not among the resting orders: filled or canceled while we were away; checked by id
    assert final(t, mine)[0] is OrderState.UNKNOWN
    t.on_rest_order(rest_order(mine, "canceled", 100, 0, T0 + 30_000), T0 + 63_000)
    assert final(t, mine)[:3] == (OrderState.CANCELED, 100, 0)
    assert {o.client_order_id for o in t.open_orders()} == {"bot1-old"}


def test_frames_of_other_programs_are_ignored_and_the_buffer_is_bounded() -> None:
    t = tracker(max_buffered=3)
    t.on_user_order(snapshot("someone-else", "resting", 0, 100, T0, order_id="x"), T0)
    assert t.counters["foreign_frames"] == 1 and not t.orders
    for i in range(5):
        t.on_fill(fill(f"t{i}", 100, None, order_id=f"unknown-{i}"), T0)
    assert t.counters["buffered"] == 5 and t.counters["buffer_dropped"] == 2
    # a snapshot adopts an order of ours it did not know (a previous run) and drains what waited for its id
    t.on_user_order(snapshot("bot1-x", "resting", 0, 1000, T0, order_id="unknown-4"), T0)
    assert final(t, "bot1-x")[:3] == (OrderState.PARTIALLY_FILLED, 100, 900)


def test_prune_forgets_old_terminal_orders_only() -> None:
    t = tracker()
    done = resting(t)
    t.on_user_order(snapshot(done, "executed", 1000, 0, T0 + 5), T0 + 5)
    live = resting(t, "oid-2")
    assert t.prune(T0 + 6) == 1
    assert t.get(done) is None and t.get(live) is not None and t.by_order_id("oid-1") is None
    # a late frame about it: ours by its prefix, taken back as the terminal order it is (never open again)
    assert [u.state for u in t.on_user_order(snapshot(done, "executed", 1000, 0, T0 + 9), T0 + 9)] == [
        OrderState.EXECUTED
    ]
    assert {o.client_order_id for o in t.open_orders()} == {live}


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_in_random_orders_end_at_the_truth(seed: int) -> None:
    """A random true history (immediate fills in the reply, maker fills later, snapshots after some of them, maybe
    a cancel), delivered shuffled, with duplicates: always the true final state."""
    import random

    rng = random.Random(seed)
    count = rng.randrange(1, 20) * 100
    immediate = rng.randrange(0, count // 100 + 1) * 100 if rng.random() < 0.5 else 0
    filled, ts = immediate, T0
    fills: list[tuple[str, int, int]] = [(f"i{n}", 100, ts) for n in range(immediate // 100)]
    snaps: list[tuple[str, int, int, int]] = [
        ("resting" if immediate < count else "executed", immediate, count - immediate, ts)
    ]
    while filled < count and rng.random() < 0.8:
        ts += rng.randrange(1, 50)
        size = rng.randrange(1, (count - filled) // 100 + 1) * 100
        filled += size
        fills.append((f"m{ts}", size, ts))
        if rng.random() < 0.6:
            snaps.append(("executed" if filled == count else "resting", filled, count - filled, ts))
    canceled = filled < count and rng.random() < 0.5
    if canceled:
        snaps.append(("canceled", filled, 0, ts + 1))
    want_state = (
        OrderState.EXECUTED
        if filled == count
        else OrderState.CANCELED
        if canceled
        else OrderState.PARTIALLY_FILLED
        if filled
        else OrderState.RESTING
    )
    want = (want_state, filled, 0 if want_state in (OrderState.EXECUTED, OrderState.CANCELED) else count - filled)
    steps: list[Step] = [lambda t, c: t.on_reply(c, reply(immediate, count - immediate), T0)]
    for trade, size, at in fills:
        with_coid = rng.random() < 0.5
        steps.append(
            lambda t, c, tr=trade, s=size, a=at, w=with_coid: t.on_fill(fill(tr, s, c if w else None, ts=a), T0)
        )
    for status, f, left, at in snaps:
        steps.append(
            lambda t, c, st=status, f=f, left=left, a=at: t.on_user_order(
                snapshot(c, st, f, left, a, initial=count), T0
            )
        )
    steps += rng.sample(steps, k=min(3, len(steps)))  # duplicates
    for _ in range(30):
        rng.shuffle(steps)
        t = tracker()
        coid = t.new(TICKER, BookSide.BID, 5600, count, now_ms=T0).client_order_id
        for step in steps:
            step(t, coid)
        assert final(t, coid)[:3] == want, (seed, steps)
