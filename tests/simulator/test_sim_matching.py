"""The simulator's order matching (issue 15 item 1), pure: no network, no asyncio, an injected clock.

Each test builds a book by hand (the seeded book emptied), places the account's orders through
:class:`OrderEntry` as the REST layer does and drives the order flow's own code (``ExchangeModel._take``
for a marketable flow order, ``Ladder.reduce`` for a flow cancel), then checks Kalshi's semantics
(REST.md 4 and 6) on the replies, the books and the events.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

import pytest

from market_making_bot.simulator.book import Market, Order
from market_making_bot.simulator.events import BookDelta, Event, Fill, GroupUpdate, OrderUpdate, Position, Ticker, Trade
from market_making_bot.simulator.matching import WINDOW_MS, OrderEntry, OrderError
from market_making_bot.simulator.model import ExchangeModel, kalshi_fee, maker_rate_for

TK = "KXMATCH-26DEC31-M1"
T0 = 1_900_000_000_000  # ms
_ids = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def setup(
    cash_dollars: int = 10_000, fee_type: str = "quadratic_with_maker_fees", tick: str = "cent"
) -> tuple[ExchangeModel, OrderEntry, Market, Clock]:
    clock = Clock()
    model = ExchangeModel(
        [TK],
        seed=5,
        now_ms=clock,
        tick=tick,
        maker_fee_rate=maker_rate_for(fee_type, Fraction(175, 10_000), Fraction(7, 100)),
    )
    m = model.markets[TK]
    for ladder in (m.yes, m.no):
        for price in list(ladder.prices):
            for o in list(ladder.levels[price]):
                ladder.reduce(price, o, o.size)
    m.last_top = m.top()
    return model, OrderEntry(model, starting_cash_micro=cash_dollars * 1_000_000), m, clock


def flow_order(m: Market, side: str, price: str, contracts: str) -> Order:
    """A resting order of the order flow: ``side`` ladder, ``price`` on that side's scale."""
    order = Order(f"flow-{next(_ids)}", int(Decimal(contracts) * 100))
    m.ladder(side).add(int(Decimal(price) * 10_000), order)
    return order


def flow_take(model: ExchangeModel, m: Market, taker: str, contracts: str) -> list[Event]:
    """A marketable order of the flow buying ``taker`` (``no`` hits the YES bids), by the model's own code."""
    events: list[Event] = []
    model.clock += 1
    model._take(m, taker, int(Decimal(contracts) * 100), None, model.clock, model.now_ms(), events)
    return events


def body(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ticker": TK,
        "side": "bid",
        "count": "1",
        "price": "0.50",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "client_order_id": f"c-{next(_ids)}",
    }
    out.update(kw)
    return out


def levels(m: Market) -> dict[str, list[tuple[str, str]]]:
    def fmt(view: list[tuple[int, int]]) -> list[tuple[str, str]]:
        return [(f"{Decimal(p) / 10_000:.4f}", f"{Decimal(s) / 100:.2f}") for p, s in view]

    return {"yes": fmt(m.yes.levels_view()), "no": fmt(m.no.levels_view())}


def of(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if type(e) is kind]


def fee_str(rate: str, contracts: str, price: str) -> str:
    """The expected fee, independently: ceil to $0.0001 of r x C x P x (1 - P), as a 6-dp string."""
    raw = Decimal(rate) * Decimal(contracts) * Decimal(price) * (1 - Decimal(price))
    return f"{raw.quantize(Decimal('0.0001'), rounding=ROUND_CEILING):.6f}"


def check_books(m: Market) -> None:
    for ladder in (m.yes, m.no):
        for price, queue in ladder.levels.items():
            assert queue and all(o.size > 0 for o in queue)
            assert ladder.totals[price] == sum(o.size for o in queue)
        assert ladder.prices == sorted(ladder.levels)
    assert not m.crossed()


# ---- resting, queue position ----------------------------------------------------------------------------


def test_an_order_rests_at_the_back_of_its_level_and_the_flow_moves_the_queue_ahead_of_it() -> None:
    model, entry, m, _clock = setup()
    a = flow_order(m, "yes", "0.45", "5")
    flow_order(m, "yes", "0.45", "3")
    reply, events = entry.create(body(price="0.45", count="2", client_order_id="q1"))
    assert reply["fill_count"] == "0.00" and reply["remaining_count"] == "2.00"
    order = entry.orders[reply["order_id"]]
    assert m.yes.levels[4500][-1] is order
    assert entry.queue_position(order) == 800
    (delta,) = of(events, BookDelta)
    assert (delta.side, delta.price, delta.delta, delta.client_order_id) == ("yes", 4500, 200, "q1")
    (snap,) = of(events, OrderUpdate)
    assert snap.body["status"] == "resting" and snap.body["remaining_count_fp"] == "2.00"
    m.yes.reduce(4500, a, 200)  # the flow cancels 2 of the first order
    assert entry.queue_position(order) == 600
    flow_take(model, m, "no", "4")  # the flow sells 4 YES: the first order (3 left) and 1 of the second
    assert entry.queue_position(order) == 200
    assert not model.fill_log
    events = flow_take(model, m, "no", "3")  # 2 of the second order, then 1 of ours
    assert entry.queue_position(order) == 0
    (fill,) = model.fill_log
    assert (fill.is_taker, fill.side, fill.yes_price, fill.count) == (False, "yes", 4500, 100)
    assert fill.fee == kalshi_fee(Fraction(175, 10_000), 100, 4500)
    assert [type(e) for e in events if type(e) in (Trade, Fill, Position, OrderUpdate)][-4:] == [
        Trade,
        Fill,
        Position,
        OrderUpdate,
    ]
    trades = of(events, Trade)
    assert fill.trade_id == trades[-1].trade_id and trades[-1].count == 100
    snap = of(events, OrderUpdate)[-1]
    assert snap.body["fill_count_fp"] == "1.00" and snap.body["remaining_count_fp"] == "1.00"
    assert snap.body["last_update_reason"] == "Trade" and snap.body["maker_fees_dollars"] == "0.004400"
    flow_take(model, m, "no", "1")
    assert order.status == "executed" and 4500 not in m.yes.levels
    check_books(m)


# ---- crossing, time in force ----------------------------------------------------------------------------


def test_a_crossing_bid_trades_at_the_resting_prices_and_ioc_leaves_nothing() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "no", "0.52", "2")  # YES asks at 0.48 and 0.50
    flow_order(m, "no", "0.50", "5")
    reply, events = entry.create(body(price="0.55", count="4", time_in_force="immediate_or_cancel"))
    assert reply["fill_count"] == "4.00" and reply["remaining_count"] == "0.00"
    assert reply["average_fill_price"] == "0.4900"
    assert [(t.yes_price, t.count, t.taker_side) for t in of(events, Trade)] == [(4800, 200, "yes"), (5000, 200, "yes")]
    fills = of(events, Fill)
    assert [(f.yes_price, f.is_taker, f.trade_id) for f in fills] == [
        (4800, True, of(events, Trade)[0].trade_id),
        (5000, True, of(events, Trade)[1].trade_id),
    ]
    assert [Decimal(f.fee) / 10**6 for f in fills] == [
        Decimal(fee_str("0.07", "2", "0.48")),
        Decimal(fee_str("0.07", "2", "0.50")),
    ]
    assert levels(m) == {"yes": [], "no": [("0.5000", "3.00")]}  # nothing of ours rests
    assert entry.orders[reply["order_id"]].status == "executed"
    assert m.user is not None and m.user.position == 400
    assert of(events, Ticker)
    # and a bigger IOC: what does not cross is canceled
    reply, _ = entry.create(body(price="0.50", count="5", time_in_force="immediate_or_cancel"))
    assert (reply["fill_count"], reply["remaining_count"]) == ("3.00", "0.00")
    assert entry.orders[reply["order_id"]].status == "canceled"
    assert levels(m) == {"yes": [], "no": []}
    check_books(m)


def test_a_gtc_rests_its_remainder_and_an_ask_is_a_no_bid() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "yes", "0.60", "3")
    reply, events = entry.create(body(side="ask", price="0.55", count="5"))
    assert (reply["fill_count"], reply["remaining_count"]) == ("3.00", "2.00")
    (fill,) = of(events, Fill)
    assert (fill.side, fill.yes_price, fill.post_position) == ("no", 6000, -300)  # bought NO at 0.40
    assert levels(m) == {"yes": [], "no": [("0.4500", "2.00")]}  # the rest: a NO bid at 1 - 0.55
    snap = of(events, OrderUpdate)[-1].body
    assert (snap["status"], snap["book_side"], snap["outcome_side"], snap["yes_price_dollars"]) == (
        "resting",
        "ask",
        "no",
        "0.5500",
    )
    assert snap["taker_fill_cost_dollars"] == "1.200000"  # 3 x $0.40
    check_books(m)


def test_fill_or_kill_is_all_or_nothing() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "no", "0.50", "3")
    before = levels(m)
    reply, events = entry.create(body(price="0.50", count="4", time_in_force="fill_or_kill"))
    assert (reply["fill_count"], reply["remaining_count"]) == ("0.00", "0.00")
    assert entry.orders[reply["order_id"]].status == "canceled"
    assert levels(m) == before and not of(events, Trade) and not model.fill_log
    reply, _ = entry.create(body(price="0.50", count="3", time_in_force="fill_or_kill"))
    assert reply["fill_count"] == "3.00" and entry.orders[reply["order_id"]].status == "executed"


def test_post_only_crossing_is_refused_and_rests_otherwise() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "no", "0.50", "3")  # ask 0.50
    before = levels(m)
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.50", post_only=True))
    assert (err.value.status, err.value.code, err.value.details) == (400, "invalid_order", "post only cross")
    assert levels(m) == before and not entry.orders
    reply, _ = entry.create(body(price="0.49", post_only=True))
    assert reply["remaining_count"] == "1.00"
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.40", post_only=True, time_in_force="immediate_or_cancel"))
    assert err.value.status == 400


# ---- self-trade prevention, reduce-only --------------------------------------------------------------------


def test_self_trade_prevention_taker_at_cross_stops_the_incoming_order() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "no", "0.52", "1")  # ask 0.48 (flow)
    own, _ = entry.create(body(side="ask", price="0.50", count="2"))  # our ask 0.50
    flow_order(m, "no", "0.50", "4")  # behind ours
    reply, events = entry.create(body(price="0.55", count="3"))
    assert (reply["fill_count"], reply["remaining_count"]) == ("1.00", "0.00")
    order = entry.orders[reply["order_id"]]
    assert order.status == "canceled" and of(events, OrderUpdate)[-1].body["last_update_reason"] == "SelfTradeCancel"
    assert entry.orders[own["order_id"]].status == "resting"  # the resting own order stays
    assert levels(m)["no"] == [("0.5000", "6.00")] and levels(m)["yes"] == []


def test_self_trade_prevention_maker_cancels_the_resting_order_and_goes_on() -> None:
    model, entry, m, _clock = setup()
    own, _ = entry.create(body(side="ask", price="0.50", count="2", client_order_id="mine"))
    flow_order(m, "no", "0.50", "4")
    reply, events = entry.create(body(price="0.50", count="3", self_trade_prevention_type="maker"))
    assert (reply["fill_count"], reply["remaining_count"]) == ("3.00", "0.00")
    mine = entry.orders[own["order_id"]]
    assert mine.status == "canceled" and mine.reason == "SelfTradeCancel"
    canceled = [d for d in of(events, BookDelta) if d.client_order_id == "mine"]
    assert [(d.side, d.price, d.delta) for d in canceled] == [("no", 5000, -200)]
    assert levels(m)["no"] == [("0.5000", "1.00")]
    check_books(m)


def test_reduce_only_needs_ioc_and_is_capped_by_the_position() -> None:
    model, entry, m, _clock = setup()
    with pytest.raises(OrderError) as err:
        entry.create(body(side="ask", price="0.40", reduce_only=True))
    assert err.value.status == 400 and err.value.code == "invalid_order"
    flow_order(m, "yes", "0.45", "10")
    reply, events = entry.create(
        body(side="ask", price="0.40", count="2", reduce_only=True, time_in_force="immediate_or_cancel")
    )
    assert (
        reply["fill_count"] == "0.00" and of(events, OrderUpdate)[-1].body["last_update_reason"] == "ReduceOnlyCancel"
    )
    flow_order(m, "no", "0.50", "3")
    entry.create(body(price="0.50", count="3", time_in_force="immediate_or_cancel"))  # long 3 YES
    reply, events = entry.create(
        body(side="ask", price="0.40", count="5", reduce_only=True, time_in_force="immediate_or_cancel")
    )
    assert reply["fill_count"] == "3.00"
    assert m.user is not None and m.user.position == 0
    snap = of(events, OrderUpdate)[-1].body
    assert (snap["last_update_reason"], snap["status"], snap["initial_count_fp"]) == (
        "ReduceOnlyCancel",
        "canceled",
        "5.00",
    )


# ---- ids, cancels ---------------------------------------------------------------------------------------


def test_a_duplicate_client_order_id_is_409_and_cancelling_twice_is_404() -> None:
    model, entry, m, _clock = setup()
    reply, _ = entry.create(body(price="0.40", client_order_id="dup"))
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.41", client_order_id="dup"))
    assert err.value.status == 409
    cancel, events = entry.cancel(reply["order_id"])
    assert cancel == {"order_id": reply["order_id"], "client_order_id": "dup", "reduced_by": "1.00", "ts_ms": T0}
    assert [(d.delta, d.client_order_id) for d in of(events, BookDelta)] == [(-100, "dup")]
    assert of(events, OrderUpdate)[-1].body["status"] == "canceled"
    with pytest.raises(OrderError) as err:
        entry.cancel(reply["order_id"])
    assert err.value.status == 404
    with pytest.raises(OrderError) as err:
        entry.cancel("no-such-order")
    assert err.value.status == 404
    assert levels(m) == {"yes": [], "no": []}


def test_cancel_all_and_the_batches_answer_per_item() -> None:
    model, entry, m, _clock = setup()
    out, events = entry.create_batch(
        {
            "orders": [
                body(price="0.40", count="2"),
                body(price="0.405"),  # off the cent grid
                body(side="ask", price="0.70", count="1.5"),
                body(price="0.40", count="0"),
            ]
        }
    )
    answers = out["orders"]
    assert [a.get("error", {}).get("code") for a in answers] == [None, "invalid_price", None, "invalid_order"]
    assert answers[1]["ts_ms"] is None and answers[0]["remaining_count"] == "2.00"
    assert levels(m) == {"yes": [("0.4000", "2.00")], "no": [("0.3000", "1.50")]}
    out, _ = entry.cancel_batch({"orders": [{"order_id": answers[0]["order_id"]}, {"order_id": "nope"}]})
    assert out["orders"][0]["reduced_by"] == "2.00" and out["orders"][1]["error"]["code"] == "not_found"
    assert out["orders"][1]["reduced_by"] == "0.00"
    events = entry.cancel_all()
    assert [d.delta for d in of(events, BookDelta)] == [-150]
    assert levels(m) == {"yes": [], "no": []} and not entry.resting()


# ---- amend, decrease --------------------------------------------------------------------------------------


def test_amend_count_is_the_new_total_and_priority_follows_kalshi() -> None:
    model, entry, m, _clock = setup()
    flow_order(m, "yes", "0.45", "1")
    reply, _ = entry.create(body(price="0.45", count="5"))
    order = entry.orders[reply["order_id"]]
    flow_order(m, "yes", "0.45", "2")
    flow_take(model, m, "no", "2")  # the first flow order and 1 of ours: filled 1, 4 rest
    assert (order.filled, order.size) == (100, 400)
    # size down at the same price: count = filled 1 + remaining 2; keeps its place (before the later flow order)
    out, events = entry.amend(order.order_id, {"ticker": TK, "side": "bid", "price": "0.45", "count": "3"})
    assert (out["fill_count"], out["remaining_count"]) == ("1.00", "2.00")
    assert m.yes.levels[4500][0] is order and entry.queue_position(order) == 0
    assert of(events, OrderUpdate)[-1].body["last_update_reason"] == "Amend"
    assert of(events, OrderUpdate)[-1].body["initial_count_fp"] == "3.00"
    # size up: to the back
    entry.amend(order.order_id, {"ticker": TK, "side": "bid", "price": "0.45", "count": "4"})
    assert m.yes.levels[4500][-1] is order and entry.queue_position(order) == 200 and order.size == 300
    # a new price: to the back of the new level, deltas - old and + new
    flow_order(m, "yes", "0.46", "1")
    out, events = entry.amend(order.order_id, {"ticker": TK, "side": "bid", "price": "0.46", "count": "4"})
    assert [(d.price, d.delta) for d in of(events, BookDelta)] == [(4500, -300), (4600, 300)]
    assert entry.queue_position(order) == 100
    with pytest.raises(OrderError):  # not more than filled
        entry.amend(order.order_id, {"ticker": TK, "side": "bid", "price": "0.46", "count": "1"})
    with pytest.raises(OrderError):
        entry.amend(order.order_id, {"ticker": TK, "side": "ask", "price": "0.46", "count": "4"})
    # an amend that crosses fills at the resting price
    flow_order(m, "no", "0.50", "1")
    out, events = entry.amend(order.order_id, {"ticker": TK, "side": "bid", "price": "0.52", "count": "4"})
    assert out["fill_count"] == "2.00" and of(events, Trade)[0].yes_price == 5000
    check_books(m)


def test_decrease_keeps_priority_and_reduce_to_zero_cancels() -> None:
    model, entry, m, _clock = setup()
    reply, _ = entry.create(body(price="0.45", count="5", client_order_id="d"))
    flow_order(m, "yes", "0.45", "2")
    order = entry.orders[reply["order_id"]]
    out, events = entry.decrease(order.order_id, {"reduce_by": "2"})
    assert out["remaining_count"] == "3.00" and m.yes.levels[4500][0] is order
    assert of(events, OrderUpdate)[-1].body["last_update_reason"] == "Decrease"
    assert of(events, OrderUpdate)[-1].body["initial_count_fp"] == "5.00"  # fill + remaining < initial
    out, _ = entry.decrease(order.order_id, {"reduce_to": "1.50"})
    assert out["remaining_count"] == "1.50"
    with pytest.raises(OrderError):
        entry.decrease(order.order_id, {"reduce_to": "1", "reduce_by": "1"})
    out, _ = entry.decrease(order.order_id, {"reduce_to": "0"})
    assert out["remaining_count"] == "0.00" and order.status == "canceled"
    assert levels(m)["yes"] == [("0.4500", "2.00")]


# ---- order groups, expiry, balance ---------------------------------------------------------------------


def test_an_order_group_triggers_over_its_rolling_15_s_window() -> None:
    model, entry, m, clock = setup()
    out, events = entry.group_create({"contracts_limit": 5})
    gid = out["order_group_id"]
    assert of(events, GroupUpdate)[0].body["event_type"] == "created"
    reply, _ = entry.create(body(price="0.45", count="20", order_group_id=gid))
    order = entry.orders[reply["order_id"]]
    flow_take(model, m, "no", "3")
    clock.ms += WINDOW_MS + 1  # those 3 leave the window
    flow_take(model, m, "no", "3")
    assert not entry.groups[gid].triggered
    clock.ms += 4_000
    events = flow_take(model, m, "no", "3")  # 6 in the last 15 s > 5
    assert entry.groups[gid].triggered and order.status == "canceled"
    assert [g.body["event_type"] for g in of(events, GroupUpdate)] == ["triggered"]
    assert levels(m)["yes"] == []
    assert len({e.clock for e in events if isinstance(e, BookDelta)}) == 1  # one action, one clock
    with pytest.raises(OrderError):
        entry.create(body(price="0.40", order_group_id=gid))
    entry.group_reset(gid)
    entry.create(body(price="0.40", order_group_id=gid))
    events = entry.group_set_limit(gid, {"contracts_limit_fp": "1.00"})
    assert [g.body["event_type"] for g in of(events, GroupUpdate)] == ["limit_updated"]
    events = entry.group_delete(gid)
    assert [g.body["event_type"] for g in of(events, GroupUpdate)] == ["deleted"] and not entry.resting()


def test_expiry_cancels_with_expiry_cancel_and_bad_expirations_are_refused() -> None:
    model, entry, m, clock = setup()
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.40", expiration_time=T0 // 1000 - 1))
    assert err.value.details == "Expiration timestamp must be in the future"
    with pytest.raises(OrderError):
        entry.create(body(price="0.40", expiration_time=T0 // 1000 + 10, time_in_force="immediate_or_cancel"))
    reply, _ = entry.create(body(price="0.40", expiration_time=T0 // 1000 + 10))
    assert entry.next_expiry_ms() == T0 + 10_000
    clock.ms += 9_999
    assert entry.expire() == []
    clock.ms += 1
    events = entry.expire()
    assert of(events, OrderUpdate)[-1].body["last_update_reason"] == "ExpiryCancel"
    assert entry.orders[reply["order_id"]].status == "canceled" and levels(m)["yes"] == []


def test_collateral_is_checked_and_resting_orders_reserve_it() -> None:
    model, entry, m, _clock = setup(cash_dollars=10)
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.50", count="21"))  # $10.50 + fee
    assert (err.value.status, err.value.code) == (400, "insufficient_balance")
    entry.create(body(price="0.50", count="15"))  # $7.50 reserved
    with pytest.raises(OrderError):
        entry.create(body(side="ask", price="0.50", count="6"))  # $3.00 more on NO
    entry.create(body(side="ask", price="0.60", count="5"))  # $2.00 on NO: fits


# ---- fees by fee_type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee_type", "maker_rate"),
    [("quadratic", "0"), ("quadratic_with_maker_fees", "0.0175"), ("quadratic_with_combo_maker_fees", "0.035")],
)
def test_fees_per_fee_type_exactly(fee_type: str, maker_rate: str) -> None:
    model, entry, m, _clock = setup(fee_type=fee_type)
    entry.create(body(price="0.45", count="3"))
    flow_take(model, m, "no", "3")  # maker fill at 0.45
    flow_order(m, "no", "0.37", "7.5")  # ask 0.63
    entry.create(body(price="0.63", count="7.5", time_in_force="immediate_or_cancel"))
    maker, taker = model.fill_log
    assert (maker.is_taker, taker.is_taker) == (False, True)
    assert f"{Decimal(maker.fee) / 10**6:.6f}" == fee_str(maker_rate, "3", "0.45")
    assert f"{Decimal(taker.fee) / 10**6:.6f}" == fee_str("0.07", "7.5", "0.63")
    assert taker.fee == 122_400  # 0.07 x 7.5 x 0.63 x 0.37 = 0.1223775, rounded up to $0.1224
    assert maker.fee == {"quadratic": 0, "quadratic_with_maker_fees": 13_000}.get(fee_type, 26_000)


# ---- what Kalshi accepts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "price"), [("1", "0.45"), ("1.00", "0.4500"), (1, "0.45"), ("1.0", ".45")])
def test_every_number_form_kalshi_accepts(count: Any, price: str) -> None:
    model, entry, m, _clock = setup()
    reply, _ = entry.create(body(count=count, price=price))
    assert reply["remaining_count"] == "1.00" and levels(m)["yes"] == [("0.4500", "1.00")]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"price": "0.455"}, 400, "invalid_price"),
        ({"price": "1.00"}, 400, "invalid_price"),
        ({"price": "abc"}, 400, "bad_request"),
        ({"count": "0"}, 400, "invalid_order"),
        ({"count": "1.001"}, 400, "invalid_order"),
        ({"count": "-1"}, 400, "invalid_order"),
        ({"time_in_force": "good_till_time"}, 400, "bad_request"),
        ({"self_trade_prevention_type": None}, 400, "bad_request"),
        ({"side": "buy"}, 400, "bad_request"),
        ({"ticker": "KXNOPE-1"}, 404, "market_not_found"),
        ({"post_only": "yes"}, 400, "bad_request"),
        ({"order_group_id": "nope"}, 404, "not_found"),
    ],
)
def test_bad_orders_get_kalshis_errors(change: dict[str, Any], status: int, code: str) -> None:
    model, entry, m, _clock = setup()
    with pytest.raises(OrderError) as err:
        entry.create(body(**change))
    assert (err.value.status, err.value.code) == (status, code)
    assert not entry.orders and levels(m) == {"yes": [], "no": []}


def test_deci_cent_markets_take_deci_cent_prices() -> None:
    model, entry, m, _clock = setup(tick="deci_cent")
    reply, _ = entry.create(body(price="0.455"))
    assert levels(m)["yes"] == [("0.4550", "1.00")]
    with pytest.raises(OrderError):
        entry.create(body(price="0.4555"))


# ---- the built-in user ------------------------------------------------------------------------------------


def test_the_built_in_user_stops_for_good_at_the_first_rest_order() -> None:
    model = ExchangeModel([TK, "KXMATCH-26DEC31-M2"], seed=9)
    entry = OrderEntry(model, starting_cash_micro=10**10)
    model.activate_user()
    for _ in range(20_000):
        model.step()
        if sum(len(m.user.resting) for m in model.market_list if m.user) >= 2:
            break
    auto = [(m, side, p, o.size) for m in model.market_list if m.user for side, (p, o) in m.user.resting.items()]
    assert len(auto) >= 2
    sizes = {(m.ticker, side, p): m.ladder(side).totals[p] for m, side, p, _s in auto}
    reply, events = entry.create(body(price="0.01"))
    canceled = [d for d in of(events, BookDelta) if d.client_order_id and d.client_order_id.startswith("sim-")]
    assert sorted((d.market.ticker, d.side, d.price, -d.delta) for d in canceled) == sorted(
        (m.ticker, side, p, size) for m, side, p, size in auto
    )
    for m, side, p, size in auto:
        assert m.ladder(side).totals.get(p, 0) == sizes[(m.ticker, side, p)] - size
        assert m.user is not None and not m.user.resting
    assert not model.user_active
    model.activate_user()  # a later private subscription does not restart it
    assert not model.user_active
    fills_before = len(model.fill_log)
    for _ in range(3_000):
        model.step()
    assert all(
        f.client_order_id is None or not f.client_order_id.startswith("sim-") for f in model.fill_log[fills_before:]
    )


# ---- consistency under the flow --------------------------------------------------------------------------


def test_books_stay_consistent_with_orders_and_the_flow_interleaved() -> None:
    import random

    model = ExchangeModel([TK], seed=11)
    entry = OrderEntry(model, starting_cash_micro=10**12)
    m = model.markets[TK]
    rng = random.Random(4)
    for _ in range(600):
        for _ in range(5):
            model.step()
        best_yes, best_no = m.yes.best() or 5000, m.no.best() or 5000
        r = rng.random()
        try:
            if r < 0.5:
                side = rng.choice(("bid", "ask"))
                base = best_yes if side == "bid" else 10_000 - best_no
                price = max(100, min(9900, base + rng.choice((-200, -100, 0, 100, 200))))
                entry.create(
                    body(
                        side=side,
                        price=f"{price / 10_000:.2f}",
                        count=str(rng.randint(1, 20)),
                        time_in_force=rng.choice(TIFS),
                        self_trade_prevention_type=rng.choice(("taker_at_cross", "maker")),
                    )
                )
            elif entry.resting():
                o = rng.choice(entry.resting())
                if r < 0.7:
                    entry.cancel(o.order_id)
                elif r < 0.85:
                    entry.decrease(o.order_id, {"reduce_by": "1"})
                else:
                    yes = o.yes_price + rng.choice((-100, 0, 100))
                    entry.amend(
                        o.order_id,
                        {
                            "ticker": TK,
                            "side": "bid" if o.side == "yes" else "ask",
                            "price": f"{max(100, min(9900, yes)) / 10_000:.2f}",
                            "count": f"{(o.filled + o.size) / 100 + rng.choice((-1, 1)):.2f}",
                        },
                    )
        except OrderError:
            pass
        check_books(m)
    for o in entry.order_list:
        assert o.filled + o.size <= o.initial
        in_book = o in m.ladder(o.side).levels.get(o.price, [])
        assert in_book == (o.status == "resting"), (o.status, o.size)
    per_order: dict[str, int] = {}
    for f in model.fill_log:
        per_order[f.order_id] = per_order.get(f.order_id, 0) + f.count
    assert all(per_order.get(o.order_id, 0) == o.filled for o in entry.order_list)
    assert m.user is not None and m.user.position == sum(
        f.count if f.side == "yes" else -f.count for f in model.fill_log
    )
    assert any(f.is_taker for f in model.fill_log) and any(not f.is_taker for f in model.fill_log)


TIFS = ("good_till_canceled", "good_till_canceled", "immediate_or_cancel", "fill_or_kill")


def test_the_legacy_cent_format_takes_whole_contracts_only() -> None:
    model = ExchangeModel([TK], seed=5, fractional_sizes=False)
    entry = OrderEntry(model, starting_cash_micro=10**10)
    with pytest.raises(OrderError) as err:
        entry.create(body(price="0.01", count="1.5"))
    assert err.value.code == "invalid_order"
    reply, _ = entry.create(body(price="0.01", count="2"))
    with pytest.raises(OrderError):
        entry.decrease(reply["order_id"], {"reduce_by": "0.5"})
