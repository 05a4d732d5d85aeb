"""Rolling trade-flow imbalance and the microprice, per market, printed at each public trade.

    python examples/flow_imbalance.py --replay FILE [FILE ...]
    python examples/flow_imbalance.py --simulate --duration 20 [--window 30]

For each trade: ``TICKER imbalance=+0.42 trades=17 microprice=0.4512`` where

* imbalance = (YES-taker contracts - NO-taker contracts) / all taker contracts over the last ``--window`` seconds
  (by receive time): +1 is all buying YES, -1 all buying NO;
* microprice = the top-of-book mid weighted by the opposite side's size, (bid x ask size + ask x bid size) /
  (bid size + ask size), a short-term fair value; ``-`` while the book is not usable or a side is empty.

Exact integer arithmetic on the feed's units (prices 1/10,000 $, sizes 1/100 contract); rounded only to print.
Written against the public API only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import deque
from fractions import Fraction

import market_making_bot as mmb

KINDS = (mmb.TradeSeen,)


def fixed(value: Fraction, places: int, sign: bool = False) -> str:
    """``value`` rounded (half to even) to ``places`` decimals, exactly (Fraction's own format needs Python 3.12)."""
    scaled = round(value * 10**places)
    digits = f"{abs(scaled):0{places + 1}d}"
    text = f"{digits[:-places]}.{digits[-places:]}"
    return ("-" if scaled < 0 else "+" if sign else "") + text


def microprice(market: mmb.MarketState) -> Fraction | None:
    """In price units, or ``None`` while the book is not usable or one side is empty."""
    if not market.usable:
        return None
    book = market.book
    bid, ask, bid_size, ask_size = book.best_yes_bid(), book.best_yes_ask(), book.yes_bid_size(), book.yes_ask_size()
    if bid is None or ask is None or not bid_size or not ask_size:
        return None
    return Fraction(bid * ask_size + ask * bid_size, bid_size + ask_size)


class FlowImbalance:
    """Per-market rolling sums of taker contracts by side (no I/O)."""

    def __init__(self, window_s: float) -> None:
        self.window_ns = int(window_s * 1_000_000_000)
        self.trades: dict[str, deque[tuple[int, int]]] = {}  # ticker -> (recv_ns, signed contracts)
        self.sums: dict[str, tuple[int, int]] = {}  # ticker -> (signed total, absolute total)

    def add(self, event: mmb.TradeSeen) -> str:
        msg = event.msg
        sign = {"yes": 1, "no": -1}.get(msg.taker_side or "", 0)
        recent = self.trades.setdefault(event.ticker, deque())
        signed, total = self.sums.get(event.ticker, (0, 0))
        recent.append((event.recv_ns, sign * msg.count))
        signed, total = signed + sign * msg.count, total + abs(sign) * msg.count
        while recent and recent[0][0] <= event.recv_ns - self.window_ns:
            _, old = recent.popleft()
            signed, total = signed - old, total - abs(old)
        self.sums[event.ticker] = (signed, total)
        imbalance = fixed(Fraction(signed, total), 2, sign=True) if total else "+0.00"
        micro = microprice(event.market)
        shown = "-" if micro is None else fixed(micro / mmb.PRICE_SCALE, 4)
        return f"{event.ticker} imbalance={imbalance} trades={len(recent)} microprice={shown}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--replay", nargs="+", metavar="FILE", help="replay recordings")
    source.add_argument("--simulate", action="store_true", help="run against the built-in simulator")
    source.add_argument("--ticker", action="append", metavar="T", help="live market (repeatable)")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="live: stop after S seconds")
    parser.add_argument("--window", type=float, default=60.0, metavar="S", help="rolling window (default 60 s)")
    args = parser.parse_args(argv)
    if not args.window > 0:
        parser.error("--window must be a positive number of seconds")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    flow = FlowImbalance(args.window)

    def show(event: mmb.TradeSeen) -> None:
        print(flow.add(event), flush=True)

    if args.replay:
        try:
            for event in mmb.replay(args.replay, kinds=KINDS):
                show(event)  # type: ignore[arg-type]  # only TradeSeen was asked for
        except (OSError, mmb.RecordingError) as exc:
            print(f"flow_imbalance: {exc}", file=sys.stderr)
            return 1
        return 0

    async def live() -> None:
        opened = mmb.simulate() if args.simulate else mmb.connect(args.ticker)
        async with opened as feed:
            feed.bus.subscribe(mmb.TradeSeen, show)
            await feed.run(duration=args.duration)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(live())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
