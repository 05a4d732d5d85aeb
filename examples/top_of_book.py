"""Print ``TICKER BID ASK`` each time the best YES bid or the best YES ask of a market changes.

    python examples/top_of_book.py --replay FILE [FILE ...]     # a journal (--record) or a raw capture
    python examples/top_of_book.py --simulate --duration 10     # the built-in exchange simulator
    python examples/top_of_book.py --ticker KXEPSTEINLIST-26-HKIS  # live, with the key from .env

Prices are 4-decimal dollar strings, ``-`` for a missing side. A line is printed only while the book is usable: a
book that turns unusable (a gap, a lost connection) prints nothing, and its next usable state prints a line if its
top differs from the last line printed. Nothing else goes to standard output; logs go to standard error.
Written against the public API only (``import market_making_bot as mmb``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import market_making_bot as mmb

BOOK_EVENTS = (mmb.BookSnapshot, mmb.BookChanged, mmb.BookUsable)


class TopOfBook:
    """Turns book events into the lines to print (no I/O: easy to test and to reuse in a strategy)."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[str, str]] = {}

    def line(self, event: mmb.Event) -> str | None:
        if isinstance(event, mmb.BookChanged) and not event.top_changed:
            return None  # a change below the top (most deltas)
        market = event.market  # type: ignore[attr-defined]  # every kind in BOOK_EVENTS carries its market
        if not market.usable:
            return None
        book = market.book
        bid, ask = book.best_yes_bid(), book.best_yes_ask()
        top = ("-" if bid is None else mmb.price_str(bid), "-" if ask is None else mmb.price_str(ask))
        ticker = event.ticker  # type: ignore[attr-defined]
        if self.last.get(ticker) == top:
            return None
        self.last[ticker] = top
        return f"{ticker} {top[0]} {top[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--replay", nargs="+", metavar="FILE", help="replay recordings")
    source.add_argument("--simulate", action="store_true", help="run against the built-in simulator")
    source.add_argument("--ticker", action="append", metavar="T", help="live market (repeatable)")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="live: stop after S seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    top = TopOfBook()

    def show(event: mmb.Event) -> None:
        text = top.line(event)
        if text is not None:
            print(text, flush=True)

    if args.replay:
        try:
            for event in mmb.replay(args.replay, kinds=BOOK_EVENTS):
                show(event)
        except (OSError, mmb.RecordingError) as exc:  # a file that cannot be used
            print(f"top_of_book: {exc}", file=sys.stderr)
            return 1
        return 0

    async def live() -> None:
        opened = mmb.simulate() if args.simulate else mmb.connect(args.ticker)
        async with opened as feed:
            for kind in BOOK_EVENTS:
                feed.bus.subscribe(kind, show)
            await feed.run(duration=args.duration)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(live())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
