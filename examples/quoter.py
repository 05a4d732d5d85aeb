"""The reference strategy: a market maker quoting around the mid (or the microprice) with inventory skew.

    python -m market_making_bot.bot --simulate --strategy examples/quoter.py:Quoter --duration 30
    python -m market_making_bot.bot --simulate --strategy examples/quoter.py:Quoter \\
        --param half_spread=0.02 --param size=2 --param skew=0.005 --param fair=micro --max-position 10

Parameters (``--param KEY=VALUE``; dollars and contracts as decimal text, read exactly):

=============== ========= =========================================================================================
``half_spread`` ``0.005`` dollars each side of the fair price
``size``        ``1``     contracts per side
``skew``        ``0.002`` dollars the quotes move down per contract long (up per contract short): inventory skew
``fair``        ``mid``   ``mid`` or ``micro`` (the size-weighted mid)
``tick``        ``0.01``  the market's price step: bids are rounded down to it, asks up
``limit``       (none)    contracts of position the quoter aims to stay inside; default ``--max-position``
``widen_at``    ``0.5``   past this fraction of ``limit``, the side that adds to the position widens by one more
                          ``half_spread``; the side is pulled (or shrunk) once its size would cross ``limit``
=============== ========= =========================================================================================

Never crosses the book (a bid at most one tick under the best ask, an ask at least one over the best bid) and
quotes nothing while the book is one-sided or crossed. Plain synchronous Python: ``tests/test_bot_engine.py``
drives it through the engine without a socket.
"""

from __future__ import annotations

from decimal import Decimal

from market_making_bot.trading.strategy import Context, FillInfo, Strategy
from market_making_bot.units import PRICE_SCALE, SIZE_SCALE, parse_price_dollars, parse_size_fp, price_str, size_str

__all__ = ["Quoter"]


def _param(params: dict[str, str], key: str, default: str) -> str:
    return params.get(key, default).strip()


class Quoter(Strategy):
    """Quotes ``size`` at fair ± ``half_spread`` − ``skew`` × position (module docstring)."""

    def __init__(self, params: dict[str, str] | None = None) -> None:
        super().__init__(params)
        known = {"half_spread", "size", "skew", "fair", "tick", "limit", "widen_at"}
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(known))})")
        p = self.params
        try:
            self.half_spread = parse_price_dollars(_param(p, "half_spread", "0.005"))
            self.size = parse_size_fp(_param(p, "size", "1"))
            self.skew = parse_price_dollars(_param(p, "skew", "0.002"))  # per contract of position
            self.tick = parse_price_dollars(_param(p, "tick", "0.01"))
            self.limit: int | None = parse_size_fp(p["limit"]) if "limit" in p else None
            widen = _param(p, "widen_at", "0.5")
            self.widen_at_pct = int(Decimal(widen) * 100)
        except (ValueError, ArithmeticError) as exc:
            raise ValueError(f"bad parameter: {exc}") from None
        self.fair = _param(p, "fair", "mid")
        if self.fair not in ("mid", "micro"):
            raise ValueError(f"parameter fair must be mid or micro, not {self.fair!r}")
        if self.size <= 0 or self.tick <= 0 or not 0 <= self.widen_at_pct <= 100:
            raise ValueError("parameters size and tick must be > 0 and widen_at within 0..1")
        if self.limit is not None and self.limit <= 0:
            raise ValueError("parameter limit must be > 0")

    def on_start(self, ctx: Context) -> None:
        if self.limit is None:
            self.limit = ctx.limits.max_position
        limit = "none" if self.limit is None else size_str(self.limit)
        ctx.log(
            f"quoting {', '.join(ctx.tickers)}: half-spread ${price_str(self.half_spread)}, "
            f"size {size_str(self.size)}, skew ${price_str(self.skew)}/contract, fair {self.fair}, limit {limit}"
        )

    def on_book(self, ctx: Context, ticker: str) -> None:
        self.requote(ctx, ticker)

    def on_fill(self, ctx: Context, fill: FillInfo) -> None:
        self.requote(ctx, fill.ticker)

    def on_book_unusable(self, ctx: Context, ticker: str, reason: str) -> None:
        ctx.quote(ticker, bid=None, ask=None)  # the bot cancels anyway; the quotes restart on the next book

    def quotes(self, ctx: Context, ticker: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The wanted (bid, ask) of one market now, each ``(price, size)`` or ``None``."""
        book = ctx.book(ticker)
        if book is None or not book.usable or book.bid is None or book.ask is None or book.bid >= book.ask:
            return None, None
        micro = book.microprice if self.fair == "micro" else None
        fair_x2 = 2 * micro if micro is not None else book.bid + book.ask  # twice the fair price: the mid is exact
        position = ctx.position(ticker)
        # skew × position in contracts, exact: skew (price units per contract) × position (size units) / 100
        shift_x2 = 2 * self.skew * position // SIZE_SCALE
        bid_x2 = fair_x2 - 2 * self.half_spread - shift_x2
        ask_x2 = fair_x2 + 2 * self.half_spread - shift_x2
        bid_size = ask_size = self.size
        limit = self.limit
        if limit is not None:
            widen = limit * self.widen_at_pct // 100
            if position > widen:
                bid_x2 -= 2 * self.half_spread
            if -position > widen:
                ask_x2 += 2 * self.half_spread
            bid_size = min(bid_size, limit - position)  # what a full fill of the bid would leave inside the limit
            ask_size = min(ask_size, limit + position)
        tick = self.tick
        bid = (bid_x2 // 2) // tick * tick
        ask_up = -(-ask_x2 // 2)  # ceil(ask_x2 / 2)
        ask = -(-ask_up // tick) * tick  # rounded up to the tick
        bid = min(bid, book.ask - tick)  # never cross
        ask = max(ask, book.bid + tick)
        want_bid = (bid, bid_size) if bid_size > 0 and 0 < bid < PRICE_SCALE else None
        want_ask = (ask, ask_size) if ask_size > 0 and 0 < ask < PRICE_SCALE else None
        if want_bid is not None and want_ask is not None and bid >= ask:
            return None, None
        return want_bid, want_ask

    def requote(self, ctx: Context, ticker: str) -> None:
        bid, ask = self.quotes(ctx, ticker)
        ctx.quote(ticker, bid=bid, ask=ask)
