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


class UserOrder(Order):
    """An order the account placed over REST (:mod:`.matching`): an :class:`Order` that remembers its life.

    ``side`` is the outcome it buys (``yes`` = a ``bid`` on the YES book, ``no`` = an ``ask``), ``price``
    its price on that side's own scale (the ladder it rests on), ``size`` (inherited) what still rests.
    The flow generator's orders stay plain :class:`Order` objects: their per-step cost does not change.
    """

    __slots__ = (
        "market",
        "side",
        "price",
        "initial",
        "filled",
        "taker_cost",
        "maker_cost",
        "taker_fees",
        "maker_fees",
        "status",
        "reason",
        "tif",
        "stp",
        "post_only",
        "expiration_s",
        "group_id",
        "created_ms",
        "updated_ms",
        "rested",
    )

    def __init__(
        self,
        order_id: str,
        size: int,
        client_order_id: str,
        *,
        market: Market,
        side: Side,
        price: int,
        tif: str,
        stp: str,
        post_only: bool,
        expiration_s: int | None,
        group_id: str | None,
        created_ms: int,
    ) -> None:
        super().__init__(order_id, size, True, client_order_id)
        self.market = market
        self.side = side
        self.price = price
        self.initial = size
        self.filled = 0
        self.taker_cost = 0  # micro-dollars
        self.maker_cost = 0
        self.taker_fees = 0
        self.maker_fees = 0
        self.status = "resting"  # resting | canceled | executed
        self.reason: str | None = None  # last_update_reason of the newest change
        self.tif = tif
        self.stp = stp
        self.post_only = post_only
        self.expiration_s = expiration_s
        self.group_id = group_id
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.rested = False  # in its ladder now

    @property
    def yes_price(self) -> int:
        return self.price if self.side == "yes" else ONE - self.price


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

    def ahead_of(self, price: int, order: Order) -> int:
        """The size resting before ``order`` at ``price`` (its queue position; 0 = first)."""
        ahead = 0
        for o in self.levels[price]:
            if o is order:
                return ahead
            ahead += o.size
        raise KeyError(order.order_id)

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
