"""Integer units used inside the simulator, and their wire spellings.

Everything is an ``int``; nothing is ever a float:

* a **price** is in 1/10,000 dollar (``ONE`` = $1.0000), so a cent is 100 and a deci-cent is 10;
* a **size** (contracts) is in 1/100 contract, so one contract is 100;
* **money** (fees, costs, P&L) is in 1/1,000,000 dollar.

The formatters produce Kalshi's fixed-point strings: prices with 4 decimals, sizes with 2 and
money with 6. The legacy helpers produce the integer cents and whole contracts of the old format
and refuse values that are not on that coarser grid rather than rounding them.
"""

from __future__ import annotations

import datetime as _dt
import time as _time

ONE = 10_000
"""$1 in price units."""

CONTRACT = 100
"""One contract in size units."""

MICRO_PER_DOLLAR = 1_000_000

TICKS: dict[str, int] = {"cent": 100, "deci_cent": 10}
"""Supported tick structures (``price_level_structure`` names) and their step in price units."""


def fmt_price(price: int) -> str:
    """``4500`` -> ``"0.4500"``."""
    if price < 0:
        raise ValueError(f"negative price {price}")
    return f"{price // ONE}.{price % ONE:04d}"


def fmt_size(size: int) -> str:
    """``1250`` -> ``"12.50"``; signed: ``-500`` -> ``"-5.00"``."""
    sign = "-" if size < 0 else ""
    size = abs(size)
    return f"{sign}{size // CONTRACT}.{size % CONTRACT:02d}"


def fmt_money(micro: int) -> str:
    """``17500`` -> ``"0.017500"``; signed."""
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    return f"{sign}{micro // MICRO_PER_DOLLAR}.{micro % MICRO_PER_DOLLAR:06d}"


def cents(price: int) -> int:
    """Price units -> integer cents (legacy wire). Refuses sub-penny prices."""
    if price % 100:
        raise ValueError(f"price {fmt_price(price)} is not a whole cent")
    return price // 100


def whole(size: int) -> int:
    """Size units -> whole contracts (legacy wire). Refuses fractional sizes."""
    if size % CONTRACT:
        raise ValueError(f"size {fmt_size(size)} is not a whole number of contracts")
    return size // CONTRACT


def centi_cents(micro: int) -> int:
    """Money in micro-dollars -> centi-cents (1/10,000 dollar, legacy ``market_position``), floored.

    Fees are always whole centi-cents; an average cost basis after a partial close may not be.
    """
    return micro // 100


def now_ms() -> int:
    """Wall-clock Unix time in milliseconds (the server's ``ts_ms`` and ``sending_ts_ms``)."""
    return _time.time_ns() // 1_000_000


_last_second: list[object] = [None, ""]


def rfc3339_ms(ts_ms: int) -> str:
    """Unix milliseconds -> ``"2026-08-07T06:46:28.978Z"``."""
    second = ts_ms // 1000
    if _last_second[0] != second:  # one strftime per second of timestamps
        dt = _dt.datetime.fromtimestamp(second, tz=_dt.timezone.utc)
        _last_second[0] = second
        _last_second[1] = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_last_second[1]}.{ts_ms % 1000:03d}Z"


def rfc3339_us(ts_us: int) -> str:
    """Unix microseconds -> ``"2026-08-07T06:46:28.97871Z"``: trailing zeros of the fraction trimmed,
    as the production server writes ``ts`` (1 to 6 digits; a whole second would have none)."""
    second = ts_us // 1_000_000
    if _last_second[0] != second:
        dt = _dt.datetime.fromtimestamp(second, tz=_dt.timezone.utc)
        _last_second[0] = second
        _last_second[1] = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ts_us % 1_000_000:06d}".rstrip("0")
    return f"{_last_second[1]}.{frac}Z" if frac else f"{_last_second[1]}Z"


def parse_price(text: str) -> int:
    """``"0.45"``/``"0.4500"`` -> ``4500``; refuses more than 4 decimals (never rounds)."""
    whole_part, _, frac = text.strip().partition(".")
    if len(frac) > 4 or not (whole_part.isdigit() and (frac.isdigit() or frac == "")):
        raise ValueError(f"not a price: {text!r}")
    return int(whole_part) * ONE + int((frac or "0").ljust(4, "0"))
