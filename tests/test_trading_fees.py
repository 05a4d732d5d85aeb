"""Kalshi's trade fee (trading/fees.py): the real fill of PROTOCOL.md 10b.9, hand-computed cases, and a property
against a ``fractions.Fraction`` twin of REST.md 6.8's formula."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_making_bot.trading.fees import (
    FeeSchedule,
    FeeType,
    FlatFeeTable,
    balance_rounding,
    ceil_to,
    trade_fee,
)
from market_making_bot.units import PRICE_SCALE, parse_money_dollars, parse_price_dollars, parse_size_fp


def test_real_fill_rounds_up_to_a_hundredth_of_a_cent() -> None:
    # PROTOCOL.md 10b.9: a computed 0.054521 is reported as fee_cost "0.054600". 0.07 x 5.52 x 0.17 x 0.83 =
    # 0.05452104 is the fill that gives it.
    fee = trade_fee(parse_price_dollars("0.1700"), parse_size_fp("5.52"), taker=True)
    assert fee == parse_money_dollars("0.054600")


def test_same_fee_priced_on_yes_or_no() -> None:
    size = parse_size_fp("5.52")
    assert trade_fee(1700, size, taker=True) == trade_fee(PRICE_SCALE - 1700, size, taker=True) == 54_600


@pytest.mark.parametrize(
    ("fee_type", "price", "size", "taker", "expected"),
    [
        # PROTOCOL.md 8b: 100 contracts at $0.50 as taker: 0.07 x 100 x 0.25 = $1.75 exactly, no rounding.
        ("quadratic", 5000, 10_000, True, "1.750000"),
        # quadratic charges makers nothing.
        ("quadratic", 5000, 10_000, False, "0.000000"),
        # 0.0175 x 100 x 0.25 = 0.4375.
        ("quadratic_with_maker_fees", 5000, 10_000, False, "0.437500"),
        ("quadratic_with_maker_fees", 5000, 10_000, True, "1.750000"),
        # 0.035 x 100 x 0.25 = 0.875.
        ("quadratic_with_combo_maker_fees", 5000, 10_000, False, "0.875000"),
        # 1 contract at $0.01: 0.07 x 0.0099 = 0.000693 -> 0.0007.
        ("quadratic", 100, 100, True, "0.000700"),
        # 0.01 contract at $0.50: 0.07 x 0.01 x 0.25 = 0.000175 -> 0.0002.
        ("quadratic", 5000, 1, True, "0.000200"),
        # 10 contracts at $0.45: 0.07 x 10 x 0.2475 = 0.17325 -> 0.1733.
        ("quadratic", 4500, 1000, True, "0.173300"),
        # maker 0.0175 x 3 x 0.3 x 0.7 = 0.011025 -> 0.0111.
        ("quadratic_with_maker_fees", 3000, 300, False, "0.011100"),
        # Prices 0 and $1 and a zero count cost nothing.
        ("quadratic", 0, 10_000, True, "0.000000"),
        ("quadratic", PRICE_SCALE, 10_000, True, "0.000000"),
        ("quadratic", 5000, 0, True, "0.000000"),
    ],
)
def test_hand_computed(fee_type: str, price: int, size: int, taker: bool, expected: str) -> None:
    assert trade_fee(price, size, taker=taker, fee_type=fee_type) == parse_money_dollars(expected)


def test_multiplier_scales_before_rounding() -> None:
    # m = 0.5 (as REST gives it, a Decimal): 0.5 x 0.07 x 10 x 0.2475 = 0.086625 -> 0.0867 (not 0.1733 / 2).
    assert trade_fee(4500, 1000, taker=True, multiplier=Decimal("0.5")) == 86_700
    assert trade_fee(4500, 1000, taker=True, multiplier=Fraction(1, 2)) == 86_700
    assert trade_fee(4500, 1000, taker=True, multiplier=2) == 346_500
    assert trade_fee(4500, 1000, taker=True, multiplier=0) == 0


def test_flat_table() -> None:
    flat = FlatFeeTable(taker_per_contract=10_000, maker_per_contract=2_500, by_price={100: (1_000, 0)})
    schedule = FeeSchedule.of("flat", 1, flat)
    assert schedule.fee(5000, 300, taker=True) == 30_000  # 3 contracts x $0.01
    assert schedule.fee(5000, 300, taker=False) == 7_500
    # 0.33 contract x $0.0025 = $0.000825 -> $0.0009
    assert schedule.fee(5000, 33, taker=False) == 900
    # the table's price, looked up on YES or NO
    assert schedule.fee(100, 100, taker=True) == schedule.fee(PRICE_SCALE - 100, 100, taker=True) == 1_000
    with pytest.raises(ValueError, match="flat"):
        FeeSchedule.of("flat")


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown fee_type 'cubic'"):
        FeeSchedule.of("cubic")
    with pytest.raises(TypeError, match="float"):
        FeeSchedule.of("quadratic", 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        FeeSchedule.of("quadratic", -1)
    with pytest.raises(ValueError, match="price"):
        trade_fee(10_001, 100, taker=True)
    with pytest.raises(ValueError, match="size"):
        trade_fee(5000, -1, taker=True)


def test_ceil_to_and_balance_rounding() -> None:
    assert ceil_to(1, 100) == 100 and ceil_to(100, 100) == 100 and ceil_to(-150, 100) == -100
    # $0.173300 fee on a $4.50 buy: change -4.673300 floored to the cent is -4.68, rounding fee 0.006700.
    assert balance_rounding(-4_673_300) == (-4_680_000, 6_700)
    assert balance_rounding(1_234_567, precision=100) == (1_234_500, 67)
    with pytest.raises(ValueError):
        balance_rounding(1, 0)


_RATES = {
    FeeType.QUADRATIC: (Fraction(7, 100), Fraction(0)),
    FeeType.QUADRATIC_WITH_MAKER_FEES: (Fraction(7, 100), Fraction(175, 10_000)),
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: (Fraction(7, 100), Fraction(35, 1000)),
}


def _twin(fee_type: FeeType, m: Fraction, price: int, size: int, taker: bool) -> int:
    """REST.md 6.8 in dollars, with Fractions: ceil_to_0.0001(m x r x C x P x (1 - P)), then in micro-dollars."""
    r = _RATES[fee_type][0 if taker else 1]
    p = Fraction(price, 10_000)
    dollars = m * r * Fraction(size, 100) * p * (1 - p)
    return math.ceil(dollars * 10_000) * 100


@settings(max_examples=300, deadline=None)
@given(
    fee_type=st.sampled_from(list(_RATES)),
    m=st.fractions(min_value=0, max_value=5, max_denominator=1000),
    price=st.integers(0, PRICE_SCALE),
    size=st.integers(0, 10**9),
    taker=st.booleans(),
)
def test_property_matches_fraction_twin(fee_type: FeeType, m: Fraction, price: int, size: int, taker: bool) -> None:
    schedule = FeeSchedule(fee_type, m)
    fee = schedule.fee(price, size, taker)
    assert fee == _twin(fee_type, m, price, size, taker)
    assert fee % 100 == 0
    assert fee == schedule.fee(PRICE_SCALE - price, size, taker)
