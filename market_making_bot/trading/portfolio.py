"""Positions and P&L, exact, per market and in total, from fills (pure: no I/O, no clock, integers only).

Units (:mod:`market_making_bot.units`): sizes in 1/100 contract, prices in 1/10,000 dollar, money in 1/1,000,000
dollar. A size times a price is money: ``size_units × price_units = money_units`` exactly.

Everything is kept on Kalshi's one YES book (REST.md 6.1), in YES terms:

* a fill is a ``bid`` (buy YES) or an ``ask`` (sell YES ≡ buy NO at 1 − p) of ``size`` at the YES price ``p``; the
  WebSocket ``Fill``'s ``side``/``action`` map to it as buy yes = bid, sell yes = ask, buy no = ask, sell no = bid;
* **position**: one signed size, + YES / − NO; buying NO while long YES nets the position down;
* **cash flow**: −p × size for a bid, +p × size for an ask, summed. For NO this is the YES-terms flow: buying NO at
  q = 1 − p really costs q × size, while the YES-terms flow is +p × size; the two differ by exactly $1 × size, the
  payout the NO contracts carry, and ``position × mark`` (negative for a NO position) counts that $1 the same way, so
  every P&L below equals the real one;
* **basis**: the cost of the open position in YES terms (signed like the position: > 0 long, < 0 short);
  **average cost** = basis / position (a YES price; for a short, the average price the YES was sold at);
* **fees**: the sum of the fills' trade fees (Kalshi's ``fee_cost``; see :mod:`market_making_bot.trading.fees`).
  Balance-level rounding fees and rebates are tracked apart (``rounding_fees``, ``rebates``) and are not in ``total``;
* **realized P&L by average cost** (fees not included). A fill in the direction of the position (or from flat) adds
  ``size × p`` to the basis and realizes nothing. A fill against the position first closes
  ``closed = min(size, |position|)``: the basis removed is ``basis × closed / |position|`` **truncated toward zero**
  (so closing the whole position removes exactly the whole basis, and the open rest keeps the remainder of the
  division), and ``realized += closed × p − removed`` for a long, ``realized += removed_magnitude − closed × p`` for
  a short (both are ``−signed_close × p − removed``). **Crossing through zero**: the rest of the fill,
  ``size − closed``, opens a new position on the other side at ``p`` (basis ``rest × p``, signed). Invariant, exact:
  ``cash_flow == realized − basis``;
* **mark**: a :class:`Mark` (exact: kept as twice the price, so the mid of any book is exact); :func:`book_mark` is
  the mid (best YES bid + best YES ask) / 2 of a usable, two-sided, uncrossed book, else ``None``;
* **unrealized** = position × mark − basis; **total** = cash flow + position × mark − fees
  (= realized + unrealized − fees). Both are exact in half micro-dollars (``*_x2`` fields); ``unrealized`` and
  ``total`` are those floored to micro-dollars (toward minus infinity: a loss is never understated, and for an
  integer limit D, ``total < −D`` exactly when the exact value is below −D).

Positions are checked against Kalshi's (WebSocket ``market_position``, REST ``GET /portfolio/positions``, a fill's
``post_position``): a mismatch is returned as a :class:`PositionMismatch` and counted in
``Portfolio.mismatches``; the caller logs it (this module does no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from market_making_bot.trading.fees import FeeSchedule
from market_making_bot.units import PRICE_SCALE, money_str, size_str

if TYPE_CHECKING:
    from market_making_bot.kalshi import messages, rest
    from market_making_bot.marketdata.orderbook import OrderBook
    from market_making_bot.marketdata.state import MarketState

__all__ = [
    "BookSide",
    "FillResult",
    "MarketPnL",
    "Mark",
    "Portfolio",
    "PortfolioPnL",
    "PositionBook",
    "PositionMismatch",
    "book_mark",
    "book_side_of",
    "state_mark",
]

BookSide = Literal["bid", "ask"]

_SIDES: dict[tuple[str, str], BookSide] = {
    ("yes", "buy"): "bid",
    ("yes", "sell"): "ask",
    ("no", "buy"): "ask",
    ("no", "sell"): "bid",
}


def book_side_of(outcome: str | None, action: str | None) -> BookSide:
    """The YES-book side of a fill given as outcome (``yes``/``no``) and action (``buy``/``sell``; ``None`` = buy,
    since ``outcome_side``/``purchased_side`` name what was bought). ValueError if unknown."""
    side = _SIDES.get((outcome or "", action or "buy"))
    if side is None:
        raise ValueError(f"fill side {outcome!r} / action {action!r} is not yes|no / buy|sell")
    return side


@dataclass(frozen=True)
class Mark:
    """A mark price, exact: ``twice`` is two times the YES price in price units (the mid of 4500 and 4510 is
    ``Mark(9010)``, $0.4505; of 4500 and 4501, ``Mark(9001)``, $0.45005)."""

    twice: int

    def __post_init__(self) -> None:
        if not 0 <= self.twice <= 2 * PRICE_SCALE:
            raise ValueError(f"mark {self.twice}/2 is outside $0..$1")

    @classmethod
    def at(cls, price: int) -> Mark:
        """A mark at a price (price units)."""
        return cls(2 * price)

    @classmethod
    def mid(cls, bid: int, ask: int) -> Mark:
        """The mid of a YES bid and a YES ask (price units), exact."""
        return cls(bid + ask)

    def __str__(self) -> str:
        # twice / 2 price units = twice × 5 in 1/100,000 dollar: the exact dollars, 5 decimals, integers only.
        whole, frac = divmod(self.twice * 5, 100_000)
        return f"{whole}.{frac:05d}"


def book_mark(book: OrderBook) -> Mark | None:
    """The mid of ``book`` as a :class:`Mark`; ``None`` if a side is empty or the book is crossed or locked."""
    bid, ask = book.best_yes_bid(), book.best_yes_ask()
    if bid is None or ask is None or bid >= ask:
        return None
    return Mark.mid(bid, ask)


def state_mark(state: MarketState) -> Mark | None:
    """:func:`book_mark` of a market's book, ``None`` while the book is not usable (see ``MarketState.usable``)."""
    return book_mark(state.book) if state.usable else None


def _floor_half(x2: int) -> int:
    return x2 // 2


@dataclass(frozen=True)
class MarketPnL:
    """P&L of one market at a mark (see the module docstring for every definition). Money in money units, sizes in
    size units; ``*_x2`` are exact, in half money units; ``None`` when there is no mark and the position is not
    flat."""

    ticker: str
    position: int
    basis: int
    realized: int
    fees: int
    cash_flow: int
    rounding_fees: int
    rebates: int
    mark: Mark | None
    unrealized_x2: int | None
    total_x2: int | None

    @property
    def average_cost(self) -> int | None:
        """basis / position as a YES price, truncated toward zero to price units; ``None`` when flat."""
        if self.position == 0:
            return None
        return abs(self.basis) // abs(self.position)

    @property
    def cost(self) -> int:
        """What the open position cost in real cash, as Kalshi reports it (``market_exposure_dollars``,
        ``position_cost``): the basis for YES; for NO, |position| × $1 + basis (the NO contracts' price)."""
        return self.basis if self.position >= 0 else self.basis - self.position * PRICE_SCALE

    @property
    def unrealized(self) -> int | None:
        return None if self.unrealized_x2 is None else _floor_half(self.unrealized_x2)

    @property
    def total(self) -> int | None:
        return None if self.total_x2 is None else _floor_half(self.total_x2)


@dataclass(frozen=True)
class PortfolioPnL:
    """Sums over markets. ``total_x2``/``total`` are ``None`` when a market with a position has no mark."""

    markets: tuple[MarketPnL, ...]
    realized: int
    fees: int
    cash_flow: int
    rounding_fees: int
    rebates: int
    gross_position: int
    """Sum of |position| over markets (size units)."""
    total_x2: int | None

    @property
    def total(self) -> int | None:
        return None if self.total_x2 is None else _floor_half(self.total_x2)


class PositionBook:
    """Position and P&L of one market, fed with fills (:meth:`apply`). See the module docstring for the rules."""

    __slots__ = (
        "basis",
        "cash_flow",
        "fees",
        "fills",
        "last_mark",
        "position",
        "realized",
        "rebates",
        "rounding_fees",
        "ticker",
        "volume",
    )

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.position = 0
        self.basis = 0
        self.realized = 0
        self.fees = 0
        self.cash_flow = 0
        self.rounding_fees = 0
        self.rebates = 0
        self.volume = 0
        """Size traded (size units, both sides)."""
        self.fills = 0
        self.last_mark: Mark | None = None
        """The last mark given to :meth:`pnl` (used when a later call has none, e.g. while the book is resyncing)."""

    def seed(self, position: int, cost: int) -> None:
        """Start from a position held before the first fill seen: ``position`` signed (size units) and ``cost``, what
        it cost (money units, > 0 for either side: Kalshi's ``market_exposure_dollars``/``position_cost``). In YES
        terms a NO position of n contracts that cost c is a YES sale at (n × $1 − c) / n, so the basis is
        ``position × $1 + cost`` for a short and ``cost`` for a long; the cash flow is ``−basis`` (as if opened
        now), realized P&L 0."""
        if self.fills or self.position:
            raise ValueError(f"{self.ticker}: seed() only on an empty position book")
        self.position = position
        self.basis = cost if position >= 0 else position * PRICE_SCALE + cost
        self.cash_flow = -self.basis

    def apply(self, side: BookSide, price: int, size: int, fee: int) -> int:
        """One fill on the YES book: ``side`` ``bid``/``ask``, YES ``price`` (price units, 0..$1), ``size`` (size
        units, > 0), trade ``fee`` (money units, >= 0). Returns the realized P&L of this fill (fees excluded)."""
        if side == "bid":
            signed = size
        elif side == "ask":
            signed = -size
        else:
            raise ValueError(f"{self.ticker}: fill side {side!r} is not bid|ask")
        if size <= 0:
            raise ValueError(f"{self.ticker}: fill size {size} is not positive")
        if not 0 <= price <= PRICE_SCALE:
            raise ValueError(f"{self.ticker}: fill price {price} is outside 0..{PRICE_SCALE}")
        if fee < 0:
            raise ValueError(f"{self.ticker}: fill fee {fee} is negative")
        self.fills += 1
        self.volume += size
        self.fees += fee
        self.cash_flow -= signed * price
        position = self.position
        if position == 0 or (position > 0) == (signed > 0):
            self.position = position + signed
            self.basis += signed * price
            return 0
        closed = min(size, abs(position))
        close = closed if signed > 0 else -closed  # signed size of the closing part (opposite to the position)
        magnitude = abs(self.basis) * closed // abs(position)  # truncated toward zero
        removed = magnitude if self.basis >= 0 else -magnitude
        realized = -close * price - removed
        self.realized += realized
        self.basis -= removed
        self.position = position + close
        rest = signed - close
        if rest:  # through zero: position and basis are exactly 0 here; the rest opens the other side at price
            self.position = rest
            self.basis = rest * price
        return realized

    def pnl(self, mark: Mark | None = None) -> MarketPnL:
        """P&L at ``mark`` (the last mark given when ``None``); the unrealized and total parts are ``None`` without
        any mark unless the position is flat."""
        if mark is not None:
            self.last_mark = mark
        else:
            mark = self.last_mark
        if mark is not None:
            unrealized_x2: int | None = self.position * mark.twice - 2 * self.basis
            total_x2: int | None = 2 * self.cash_flow + self.position * mark.twice - 2 * self.fees
        elif self.position == 0:
            unrealized_x2 = 0
            total_x2 = 2 * (self.cash_flow - self.fees)
        else:
            unrealized_x2 = total_x2 = None
        return MarketPnL(
            ticker=self.ticker,
            position=self.position,
            basis=self.basis,
            realized=self.realized,
            fees=self.fees,
            cash_flow=self.cash_flow,
            rounding_fees=self.rounding_fees,
            rebates=self.rebates,
            mark=mark,
            unrealized_x2=unrealized_x2,
            total_x2=total_x2,
        )


@dataclass(frozen=True)
class PositionMismatch:
    """Our position differs from Kalshi's. ``source``: ``market_position``, ``rest`` or ``fill.post_position``."""

    ticker: str
    source: str
    ours: int
    theirs: int

    def __str__(self) -> str:
        return (
            f"position mismatch {self.ticker}: ours {size_str(self.ours)}, {self.source} says {size_str(self.theirs)}"
        )


@dataclass(frozen=True)
class FillResult:
    """What :meth:`Portfolio.apply_ws_fill` / :meth:`Portfolio.apply_rest_fill` did: ``applied`` False for a
    duplicate (same ticker and trade id as a fill seen before); ``fee_computed`` when the fill carried no fee and it
    was computed from the market's :class:`FeeSchedule`; ``mismatch`` from the fill's ``post_position``."""

    applied: bool
    realized: int = 0
    fee_computed: bool = False
    mismatch: PositionMismatch | None = None


class Portfolio:
    """Per-market :class:`PositionBook`s, fed with fills, with totals and checks against Kalshi's positions.

    ``fee_schedules`` (per ticker) or ``default_fees`` compute the fee of a WebSocket fill that carries none (with
    ``is_taker`` known); without them such a fill is refused (ValueError), never booked with a guessed fee.
    Fills are de-duplicated by (ticker, trade id) when they carry one (the REST backfill repeats WebSocket fills).
    """

    def __init__(
        self, fee_schedules: Mapping[str, FeeSchedule] | None = None, default_fees: FeeSchedule | None = None
    ) -> None:
        self.books: dict[str, PositionBook] = {}
        self.fee_schedules: dict[str, FeeSchedule] = dict(fee_schedules or {})
        self.default_fees = default_fees
        self.mismatches = 0
        """Count of position mismatches found by the checks."""
        self.duplicates = 0
        """Fills dropped as already seen (same ticker and trade id)."""
        self._seen: set[tuple[str, str]] = set()

    def book(self, ticker: str) -> PositionBook:
        """The position book of ``ticker`` (created empty on first use)."""
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = PositionBook(ticker)
        return book

    def apply_fill(
        self, ticker: str, side: BookSide, price: int, size: int, fee: int, trade_id: str | None = None
    ) -> FillResult:
        """One fill in YES-book terms (see :meth:`PositionBook.apply`); a repeated ``trade_id`` is not applied."""
        if trade_id and (ticker, trade_id) in self._seen:
            self.duplicates += 1
            return FillResult(applied=False)
        realized = self.book(ticker).apply(side, price, size, fee)  # a bad fill raises before its id is kept
        if trade_id:
            self._seen.add((ticker, trade_id))
        return FillResult(applied=True, realized=realized)

    def apply_ws_fill(self, fill: messages.Fill) -> FillResult:
        """A WebSocket ``fill`` (decoded): outcome ``side`` + ``action``, ``yes_price``, ``count``, ``fee``; then its
        ``post_position`` (when present) is checked against ours."""
        side = book_side_of(fill.side, fill.action)
        fee, computed = fill.fee, False
        if fee is None:
            schedule = self.fee_schedules.get(fill.market_ticker, self.default_fees)
            if schedule is None or fill.is_taker is None:
                raise ValueError(
                    f"fill {fill.trade_id or '?'} on {fill.market_ticker} has no fee_cost and no fee schedule "
                    "with is_taker to compute it"
                )
            fee, computed = schedule.fee(fill.yes_price, fill.count, fill.is_taker), True
        result = self.apply_fill(fill.market_ticker, side, fill.yes_price, fill.count, fee, fill.trade_id)
        if not result.applied:
            return result
        mismatch = None
        if fill.post_position is not None:
            mismatch = self.check_position(fill.market_ticker, fill.post_position, "fill.post_position")
        return FillResult(applied=True, realized=result.realized, fee_computed=computed, mismatch=mismatch)

    def apply_rest_fill(self, fill: rest.Fill) -> FillResult:
        """A REST fill (``GET /portfolio/fills``): ``book_side``, ``yes_price_dollars``, ``count_fp``, ``fee_cost``;
        de-duplicated against WebSocket fills by ``trade_id`` (= ``fill_id``)."""
        if fill.book_side not in ("bid", "ask"):
            raise ValueError(f"fill {fill.fill_id} on {fill.ticker}: book_side {fill.book_side!r} is not bid|ask")
        side: BookSide = "bid" if fill.book_side == "bid" else "ask"
        return self.apply_fill(
            fill.ticker, side, fill.yes_price_dollars, fill.count_fp, fill.fee_cost, fill.trade_id or fill.fill_id
        )

    def add_rounding_fee(self, ticker: str, amount: int) -> None:
        """Record a balance-level rounding fee (money units; see ``fees.balance_rounding``), apart from trade fees."""
        self.book(ticker).rounding_fees += amount

    def add_rebate(self, ticker: str, amount: int) -> None:
        """Record a rounding rebate Kalshi paid back (money units), apart from trade fees."""
        self.book(ticker).rebates += amount

    def seed_rest(self, positions: Iterable[rest.MarketPosition]) -> None:
        """Start from the REST positions (``position_fp``, ``market_exposure_dollars``): see
        :meth:`PositionBook.seed`."""
        for pos in positions:
            if pos.position_fp:
                self.book(pos.ticker).seed(pos.position_fp, pos.market_exposure_dollars)

    # -- checks -----------------------------------------------------------------------------------------------

    def check_position(self, ticker: str, theirs: int, source: str) -> PositionMismatch | None:
        """Compare our position in ``ticker`` with ``theirs`` (size units); a mismatch is counted and returned."""
        book = self.books.get(ticker)
        ours = 0 if book is None else book.position
        if ours == theirs:
            return None
        self.mismatches += 1
        return PositionMismatch(ticker, source, ours, theirs)

    def check_market_position(self, msg: messages.MarketPosition) -> PositionMismatch | None:
        """Check against a WebSocket ``market_position``."""
        return self.check_position(msg.market_ticker, msg.position, "market_position")

    def check_rest_positions(self, positions: Iterable[rest.MarketPosition]) -> list[PositionMismatch]:
        """Check against the full REST position list: every listed market, and every market we hold that the
        list does not have (Kalshi lists no flat positions, so a missing market means 0 there). Pass the whole
        unfiltered list, else the unlisted markets are reported."""
        found: list[PositionMismatch] = []
        listed: set[str] = set()
        for pos in positions:
            listed.add(pos.ticker)
            mismatch = self.check_position(pos.ticker, pos.position_fp, "rest")
            if mismatch is not None:
                found.append(mismatch)
        for ticker, book in self.books.items():
            if ticker not in listed and book.position:
                mismatch = self.check_position(ticker, 0, "rest")
                if mismatch is not None:
                    found.append(mismatch)
        return found

    # -- P&L --------------------------------------------------------------------------------------------------

    def pnl(self, ticker: str, mark: Mark | None = None) -> MarketPnL:
        """P&L of one market at ``mark`` (see :meth:`PositionBook.pnl`)."""
        return self.book(ticker).pnl(mark)

    def totals(self, marks: Mapping[str, Mark | None] | None = None) -> PortfolioPnL:
        """P&L of every market and the sums; ``marks`` per ticker (a missing or ``None`` mark: the last one)."""
        marks = marks or {}
        per = tuple(book.pnl(marks.get(ticker)) for ticker, book in sorted(self.books.items()))
        total_x2: int | None = 0
        for m in per:
            total_x2 = None if total_x2 is None or m.total_x2 is None else total_x2 + m.total_x2
        return PortfolioPnL(
            markets=per,
            realized=sum(m.realized for m in per),
            fees=sum(m.fees for m in per),
            cash_flow=sum(m.cash_flow for m in per),
            rounding_fees=sum(m.rounding_fees for m in per),
            rebates=sum(m.rebates for m in per),
            gross_position=sum(abs(m.position) for m in per),
            total_x2=total_x2,
        )

    def summary_line(self, marks: Mapping[str, Mark | None] | None = None) -> str:
        """One line: gross position, realized, fees and total P&L (``?`` without marks)."""
        t = self.totals(marks)
        total = "?" if t.total is None else money_str(t.total)
        return (
            f"position {size_str(t.gross_position)} realized {money_str(t.realized)} "
            f"fees {money_str(t.fees)} total {total}"
        )
