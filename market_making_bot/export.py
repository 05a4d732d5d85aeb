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

import argparse
import csv
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from .checks import CliParser, check_output_dir, package_version
from .core import Core
from .events import BookChanged, BookSnapshot, FillSeen, TradeSeen
from .mm_ws_listener import parse_tickers
from .output import LogOutput, setup_logging
from .recorder import RecordingError
from .replay import check_recordings, run_replay

__all__ = ["TABLES", "collect", "main", "write_csv", "write_parquet"]

log = logging.getLogger("market_making_bot.export")

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


def collect(paths: Sequence[str | Path], tickers: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Replay ``paths`` and return the rows of every table (values in the project's integer units and ns)."""
    quiet = logging.getLogger("market_making_bot.export.replay")
    quiet.setLevel(logging.ERROR)  # the replay's own lines are not the point of an export
    core = Core(tickers)
    LogOutput(quiet).attach(core.bus)
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


EPILOG = """examples:
  # every table of one journal (or of one run's rotated set), as Parquet
  %(prog)s data/kalshi.jsonl.gz --to parquet --out tables/
  # two journals in order, CSV, two markets only (repeat --ticker, or give them comma-separated)
  %(prog)s day1.jsonl day2.jsonl --to csv --out tables/ --ticker KXA-1,KXB-2

Gzip is recognised from the content, whatever the name. Damaged records are skipped, counted and logged.

exit codes:
  0 tables written
  1 an input file cannot be used: missing, a directory, binary, or not a single frame readable
  2 bad command line (an option value or path, e.g. --out is a file)
  3 a missing optional library (pyarrow, for --to parquet)
"""


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(
        prog="python -m market_making_bot.export",
        description="Export journals (--record) to trades, fills, top_of_book and snapshots tables.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name="export",
    )
    ap.add_argument("--version", action="version", version=package_version())
    ap.add_argument("journals", nargs="+", metavar="JOURNAL", help="journal files or rotated sets, in order")
    ap.add_argument("--to", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    ap.add_argument("--out", required=True, metavar="DIR", help="directory for <table>.parquet / <table>.csv")
    ap.add_argument(
        "--ticker", action="append", metavar="T", help="only these markets (repeatable, or comma-separated)"
    )
    args = ap.parse_args(argv)
    tickers = parse_tickers(args.ticker)
    if args.ticker and not tickers:
        ap.error("--ticker: no ticker given")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        ap.error(f"--out: {out} exists and is not a directory")
    if args.to == "parquet" and importlib.util.find_spec("pyarrow") is None:
        print("export: --to parquet needs pyarrow: pip install -e '.[export]' (or use --to csv)", file=sys.stderr)
        return 3
    try:
        check_recordings(args.journals)
    except RecordingError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        check_output_dir("--out", out)
    except ValueError as exc:
        ap.error(str(exc))
    setup_logging(logging.WARNING)
    try:
        rows = collect(args.journals, tickers)
    except RecordingError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        written = (write_parquet if args.to == "parquet" else write_csv)(rows, out)
    except OSError as exc:
        print(f"export: --out: cannot write in {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path}: {len(rows[path.stem])} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
