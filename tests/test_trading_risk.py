"""Risk rules (trading/risk.py): each rule refuses just past its limit and passes at it, with its one-line reason;
max-loss is sticky until reset."""

from __future__ import annotations

import pytest

from market_making_bot.trading.risk import (
    OK,
    Exposure,
    MarketExposure,
    OrderIntent,
    Refusal,
    RiskCheck,
    RiskLimits,
    Rule,
    build_exposure,
)

SEC = 1_000_000_000


def _exposure(
    position: int = 0, bids: int = 0, asks: int = 0, others: dict[str, MarketExposure] | None = None, **kw: object
) -> Exposure:
    markets = {"KXA": MarketExposure(position, bids, asks), **(others or {})}
    return Exposure(markets=markets, **kw)  # type: ignore[arg-type]


def _refused(result: object, rule: Rule) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.rule is rule and not result.ok
    return result


def test_no_limits_accepts() -> None:
    result = RiskCheck(RiskLimits()).check(OrderIntent("KXA", "bid", 5000, 10**9), _exposure(), 0)
    assert result is OK and result.ok and str(result) == "ok"


def test_max_position_bids_counts_resting_orders_at_the_boundary() -> None:
    risk = RiskCheck(RiskLimits(max_position=1000))
    exposure = _exposure(position=800, bids=300)
    # the example: 8 + 3 + 2 > 10
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 200), exposure, 0), Rule.MAX_POSITION)
    assert str(r) == "max-position KXA: position 8.00 + resting bids 3.00 + order 2.00 > 10.00"
    # 8 + 1 + 1 == 10 passes
    assert risk.check(OrderIntent("KXA", "bid", 5000, 100), _exposure(position=800, bids=100), 0) is OK
    # replacing the resting 3.00 bid by a 2.00 one: 8 + 0 + 2 == 10 passes
    assert risk.check(OrderIntent("KXA", "bid", 5000, 200, replaces=300), exposure, 0) is OK
    # an ask while long lowers the position: never refused by max-position
    assert risk.check(OrderIntent("KXA", "ask", 5000, 1000), exposure, 0) is OK
    assert risk.refusals[Rule.MAX_POSITION] == 1


def test_max_position_asks() -> None:
    risk = RiskCheck(RiskLimits(max_position=1000))
    exposure = _exposure(position=-800, asks=100)
    r = _refused(risk.check(OrderIntent("KXA", "ask", 5000, 101), exposure, 0), Rule.MAX_POSITION)
    assert str(r) == "max-position KXA: position -8.00 - resting asks 1.00 - order 1.01 < -10.00"
    assert risk.check(OrderIntent("KXA", "ask", 5000, 100), exposure, 0) is OK
    # long 5 with 3 resting asks: an ask of 12 can reach 5 - 3 - 12 = -10: passes; 12.01 does not
    exposure = _exposure(position=500, asks=300)
    assert risk.check(OrderIntent("KXA", "ask", 5000, 1200), exposure, 0) is OK
    _refused(risk.check(OrderIntent("KXA", "ask", 5000, 1201), exposure, 0), Rule.MAX_POSITION)


def test_max_total_position() -> None:
    risk = RiskCheck(RiskLimits(max_total_position=2000))
    others = {"KXB": MarketExposure(position=-500, resting_asks=200), "KXC": MarketExposure(resting_bids=300)}
    exposure = _exposure(position=400, bids=100, others=others)  # worst: KXA 5, KXB 7, KXC 3 = 15
    assert risk.check(OrderIntent("KXA", "bid", 5000, 500), exposure, 0) is OK  # 7 + 3 + 10 == 20
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 501), exposure, 0), Rule.MAX_TOTAL_POSITION)
    assert str(r) == "max-total-position: other markets 10.00 + KXA 10.01 with this order > 20.00"
    # an ask of 5 on KXA (short side -4 + 5 = 1) does not raise its worst case (5): passes
    assert risk.check(OrderIntent("KXA", "ask", 5000, 500), exposure, 0) is OK
    # already over the limit (a fill beyond it): an order that does not raise the worst case still passes
    over = _exposure(position=2500, others=others)
    assert risk.check(OrderIntent("KXA", "ask", 5000, 1000), over, 0) is OK
    _refused(risk.check(OrderIntent("KXA", "bid", 5000, 1), over, 0), Rule.MAX_TOTAL_POSITION)


def test_max_order_size_and_open_orders() -> None:
    risk = RiskCheck(RiskLimits(max_order_size=500, max_open_orders=3))
    assert risk.check(OrderIntent("KXA", "bid", 5000, 500), _exposure(open_orders=2), 0) is OK
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 501), _exposure(), 0), Rule.MAX_ORDER_SIZE)
    assert str(r) == "max-order-size KXA: order 5.01 > 5.00"
    _refused(risk.check(OrderIntent("KXA", "bid", 5000, 0), _exposure(), 0), Rule.MAX_ORDER_SIZE)
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 100), _exposure(open_orders=3), 0), Rule.MAX_OPEN_ORDERS)
    assert str(r) == "max-open-orders: 3 open + 1 > 3"
    # a replacement does not add an order
    assert risk.check(OrderIntent("KXA", "bid", 5000, 100, replaces=100), _exposure(open_orders=3), 0) is OK


def test_book_not_usable() -> None:
    risk = RiskCheck(RiskLimits())
    exposure = Exposure(markets={"KXA": MarketExposure(book_usable=False, unusable_reason="sequence gap on sid 1")})
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 100), exposure, 0), Rule.BOOK_NOT_USABLE)
    assert str(r) == "book-not-usable KXA: sequence gap on sid 1"
    r = _refused(risk.check(OrderIntent("KXZ", "bid", 5000, 100), exposure, 0), Rule.BOOK_NOT_USABLE)
    assert str(r) == "book-not-usable KXZ: no book for this market"


def test_max_loss_is_sticky_until_reset() -> None:
    risk = RiskCheck(RiskLimits(max_loss=5_000_000))
    intent = OrderIntent("KXA", "bid", 5000, 100)
    assert risk.check(intent, _exposure(total_pnl=-5_000_000), 0) is OK  # equal to -D passes
    assert risk.tripped is None
    r = _refused(risk.check(intent, _exposure(total_pnl=-5_000_001), 0), Rule.MAX_LOSS)
    assert str(r) == "max-loss: total P&L -5.000001 < -5.000000; quoting stopped until reset"
    assert risk.tripped == r
    # the P&L comes back: still refused (sticky), and observe reports nothing new
    _refused(risk.check(intent, _exposure(total_pnl=1_000_000), 0), Rule.MAX_LOSS)
    assert risk.observe(-10_000_000) is None
    risk.reset()
    assert risk.check(intent, _exposure(total_pnl=1_000_000), 0) is OK
    # observe trips it between orders (the caller then cancels everything)
    tripped = risk.observe(-6_000_000)
    assert tripped is not None and tripped.rule is Rule.MAX_LOSS and risk.tripped is tripped
    # an unknown P&L never trips it by itself
    fresh = RiskCheck(RiskLimits(max_loss=0))
    assert fresh.observe(None) is None and fresh.check(intent, _exposure(total_pnl=None), 0) is OK


def test_orders_per_second_sliding_window() -> None:
    risk = RiskCheck(RiskLimits(max_orders_per_second=3))
    intent = OrderIntent("KXA", "bid", 5000, 100)
    exposure = _exposure()
    t0 = 10 * SEC
    assert all(risk.check(intent, exposure, t0 + i) is OK for i in range(3))  # 3 in a second: at the cap, passes
    r = _refused(risk.check(intent, exposure, t0 + SEC - 1), Rule.ORDERS_PER_SECOND)
    assert str(r) == "orders-per-second: 3 orders in the last second >= 3"
    # a refused check does not count; one second after the first, its slot is free again
    assert risk.check(intent, exposure, t0 + SEC) is OK
    _refused(risk.check(intent, exposure, t0 + SEC), Rule.ORDERS_PER_SECOND)


def test_rule_order_max_loss_first() -> None:
    risk = RiskCheck(RiskLimits(max_loss=0, max_order_size=1))
    exposure = Exposure(markets={"KXA": MarketExposure(book_usable=False)}, total_pnl=-1)
    _refused(risk.check(OrderIntent("KXA", "bid", 5000, 100), exposure, 0), Rule.MAX_LOSS)


def test_bad_limits() -> None:
    with pytest.raises(ValueError, match="max-position must be a non-negative integer"):
        RiskLimits(max_position=-1)
    with pytest.raises(ValueError, match="max-loss"):
        RiskLimits(max_loss=1.5)  # type: ignore[arg-type]


def test_build_exposure_from_plain_mappings() -> None:
    exposure = build_exposure(
        positions={"KXA": 800, "KXC": 100},
        resting={"KXA": (300, 100)},
        unusable={"KXA": None, "KXB": "waiting for a snapshot"},
        open_orders=2,
        total_pnl=-5,
    )
    assert exposure.markets == {
        "KXA": MarketExposure(800, 300, 100),
        "KXB": MarketExposure(book_usable=False, unusable_reason="waiting for a snapshot"),
    }
    assert (exposure.open_orders, exposure.total_pnl) == (2, -5)
    risk = RiskCheck(RiskLimits(max_position=1000))
    r = _refused(risk.check(OrderIntent("KXA", "bid", 5000, 200), exposure, 0), Rule.MAX_POSITION)
    assert str(r) == "max-position KXA: position 8.00 + resting bids 3.00 + order 2.00 > 10.00"
    _refused(risk.check(OrderIntent("KXC", "bid", 5000, 1), exposure, 0), Rule.BOOK_NOT_USABLE)
