"""Fixed-point units used everywhere inside the project, and the conversions at its edges.

Internally every quantity is an ``int``:

* price: 1/10,000 dollar (``PRICE_SCALE``), so ``"0.4550"`` is ``4550`` and 45 cents is ``4500``;
* size: 1/100 contract (``SIZE_SCALE``), so ``"12.50"`` is ``1250`` and 100 contracts is ``10000``;
* money: 1/1,000,000 dollar (``MONEY_SCALE``), so ``"0.010000"`` is ``10000``.

Parsing is exact: a value that is not on its grid raises ``ValueError`` and is never rounded. The unit of a wire
value is decided by its field name (``*_dollars`` / ``*_fp`` strings versus legacy integer cents and counts), so the
parsers for dollar strings refuse integers and the legacy converters refuse strings.
"""

from __future__ import annotations

import re
from itertools import islice

PRICE_SCALE = 10_000
SIZE_SCALE = 100
MONEY_SCALE = 1_000_000

_PRICE_PLACES = 4
_SIZE_PLACES = 2
_MONEY_PLACES = 6

# Plain decimal notation only: optional sign, digits, optional fraction. int() alone would also accept spaces,
# underscores and non-ASCII digits.
_DECIMAL = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
# repr() of a float may use exponent notation (1e-06); only floats go through this one.
_FLOAT_REPR = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?(?:e([+-]?[0-9]+))?")

# Bounded caches of string -> int parses. Wire values repeat a lot (the set of distinct price strings is at most a
# few thousand), so a dict hit replaces the regex and int() work. When a cache is full its older half is forgotten.
_CACHE_LIMIT = 65_536
_TOTAL_CACHE_LIMIT = 8_192
_price_cache: dict[str, int] = {}
_size_cache: dict[str, int] = {}
_money_cache: dict[str, int] = {}
_total_cache: dict[str, int] = {}
"""A ticker's running totals (volume, open interest) take many distinct values that seldom repeat: kept apart, in a
smaller cache, so that they do not push the sizes of book levels and deltas out of ``_size_cache``."""


def _parse_decimal(text: str, places: int, what: str) -> int:
    """Exact value of the decimal string ``text`` in units of 10**-places; ValueError if off that grid."""
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise ValueError(f"{what} {text!r} is not a plain decimal number")
    sign, whole, frac = m.groups()
    frac = frac or ""
    if len(frac) > places:
        if frac[places:].strip("0"):
            raise ValueError(f"{what} {text!r} has more than {places} decimals")
        frac = frac[:places]
    value: int = int(whole) * 10**places + int(frac.ljust(places, "0"))
    return -value if sign == "-" else value


def _float_text(value: float, what: str) -> str:
    """The exact decimal text of a float as written on the wire (shortest repr), in plain notation."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} {value!r} is not a finite number")
    m = _FLOAT_REPR.fullmatch(repr(value))
    if m is None:  # pragma: no cover - repr of a finite float always matches
        raise ValueError(f"{what} {value!r} cannot be read")
    sign, whole, frac, exp = m.groups()
    digits = whole + (frac or "")
    point = len(whole) + int(exp or 0)
    if point <= 0:
        digits, point = "0" * (1 - point) + digits, 1
    elif point > len(digits):
        digits += "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:] or '0'}"


def _parse_canonical(text: str, places: int) -> int | None:
    """Fast exact parse of the canonical wire shape: optional ``-``, ASCII digits, ``.``, exactly ``places`` digits
    (``"0.4500"``, ``"-54.00"``); ``None`` for any other shape (the general parser then decides)."""
    digits = text.replace(".", "", 1)
    if (
        len(text) > places + 1
        and text[-places - 1] == "."
        and text[-places - 2] != "-"
        and digits.isascii()
        and (digits.isdigit() or (digits[0] == "-" and digits[1:].isdigit()))
    ):
        return int(digits)
    return None


def _evict_oldest_half(cache: dict[str, int]) -> None:
    """Forget the older half of a full cache (dicts keep insertion order): the values in use now stay, and the cost
    is O(1) per insertion on average. Clearing it all instead makes every frame miss until it fills again. The newer
    half is copied back in C (no Python loop, and the table comes back compact); the dict stays the same object, since
    ``cached_price`` and the others are its bound ``get``."""
    newer = list(islice(cache.items(), len(cache) // 2, None))
    cache.clear()
    cache.update(newer)


def _parse_other(value: object, places: int, what: str) -> int:
    """The general parse: a decimal string in any plain notation, or a float by its exact decimal text."""
    if isinstance(value, str):
        return _parse_decimal(value, places, what)
    if isinstance(value, float):
        return _parse_decimal(_float_text(value, what), places, what)
    raise ValueError(f"{what} must be a decimal string, got {type(value).__name__} {value!r}")


def _parse_cached(value: str | float, places: int, what: str, cache: dict[str, int], limit: int = _CACHE_LIMIT) -> int:
    if value.__class__ is str:
        hit = cache.get(value)
        if hit is not None:
            return hit
        parsed = _parse_canonical(value, places)
        if parsed is None:
            parsed = _parse_decimal(value, places, what)
        if len(cache) >= limit:
            _evict_oldest_half(cache)
        cache[value] = parsed
        return parsed
    return _parse_other(value, places, what)


def parse_price_dollars(value: str | float) -> int:
    """``"0.4550"`` -> 4550. Dollars between 0 and 1 inclusive, at most 4 significant decimals.

    A float (only the seed README's hand-written fill uses them) is read by its exact decimal text, so 0.45 is
    4500 and 0.45001 is an error. Integers are refused: an integer price on the wire is in cents, never dollars.
    """
    if value.__class__ is str:
        hit = _price_cache.get(value)
        if hit is not None:
            return hit
        price = _parse_canonical(value, _PRICE_PLACES)
        if price is None:
            price = _parse_decimal(value, _PRICE_PLACES, "price")
    else:
        price = _parse_other(value, _PRICE_PLACES, "price")
    if not 0 <= price <= PRICE_SCALE:
        raise ValueError(f"price {value!r} is outside $0..$1")
    if value.__class__ is str:
        # Only prices inside $0..$1 are cached, so that a cache hit is a valid price (``cached_price``).
        if len(_price_cache) >= _CACHE_LIMIT:
            _evict_oldest_half(_price_cache)
        _price_cache[value] = price
    return price


cached_price = _price_cache.get
"""``cached_price(text)``: the price units of a price string parsed before (always a valid price), else ``None``.
A dictionary lookup for the hot path; fall back to ``parse_price_dollars`` on ``None``."""

cached_size = _size_cache.get
"""``cached_size(text)``: the size units of a size string parsed before, else ``None`` (see ``cached_price``)."""

cached_total = _total_cache.get
"""``cached_total(text)``: like ``cached_size``, for running totals parsed by ``parse_total_fp``."""

cached_money = _money_cache.get
"""``cached_money(text)``: the money units of a money string parsed before, else ``None``."""


def parse_size_fp(value: str | float) -> int:
    """``"12.50"`` -> 1250 (signed). Contracts with at most 2 significant decimals."""
    return _parse_cached(value, _SIZE_PLACES, "size", _size_cache)


def parse_total_fp(value: str | float) -> int:
    """``parse_size_fp`` for running totals (volume, open interest), with a smaller cache of their own."""
    return _parse_cached(value, _SIZE_PLACES, "size", _total_cache, _TOTAL_CACHE_LIMIT)


def parse_money_dollars(value: str | float) -> int:
    """``"0.010000"`` -> 10000 (signed). Dollars with at most 6 significant decimals."""
    return _parse_cached(value, _MONEY_PLACES, "money", _money_cache)


def _require_int(value: object, what: str) -> int:
    # bool is an int subclass; JSON true/false is never a number here.
    if type(value) is not int:
        raise ValueError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    return value


def cents_to_price(cents: int) -> int:
    """Legacy integer cents (0..100) -> price units: 45 -> 4500."""
    if not 0 <= _require_int(cents, "price in cents") <= 100:
        raise ValueError(f"price {cents!r} cents is outside 0..100")
    return cents * (PRICE_SCALE // 100)


def count_to_size(count: int) -> int:
    """Legacy integer contract count (signed) -> size units: 100 -> 10000."""
    return _require_int(count, "contract count") * SIZE_SCALE


def centicents_to_money(centicents: int) -> int:
    """Legacy integer centi-cents (1/10,000 dollar, signed) -> money units: 5000 ($0.50) -> 500000."""
    return _require_int(centicents, "amount in centi-cents") * (MONEY_SCALE // 10_000)


def whole_dollars_to_money(dollars: int) -> int:
    """Integer whole dollars (the ticker's ``dollar_volume``) -> money units."""
    return _require_int(dollars, "whole dollars") * MONEY_SCALE


def _fixed(value: int, places: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def price_str(price: int) -> str:
    """4500 -> ``"0.4500"`` (4-decimal dollars, the summary and wire format)."""
    return _fixed(price, _PRICE_PLACES)


def size_str(size: int) -> str:
    """10000 -> ``"100.00"`` (2-decimal contracts)."""
    return _fixed(size, _SIZE_PLACES)


def money_str(money: int) -> str:
    """10000 -> ``"0.010000"`` (6-decimal dollars)."""
    return _fixed(money, _MONEY_PLACES)


def format_cents(price: int) -> str:
    """Human form in cents: 4500 -> ``"45¢"``, 4550 -> ``"45.5¢"``, 4525 -> ``"45.25¢"``, -200 -> ``"-2¢"``."""
    sign = "-" if price < 0 else ""
    whole, frac = divmod(abs(price), PRICE_SCALE // 100)
    if frac == 0:
        return f"{sign}{whole}¢"
    return f"{sign}{whole}.{f'{frac:02d}'.rstrip('0')}¢"


def format_size(size: int) -> str:
    """Human form in contracts: 100000 -> ``"1000"``, 1250 -> ``"12.50"`` (decimals only when fractional)."""
    if size % SIZE_SCALE == 0:
        return str(size // SIZE_SCALE)
    return _fixed(size, _SIZE_PLACES)


def format_money(money: int) -> str:
    """Dollars with 2 to 6 decimals: 1750000 -> ``"$1.75"``, 45000 -> ``"$0.045"``, -500000 -> ``"-$0.50"``."""
    sign = "-" if money < 0 else ""
    whole, frac = divmod(abs(money), MONEY_SCALE)
    return f"{sign}${whole}.{f'{frac:06d}'.rstrip('0').ljust(2, '0')}"
