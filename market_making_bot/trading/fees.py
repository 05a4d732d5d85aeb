"""Kalshi's trade fee of one fill, exact, in money units (1/1,000,000 dollar; see :mod:`market_making_bot.units`).

Definition (REST.md 6.8, PROTOCOL.md 8b): for a fill of ``C`` contracts at trade price ``P`` dollars,

    fee = ceil_to_$0.0001( m × r × C × P × (1 − P) )

with ``m`` the ``fee_multiplier`` (series value, or the event's ``fee_multiplier_override``) and ``r`` the rate of the
``fee_type`` for the taker or the maker side of the fill:

==================================  =========  ==========================
``fee_type``                        taker r    maker r
==================================  =========  ==========================
``quadratic``                       0.07       0
``quadratic_with_maker_fees``       0.07       0.0175 (0.25 × taker)
``quadratic_with_combo_maker_fees`` 0.07       0.035 (0.5 × taker)
``flat``                            a :class:`FlatFeeTable` (Kalshi's "Specific Trading Fees" table)
==================================  =========  ==========================

The rounding is **up** to $0.0001 (100 money units) per fill: a computed $0.05452104 (5.52 contracts at $0.17 as
taker) is Kalshi's ``fee_cost "0.054600"`` (PROTOCOL.md 10b.9). ``P × (1 − P)`` is symmetric, so pricing the same
fill on YES (``P``) or on NO (``1 − P``) gives the same fee. Everything is integer arithmetic on exact rationals: a
multiplier is taken as a ``Fraction``, an ``int`` or a ``Decimal`` (REST's ``fee_multiplier``), never a float.

What happens after the trade fee (the balance change floored to the member's precision, the gap charged as a
rounding fee, whole-cent rebates from a per-order accumulator) is balance-level accounting, kept apart from the trade
fee: see :func:`balance_rounding`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from market_making_bot.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE

__all__ = [
    "FEE_ROUNDING",
    "MAKER_RATES",
    "TAKER_RATE",
    "FeeSchedule",
    "FeeType",
    "FlatFeeTable",
    "balance_rounding",
    "ceil_to",
    "trade_fee",
]

FEE_ROUNDING = MONEY_SCALE // 10_000
"""$0.0001 in money units (100): a trade fee is rounded up to a multiple of this."""


class FeeType(str, enum.Enum):
    """Kalshi's ``fee_type`` values (series ``fee_type``, event ``fee_type_override``)."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


TAKER_RATE = Fraction(7, 100)
"""The taker rate of every quadratic fee type: 0.07."""

MAKER_RATES: Mapping[FeeType, Fraction] = {
    FeeType.QUADRATIC: Fraction(0),
    FeeType.QUADRATIC_WITH_MAKER_FEES: Fraction(7, 400),  # 0.0175
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: Fraction(7, 200),  # 0.035
}
"""The maker rate of each quadratic fee type."""


def ceil_to(value: int, step: int) -> int:
    """The smallest multiple of ``step`` (> 0) that is >= ``value``: rounding up, also for negative values."""
    return -(-value // step) * step


def _exact(value: Fraction | Decimal | int, what: str) -> Fraction:
    """``value`` as an exact ``Fraction`` (a float is refused: its binary value is not the decimal one meant)."""
    if isinstance(value, bool) or not isinstance(value, (Fraction, Decimal, int)):
        raise TypeError(f"{what} must be a Fraction, Decimal or int, got {type(value).__name__} {value!r}")
    exact = Fraction(value)
    if exact < 0:
        raise ValueError(f"{what} {value} is negative")
    return exact


@dataclass(frozen=True)
class FlatFeeTable:
    """The ``flat`` fee type: a fee per contract, in money units, for the taker and the maker side.

    Kalshi's "Specific Trading Fees" table is not machine-readable; this is the hook to fill in from it.
    ``by_price`` overrides the per-contract fee at given trade prices (price units of the side traded, YES or NO:
    look-ups try the YES price first, then ``PRICE_SCALE - price``). The result is multiplied by the multiplier and
    rounded up to $0.0001 like the quadratic fee.
    """

    taker_per_contract: int
    maker_per_contract: int = 0
    by_price: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    """price -> (taker, maker) fee per contract in money units."""

    def per_contract(self, price: int, taker: bool) -> int:
        pair = self.by_price.get(price) or self.by_price.get(PRICE_SCALE - price)
        if pair is not None:
            return pair[0] if taker else pair[1]
        return self.taker_per_contract if taker else self.maker_per_contract


@dataclass(frozen=True)
class FeeSchedule:
    """The fee rules of one market: ``fee_type``, ``multiplier`` and, for ``flat``, the table.

    Build it once per market (``FeeSchedule.of(series.fee_type, series.fee_multiplier)``, with the event's overrides
    in their place when set); :meth:`fee` is then integer arithmetic only.
    """

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Fraction = Fraction(1)
    flat: FlatFeeTable | None = None
    # (numerator, denominator) of m × r for the taker and the maker: the fee in money units is then
    # ceil(num × size × price × (PRICE_SCALE - price) / (den × scale)), all in ints.
    _taker: tuple[int, int] = field(init=False, repr=False, compare=False)
    _maker: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fee_type = FeeType(self.fee_type)
        object.__setattr__(self, "fee_type", fee_type)
        multiplier = _exact(self.multiplier, "fee multiplier")
        object.__setattr__(self, "multiplier", multiplier)
        if fee_type is FeeType.FLAT:
            if self.flat is None:
                raise ValueError("fee type 'flat' needs a FlatFeeTable (Kalshi's specific trading fees)")
            taker = maker = multiplier
        else:
            taker = multiplier * TAKER_RATE
            maker = multiplier * MAKER_RATES[fee_type]
        object.__setattr__(self, "_taker", (taker.numerator, taker.denominator))
        object.__setattr__(self, "_maker", (maker.numerator, maker.denominator))

    @classmethod
    def of(
        cls, fee_type: str | FeeType, multiplier: Fraction | Decimal | int = 1, flat: FlatFeeTable | None = None
    ) -> FeeSchedule:
        """From the REST values: ``fee_type`` string (ValueError if unknown) and ``fee_multiplier``."""
        try:
            kind = FeeType(fee_type)
        except ValueError:
            known = ", ".join(t.value for t in FeeType)
            raise ValueError(f"unknown fee_type {fee_type!r} (known: {known})") from None
        return cls(kind, _exact(multiplier, "fee multiplier"), flat)

    def fee(self, price: int, size: int, taker: bool) -> int:
        """Trade fee in money units of ``size`` (size units, >= 0) at ``price`` (price units, YES or NO, 0..$1)."""
        if not 0 <= price <= PRICE_SCALE:
            raise ValueError(f"price {price} is outside 0..{PRICE_SCALE}")
        if size < 0:
            raise ValueError(f"size {size} is negative")
        num, den = self._taker if taker else self._maker
        if self.flat is not None:
            # m × per-contract money × contracts: money units = num × per × size / (den × SIZE_SCALE).
            raw_num = num * self.flat.per_contract(price, taker) * size
            raw_den = den * SIZE_SCALE
        else:
            # dollars = m·r × (size/SIZE_SCALE) × (price/PRICE_SCALE) × ((PRICE_SCALE-price)/PRICE_SCALE);
            # money units = dollars × MONEY_SCALE.
            raw_num = num * size * price * (PRICE_SCALE - price) * MONEY_SCALE
            raw_den = den * SIZE_SCALE * PRICE_SCALE * PRICE_SCALE
        # Round up to $0.0001: ceil(raw / FEE_ROUNDING) units of FEE_ROUNDING.
        return -(-raw_num // (raw_den * FEE_ROUNDING)) * FEE_ROUNDING


def trade_fee(
    price: int,
    size: int,
    *,
    taker: bool,
    fee_type: str | FeeType = FeeType.QUADRATIC,
    multiplier: Fraction | Decimal | int = 1,
    flat: FlatFeeTable | None = None,
) -> int:
    """Kalshi's trade fee of one fill in money units (see the module docstring); a one-off :class:`FeeSchedule`."""
    return FeeSchedule.of(fee_type, multiplier, flat).fee(price, size, taker)


def balance_rounding(change: int, precision: int = MONEY_SCALE // 100) -> tuple[int, int]:
    """Balance-level rounding of one balance change (money units): ``(credited, rounding_fee)``.

    Kalshi floors ``revenue - fee`` to the member's balance precision (``precision`` in money units: $0.01 = 10,000
    for most members, $0.0001 = 100 for direct members) and charges the gap as a rounding fee:
    ``credited = floor(change / precision) × precision`` (toward minus infinity, also for a debit) and
    ``rounding_fee = change - credited`` (0 <= rounding_fee < precision). The per-order rebate of whole cents once
    overpaid rounding passes $0.01 is reported by Kalshi and recorded with ``Portfolio.add_rebate``.
    """
    if precision <= 0:
        raise ValueError(f"precision {precision} is not positive")
    credited = (change // precision) * precision
    return credited, change - credited
