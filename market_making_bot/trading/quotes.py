"""Quote diffing: the fewest writes that turn the live resting orders into the wanted quotes (pure).

:func:`diff_quotes` ``(wanted, live)`` takes the wanted quote per (market, YES-book side) — a :class:`Quote`
(price, size) or ``None`` for no quote there — and the live resting orders (:class:`LiveOrder`), and returns the
writes, per (market, side):

* **keep** (no write) a live order already at the wanted price and size;
* **decrease** (:class:`Decrease`) a live order at the wanted price with more remaining than wanted: a size decrease
  keeps its queue priority (REST.md 4.5, 4.6). Kalshi's amend takes the new *total* ``count = filled + remaining``
  (:attr:`Decrease.amend_count`); the decrease endpoint takes ``reduce_to = remaining``;
* **cancel + create** when no live order is at the wanted price, or when the one there is smaller than wanted (a size
  increase or a price change goes to the back of the queue anyway, so nothing is lost by replacing it);
* **cancel** every live order there when no quote is wanted, and every extra live order (at most one order rests
  per market and side afterwards).

A (market, side) absent from ``wanted`` is left alone. A wanted size of 0 is the same as ``None``.

Writes come out in this order: decreases, then cancels, then creates, so that exposure only goes down before it
goes up again and a new order never meets one of ours that is about to be canceled. Cancels and creates are
batched where Kalshi allows (``DELETE``/``POST /portfolio/events/orders/batched``), in chunks of at most
``max_batch`` (the real maximum is unpublished); a chunk of one is a plain :class:`Cancel` / :class:`Create`.
Decreases cannot be batched. Why not amend for a price change (one write, 10 tokens, vs cancel + create, 12)?
With batching, replacing quotes in n markets costs 2 requests instead of n amends; the token cost of both is in
:func:`write_cost`.

Prices are price units on the YES book (``bid`` buys YES, ``ask`` sells YES / buys NO), sizes size units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

__all__ = [
    "Action",
    "BatchCancel",
    "BatchCreate",
    "Cancel",
    "Create",
    "Decrease",
    "LiveOrder",
    "Quote",
    "QuoteKey",
    "diff_quotes",
    "resting_sizes",
    "write_cost",
]

_T = TypeVar("_T")
Side: TypeAlias = Literal["bid", "ask"]
QuoteKey: TypeAlias = tuple[str, Side]
"""(market ticker, YES-book side)."""


@dataclass(frozen=True)
class Quote:
    """A wanted resting order: ``price`` (price units), ``size`` (size units, >= 0; 0 = no quote)."""

    price: int
    size: int


@dataclass(frozen=True)
class LiveOrder:
    """A resting order as the order tracker knows it: ``remaining`` resting size, ``filled`` size already filled."""

    order_id: str
    ticker: str
    side: Side
    price: int
    remaining: int
    filled: int = 0


@dataclass(frozen=True)
class Create:
    """Place a new order (one ``POST /portfolio/events/orders``)."""

    ticker: str
    side: Side
    price: int
    size: int


@dataclass(frozen=True)
class BatchCreate:
    """Place several orders in one ``POST /portfolio/events/orders/batched``."""

    orders: tuple[Create, ...]


@dataclass(frozen=True)
class Cancel:
    """Cancel one order (``DELETE /portfolio/events/orders/{id}``)."""

    order: LiveOrder


@dataclass(frozen=True)
class BatchCancel:
    """Cancel several orders in one ``DELETE /portfolio/events/orders/batched``."""

    orders: tuple[LiveOrder, ...]


@dataclass(frozen=True)
class Decrease:
    """Reduce a resting order to ``remaining`` (keeps queue priority): decrease with ``reduce_to = remaining``, or
    amend with ``count = amend_count``."""

    order: LiveOrder
    remaining: int

    @property
    def amend_count(self) -> int:
        """Kalshi's amend ``count``: the new total, already filled + wanted remaining (REST.md 4.5)."""
        return self.order.filled + self.remaining


Action: TypeAlias = Decrease | Cancel | BatchCancel | Create | BatchCreate

# Write tokens per request item (REST.md 4.1).
_CREATE_COST = 10
_CANCEL_COST = 2
_DECREASE_COST = 10


def write_cost(actions: Iterable[Action]) -> int:
    """Write tokens the actions cost: create 10, cancel 2, decrease 10, batches per item."""
    cost = 0
    for action in actions:
        if isinstance(action, Create):
            cost += _CREATE_COST
        elif isinstance(action, BatchCreate):
            cost += _CREATE_COST * len(action.orders)
        elif isinstance(action, Cancel):
            cost += _CANCEL_COST
        elif isinstance(action, BatchCancel):
            cost += _CANCEL_COST * len(action.orders)
        else:
            cost += _DECREASE_COST
    return cost


def resting_sizes(live: Iterable[LiveOrder]) -> dict[str, tuple[int, int]]:
    """Remaining size of resting bids and asks per market: ``{ticker: (bids, asks)}`` (for risk's exposure)."""
    sizes: dict[str, tuple[int, int]] = {}
    for order in live:
        if order.remaining > 0:
            bids, asks = sizes.get(order.ticker, (0, 0))
            if order.side == "bid":
                bids += order.remaining
            else:
                asks += order.remaining
            sizes[order.ticker] = (bids, asks)
    return sizes


def _chunks(items: list[_T], size: int) -> Iterable[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def diff_quotes(
    wanted: Mapping[QuoteKey, Quote | None], live: Iterable[LiveOrder], *, max_batch: int = 20
) -> list[Action]:
    """The writes that turn ``live`` into ``wanted`` (module docstring). ``live`` in priority order (oldest
    first) when several orders rest at one price: the first that fits is kept."""
    if max_batch < 1:
        raise ValueError(f"max_batch {max_batch} is not positive")
    by_key: dict[QuoteKey, list[LiveOrder]] = {}
    for order in live:
        if order.remaining > 0:
            by_key.setdefault((order.ticker, order.side), []).append(order)
    decreases: list[Action] = []
    cancels: list[LiveOrder] = []
    creates: list[Create] = []
    for key, quote in wanted.items():
        orders = by_key.get(key, [])
        if quote is not None and quote.size < 0:
            raise ValueError(f"wanted size {quote.size} for {key[0]} {key[1]} is negative")
        if quote is None or quote.size == 0:
            cancels.extend(orders)
            continue
        at_price = [o for o in orders if o.price == quote.price]
        keep = next((o for o in at_price if o.remaining == quote.size), None)
        if keep is None:
            keep = next((o for o in at_price if o.remaining > quote.size), None)
            if keep is not None:
                decreases.append(Decrease(keep, quote.size))
            else:
                creates.append(Create(key[0], key[1], quote.price, quote.size))
        cancels.extend(o for o in orders if o is not keep)
    actions = decreases
    for chunk in _chunks(cancels, max_batch):
        actions.append(Cancel(chunk[0]) if len(chunk) == 1 else BatchCancel(tuple(chunk)))
    for batch in _chunks(creates, max_batch):
        actions.append(batch[0] if len(batch) == 1 else BatchCreate(tuple(batch)))
    return actions
