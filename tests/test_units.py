from __future__ import annotations

from decimal import Decimal

import pytest

from market_making_bot.units import (
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    centicents_to_money,
    cents_to_price,
    count_to_size,
    format_cents,
    format_money,
    format_size,
    money_str,
    parse_money_dollars,
    parse_price_dollars,
    parse_size_fp,
    price_str,
    size_str,
    whole_dollars_to_money,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.4500", 4500),
        ("0.45", 4500),
        ("0.450000", 4500),  # trailing zeros are on the grid
        ("0.0100", 100),
        ("0.01", 100),
        ("0.0001", 1),
        ("0.455", 4550),
        ("0.4525", 4525),
        ("0", 0),
        ("1.0000", PRICE_SCALE),
        ("0.080", 800),  # 3-decimal twins of the 2025 migration
    ],
)
def test_parse_price_dollars(text: str, units: int) -> None:
    assert parse_price_dollars(text) == units
    assert parse_price_dollars(text) == units  # second call hits the cache
    assert units == int(Decimal(text) * PRICE_SCALE)


@pytest.mark.parametrize(
    "bad", ["0.45001", "0.00005", "1.0001", "-0.0100", "", " 0.45", "0.45 ", ".45", "1e-2", "nan", "0,45", "1_0", "+"]
)
def test_parse_price_dollars_rejects_off_grid_and_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_price_dollars(bad)


def test_parse_price_refuses_integers_and_bools() -> None:
    for bad in (45, 0, True):
        with pytest.raises(ValueError):
            parse_price_dollars(bad)  # type: ignore[arg-type]


def test_parse_price_float_uses_exact_decimal_text() -> None:
    assert parse_price_dollars(0.45) == 4500
    assert parse_price_dollars(0.0001) == 1
    with pytest.raises(ValueError):
        parse_price_dollars(0.1 + 0.2)  # 0.30000000000000004: off the grid, never rounded
    with pytest.raises(ValueError):
        parse_price_dollars(float("nan"))


@pytest.mark.parametrize(
    ("text", "units"),
    [("100.00", 10000), ("12.50", 1250), ("-3.13", -313), ("0.01", 1), ("966425.00", 96642500), ("5.1", 510)],
)
def test_parse_size_fp(text: str, units: int) -> None:
    assert parse_size_fp(text) == units


def test_parse_size_fp_rejects_off_grid() -> None:
    with pytest.raises(ValueError):
        parse_size_fp("1.005")


@pytest.mark.parametrize(
    ("value", "units"),
    [
        ("0.010000", 10000),
        ("50.0000", 50 * MONEY_SCALE),
        ("-0.12", -120000),
        ("0.000001", 1),
        (0.045, 45000),
        (1e-06, 1),
    ],
)
def test_parse_money_dollars(value: str | float, units: int) -> None:
    assert parse_money_dollars(value) == units


def test_parse_money_rejects_seventh_decimal() -> None:
    with pytest.raises(ValueError):
        parse_money_dollars("0.0000001")


def test_legacy_converters() -> None:
    assert cents_to_price(45) == 4500
    assert cents_to_price(0) == 0 and cents_to_price(100) == PRICE_SCALE
    assert count_to_size(100) == 100 * SIZE_SCALE
    assert count_to_size(-5) == -500
    assert centicents_to_money(5000) == 500000  # $0.50
    assert whole_dollars_to_money(3) == 3 * MONEY_SCALE
    for bad in (101, -1, 45.0, "45", True):
        with pytest.raises(ValueError):
            cents_to_price(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        count_to_size(1.5)  # type: ignore[arg-type]


def test_formatting() -> None:
    assert format_cents(4500) == "45¢"
    assert format_cents(4550) == "45.5¢"
    assert format_cents(4525) == "45.25¢"
    assert format_cents(1) == "0.01¢"
    assert format_cents(-200) == "-2¢"
    assert format_size(100000) == "1000"
    assert format_size(1250) == "12.50"
    assert format_size(-10000) == "-100"
    assert format_size(-313) == "-3.13"
    assert price_str(4500) == "0.4500"
    assert price_str(PRICE_SCALE) == "1.0000"
    assert price_str(-100) == "-0.0100"
    assert size_str(10000) == "100.00"
    assert size_str(-5) == "-0.05"
    assert money_str(10000) == "0.010000"
    assert format_money(1750000) == "$1.75"
    assert format_money(45000) == "$0.045"
    assert format_money(-500000) == "-$0.50"


def test_round_trip_every_price_on_the_grid() -> None:
    for units in range(PRICE_SCALE + 1):
        assert parse_price_dollars(price_str(units)) == units
