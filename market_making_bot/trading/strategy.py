"""The strategy API: plain synchronous Python that reads the feed and states the quotes it wants (pure).

A strategy subclasses :class:`Strategy` and overrides the callbacks it needs; each gets a :class:`Context`, its
window on the bot::

    class Joiner(Strategy):
        def on_book(self, ctx: Context, ticker: str) -> None:
            book = ctx.book(ticker)
            if book is None or book.bid is None or book.ask is None:
                ctx.quote(ticker, bid=None, ask=None)
                return
            ctx.quote(ticker, bid=(book.bid, 100), ask=(book.ask, 100))   # price units, size units

Callbacks (all optional, all synchronous; the engine calls them in the feed's order):

* ``on_start(ctx)`` once, before the first event; ``on_stop(ctx)`` once, when the bot stops (its orders are
  cancelled by the bot afterwards, whatever the strategy does);
* ``on_book(ctx, ticker)``: the market's book changed (snapshot or delta) and is usable;
* ``on_book_usable(ctx, ticker)`` / ``on_book_unusable(ctx, ticker, reason)``: the book became usable (a fresh
  snapshot) or not (gap, crossed, disconnect, stale). While a book is not usable the bot cancels that market's
  orders and ignores quotes for it: nothing is placed there until the next snapshot;
* ``on_trade(ctx, ticker, trade)``: a public trade (``kalshi.messages.Trade``);
* ``on_fill(ctx, fill)``: one of the account's fills (:class:`FillInfo`), already in the positions and P&L;
* ``on_order(ctx, update)``: one of the bot's orders changed (``trading.orders.OrderUpdate``);
* ``on_timer(ctx, name)``: a timer set with ``ctx.set_timer`` is due.

What a strategy states, through the context:

* ``ctx.quote(ticker, bid=(price, size) | None, ask=(price, size) | None)``: the resting orders wanted on that
  market (YES book: ``bid`` buys YES, ``ask`` sells YES); the bot turns them into the fewest writes
  (``trading.quotes.diff_quotes``: an order already right is kept, a size decrease keeps queue priority, else cancel
  and replace), each create checked by ``trading.risk.RiskCheck``. ``None`` = no order on that side. The wanted
  quotes stay until changed: a strategy need not repeat them on every event;
* ``ctx.order(ticker, side, price, size)``: one explicit order (risk-checked too), outside the quotes; returns a
  handle (``str``) for ``ctx.cancel``; ``ctx.cancel(handle)``;
* ``ctx.set_timer(name, seconds, repeat=False)`` / ``ctx.cancel_timer(name)``.

What it reads: ``ctx.book(ticker)`` (:class:`BookView`), ``ctx.position(ticker)``, ``ctx.pnl(ticker)`` /
``ctx.total_pnl()`` (exact, ``trading.portfolio``), ``ctx.orders(ticker)`` (the bot's open orders),
``ctx.params`` (``--param KEY=VALUE``, strings), ``ctx.limits`` (``trading.risk.RiskLimits``), ``ctx.now_ns``.

Units everywhere: prices 1/10,000 $, sizes 1/100 contract, money 1/1,000,000 $ (``market_making_bot.units``).
A strategy is tested without a socket by feeding ``trading.engine.Engine`` events.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from market_making_bot.units import PRICE_SCALE

if TYPE_CHECKING:
    from market_making_bot.kalshi.messages import Trade
    from market_making_bot.marketdata.orderbook import OrderBook
    from market_making_bot.trading.orders import OrderUpdate
    from market_making_bot.trading.portfolio import MarketPnL, PortfolioPnL
    from market_making_bot.trading.quotes import LiveOrder
    from market_making_bot.trading.risk import RiskLimits

__all__ = ["BookView", "Context", "FillInfo", "Side", "Strategy", "StrategyError"]

Side = Literal["bid", "ask"]


class StrategyError(ValueError):
    """A strategy asked for something impossible (a price outside 0..$1, a negative size, an unknown market)."""


@dataclass(frozen=True, slots=True)
class BookView:
    """The top of one market's YES book, read-only: best ``bid``/``ask`` (price units, ``None`` when a side is
    empty) and their sizes; ``book`` is the feed's full book (read it, never change it)."""

    ticker: str
    usable: bool
    bid: int | None
    bid_size: int | None
    ask: int | None
    ask_size: int | None
    book: OrderBook

    @classmethod
    def of(cls, ticker: str, book: OrderBook, usable: bool) -> BookView:
        return cls(
            ticker, usable, book.best_yes_bid(), book.yes_bid_size(), book.best_yes_ask(), book.yes_ask_size(), book
        )

    @property
    def mid_x2(self) -> int | None:
        """Twice the mid (exact in price units), ``None`` if a side is empty or the book is crossed."""
        if self.bid is None or self.ask is None or self.bid >= self.ask:
            return None
        return self.bid + self.ask

    @property
    def microprice(self) -> int | None:
        """The size-weighted mid, ``(bid × ask_size + ask × bid_size) / (bid_size + ask_size)``, floored to price
        units (leans toward the side with less size: the price the next trade is more likely to move to)."""
        if self.mid_x2 is None or not self.bid_size or not self.ask_size:
            return None
        assert self.bid is not None and self.ask is not None
        return (self.bid * self.ask_size + self.ask * self.bid_size) // (self.bid_size + self.ask_size)


@dataclass(frozen=True, slots=True)
class FillInfo:
    """One of the account's fills on the YES book: ``side`` ``bid`` (bought YES) or ``ask``; ``ours``: it filled
    an order of this bot (else another program on the account)."""

    ticker: str
    side: Side
    price: int
    size: int
    fee: int
    is_taker: bool | None
    order_id: str | None
    ours: bool


class Context(abc.ABC):
    """The strategy's window on the bot (see the module docstring); the engine implements it."""

    params: Mapping[str, str]
    limits: RiskLimits
    tickers: tuple[str, ...]

    @property
    @abc.abstractmethod
    def now_ns(self) -> int: ...

    @abc.abstractmethod
    def book(self, ticker: str) -> BookView | None:
        """The market's book top, or ``None`` before its first snapshot."""

    @abc.abstractmethod
    def usable(self, ticker: str) -> bool: ...

    @abc.abstractmethod
    def position(self, ticker: str) -> int:
        """Signed position (size units, + YES / − NO) from the fills seen (and the start position)."""

    @abc.abstractmethod
    def pnl(self, ticker: str) -> MarketPnL: ...

    @abc.abstractmethod
    def total_pnl(self) -> PortfolioPnL: ...

    @abc.abstractmethod
    def orders(self, ticker: str | None = None) -> list[LiveOrder]:
        """The bot's open orders (``order_id`` is the client order id), optionally on one market."""

    @abc.abstractmethod
    def quote(self, ticker: str, bid: tuple[int, int] | None = None, ask: tuple[int, int] | None = None) -> None: ...

    @abc.abstractmethod
    def order(self, ticker: str, side: Side, price: int, size: int) -> str: ...

    @abc.abstractmethod
    def cancel(self, handle: str) -> None: ...

    @abc.abstractmethod
    def set_timer(self, name: str, seconds: float, repeat: bool = False) -> None: ...

    @abc.abstractmethod
    def cancel_timer(self, name: str) -> None: ...

    @abc.abstractmethod
    def log(self, text: str) -> None:
        """One INFO line in the bot's log, prefixed with the strategy's name."""


class Strategy:
    """Base class of a strategy: every callback does nothing. ``params`` are the ``--param`` values."""

    def __init__(self, params: Mapping[str, str] | None = None) -> None:
        self.params: dict[str, str] = dict(params or {})

    def on_start(self, ctx: Context) -> None:
        pass

    def on_stop(self, ctx: Context) -> None:
        pass

    def on_book(self, ctx: Context, ticker: str) -> None:
        pass

    def on_book_usable(self, ctx: Context, ticker: str) -> None:
        pass

    def on_book_unusable(self, ctx: Context, ticker: str, reason: str) -> None:
        pass

    def on_trade(self, ctx: Context, ticker: str, trade: Trade) -> None:
        pass

    def on_fill(self, ctx: Context, fill: FillInfo) -> None:
        pass

    def on_order(self, ctx: Context, update: OrderUpdate) -> None:
        pass

    def on_timer(self, ctx: Context, name: str) -> None:
        pass


def check_quote(ticker: str, side: str, price: int, size: int) -> None:
    """StrategyError unless ``price`` is strictly inside $0..$1 and ``size`` is a non-negative int."""
    if type(price) is not int or not 0 < price < PRICE_SCALE:
        raise StrategyError(f"{ticker} {side}: price {price!r} must be an int strictly between 0 and {PRICE_SCALE}")
    if type(size) is not int or size < 0:
        raise StrategyError(f"{ticker} {side}: size {size!r} must be a non-negative int (size units)")
