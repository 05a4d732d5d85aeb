"""Profit and loss of a position, in exact integers: pure (no I/O, no clock, no floats, no rich).

Units (see :mod:`market_making_bot.units`): sizes in 1/100 contract, prices in 1/10,000 dollar, money in
1/1,000,000 dollar, so that ``size x price`` is money exactly (``250`` size x ``4600`` price = ``1_150_000`` money
= $1.15). A position is signed: positive holds YES contracts, negative holds NO contracts.

* the **mark** of a position is the price of the side held at the book's mid: the YES mid for a YES position,
  ``$1 - mid`` for a NO position (a NO contract pays what a YES contract does not);
* the **average cost** is the position's cost over the contracts held, rounded half up to a price unit;
* the **unrealized P&L at the mid** is what the contracts are worth at the mark minus what they cost:
  ``held x mark - cost`` (exact: no rounding at all);
* **realized P&L** and **fees** are Kalshi's own figures from the last ``market_position`` message.

The cost is taken from the last ``market_position`` message only while that message describes the current position:
a fill changes the position before the next ``market_position`` arrives, and a stale cost would give a wrong P&L.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from market_making_bot.kalshi.messages import MarketPosition
from market_making_bot.units import PRICE_SCALE

__all__ = ["PositionPnl", "average_cost", "mark_price", "position_pnl", "total", "unrealized_pnl"]


@dataclass(frozen=True, slots=True)
class PositionPnl:
    """A position (size units, negative = NO) with its average cost and mark (prices of the side held), its
    unrealized P&L at the mid, realized P&L and fees (money units); ``None`` where a figure is not known."""

    position: int
    avg_cost: int | None = None
    mark: int | None = None
    unrealized: int | None = None
    realized: int | None = None
    fees: int | None = None


def mark_price(position: int, mid: int | None) -> int | None:
    """The price of the side held at ``mid`` (a YES price): ``mid`` for YES, ``PRICE_SCALE - mid`` for NO;
    ``None`` when flat or when there is no mid."""
    if mid is None or position == 0:
        return None
    return mid if position > 0 else PRICE_SCALE - mid


def average_cost(cost: int, held: int) -> int | None:
    """``cost`` (money units) over ``held`` contracts (size units, > 0) as a price, rounded half up; ``None`` when
    nothing is held."""
    if held <= 0:
        return None
    return (cost + held // 2) // held


def unrealized_pnl(held: int, mark: int, cost: int) -> int:
    """What ``held`` contracts (size units) are worth at ``mark`` (price units) minus their ``cost`` (money)."""
    return held * mark - cost


def position_pnl(position: int, mid: int | None, last: MarketPosition | None = None) -> PositionPnl:
    """The P&L of ``position`` at ``mid`` (the book's YES mid, ``None`` without one), with the cost, realized P&L
    and fees of ``last`` (the last ``market_position`` message; its cost only if its position is ``position``)."""
    realized = fees = cost = None
    if last is not None:
        realized, fees = last.realized_pnl, last.fees_paid
        if last.position == position:
            cost = last.position_cost
    held = abs(position)
    mark = mark_price(position, mid)
    avg = None if cost is None else average_cost(cost, held)
    pnl = None if cost is None or mark is None else unrealized_pnl(held, mark, cost)
    return PositionPnl(position, avg, mark, pnl, realized, fees)


def total(values: Iterable[int | None]) -> int | None:
    """The sum of the known values; ``None`` when none is known (an unknown is not a zero)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None
