"""Export journals to tables for analysis: ``python -m market_making_bot.export JOURNAL [...] --to parquet --out DIR``.

The journals are replayed through the same core as a live run, and five tables come out:

* ``trades``: one row per public trade (deduplicated by ``trade_id``, as in the live state);
* ``fills``: one row per fill of the account (the ``fill`` stream and the REST backfill, ``backfill`` true for the
  latter; deduplicated by ``trade_id``);
* ``orders``: one row per order the program placed or changed (the journal's ``order`` records, written by
  ``OrderManager``): its client order id, order id, market, side, price and count, and its final state, filled
  count, remaining count and fees as of its last change; ``requests``: how many times its create was sent (a
  create whose outcome was unknown and that never landed is sent again with the same client order id);
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
from market_making_bot.storage.journal import is_journal, iter_journal
from market_making_bot.storage.replay import check_recordings, run_replay
from market_making_bot.trading.order_log import decode_order_record

__all__ = ["TABLES", "collect", "order_rows", "write_csv", "write_parquet"]

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
        "exchange_time": "time", "backfill": "bool",
    },
    "orders": {
        "recv_time": "time", "client_order_id": "str", "order_id": "str", "market": "str", "side": "str",
        "price": "price", "count": "size", "state": "str", "fill_count": "size", "remaining": "size", "fees": "money",
        "requests": "int", "reason": "str", "last_update": "time",
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
            "exchange_time": None if msg.ts_ms is None else msg.ts_ms * 1_000_000, "backfill": event.backfill,
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
    rows["orders"] = order_rows(paths, tickers)
    return rows


def order_rows(paths: Sequence[str | Path], tickers: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The ``orders`` table from the journals' ``order`` records (in the order the orders were first sent)."""
    orders: dict[str, dict[str, Any]] = {}
    damaged = 0
    for path in check_recordings(paths):
        if not is_journal(path):
            continue
        for rec in iter_journal(path):
            if rec.dir != "order" or rec.text is None:
                continue
            try:
                record = decode_order_record(rec.text)
            except ValueError:
                damaged += 1
                continue
            _apply_order_record(orders, record, rec.t)
    if damaged:
        log.warning("%d order records could not be read", damaged)
    wanted = set(tickers) if tickers else None
    return [r for r in orders.values() if wanted is None or r["market"] in wanted]


def _apply_order_record(orders: dict[str, dict[str, Any]], record: dict[str, Any], t_ns: int) -> None:
    coid = record.get("coid")
    if not isinstance(coid, str):
        return  # batch cancels and reads name no single order: their effect comes as ``update`` records
    row = orders.get(coid)
    if row is None:
        row = orders[coid] = {
            "recv_time": t_ns, "client_order_id": coid, "order_id": None, "market": "", "side": None, "price": None,
            "count": None, "state": "pending", "fill_count": 0, "remaining": None, "fees": 0, "requests": 0,
            "reason": "", "last_update": t_ns,
        }  # fmt: skip
    op, phase = record["op"], record.get("phase")
    body = record.get("body")
    if op == "create" and phase == "request" and isinstance(body, dict):
        row["requests"] += 1
        row["market"] = body.get("ticker", row["market"])
        for key in ("side", "price", "count"):
            if row[key] is None:
                row[key] = body.get(key)
        if row["remaining"] is None:
            row["remaining"] = body.get("count")
    elif phase == "reply" and isinstance(body, dict) and row["order_id"] is None:
        row["order_id"] = body.get("order_id")
    elif op == "update":
        for key in ("order_id", "side", "price", "count", "state", "fill_count", "remaining", "fees", "reason"):
            if record.get(key) is not None:
                row[key] = record[key]
        row["market"] = record.get("ticker") or row["market"]
        row["last_update"] = t_ns


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
