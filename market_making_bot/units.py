"""Fixed-point units used everywhere inside the project, and the conversions at its edges.

Internally every quantity is an ``int``:

* price: 1/10,000 dollar (``PRICE_SCALE``), so ``"0.4550"`` is ``4550`` and 45 cents is ``4500``;
* size: 1/100 contract (``SIZE_SCALE``), so ``"12.50"`` is ``1250`` and 100 contracts is ``10000``;
* money: 1/1,000,000 dollar (``MONEY_SCALE``), so ``"0.010000"`` is ``10000``.

Parsing is exact: a value that is not on its grid raises ``ValueError`` and is never rounded. The unit of a wire
value is decided by its field name (``*_dollars`` / ``*_fp`` strings versus legacy integer cents and counts), so the
parsers for dollar strings refuse integers and the legacy converters refuse strings.

Every parser also refuses values out of range (``ValueError``), so that no absurd number gets into the state:

* prices: $0..$1 inclusive (``parse_price_dollars``, ``cents_to_price``: tickers use 0 and 1 for "no bid", "no ask",
  "never traded"); strictly between $0 and $1 for a price a contract can rest or trade at (``parse_book_price``,
  ``cents_to_book_price``: book levels, deltas, trades, fills);
* sizes: at most ``MAX_CONTRACTS`` (10^12) contracts either way; running totals (``parse_total_fp``) not negative;
* money: at most ``MAX_DOLLARS`` (10^12) dollars either way;
* timestamps (``rfc3339_to_ms`` here, the integer fields in ``protocol.decode``): from 2000-01-01 to 2100-01-01 UTC
  (``TS_MS_MIN`` .. ``TS_MS_MAX``);
* a decimal string longer than ``MAX_DECIMAL_TEXT`` characters is refused before any ``int()`` (no quadratic parse of
  a 4,000-digit string), and error messages quote at most the first 40 characters of a value.

A parse cache only ever holds values that passed these checks, so a cache hit needs no range check.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import islice

PRICE_SCALE = 10_000
SIZE_SCALE = 100
MONEY_SCALE = 1_000_000

MAX_CONTRACTS = 10**12
"""Largest size, in contracts, that a size field may hold (either sign): far above any real book or volume."""
MAX_SIZE = MAX_CONTRACTS * SIZE_SCALE
MAX_DOLLARS = 10**12
"""Largest amount of money, in dollars, that a money field may hold (either sign)."""
MAX_MONEY = MAX_DOLLARS * MONEY_SCALE
TS_MS_MIN = 946_684_800_000
"""2000-01-01T00:00:00Z in Unix milliseconds: the earliest timestamp a frame may carry."""
TS_MS_MAX = 4_102_444_800_000
"""2100-01-01T00:00:00Z in Unix milliseconds: the latest timestamp a frame may carry."""
MAX_DECIMAL_TEXT = 40
"""Longest decimal string parsed (``"1000000000000.00"`` is 16 characters; zero padding leaves plenty of room)."""

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
_price_cache: dict[str, int] = {}
_size_cache: dict[str, int] = {}
_money_cache: dict[str, int] = {}
# A ticker's running totals (volume, open interest) are not cached at all: they take many distinct values that seldom
# repeat, and the cache they had spent about 5% of the pipeline evicting itself (issue 17).


def show(value: object) -> str:
    """``repr`` of a value for an error message, cut to its first 40 characters (a frame may hold a huge string)."""
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:40]) + f"... ({len(value)} characters)"
    if isinstance(value, int) and value.bit_length() > 128:  # str() of a 5,000-digit int raises
        return f"<integer of {value.bit_length()} bits>"
    return repr(value)


def _parse_decimal(text: str, places: int, what: str) -> int:
    """Exact value of the decimal string ``text`` in units of 10**-places; ValueError if off that grid."""
    if len(text) > MAX_DECIMAL_TEXT:
        raise ValueError(f"{what} {show(text)} is longer than {MAX_DECIMAL_TEXT} characters")
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise ValueError(f"{what} {show(text)} is not a plain decimal number")
    sign, whole, frac = m.groups()
    frac = frac or ""
    if len(frac) > places:
        if frac[places:].strip("0"):
            raise ValueError(f"{what} {show(text)} has more than {places} decimals")
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
        places + 1 < len(text) <= MAX_DECIMAL_TEXT
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
    raise ValueError(f"{what} must be a decimal string, got {type(value).__name__} {show(value)}")


def _parse_cached(
    value: str | float,
    places: int,
    what: str,
    cache: dict[str, int],
    low: int,
    high: int,
    limit: int = _CACHE_LIMIT,
) -> int:
    """Parse ``value`` and check ``low <= parsed <= high``; a string that passes is cached (cache hits are valid)."""
    if value.__class__ is str:
        hit = cache.get(value)
        if hit is not None:
            return hit
        parsed = _parse_canonical(value, places)
        if parsed is None:
            parsed = _parse_decimal(value, places, what)
    else:
        parsed = _parse_other(value, places, what)
    if not low <= parsed <= high:
        raise ValueError(f"{what} {show(value)} is out of range")
    if value.__class__ is str:
        if len(cache) >= limit:
            _evict_oldest_half(cache)
        cache[value] = parsed
    return parsed


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
        raise ValueError(f"price {show(value)} is outside $0..$1")
    if value.__class__ is str:
        # Only prices inside $0..$1 are cached, so that a cache hit is a valid price (``cached_price``).
        if len(_price_cache) >= _CACHE_LIMIT:
            _evict_oldest_half(_price_cache)
        _price_cache[value] = price
    return price


cached_price = _price_cache.get
"""``cached_price(text)``: the price units of a price string parsed before (always a valid price), else ``None``.
A dictionary lookup for the hot path; fall back to ``parse_price_dollars`` on ``None``."""

_book_price_cache: dict[str, int] = {}


def parse_book_price(value: str | float) -> int:
    """``parse_price_dollars`` for a price a contract rests or trades at: strictly between $0 and $1 (a bid of $0 buys
    nothing, a bid of $1 cannot win anything). Cached apart from ``parse_price_dollars``, which accepts 0 and 1."""
    if value.__class__ is str:
        hit = _book_price_cache.get(value)
        if hit is not None:
            return hit
    price = parse_price_dollars(value)
    if not 0 < price < PRICE_SCALE:
        raise ValueError(f"price {show(value)} is not strictly between $0 and $1")
    if value.__class__ is str:
        if len(_book_price_cache) >= _CACHE_LIMIT:
            _evict_oldest_half(_book_price_cache)
        _book_price_cache[value] = price
    return price


cached_book_price = _book_price_cache.get
"""``cached_book_price(text)``: like ``cached_price``, for prices checked by ``parse_book_price`` (never 0 or 1)."""

cached_size = _size_cache.get
"""``cached_size(text)``: the size units of a size string parsed before, else ``None`` (see ``cached_price``)."""

cached_money = _money_cache.get
"""``cached_money(text)``: the money units of a money string parsed before, else ``None``."""


def parse_size_fp(value: str | float) -> int:
    """``"12.50"`` -> 1250 (signed). Contracts with at most 2 significant decimals, at most ``MAX_CONTRACTS``."""
    return _parse_cached(value, _SIZE_PLACES, "size", _size_cache, -MAX_SIZE, MAX_SIZE)


def parse_total_fp(value: str | float) -> int:
    """``parse_size_fp`` for running totals (volume, open interest: never negative). Not cached: they seldom repeat."""
    if value.__class__ is str:
        parsed = _parse_canonical(value, _SIZE_PLACES)
        if parsed is None:
            parsed = _parse_decimal(value, _SIZE_PLACES, "size")
    else:
        parsed = _parse_other(value, _SIZE_PLACES, "size")
    if not 0 <= parsed <= MAX_SIZE:
        raise ValueError(f"size {show(value)} is out of range")
    return parsed


def parse_money_dollars(value: str | float) -> int:
    """``"0.010000"`` -> 10000 (signed). Dollars with at most 6 significant decimals, at most ``MAX_DOLLARS``."""
    return _parse_cached(value, _MONEY_PLACES, "money", _money_cache, -MAX_MONEY, MAX_MONEY)


def _require_int(value: object, what: str, bound: int) -> int:
    # bool is an int subclass; JSON true/false is never a number here.
    if type(value) is not int:
        raise ValueError(f"{what} must be an integer, got {type(value).__name__} {show(value)}")
    if not -bound <= value <= bound:
        raise ValueError(f"{what} {show(value)} is out of range")
    return value


def cents_to_price(cents: int) -> int:
    """Legacy integer cents (0..100) -> price units: 45 -> 4500."""
    if not 0 <= _require_int(cents, "price in cents", 100) <= 100:
        raise ValueError(f"price {cents!r} cents is outside 0..100")
    return cents * (PRICE_SCALE // 100)


def cents_to_book_price(cents: int) -> int:
    """Legacy integer cents of a book level or a trade (1..99, see ``parse_book_price``) -> price units."""
    if not 0 < _require_int(cents, "price in cents", 100) < 100:
        raise ValueError(f"price {cents!r} cents is not strictly between 0 and 100")
    return cents * (PRICE_SCALE // 100)


def count_to_size(count: int) -> int:
    """Legacy integer contract count (signed, at most ``MAX_CONTRACTS``) -> size units: 100 -> 10000."""
    return _require_int(count, "contract count", MAX_CONTRACTS) * SIZE_SCALE


def centicents_to_money(centicents: int) -> int:
    """Legacy integer centi-cents (1/10,000 dollar, signed) -> money units: 5000 ($0.50) -> 500000."""
    return _require_int(centicents, "amount in centi-cents", MAX_DOLLARS * 10_000) * (MONEY_SCALE // 10_000)


def whole_dollars_to_money(dollars: int) -> int:
    """Integer whole dollars (the ticker's ``dollar_volume``) -> money units."""
    return _require_int(dollars, "whole dollars", MAX_DOLLARS) * MONEY_SCALE


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def rfc3339_to_ms(text: str) -> int:
    """``"2026-08-07T06:46:28.97871Z"`` -> Unix milliseconds (1786085188978), truncated to the millisecond.

    Any number of fractional digits from none to 9 (the real server trims trailing zeros, so 1 to 6 are seen), ``Z``
    or a numeric offset; the result must lie in ``TS_MS_MIN`` .. ``TS_MS_MAX``. ValueError otherwise.
    """
    m = _RFC3339.fullmatch(text) if len(text) <= 40 else None
    if m is None:
        raise ValueError(f"timestamp {show(text)} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f"timestamp {show(text)} is not a valid date") from None
    h, mi, sec = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or sec > 60:  # 60: a leap second
        raise ValueError(f"timestamp {show(text)} is not a valid time of day")
    seconds = ((days * 24 + h) * 60 + mi) * 60 + sec
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds = seconds - offset if sign == "+" else seconds + offset
    ms = seconds * 1000 + (int(frac[:3].ljust(3, "0")) if frac else 0)
    if not TS_MS_MIN <= ms <= TS_MS_MAX:
        raise ValueError(f"timestamp {show(text)} is outside 2000..2100")
    return ms


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
