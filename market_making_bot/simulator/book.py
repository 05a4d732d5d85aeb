"""Resting orders: the FIFO bid ladders of one market, the market itself and the simulated user's position.

Pure and synchronous; prices and sizes are integers (see :mod:`.units`).
"""

from __future__ import annotations

import bisect

from market_making_bot.simulator.units import CONTRACT, ONE

Side = str  # "yes" | "no"


class Order:
    __slots__ = ("order_id", "size", "user", "client_order_id")

    def __init__(self, order_id: str, size: int, user: bool = False, client_order_id: str | None = None):
        self.order_id = order_id
        self.size = size
        self.user = user
        self.client_order_id = client_order_id


class Ladder:
    """One bid ladder (the YES bids or the NO bids) with FIFO queues per price level."""

    __slots__ = ("levels", "prices", "totals", "n_orders")

    def __init__(self) -> None:
        self.levels: dict[int, list[Order]] = {}
        self.prices: list[int] = []  # ascending; best bid last
        self.totals: dict[int, int] = {}
        self.n_orders = 0

    def best(self) -> int | None:
        return self.prices[-1] if self.prices else None

    def add(self, price: int, order: Order) -> None:
        queue = self.levels.get(price)
        if queue is None:
            self.levels[price] = [order]
            self.totals[price] = order.size
            bisect.insort(self.prices, price)
        else:
            queue.append(order)
            self.totals[price] += order.size
        self.n_orders += 1

    def reduce(self, price: int, order: Order, amount: int) -> None:
        """Take ``amount`` off ``order`` resting at ``price``; drop the order/level when empty."""
        order.size -= amount
        total = self.totals[price] - amount
        if order.size == 0:
            self.levels[price].remove(order)
            self.n_orders -= 1
        if total == 0:
            del self.levels[price]
            del self.totals[price]
            del self.prices[bisect.bisect_left(self.prices, price)]
        else:
            self.totals[price] = total

    def levels_view(self) -> list[tuple[int, int]]:
        return [(p, self.totals[p]) for p in self.prices]


class UserBook:
    """Position accounting of the simulated user in one market (signed: + YES, - NO)."""

    __slots__ = (
        "position",
        "cost",
        "position_fee_cost",
        "realized_pnl",
        "fees_paid",
        "volume",
        "fills",
        "resting",
    )

    def __init__(self) -> None:
        self.position = 0
        self.cost = 0  # micro-dollars paid for the contracts held now
        self.position_fee_cost = 0  # fees paid on the contracts held now
        self.realized_pnl = 0
        self.fees_paid = 0
        self.volume = 0
        self.fills = 0
        self.resting: dict[Side, tuple[int, Order]] = {}

    def apply_buy(self, side: Side, price: int, count: int, fee: int) -> None:
        """The user bought ``count`` contracts of ``side`` at ``price`` (on that side's scale).

        A YES and a NO contract together pay $1, so buying the side opposite to the one held
        closes that many contracts and realizes ``$1 - cost of the held one - price`` each.
        """
        sign = 1 if side == "yes" else -1
        held = abs(self.position)
        self.fees_paid += fee
        self.volume += count
        self.fills += 1
        if self.position == 0 or (self.position > 0) == (sign > 0):
            self.position += sign * count
            self.cost += count * price
            self.position_fee_cost += fee
            return
        closing = min(count, held)
        removed_cost = self.cost * closing // held
        removed_fee = self.position_fee_cost * closing // held
        self.cost -= removed_cost
        self.position_fee_cost -= removed_fee
        self.realized_pnl += closing * (ONE * 1_000_000 // (CONTRACT * ONE)) - removed_cost - closing * price
        self.position += sign * closing
        opening = count - closing
        if opening:
            self.position = sign * opening
            self.cost = opening * price
            self.position_fee_cost = fee * opening // count


class Market:
    """One binary market: its books, statistics and the simulated user's state in it."""

    def __init__(self, ticker: str, market_id: str, tick: int, fair: int) -> None:
        self.ticker = ticker
        self.market_id = market_id
        self.tick = tick
        self.fair = fair  # YES fair value, price units
        self.yes = Ladder()
        self.no = Ladder()
        self.clock = 0  # clock of the newest change (0 = none yet)
        self.last_price = 0
        self.last_trade_size = 0
        self.volume = 0
        self.open_interest = 0
        self.dollar_volume_micro = 0
        self.trades = 0
        self.user: UserBook | None = None
        self.last_top: tuple[int, int, int, int] | None = None

    def ladder(self, side: Side) -> Ladder:
        return self.yes if side == "yes" else self.no

    def top(self) -> tuple[int, int, int, int]:
        y = self.yes.best()
        n = self.no.best()
        return (
            y if y is not None else 0,
            self.yes.totals[y] if y is not None else 0,
            n if n is not None else 0,
            self.no.totals[n] if n is not None else 0,
        )

    def crossed(self) -> bool:
        y = self.yes.best()
        n = self.no.best()
        return y is not None and n is not None and y + n >= ONE
