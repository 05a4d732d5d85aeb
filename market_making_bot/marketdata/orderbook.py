"""Order book of one Kalshi market: two bid ladders, YES bids and NO bids, in integer units.

Kalshi's book holds only bids. A YES bid at p is a NO ask at 1 - p and a NO bid at q is a YES ask at 1 - q, so
``best_yes_ask = PRICE_SCALE - best_no_bid``. This assumes the default NO pricing (``use_yes_price`` false, which
``protocol.subscribe`` pins). Prices are ints in 1/10,000 dollar, sizes ints in 1/100 contract.

The best bid of each ladder is cached: an insert above it moves it up in O(1); only removing the best level scans
the ladder (at most a few hundred levels) for the next one.
"""

from __future__ import annotations

from market_making_bot.units import PRICE_SCALE

__all__ = ["OrderBook"]


class _Ladder:
    """Bids of one side: price -> size, with the best (highest) price cached."""

    __slots__ = ("best", "levels")

    def __init__(self) -> None:
        self.levels: dict[int, int] = {}
        self.best: int | None = None

    def replace(self, levels: list[tuple[int, int]]) -> None:
        book = self.levels
        book.clear()
        for price, size in levels:
            if size > 0:
                book[price] = size
            else:
                book.pop(price, None)
        self.best = max(book) if book else None

    def top_size(self) -> int | None:
        best = self.best
        return None if best is None else self.levels[best]

    def size_within(self, distance: int) -> int:
        best = self.best
        if best is None:
            return 0
        floor = best - distance
        return sum(size for price, size in self.levels.items() if price >= floor)


class OrderBook:
    """YES and NO bid ladders of one market (``yes``/``no``: price -> size), with top-of-book views.

    ``side`` arguments are ``"yes"`` or ``"no"`` (anything else raises ``ValueError``). A view that does not exist
    (the ask when the opposite ladder is empty) is ``None``.
    """

    __slots__ = ("_no", "_sides", "_yes")

    def __init__(self) -> None:
        self._yes = _Ladder()
        self._no = _Ladder()
        self._sides = {"yes": self._yes, "no": self._no}

    def _ladder(self, side: str) -> _Ladder:
        try:
            return self._sides[side]
        except KeyError:
            raise ValueError(f"side must be 'yes' or 'no', got {side!r}") from None

    @property
    def yes(self) -> dict[int, int]:
        """YES bids, price -> size (do not mutate; use the apply methods)."""
        return self._yes.levels

    @property
    def no(self) -> dict[int, int]:
        """NO bids in NO prices, price -> size (do not mutate; use the apply methods)."""
        return self._no.levels

    # -- updates --------------------------------------------------------------------------------------------

    def apply_snapshot(self, yes: list[tuple[int, int]], no: list[tuple[int, int]]) -> None:
        """Replace the whole book. Levels with size <= 0 are left out; a repeated price keeps its last size."""
        self._yes.replace(yes)
        self._no.replace(no)

    def apply_delta(self, side: str, price: int, delta: int) -> int:
        """Add the signed ``delta`` to the level ``price`` of ``side``; the level is removed when it reaches <= 0.

        Returns the resulting size before clamping: negative means the delta removed more than was resting, which
        signals a book out of sync with the exchange (the level is removed all the same).
        """
        # The hot path: the ladder's ``apply`` inlined (one call per delta instead of three).
        if side == "yes":
            ladder = self._yes
        elif side == "no":
            ladder = self._no
        else:
            ladder = self._ladder(side)  # raises ValueError
        levels = ladder.levels
        size = levels.get(price, 0) + delta
        if size > 0:
            levels[price] = size
            best = ladder.best
            if best is None or price > best:
                ladder.best = price
        elif levels.pop(price, None) is not None and price == ladder.best:
            ladder.best = max(levels) if levels else None
        return size

    # -- views ----------------------------------------------------------------------------------------------

    def best_yes_bid(self) -> int | None:
        return self._yes.best

    def best_no_bid(self) -> int | None:
        return self._no.best

    def best_yes_ask(self) -> int | None:
        best_no = self._no.best
        return None if best_no is None else PRICE_SCALE - best_no

    def best_no_ask(self) -> int | None:
        best_yes = self._yes.best
        return None if best_yes is None else PRICE_SCALE - best_yes

    def spread(self) -> int | None:
        """YES ask - YES bid (equal to the NO spread); negative when crossed, ``None`` if a ladder is empty."""
        best_yes, best_no = self._yes.best, self._no.best
        if best_yes is None or best_no is None:
            return None
        return PRICE_SCALE - best_no - best_yes

    def mid(self) -> int | None:
        """(YES bid + YES ask) / 2 in price units, ``None`` if a ladder is empty.

        Exact for every Kalshi tick size (all are multiples of $0.001, so bid + ask is even in 1/10,000 units); a
        half unit, only possible with $0.0001 ticks, is rounded down.
        """
        best_yes, best_no = self._yes.best, self._no.best
        if best_yes is None or best_no is None:
            return None
        return (best_yes + PRICE_SCALE - best_no) // 2

    def yes_bid_size(self) -> int | None:
        return self._yes.top_size()

    def yes_ask_size(self) -> int | None:
        """Size at the best YES ask, i.e. at the best NO bid."""
        return self._no.top_size()

    def no_bid_size(self) -> int | None:
        return self._no.top_size()

    def no_ask_size(self) -> int | None:
        """Size at the best NO ask, i.e. at the best YES bid."""
        return self._yes.top_size()

    def depth(self, side: str) -> int:
        """Number of price levels on the ``side`` bid ladder."""
        return len(self._ladder(side).levels)

    def size_within(self, side: str, cents: int) -> int:
        """Total size of the ``side`` bids priced within ``cents`` cents of that side's best bid (inclusive)."""
        return self._ladder(side).size_within(cents * (PRICE_SCALE // 100))

    def levels(self, side: str) -> list[tuple[int, int]]:
        """``(price, size)`` levels of the ``side`` bid ladder, ascending by price (best last)."""
        return sorted(self._ladder(side).levels.items())

    def is_crossed(self) -> bool:
        """True when best YES bid + best NO bid >= $1 (a YES bid at or above the YES ask)."""
        best_yes, best_no = self._yes.best, self._no.best
        return best_yes is not None and best_no is not None and best_yes + best_no >= PRICE_SCALE
