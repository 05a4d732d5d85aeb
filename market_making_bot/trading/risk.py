"""Risk rules, checked before every write that can add exposure, with a one-line reason on every refusal (pure).

:class:`RiskCheck` ``.check(intent, exposure, now)`` returns :data:`OK` or a :class:`Refusal` naming the rule
(:class:`Rule`) and why. The rules, in the order they are checked (the first that fails is the answer):

1. ``max-loss`` (:attr:`RiskLimits.max_loss`, money units): tripped once the total P&L (fees included, marked at the
   mid; ``Portfolio.totals().total``) is **below** ``−max_loss`` (equal passes). It is **sticky**: once tripped,
   every later order is refused, whatever the P&L does, until :meth:`RiskCheck.reset`; the caller stops quoting and
   cancels its resting orders (:attr:`RiskCheck.tripped`). :meth:`RiskCheck.observe` trips it between orders.
2. ``book-not-usable``: the market's book is not usable (after a gap, a reconnect, before its snapshot; see
   ``MarketState.usable``) or unknown: never quote on it.
3. ``max-order-size``: the order's size is above the limit (or not positive).
4. ``max-open-orders``: resting orders + this one (a replacement adds none) above the limit.
5. ``max-position`` per market, in contracts, counting what resting orders on the same side could add: a bid
   checks ``position + resting bids + order <= limit``, an ask ``position − resting asks − order >= −limit``
   (``replaces`` is the remaining size of a resting order on the same side that this one replaces, taken off the
   resting size).
6. ``max-total-position`` over all markets: the sum over markets of each market's worst case
   ``max(position + resting bids, −position + resting asks, 0)``, with this order in its market, must stay
   ``<= limit`` (an order that does not raise its market's worst case always passes).
7. ``orders-per-second``: at most ``max_orders_per_second`` accepted orders in any 1-second window (``now`` in
   integer nanoseconds of a monotonic clock); an accepted check counts as one order.

A limit of ``None`` is not checked. Cancels and decreases are never checked: they only lower exposure and must
always get through (a stop must be able to cancel). Sizes are size units (1/100 contract), money is money units.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from market_making_bot.units import money_str, size_str

__all__ = [
    "OK",
    "Exposure",
    "MarketExposure",
    "OrderIntent",
    "Refusal",
    "RiskCheck",
    "RiskLimits",
    "Rule",
    "build_exposure",
]

_SECOND_NS: Final = 1_000_000_000


class Rule(enum.Enum):
    """The rule an order broke; the value is the name used in reasons (and the bot's ``--max-*`` options)."""

    MAX_LOSS = "max-loss"
    BOOK_NOT_USABLE = "book-not-usable"
    MAX_ORDER_SIZE = "max-order-size"
    MAX_OPEN_ORDERS = "max-open-orders"
    MAX_POSITION = "max-position"
    MAX_TOTAL_POSITION = "max-total-position"
    ORDERS_PER_SECOND = "orders-per-second"


@dataclass(frozen=True)
class Refusal:
    """A refused order: the ``rule`` and a one-line ``reason`` (``str()`` of the refusal)."""

    rule: Rule
    reason: str
    ok: ClassVar[bool] = False

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class _Ok:
    """The type of :data:`OK`: ``result.ok`` tells an accepted order from a :class:`Refusal`."""

    ok: ClassVar[bool] = True

    def __str__(self) -> str:
        return "ok"


OK: Final = _Ok()
"""The answer for an order that breaks no rule."""


@dataclass(frozen=True)
class RiskLimits:
    """Limits; ``None`` = not checked. Sizes in size units (``--max-position 10`` is 1000), money in money units."""

    max_position: int | None = None
    max_total_position: int | None = None
    max_order_size: int | None = None
    max_open_orders: int | None = None
    max_loss: int | None = None
    max_orders_per_second: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_position",
            "max_total_position",
            "max_order_size",
            "max_open_orders",
            "max_loss",
            "max_orders_per_second",
        ):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise ValueError(f"{name.replace('_', '-')} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class OrderIntent:
    """An order about to be sent: ``side`` on the YES book (``bid`` buys YES, ``ask`` sells YES / buys NO), price
    units, size units. ``replaces``: remaining size of a resting order on the same side and market that goes away
    with this one (cancel + create, amend); 0 for a new order."""

    ticker: str
    side: Literal["bid", "ask"]
    price: int
    size: int
    replaces: int = 0


@dataclass(frozen=True)
class MarketExposure:
    """One market as risk sees it: signed ``position`` (+YES/−NO), the remaining size of resting bids and asks, and
    whether its book is usable (``unusable_reason`` says why not)."""

    position: int = 0
    resting_bids: int = 0
    resting_asks: int = 0
    book_usable: bool = True
    unusable_reason: str | None = None

    def worst(self, bids: int = 0, asks: int = 0) -> int:
        """The largest position this market can reach if every resting order fills, plus ``bids``/``asks`` more."""
        return max(self.position + self.resting_bids + bids, -self.position + self.resting_asks + asks, 0)


@dataclass(frozen=True)
class Exposure:
    """Everything risk needs: per-market exposure, the number of resting orders, total P&L (money units, fees
    included, marked at the mid; ``None`` if unknown, which never trips max-loss by itself)."""

    markets: Mapping[str, MarketExposure] = field(default_factory=dict)
    open_orders: int = 0
    total_pnl: int | None = None


def build_exposure(
    positions: Mapping[str, int],
    resting: Mapping[str, tuple[int, int]],
    unusable: Mapping[str, str | None],
    open_orders: int,
    total_pnl: int | None,
) -> Exposure:
    """An :class:`Exposure` from plain mappings: signed ``positions`` (``PositionBook.position``), ``resting``
    ``(bids, asks)`` sizes (``quotes.resting_sizes``) and, for every market with a book, ``unusable``: ``None``
    when usable, else the reason (``MarketState.unusable_reason``). A market without a book entry is unknown."""
    markets = {
        ticker: MarketExposure(
            position=positions.get(ticker, 0),
            resting_bids=resting.get(ticker, (0, 0))[0],
            resting_asks=resting.get(ticker, (0, 0))[1],
            book_usable=reason is None,
            unusable_reason=reason,
        )
        for ticker, reason in unusable.items()
    }
    return Exposure(markets=markets, open_orders=open_orders, total_pnl=total_pnl)


class RiskCheck:
    """The rules of :class:`RiskLimits` (module docstring), with the state they need: the sticky max-loss trip and
    the times of the last accepted orders."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.tripped: Refusal | None = None
        """The max-loss refusal once tripped (sticky until :meth:`reset`), else ``None``."""
        self.refusals: dict[Rule, int] = dict.fromkeys(Rule, 0)
        """Count of refusals per rule."""
        self._sent: deque[int] = deque()

    def reset(self) -> None:
        """Clear a tripped max-loss (an operator's decision)."""
        self.tripped = None

    def observe(self, total_pnl: int | None) -> Refusal | None:
        """Check max-loss on a new total P&L (money units, fees included); returns the refusal when it trips now."""
        limit = self.limits.max_loss
        if self.tripped is not None or limit is None or total_pnl is None or total_pnl >= -limit:
            return None
        self.tripped = Refusal(
            Rule.MAX_LOSS,
            f"max-loss: total P&L {money_str(total_pnl)} < -{money_str(limit)}; quoting stopped until reset",
        )
        return self.tripped

    def check(self, intent: OrderIntent, exposure: Exposure, now: int) -> Refusal | _Ok:
        """:data:`OK` (and the order counts toward the orders-per-second cap) or the first rule it breaks."""
        refusal = self._refusal(intent, exposure, now)
        if refusal is None:
            self._sent.append(now)
            return OK
        self.refusals[refusal.rule] += 1
        return refusal

    def _refusal(self, intent: OrderIntent, exposure: Exposure, now: int) -> Refusal | None:
        limits = self.limits
        ticker, size = intent.ticker, intent.size
        self.observe(exposure.total_pnl)
        if self.tripped is not None:
            return self.tripped
        market = exposure.markets.get(ticker)
        if market is None:
            return Refusal(Rule.BOOK_NOT_USABLE, f"book-not-usable {ticker}: no book for this market")
        if not market.book_usable:
            why = market.unusable_reason or "not usable"
            return Refusal(Rule.BOOK_NOT_USABLE, f"book-not-usable {ticker}: {why}")
        if size <= 0:
            return Refusal(Rule.MAX_ORDER_SIZE, f"max-order-size {ticker}: order size {size_str(size)} is not positive")
        if limits.max_order_size is not None and size > limits.max_order_size:
            return Refusal(
                Rule.MAX_ORDER_SIZE,
                f"max-order-size {ticker}: order {size_str(size)} > {size_str(limits.max_order_size)}",
            )
        new_orders = 0 if intent.replaces else 1
        if limits.max_open_orders is not None and exposure.open_orders + new_orders > limits.max_open_orders:
            return Refusal(
                Rule.MAX_OPEN_ORDERS,
                f"max-open-orders: {exposure.open_orders} open + {new_orders} > {limits.max_open_orders}",
            )
        bids = size - intent.replaces if intent.side == "bid" else 0
        asks = size - intent.replaces if intent.side == "ask" else 0
        limit = limits.max_position
        if limit is not None:
            if intent.side == "bid":
                reach = market.position + market.resting_bids - intent.replaces + size
                if reach > limit:
                    return Refusal(
                        Rule.MAX_POSITION,
                        f"max-position {ticker}: position {size_str(market.position)} + resting bids "
                        f"{size_str(market.resting_bids - intent.replaces)} + order {size_str(size)} "
                        f"> {size_str(limit)}",
                    )
            else:
                reach = market.position - market.resting_asks + intent.replaces - size
                if reach < -limit:
                    return Refusal(
                        Rule.MAX_POSITION,
                        f"max-position {ticker}: position {size_str(market.position)} - resting asks "
                        f"{size_str(market.resting_asks - intent.replaces)} - order {size_str(size)} "
                        f"< -{size_str(limit)}",
                    )
        limit = limits.max_total_position
        if limit is not None:
            before = market.worst()
            after = market.worst(bids, asks)
            if after > before:
                others = sum(m.worst() for t, m in exposure.markets.items() if t != ticker)
                if others + after > limit:
                    return Refusal(
                        Rule.MAX_TOTAL_POSITION,
                        f"max-total-position: other markets {size_str(others)} + {ticker} {size_str(after)} "
                        f"with this order > {size_str(limit)}",
                    )
        cap = limits.max_orders_per_second
        if cap is not None:
            sent = self._sent
            while sent and sent[0] <= now - _SECOND_NS:
                sent.popleft()
            if len(sent) >= cap:
                return Refusal(
                    Rule.ORDERS_PER_SECOND, f"orders-per-second: {len(sent)} orders in the last second >= {cap}"
                )
        return None
