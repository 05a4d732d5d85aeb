"""Replay a bot's journal (``--record`` of ``python -m market_making_bot.bot``) through the same engine: the bot's
decisions again, checked against the requests it sent.

::

    result = replay_bot(["run.jsonl"], strategy)     # the same strategy class and params as the live run
    result.equal, result.decisions, result.difference, result.summary

The journal (version 5) holds what the engine saw, in order: the frames (``in``, fed to a ``Core``), what REST told
the feed (``rest``), the bot's ``seed`` (tickers, prefix, limits, the positions it started from), ``start``, every
planning ``round`` with the engine's clock, the order records (requests, answers, every state change of an order:
``update``), ``settled``, ``dropped`` and ``stop``. Replay feeds them to a new :class:`~trading.engine.Engine` at
the same places: at each ``round`` the engine plans, and the writes it plans are compared, per market and in order,
with the requests journaled after it (a create: side, price, count; a cancel: the order; a decrease: the order and
the size left). The client order ids are random live, so the journal's are given to the replayed orders. The
tracker takes each order's journaled state (``OrderTracker.restore_*``), so no reply model is decoded.

Limits: the tracker's prune of old terminal orders (after 10 min) is not replayed (it changes no decision: the
engine keeps the bot's order ids); the stop's cancels (``cancel_mine``) are the runtime's, not compared.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import msgspec

from market_making_bot.feed.backfill import decode_update
from market_making_bot.feed.core import Core
from market_making_bot.feed.events import Event
from market_making_bot.storage.journal import RecordingError, is_journal, iter_journal
from market_making_bot.storage.replay import check_recordings
from market_making_bot.trading.engine import CancelOrders, Engine, Place, Reduce, Write
from market_making_bot.trading.order_log import decode_order_record
from market_making_bot.trading.orders import ChangeKind, OrderState, OrderTracker, OrderUpdate
from market_making_bot.trading.portfolio import Portfolio
from market_making_bot.trading.risk import RiskCheck, RiskLimits
from market_making_bot.trading.strategy import Strategy
from market_making_bot.trading.summary import bot_summary

__all__ = ["BotReplay", "replay_bot"]

_CHANGES = {"cancel": ChangeKind.CANCEL, "batch_cancel": ChangeKind.CANCEL, "decrease": ChangeKind.DECREASE,
            "amend": ChangeKind.AMEND}  # fmt: skip


@dataclass
class BotReplay:
    """What a bot replay found: ``decisions`` compared, the first ``difference`` (``None``: all equal)."""

    decisions: int = 0
    difference: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    core: Core | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.difference is None

    def line(self) -> str:
        if self.difference is None:
            return f"replay: {self.decisions} decisions, all equal"
        return f"replay: decision {self.decisions + 1} differs: {self.difference}"


def _seed(paths: list[Path]) -> dict[str, Any]:
    for path in paths:
        if not is_journal(path):
            raise RecordingError(f"{path}: not a journal of the bot (--record)")
        for rec in iter_journal(path, lambda _t: None):
            if rec.dir == "order" and rec.text is not None and '"seed"' in rec.text:
                with_seed = decode_order_record(rec.text)
                if with_seed["op"] == "seed":
                    return with_seed
    raise RecordingError(f"{paths[0]}: no bot record in it (a journal of the bot, version 5, is needed)")


def _describe(w: Write | None) -> str:
    if w is None:
        return "nothing"
    if isinstance(w, Place):
        return f"create {w.ticker} {w.side} price {w.price} count {w.size}"
    if isinstance(w, CancelOrders):
        return f"cancel {w.ticker} {', '.join(w.coids)}"
    return f"decrease {w.coid} on {w.ticker} to {w.remaining}"


class _Replayer:
    def __init__(self, seed: dict[str, Any], strategy: Strategy) -> None:
        self.tickers: list[str] = list(seed["tickers"])
        self.core = Core(self.tickers)
        self.tracker = OrderTracker(seed["prefix"])
        self.portfolio = Portfolio()
        limits = RiskLimits(**seed.get("limits", {}))
        self.engine = Engine(strategy, self.tickers, self.core.state, self.tracker, self.portfolio,
                             RiskCheck(limits), stale_ns=seed.get("stale_ns"),
                             dry_run=bool(seed.get("dry_run")))  # fmt: skip
        self.dry_run = bool(seed.get("dry_run"))
        self.group_id: str | None = None
        self.stopped = False
        self.reason = ""
        self.planned: dict[str, deque[Write]] = {}
        self._engine_batches: set[tuple[str, ...]] = set()
        self.result = BotReplay(core=self.core)
        self.off = self.core.bus.subscribe(Event, self.engine.on_event)

    def differ(self, text: str) -> None:
        if self.result.difference is None:
            self.result.difference = text

    def _expect(self, ticker: str, kind: type) -> Write | None:
        """The next planned write of ``kind`` on ``ticker`` (the market's writes go in one round at a time)."""
        queue = self.planned.get(ticker)
        if not queue:
            return None
        for w in queue:
            if isinstance(w, kind):
                queue.remove(w)
                return w
        return None

    def order(self, rec: dict[str, Any], t_ns: int) -> None:
        op, phase, engine = rec["op"], rec.get("phase"), self.engine
        now_ms = t_ns // 1_000_000
        if op == "seed":
            for p in rec.get("positions", ()):
                self.portfolio.book(p["ticker"]).seed(p["position"], p["exposure"])
        elif op == "start":
            self.group_id = engine.group_id = rec.get("group_id")
            engine.start(rec["now"])
        elif op == "round" and not self.stopped:
            for w in self._plan(rec["now"]):
                if self.dry_run:  # nothing was sent: the decisions are made again, there is nothing to compare
                    self.result.decisions += 1
                else:
                    self.planned.setdefault(w.ticker, deque()).append(w)
        elif op == "settled":
            for ticker in rec.get("tickers", ()):
                engine.settle(ticker)
        elif op == "stop":
            self.stopped, self.reason = True, str(rec.get("reason", ""))
            engine.stop(rec["now"], self.reason)
        elif op == "counted":
            engine.counters.unknown += int(rec.get("unknown", 0))
        elif op == "end":
            engine.counters.position_mismatches += int(rec.get("position_mismatches", 0))
        elif op == "dropped":
            self._match_create(rec["ticker"], rec["side"], rec["price"], rec["size"], f"dropped ({rec.get('reason')})")
        elif op == "create" and phase == "request":
            body = rec.get("body") or {}
            ticker, coid = body.get("ticker", ""), rec.get("coid", "")
            side = str(body.get("side", ""))
            place = self._match_create(ticker, side, body.get("price"), body.get("count"), "sent")
            self.tracker.restore_new(coid, ticker, side, int(body.get("price", 0)), int(body.get("count", 0)), now_ms)
            engine.count_sent(ticker)
            if place is not None and place.handle is not None:
                engine.bind(place.handle, coid)
        elif op in _CHANGES:
            coids = rec.get("coids") or ([rec["coid"]] if rec.get("coid") else [])
            if phase == "request":
                planned = [self._match_change(op, coid, rec) for coid in coids]
                for coid in coids:
                    self.tracker.restore_change(coid, _CHANGES[op], now_ms)
                if op in ("cancel", "batch_cancel") and all(planned):  # the engine's cancels: counted as sent
                    engine.counters.cancelled += len(coids)
                    self._engine_batches.add(tuple(coids))
            else:
                for coid in coids:
                    self.tracker.restore_change(coid, None, now_ms)
                if op == "batch_cancel" and phase == "reply" and tuple(coids) not in self._engine_batches:
                    items = (rec.get("body") or {}).get("orders") or []  # the stop's (cancel_mine): the confirmed
                    engine.counters.cancelled += sum(1 for item in items if item.get("error") is None)
        elif op == "update":
            update = OrderUpdate(
                int(rec.get("at_ms", now_ms)), rec["coid"], rec.get("order_id"), rec["ticker"],
                OrderState(rec["state"]), OrderState(rec["previous"]), int(rec["fill_count"]),
                int(rec["remaining"]), int(rec["price"]), int(rec.get("new_fill", 0)), str(rec.get("reason", "")),
            )  # fmt: skip
            self.tracker.restore_update(update, str(rec.get("side", "bid")), rec.get("fees"))
            engine.on_order_update(update)

    def _plan(self, now_ns: int) -> list[Write]:
        self.engine.tick(now_ns)
        writes = self.engine.plan(now_ns)
        if self.dry_run:  # nothing is sent in a dry run: every market settles at once, as live
            for ticker in {w.ticker for w in writes}:
                self.engine.settle(ticker)
        return writes

    def _match_create(self, ticker: str, side: str, price: Any, size: Any, what: str) -> Place | None:
        planned = self._expect(ticker, Place)
        if self.stopped and planned is None:
            return None
        ok = isinstance(planned, Place) and (planned.side, planned.price, planned.size) == (side, price, size)
        if not ok:
            self.differ(f"the journal has create {ticker} {side} price {price} count {size} ({what}), "
                        f"the engine planned {_describe(planned)}")  # fmt: skip
            return None
        self.result.decisions += 1
        return planned  # type: ignore[return-value]

    def _match_change(self, op: str, coid: str, rec: dict[str, Any]) -> bool:
        """Whether the change was one the engine planned (after the stop, one not planned is the runtime's)."""
        order = self.tracker.get(coid)
        ticker = "" if order is None else order.ticker
        if op in ("cancel", "batch_cancel"):
            queue = self.planned.get(ticker) or deque()
            for w in queue:
                if isinstance(w, CancelOrders) and coid in w.coids:
                    rest = tuple(c for c in w.coids if c != coid)
                    queue.remove(w)
                    if rest:
                        queue.appendleft(CancelOrders(ticker, rest, w.reason))
                    self.result.decisions += 1
                    return True
            if self.stopped:
                return False  # the stop's cancels are the runtime's (cancel_mine), not the engine's
            planned = next(iter(queue), None)
            self.differ(f"the journal has cancel {ticker} {coid}, the engine planned {_describe(planned)}")
        elif op == "decrease":
            reduce_to = (rec.get("body") or {}).get("reduce_to")
            planned = self._expect(ticker, Reduce)
            if not isinstance(planned, Reduce) or (planned.coid, planned.remaining) != (coid, reduce_to):
                self.differ(f"the journal has decrease {coid} on {ticker} to {reduce_to}, "
                            f"the engine planned {_describe(planned)}")  # fmt: skip
                return False
            self.result.decisions += 1
        return True

    def _leftover(self) -> None:
        """Creates planned but never seen in the journal (a create always leaves a request or a ``dropped``, unless
        the kill switch abandoned it)."""
        if self.reason == "kill switch":
            return
        for queue in self.planned.values():
            for w in queue:
                if isinstance(w, Place):
                    self.differ(f"the engine planned {_describe(w)}, the journal has nothing for it")
                    return


def replay_bot(paths: Iterable[str | PathLike[str]], strategy: Strategy) -> BotReplay:
    """Replay the bot's journal ``paths`` (rotated sets included) with ``strategy`` (module docstring).

    Raises :class:`~market_making_bot.storage.journal.RecordingError` for an input that cannot be used (not a
    journal, none of the bot's records in it)."""
    files = check_recordings(paths)
    r = _Replayer(_seed(files), strategy)
    r.result.files = files
    core = r.core
    for path in files:
        for rec in iter_journal(path, lambda _t: None):
            t = rec.t
            if rec.dir == "in":
                data: Any = rec.text if rec.text is not None else rec.b64
                core.feed(data, t)
            elif rec.dir == "connect":
                core.connection_opened(t)
            elif rec.dir == "lost":
                core.connection_lost(rec.text or "", t)
            elif rec.dir == "rest" and rec.text is not None:
                try:
                    update = decode_update(rec.text)
                except msgspec.DecodeError:
                    continue
                core.apply_rest(update, t)
            elif rec.dir == "order" and rec.text is not None:
                try:
                    record = decode_order_record(rec.text)
                except ValueError:
                    continue
                r.order(record, t)
    r._leftover()
    r.off()
    r.result.summary = bot_summary(r.engine, r.group_id, r.dry_run)
    return r.result
