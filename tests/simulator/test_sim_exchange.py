"""The exchange model: fills, fees and positions that add up; determinism; ticks; legacy cents."""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

import pytest

from market_making_bot.simulator import ExchangeModel, FaultSpec, SimulatorConfig, kalshi_fee
from market_making_bot.simulator.model import BookDelta, Fill, Position, Ticker, Trade
from market_making_bot.simulator.units import ONE, fmt_money, fmt_price, fmt_size, parse_price

from .helpers import rebuild, truth_books

ALL = ["orderbook_delta", "ticker", "trade", "fill", "market_positions"]


def spec_fee(rate: str, count: str, price: Decimal) -> Decimal:
    """PROTOCOL 8b: rate x C x P x (1 - P), rounded up to $0.0001."""
    raw = Decimal(rate) * Decimal(count) * price * (1 - price)
    return raw.quantize(Decimal("0.0001"), rounding=ROUND_CEILING)


def test_fee_formula_examples() -> None:
    # 100 contracts at $0.50 as taker: 0.07 x 100 x 0.25 = $1.75
    assert kalshi_fee(Fraction(7, 100), 100_00, 5000) == 1_750_000
    # rounded up to the next $0.0001: 0.0175 x 1 x 0.45 x 0.55 = 0.00433125 -> 0.0044
    assert kalshi_fee(Fraction(175, 10_000), 100, 4500) == 4_400
    assert fmt_money(kalshi_fee(Fraction(7, 100), 1, 100)) == "0.000100"  # 0.01 contract at $0.01: tiny, up


def test_units_formatting() -> None:
    assert fmt_price(4500) == "0.4500" and fmt_price(5) == "0.0005" and fmt_price(ONE) == "1.0000"
    assert fmt_size(1250) == "12.50" and fmt_size(-500) == "-5.00" and fmt_size(0) == "0.00"
    assert fmt_money(-17500) == "-0.017500"
    assert parse_price("0.45") == 4500 and parse_price("0.4550") == 4550
    with pytest.raises(ValueError):
        parse_price("0.45501")


def _run(model: ExchangeModel, steps: int) -> list[Any]:
    out = []
    for _ in range(steps):
        out.extend(model.step())
    return out


def test_model_books_never_cross_and_levels_stay_positive() -> None:
    for tick in ("cent", "deci_cent"):
        model = ExchangeModel(["A", "B"], seed=3, tick=tick)
        model.activate_user()
        step = model.tick
        for _ in range(20_000):
            for ev in model.step():
                if isinstance(ev, BookDelta):
                    assert ev.price % step == 0 and 0 < ev.price < ONE
                    assert ev.delta != 0
            for m in model.market_list:
                assert not m.crossed()
        for m in model.market_list:
            for ladder in (m.yes, m.no):
                assert all(total > 0 for total in ladder.totals.values())
                assert ladder.prices == sorted(ladder.totals)
                for price, queue in ladder.levels.items():
                    assert sum(o.size for o in queue) == ladder.totals[price]


def test_model_is_deterministic_for_a_seed() -> None:
    def trace(seed: int) -> list[tuple[Any, ...]]:
        model = ExchangeModel(["A", "B", "C"], seed=seed, now_ms=lambda: 0)
        model.activate_user()
        out: list[tuple[Any, ...]] = []
        for ev in _run(model, 3000):
            if isinstance(ev, BookDelta):
                out.append(("d", ev.market.ticker, ev.side, ev.price, ev.delta, ev.clock))
            elif isinstance(ev, Trade):
                out.append(("t", ev.trade_id, ev.yes_price, ev.count, ev.taker_side))
            elif isinstance(ev, Fill):
                out.append(("f", ev.trade_id, ev.order_id, ev.fee, ev.post_position))
        return out

    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


def test_user_position_accounting_nets_yes_against_no() -> None:
    from market_making_bot.simulator.model import UserBook

    u = UserBook()
    u.apply_buy("yes", 4000, 10_00, 0)  # +10 YES at 0.40
    u.apply_buy("no", 5500, 4_00, 0)  # buy 4 NO at 0.55: closes 4 pairs, each pays $1
    assert u.position == 6_00
    assert u.cost == 6_00 * 4000  # 6 YES left at 0.40
    assert u.realized_pnl == 4 * (1_000_000 - 400_000 - 550_000)  # $0.05 per pair
    u.apply_buy("no", 5000, 10_00, 0)  # closes 6, opens 4 NO
    assert u.position == -4_00 and u.cost == 4_00 * 5000


async def test_fills_fees_and_positions_add_up(make_sim, open_client):
    sim = await make_sim(rate=4000, duration=1.2, seed=31, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ALL, "market_tickers": list(sim.model.markets)})
    await c.recv_until(lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "market_positions")
    assert sim.model.user_active, "a private subscription starts the simulated user"
    sim.start_flow()
    await sim.wait_quiet(timeout=15)
    await c.drain()
    fills = [f["msg"] for f in c.frames if f["type"] == "fill"]
    positions = [f["msg"] for f in c.frames if f["type"] == "market_position"]
    assert len(fills) >= 5, "expected the user to trade"
    assert len(fills) == len(positions) == sim.truth()["fills"]
    assert {m["is_taker"] for m in fills} == {True, False}
    trade_ids = {f["msg"]["trade_id"] for f in c.frames if f["type"] == "trade"}
    running: dict[str, Decimal] = defaultdict(Decimal)
    fees: dict[str, Decimal] = defaultdict(Decimal)
    volume: dict[str, Decimal] = defaultdict(Decimal)
    for fill, pos in zip(fills, positions, strict=True):
        t = fill["market_ticker"]
        assert fill["trade_id"] in trade_ids, "every fill is one of the public trades"
        count = Decimal(fill["count_fp"])
        running[t] += count if fill["outcome_side"] == "yes" else -count
        assert Decimal(fill["post_position_fp"]) == running[t]
        price = Decimal(fill["yes_price_dollars"])
        own = price if fill["outcome_side"] == "yes" else 1 - price
        rate = "0.07" if fill["is_taker"] else "0.0175"
        assert Decimal(fill["fee_cost"]) == spec_fee(rate, fill["count_fp"], own), fill
        assert len(fill["fee_cost"].split(".")[1]) == 6
        assert fill["book_side"] == ("bid" if fill["outcome_side"] == "yes" else "ask")
        fees[t] += Decimal(fill["fee_cost"])
        volume[t] += count
        assert pos["market_ticker"] == t
        assert Decimal(pos["position_fp"]) == running[t]
        assert Decimal(pos["fees_paid_dollars"]) == fees[t]
        assert Decimal(pos["volume_fp"]) == volume[t]
        assert Decimal(pos["position_cost_dollars"]) >= 0
    truth = sim.truth()
    for t, m in truth["markets"].items():
        if t in running:
            assert m["position"] == f"{running[t]:.2f}"
        else:
            assert m["position"] is None
    # a user's resting orders are part of the book: the book still equals the truth
    assert {t: b.as_truth() for t, b in rebuild(c.frames).items()} == truth_books(truth)


def _strip_times(frame: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in frame.items() if k != "sending_ts_ms"}
    if isinstance(out.get("msg"), dict):
        out["msg"] = {k: v for k, v in out["msg"].items() if k not in ("ts", "ts_ms", "time")}
    return out


async def _frames_of_run(make_sim, open_client, seed: int) -> list[dict[str, Any]]:
    sim = await make_sim(rate=3000, duration=0.5, seed=seed, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ALL, "market_tickers": list(sim.model.markets)})
    await c.recv_until(lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "market_positions")
    sim.start_flow()
    await sim.wait_quiet(timeout=15)
    await c.drain()
    # the flow is paced by the clock, so a run may make a few more or fewer steps: compare what both made
    return [_strip_times(f) for f in c.frames]


async def test_same_seed_same_frames(make_sim, open_client):
    a = await _frames_of_run(make_sim, open_client, 77)
    b = await _frames_of_run(make_sim, open_client, 77)
    n = min(len(a), len(b))
    assert n > 500
    assert a[: n - 20] == b[: n - 20]
    c = await _frames_of_run(make_sim, open_client, 78)
    assert a[:200] != c[:200]


async def test_deci_cent_ticks(make_sim, open_client):
    sim = await make_sim(rate=2000, duration=0.5, seed=41, tick="deci_cent", start_paused=True)
    c = await open_client(sim)
    await c.send(
        "subscribe", {"channels": ["orderbook_delta", "trade"], "market_tickers": list(sim.model.markets)}
    )
    await c.recv_until(lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "trade")
    sim.start_flow()
    await sim.wait_quiet(timeout=15)
    await c.drain()
    prices = [Decimal(f["msg"]["price_dollars"]) for f in c.frames if f["type"] == "orderbook_delta"]
    assert all(p == p.quantize(Decimal("0.001")) for p in prices)
    assert any(p != p.quantize(Decimal("0.01")) for p in prices), "sub-penny prices expected"
    assert {t: b.as_truth() for t, b in rebuild(c.frames).items()} == truth_books(sim.truth())


async def test_legacy_cents_wire_rebuilds_to_the_truth(make_sim, open_client):
    sim = await make_sim(rate=3000, duration=0.6, seed=51, legacy_cents=True, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ALL, "market_tickers": list(sim.model.markets)})
    await c.recv_until(lambda f: f["type"] == "subscribed" and f["msg"]["channel"] == "market_positions")
    sim.start_flow()
    await sim.wait_quiet(timeout=15)
    await c.drain()
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in c.frames:
        by_type[f["type"]].append(f["msg"])
    snap = by_type["orderbook_snapshot"][0]
    assert all(isinstance(p, int) and isinstance(s, int) for p, s in snap["yes"] + snap["no"])
    delta = by_type["orderbook_delta"][0]
    assert isinstance(delta["price"], int) and isinstance(delta["delta"], int) and 1 <= delta["price"] <= 99
    tick = by_type["ticker"][0]
    assert all(
        isinstance(tick[k], int) for k in ("price", "yes_bid", "yes_ask", "volume", "open_interest", "ts")
    )
    trade = by_type["trade"][0]
    assert trade["yes_price"] + trade["no_price"] == 100 and isinstance(trade["count"], int)
    for fill, pos in zip(by_type["fill"], by_type["market_position"], strict=True):
        assert isinstance(fill["yes_price"], int) and isinstance(fill["count"], int)
        assert pos["position"] == fill["post_position"]
        assert isinstance(pos["fees_paid"], int)  # centi-cents
    assert {t: b.as_truth() for t, b in rebuild(c.frames, legacy=True).items()} == truth_books(sim.truth())


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="tick cent"):
        SimulatorConfig(legacy_cents=True, tick="deci_cent").validate()
    with pytest.raises(ValueError):
        SimulatorConfig(tick="tapered").validate()
    with pytest.raises(ValueError):
        SimulatorConfig(rate=0).validate()


def test_fault_spec_parsing() -> None:
    assert FaultSpec.parse("gap:every=50") == FaultSpec("gap", every=50)
    assert FaultSpec.parse("disconnect:at=1000") == FaultSpec("disconnect", at=1000)
    assert FaultSpec.parse("stall:at=3:for=1.5") == FaultSpec("stall", at=3, seconds=1.5)
    assert FaultSpec.parse("auth-reject").count == 1
    assert FaultSpec.parse("auth-reject:count=all").count is None
    assert FaultSpec.parse("deny-private").count is None
    assert FaultSpec.parse("gap").at == 0
    assert str(FaultSpec.parse("gap:every=50")) == "gap:every=50"
    for bad in ("bogus", "gap:every=0", "gap:every=5:at=3", "gap:sometimes", "gap:every=x", "stall:for=-1"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)


def test_ticker_event_of_an_empty_side() -> None:
    model = ExchangeModel(["A"], seed=1)
    m = model.markets["A"]
    for price in list(m.no.prices):
        for order in list(m.no.levels[price]):
            m.no.reduce(price, order, order.size)
    t = Ticker(m, 0)
    assert t.yes_ask == ONE and t.yes_ask_size == 0
    assert math.isclose(len(m.no.prices), 0)


def test_position_event_type() -> None:
    model = ExchangeModel(["A"], seed=2)
    model.activate_user()
    events = _run(model, 5000)
    assert any(isinstance(e, Position) for e in events)
