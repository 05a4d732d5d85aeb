"""The in-process benchmark rows: each builds a fresh pipeline object with ``feed(frame, recv_ns)`` and, where it keeps
books, ``digest()``: a hash of every book in integer units (price in 1/10,000 $, size in 1/100 contract), so that the
runner can check that the project, the baseline and kalshi-sdk ended with the same books.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["ROWS", "Row", "book_digest"]


def book_digest(books: Iterable[tuple[str, Iterable[tuple[int, int]], Iterable[tuple[int, int]]]]) -> str:
    """sha256 over (ticker, sorted YES levels, sorted NO levels) in integer units, markets sorted by ticker."""
    h = hashlib.sha256()
    for ticker, yes, no in sorted(books, key=lambda b: b[0]):
        h.update(ticker.encode())
        h.update(repr(sorted(yes)).encode())
        h.update(b"|")
        h.update(repr(sorted(no)).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _decimal_levels(levels: dict[Decimal, Decimal]) -> list[tuple[int, int]]:
    return [(int(p * 10_000), int(s * 100)) for p, s in levels.items()]


def _quiet_logging() -> None:
    """``--log-level WARNING``, as the project's CLI sets it (one stderr handler on the root logger)."""
    from market_making_bot.views.output import setup_logging

    setup_logging("WARNING")


class Row:
    """One benchmark row: ``prepare(frames)`` turns the recording into this row's input (once, untimed), ``make()``
    builds a fresh pipeline."""

    name: str = ""
    title: str = ""
    needs: str = "core"
    """What must be importable: ``core`` (the project), ``compiled`` (the project with its compiled hot path built),
    ``sdk`` (kalshi-sdk) or ``none``."""
    env: dict[str, str] = {}
    """Environment of this row's worker process (every row has a process of its own)."""

    def prepare(self, frames: list[str]) -> Sequence[Any]:
        return frames

    def make(self) -> Any:
        raise NotImplementedError


class _Fn:
    """Adapts a one-argument function to ``feed(frame, recv_ns)``."""

    __slots__ = ("feed",)

    def __init__(self, feed: Callable[[Any, int], object]) -> None:
        self.feed = feed


class FloorRow(Row):
    name = "floor"
    title = "decode floor (msgspec, typed structs, no conversion)"
    needs = "none"

    def make(self) -> Any:
        from .floor import decode

        def feed(frame: str, recv_ns: int) -> object:
            return decode(frame)

        return _Fn(feed)


class DecodeRow(Row):
    name = "decode"
    title = "project decode_frame (typed decode + integer units)"
    env = {"MARKET_MAKING_BOT_PURE": "1"}

    def make(self) -> Any:
        from market_making_bot.kalshi import decode_frame

        def feed(frame: str, recv_ns: int) -> object:
            return decode_frame(frame)

        return _Fn(feed)


class _BookFeed:
    __slots__ = ("books", "feed")

    def __init__(self) -> None:
        from market_making_bot.kalshi import OrderbookDelta
        from market_making_bot.marketdata.orderbook import OrderBook

        books: dict[str, OrderBook] = {}
        self.books = books
        delta_cls = OrderbookDelta

        def feed(msg: Any, recv_ns: int) -> None:
            if msg.__class__ is delta_cls:
                book = books.get(msg.market_ticker)
                if book is not None:
                    book.apply_delta(msg.side, msg.price, msg.delta)
            else:
                book = books.get(msg.market_ticker)
                if book is None:
                    book = books[msg.market_ticker] = OrderBook()
                book.apply_snapshot(msg.yes, msg.no)

        self.feed = feed

    def digest(self) -> str:
        return book_digest((t, b.yes.items(), b.no.items()) for t, b in self.books.items())


class BookRow(Row):
    name = "book"
    title = "project OrderBook update only (pre-decoded snapshots and deltas)"

    def prepare(self, frames: list[str]) -> Sequence[Any]:
        from market_making_bot.kalshi import OrderbookDelta, OrderbookSnapshot, decode_frame

        out = []
        for frame in frames:
            try:
                msg = decode_frame(frame)
            except ValueError:
                continue
            if isinstance(msg, OrderbookDelta | OrderbookSnapshot):
                out.append(msg)
        return out

    def make(self) -> Any:
        return _BookFeed()


class _DecimalBookFeed:
    __slots__ = ("books", "feed")

    def __init__(self) -> None:
        from .baseline import DecimalBook

        books: dict[str, DecimalBook] = {}
        self.books = books

        def feed(item: tuple[Any, ...], recv_ns: int) -> None:
            if item[0] == "delta":
                book = books.get(item[1])
                if book is not None:
                    book.apply_delta(item[2], item[3], item[4])
                    book.top()
            else:
                book = books.get(item[1])
                if book is None:
                    book = books[item[1]] = DecimalBook()
                book.apply_snapshot(item[2])
                book.top()

        self.feed = feed

    def digest(self) -> str:
        return book_digest((t, _decimal_levels(b.yes), _decimal_levels(b.no)) for t, b in self.books.items())


class DecimalBookRow(Row):
    name = "book_baseline"
    title = "baseline Decimal dict book update only (pre-parsed, max() for the top)"
    needs = "none"

    def prepare(self, frames: list[str]) -> Sequence[Any]:
        import json

        out: list[tuple[Any, ...]] = []
        for frame in frames:
            data = json.loads(frame)
            msg = data.get("msg")
            if data.get("type") == "orderbook_delta":
                out.append(
                    (
                        "delta",
                        msg["market_ticker"],
                        msg["side"],
                        Decimal(msg["price_dollars"]),
                        Decimal(msg["delta_fp"]),
                    )
                )
            elif data.get("type") == "orderbook_snapshot":
                out.append(("snapshot", msg["market_ticker"], msg))
        return out

    def make(self) -> Any:
        return _DecimalBookFeed()


class _CoreFeed:
    __slots__ = ("core", "feed")

    def __init__(self) -> None:
        from market_making_bot.feed.core import Core

        self.core = Core()
        self.feed = self.core.feed

    def digest(self) -> str:
        markets = self.core.state.markets
        return book_digest((t, m.book.yes.items(), m.book.no.items()) for t, m in markets.items())

    def counters(self) -> dict[str, Any]:
        return dict(self.core.counters)


class PipelineRow(Row):
    name = "pipeline"
    title = "project full pipeline, pure Python: Core.feed (decode, seq, book, state, handlers; log WARNING)"
    env = {"MARKET_MAKING_BOT_PURE": "1"}

    def make(self) -> Any:
        _quiet_logging()
        return _CoreFeed()


class CompiledPipelineRow(PipelineRow):
    name = "pipeline_compiled"
    title = "project full pipeline, compiled hot path (feed/_hotpath.c: deltas, tickers, trades, fills, positions)"
    needs = "compiled"
    env = {"MARKET_MAKING_BOT_PURE": "0"}

    def make(self) -> Any:
        from market_making_bot.feed import hotpath

        if not hotpath.COMPILED:
            raise RuntimeError("the compiled hot path is not built")
        return super().make()


class _BaselineFeed:
    __slots__ = ("feed", "pipeline")

    def __init__(self) -> None:
        from .baseline import BaselinePipeline

        self.pipeline = BaselinePipeline()
        self.feed = self.pipeline.feed

    def digest(self) -> str:
        books = self.pipeline.books()
        return book_digest((t, _decimal_levels(y), _decimal_levels(n)) for t, (y, n) in books.items())


class BaselineRow(Row):
    name = "baseline"
    title = "baseline: json.loads + Decimal dict books (public clients)"
    needs = "none"

    def make(self) -> Any:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
        return _BaselineFeed()


class _SdkFeed:
    __slots__ = ("feed", "pipeline")

    def __init__(self) -> None:
        from .sdk import SdkPipeline

        self.pipeline = SdkPipeline()
        self.feed = self.pipeline.feed

    def digest(self) -> str:
        books = self.pipeline.books._books
        return book_digest((t, _decimal_levels(b.yes), _decimal_levels(b.no)) for t, b in books.items())


class SdkRow(Row):
    name = "sdk"
    title = "kalshi-sdk 22.4.0: json.loads + pydantic models + its Decimal OrderbookManager"
    needs = "sdk"

    def make(self) -> Any:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
        return _SdkFeed()


ROWS: dict[str, Row] = {
    row.name: row
    for row in (
        FloorRow(),
        DecodeRow(),
        BookRow(),
        DecimalBookRow(),
        PipelineRow(),
        CompiledPipelineRow(),
        BaselineRow(),
        SdkRow(),
    )
}
