"""Export journals to tables for analysis: ``python -m market_making_bot.export JOURNAL [...] --to parquet --out DIR``.

The journals are replayed through the same core as a live run, and four tables come out:

* ``trades``: one row per public trade (deduplicated by ``trade_id``, as in the live state);
* ``fills``: one row per fill of yours;
* ``top_of_book``: one row per change of the best YES bid or ask (price or size) of a market;
* ``snapshots``: one row per price level of every order-book snapshot.

Parquet (with pyarrow: ``pip install -e '.[export]'`` in a checkout) keeps types: prices, sizes and money as decimals
(``decimal128``), times as UTC timestamps in nanoseconds. CSV writes the same columns as text (decimal strings, ISO
8601 times, plus the raw ``recv_ns``). Both open directly in pandas or polars.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import BookChanged, BookSnapshot, FillSeen, TradeSeen
from market_making_bot.storage.replay import run_replay

__all__ = ["TABLES", "collect", "write_csv", "write_parquet"]

log = logging.getLogger("market_making_bot.storage.export")

# column name -> kind: time (ns), str, price (4 dp), size (2 dp), money (6 dp), bool, int
Schema = dict[str, str]
TABLES: dict[str, Schema] = {
    "trades": {
        "recv_time": "time", "market": "str", "trade_id": "str", "yes_price": "price", "no_price": "price",
        "count": "size", "taker_side": "str", "exchange_time": "time",
    },
    "fills": {
        "recv_time": "time", "market": "str", "trade_id": "str", "order_id": "str", "side": "str", "action": "str",
        "yes_price": "price", "count": "size", "fee": "money", "is_taker": "bool", "post_position": "size",
        "exchange_time": "time",
    },
    "top_of_book": {
        "recv_time": "time", "market": "str", "best_yes_bid": "price", "best_yes_bid_size": "size",
        "best_yes_ask": "price", "best_yes_ask_size": "size", "spread": "price", "usable": "bool",
    },
    "snapshots": {
        "recv_time": "time", "market": "str", "sid": "int", "seq": "int", "side": "str", "price": "price",
        "size": "size",
    },
}  # fmt: skip
_SCALE = {"price": 4, "size": 2, "money": 6}


def collect(
    paths: Sequence[str | Path], tickers: Sequence[str] | None = None, *, core: Core | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Replay ``paths`` and return the rows of every table (values in the project's integer units and ns).
    ``core``: the feed to replay through (default a new one for ``tickers``), e.g. with a log consumer attached."""
    if core is None:
        core = Core(list(tickers) if tickers else None)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    tops: dict[str, tuple[int | None, int | None, int | None, int | None]] = {}

    def on_trade(event: TradeSeen) -> None:  # new trades only: the feed drops a trade seen twice
        msg = event.msg
        rows["trades"].append({
            "recv_time": event.recv_ns, "market": event.ticker, "trade_id": msg.trade_id, "yes_price": msg.yes_price,
            "no_price": msg.no_price, "count": msg.count, "taker_side": msg.taker_side,
            "exchange_time": None if msg.ts_ms is None else msg.ts_ms * 1_000_000,
        })  # fmt: skip

    def on_fill(event: FillSeen) -> None:
        msg = event.msg
        rows["fills"].append({
            "recv_time": event.recv_ns, "market": event.ticker, "trade_id": msg.trade_id, "order_id": msg.order_id,
            "side": msg.side, "action": msg.action, "yes_price": msg.yes_price, "count": msg.count,
            "fee": msg.fee, "is_taker": msg.is_taker, "post_position": msg.post_position,
            "exchange_time": None if msg.ts_ms is None else msg.ts_ms * 1_000_000,
        })  # fmt: skip

    def on_snapshot(event: BookSnapshot) -> None:
        msg = event.msg
        for side, levels in (("yes", msg.yes), ("no", msg.no)):
            for price, size in levels:
                rows["snapshots"].append({
                    "recv_time": event.recv_ns, "market": event.ticker, "sid": msg.sid, "seq": msg.seq, "side": side,
                    "price": price, "size": size,
                })  # fmt: skip
        on_book(event)

    def on_book(event: BookSnapshot | BookChanged) -> None:
        # Emitted once the frame is applied (a crossed or not-yet-acked book is already marked): ``usable`` is
        # the book's state after the frame.
        ticker, market = event.ticker, event.market
        book = market.book
        top = (book.best_yes_bid(), book.yes_bid_size(), book.best_yes_ask(), book.yes_ask_size())
        if tops.get(ticker) != top:
            tops[ticker] = top
            rows["top_of_book"].append({
                "recv_time": event.recv_ns, "market": ticker, "best_yes_bid": top[0], "best_yes_bid_size": top[1],
                "best_yes_ask": top[2], "best_yes_ask_size": top[3], "spread": book.spread(), "usable": market.usable,
            })  # fmt: skip

    bus = core.bus
    bus.subscribe(TradeSeen, on_trade)
    bus.subscribe(FillSeen, on_fill)
    bus.subscribe(BookSnapshot, on_snapshot)
    bus.subscribe(BookChanged, on_book)
    run_replay(paths, core)
    return rows


def _decimal(value: int | None, places: int) -> Decimal | None:
    return None if value is None else Decimal(value).scaleb(-places)


def write_parquet(rows: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types: dict[str, Callable[[], Any]] = {
        "time": lambda: pa.timestamp("ns", tz="UTC"),
        "str": pa.string,
        "price": lambda: pa.decimal128(9, 4),
        "size": lambda: pa.decimal128(18, 2),
        "money": lambda: pa.decimal128(18, 6),
        "bool": pa.bool_,
        "int": pa.int64,
    }
    written = []
    for name, schema in TABLES.items():
        columns = {}
        for col, kind in schema.items():
            values = [r[col] for r in rows[name]]
            if kind in _SCALE:
                values = [_decimal(v, _SCALE[kind]) for v in values]
            if kind == "time":
                columns[col] = pa.array(values, type=pa.int64()).cast(types[kind]())
            else:
                columns[col] = pa.array(values, type=types[kind]())
        path = out / f"{name}.parquet"
        pq.write_table(pa.table(columns), path)
        written.append(path)
    return written


def _iso(ns: int | None) -> str:
    if ns is None:
        return ""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def write_csv(rows: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    written = []
    for name, schema in TABLES.items():
        path = out / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["recv_ns", *schema])
            for r in rows[name]:
                line: list[Any] = [r["recv_time"]]
                for col, kind in schema.items():
                    v = r[col]
                    if kind == "time":
                        line.append(_iso(v))
                    elif kind in _SCALE:
                        line.append("" if v is None else str(_decimal(v, _SCALE[kind])))
                    else:
                        line.append("" if v is None else v)
                w.writerow(line)
        written.append(path)
    return written
