"""Order records for the journal, pure: what ``OrderManager`` sent and what it was answered, as one JSON text each.

Any user of :class:`~market_making_bot.runtime.orders.OrderManager` (the CLI, the bot) passes ``journal=`` (anything
with ``order(text, t_ns)``, e.g. ``storage.journal.JournalWriter``) and gets the same records. Each is a JSON object
(the ``frame`` of a journal line with ``"dir": "order"``)::

    {"op": "create", "phase": "request", "coid": "mm1a2b-..", "body": {"ticker": .., "side": "bid", "price": 4500,
     "count": 300, "client_order_id": "mm1a2b-..", "time_in_force": "good_till_canceled", ..}}
    {"op": "create", "phase": "reply", "coid": "mm1a2b-..", "body": {"order_id": .., "fill_count": 0, ..}}
    {"op": "cancel", "phase": "error", "coid": .., "order_id": .., "status": 404, "code": "not_found", "message": ..}
    {"op": "create", "phase": "unknown", "coid": .., "why": "POST /portfolio/events/orders: timed out"}
    {"op": "read", "phase": "reply", "what": "orders ticker=T min_ts=..", "orders": [{"order_id": .., ..}, ..]}
    {"op": "update", "coid": .., "order_id": .., "ticker": .., "side": "bid", "state": "resting", "previous": ..,
     "price": 4500, "count": 300, "fill_count": 0, "remaining": 300, "fees": 0, "reason": "create reply"}

The bot (``runtime.bot``) adds its own records, without ``phase``, so that a replay reproduces its decisions
(``storage.bot_replay``): ``seed`` (tickers, prefix, limits, the positions it started from), ``start`` (the
engine's clock, the order group), ``round`` (one planning round: ``now``, the engine's clock), ``dropped`` (a
planned create not sent: the book changed before it went), ``settled`` (a round's writes all answered:
``tickers``), ``counted`` (``unknown``: creates whose outcome the runtime found unknown), ``stop`` (``now``,
``reason``) and ``end`` (``position_mismatches`` of the final REST check).

``op``: ``create``, ``cancel``, ``amend``, ``decrease``, ``batch_cancel`` (its ``coids`` and one ``body`` list),
``read`` (a REST read that settled orders: only our orders in it), ``update`` (every state change the tracker
made, so the final state of an order is its last ``update``). ``phase``: ``request``, ``reply``, ``error`` (an
HTTP error status: ``status``, Kalshi's ``code`` and ``message``), ``unknown`` (a timeout, a dropped connection or a
5xx: the outcome is unknown; a read settles it). Bodies are the request and reply models in the project's integer
units (price 1/10,000 $, count 1/100 contract, money 1/1,000,000 $, times ms), never the wire's fixed-point strings;
never a header, a signature or a key. :func:`decode_order_record` reads one back (``ValueError`` if it is not one).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import msgspec

from market_making_bot.kalshi.rest import KalshiAPIError
from market_making_bot.trading.orders import OrderUpdate, TrackedOrder

__all__ = [
    "BOT_OPS",
    "OrderJournal",
    "OPS",
    "PHASES",
    "bot_record",
    "order_record",
    "update_record",
    "error_fields",
    "decode_order_record",
]

BOT_OPS = ("seed", "start", "round", "dropped", "settled", "counted", "stop", "end")
"""The bot's records (no ``phase``): what a replay needs beside the frames and the order records."""
OPS = ("create", "cancel", "amend", "decrease", "batch_cancel", "read", "update", *BOT_OPS)
PHASES = ("request", "reply", "error", "unknown")


def _int_hook(value: Any) -> Any:
    """The decoders' unit types (``Price``, ``Count``, ``Money``, ...) are ``int`` subclasses: plain ints here."""
    if isinstance(value, int):
        return int(value)
    raise NotImplementedError(f"cannot journal a {type(value).__name__}")


_encode = msgspec.json.Encoder(enc_hook=_int_hook).encode


class OrderJournal(Protocol):
    """Where order records go: ``storage.journal.JournalWriter.order`` (it never raises into the caller)."""

    def order(self, text: str, t_ns: int) -> None: ...


def _plain(value: Any) -> Any:
    """A request or reply model (or a list of them) as JSON-ready builtins, in integer units."""
    return msgspec.to_builtins(value, enc_hook=_int_hook)


def order_record(op: str, phase: str, coid: str | None, **fields: Any) -> str:
    """One record's JSON text. ``fields``: ``body`` (a model or list of models), ``order_id``, ``why``, ... ."""
    record: dict[str, Any] = {"op": op, "phase": phase}
    if coid is not None:
        record["coid"] = coid
    for key, value in fields.items():
        if value is not None:
            record[key] = _plain(value)
    return _encode(record).decode()


def bot_record(op: str, **fields: Any) -> str:
    """One of the bot's records (``BOT_OPS``): ``{"op": op, **fields}`` (``None`` fields left out)."""
    record: dict[str, Any] = {"op": op}
    for key, value in fields.items():
        if value is not None:
            record[key] = _plain(value)
    return _encode(record).decode()


def error_fields(error: KalshiAPIError) -> dict[str, Any]:
    """The ``error`` phase's fields: status, Kalshi's code and message (nothing else of the reply)."""
    return {"status": error.status, "code": error.code, "message": error.message}


def update_record(update: OrderUpdate, order: TrackedOrder | None) -> str:
    """The ``update`` record of one ``OrderUpdate`` (with the order's side, size and fees when it is known)."""
    record: dict[str, Any] = {
        "op": "update",
        "coid": update.client_order_id,
        "order_id": update.order_id,
        "ticker": update.ticker,
        "state": update.state.value,
        "previous": update.previous.value,
        "price": update.price,
        "fill_count": update.fill_count,
        "remaining": update.remaining,
        "reason": update.reason,
        "at_ms": update.at_ms,
        "new_fill": update.new_fill,
    }
    if order is not None:
        record["side"] = order.side.value
        record["count"] = order.count
        record["fees"] = order.fees
    return _encode(record).decode()


def decode_order_record(text: str) -> dict[str, Any]:
    """One order record back as a dict; ``ValueError`` naming the problem if it is not one."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("op") not in OPS:
        raise ValueError("not an order record (no known 'op')")
    if record["op"] != "update" and record["op"] not in BOT_OPS and record.get("phase") not in PHASES:
        raise ValueError(f"order record {record['op']!r} without a known 'phase'")
    return record
