"""The WebSocket server: handshake auth, commands, subscriptions, fan-out and fault delivery.

One asyncio task runs the order flow (:class:`~.model.ExchangeModel` steps, paced to ``rate``);
every event is turned into frames for the subscriptions that cover it and appended, already
numbered, to each connection's outbound queue; one writer task per connection sends them in that
order. Commands are handled synchronously between order-flow batches, so a snapshot is exactly the
book after every delta queued before it and before every delta queued after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConcurrencyError, ConnectionClosed
from websockets.http11 import Request, Response

from ..redact import REDACT_SIGNATURE as REDACT_SIGNATURE  # re-exported (tests, older imports)
from ..redact import RedactSignature as RedactSignature
from ..redact import redacted_logger
from . import auth
from .config import SimulatorConfig
from .faults import DEFAULT_STALL_S, FaultController, FaultSpec
from .model import BookDelta, Event, ExchangeModel, Fill, Market, Position, Ticker, Trade
from .wire import Wire, encode, envelope, error_frame

log = logging.getLogger("market_making_bot.simulator")
WS_LOGGER = "market_making_bot.simulator.websockets"

WS_PATH = "/trade-api/ws/v2"


for _name in ("market_making_bot.simulator", WS_LOGGER):
    redacted_logger(_name)  # the signature never reaches a log (REDACT_SIGNATURE, market_making_bot.redact)

CHANNELS = (
    "orderbook_delta",
    "ticker",
    "trade",
    "fill",
    "market_positions",
    "market_lifecycle_v2",
    "multivariate_market_lifecycle",
    "communications",
    "order_group_updates",
    "user_orders",
    "cfbenchmarks_value",
    "cfbenchmarks_value_5hz",
    "pyth_value",
)
PRIVATE_CHANNELS = frozenset(
    {"fill", "market_positions", "user_orders", "order_group_updates", "communications"}
)
MARKET_FILTER_CHANNELS = frozenset(
    {"orderbook_delta", "ticker", "trade", "fill", "market_positions", "user_orders"}
)

# flags of an outbound queue item
F_DATA = 1  # a data frame (snapshot, delta, ticker, trade, fill, market_position): counted for faults
F_DELTA = 2  # an orderbook_delta (a gap drops one)
F_OBSEQ = 4  # a sequenced order-book frame (a duplicate repeats one)

Item = tuple[int, int, int, bytes]  # flags, sid (0: none), seq (0: none), frame

MALFORMED_FRAME = b'{"type":"orderbook_delta","sid":'


class Subscription:
    __slots__ = ("sid", "channel", "conn", "markets", "by_ids", "seq", "use_yes_price", "skip_ack")

    def __init__(
        self,
        sid: int,
        channel: str,
        conn: Connection,
        markets: set[str] | None,
        *,
        by_ids: bool = False,
        use_yes_price: bool = False,
        skip_ack: bool = False,
    ) -> None:
        self.sid = sid
        self.channel = channel
        self.conn = conn
        self.markets = markets  # None: every market
        self.by_ids = by_ids
        self.seq = 0
        self.use_yes_price = use_yes_price
        self.skip_ack = skip_ack


class _CommandError(Exception):
    def __init__(
        self,
        code: int,
        *,
        text: str | None = None,
        sid: int | None = None,
        market_tickers: list[str] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.text = text
        self.sid = sid
        self.market_tickers = market_tickers


class Connection:
    """One client connection: its subscriptions, its outbound queue and its writer/pinger tasks."""

    def __init__(
        self, sim: ExchangeSimulator, ws: ServerConnection, conn_id: int, key_id: str | None
    ) -> None:
        self.sim = sim
        self.ws = ws
        self.conn_id = conn_id
        self.key_id = key_id
        self.authenticated = key_id is not None
        self.subs: dict[int, Subscription] = {}
        self._sids = itertools.count(1)
        self.out: deque[Item] = deque()
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.data_sent = 0
        self.frames_sent = 0
        self.closed = False
        self.last_seq_sent: dict[int, int] = {}
        self.dead: set[int] = set()
        # faults armed on this connection, delivered by the writer
        self.pending_gap = 0
        self.pending_dup = 0
        self.pending_kill: list[str] = []
        self.stalled = False
        self.unstall = asyncio.Event()
        self._stall_handle: asyncio.TimerHandle | None = None

    # ---- outbound --------------------------------------------------------------------------------

    def push(self, flags: int, sid: int, seq: int, frame: bytes) -> None:
        out = self.out
        out.append((flags, sid, seq, frame))
        if len(out) == 1:
            self.idle.clear()
            self.wake.set()
        if len(out) > self.sim.config.max_queue:
            self._overflow()

    def push_control(self, frame: bytes, sid: int = 0, seq: int = 0) -> None:
        self.push(0, sid, seq, frame)

    def _overflow(self) -> None:
        """The client reads too slowly: kill its order-book subscriptions with error 25, as Kalshi does."""
        for sub in [s for s in self.subs.values() if s.channel == "orderbook_delta"]:
            log.warning(
                "connection %d: %d frames queued, killing sid %d with error 25",
                self.conn_id,
                len(self.out),
                sub.sid,
            )
            self.sim.overflows += 1
            self._kill(sub, 25, front=False)
        if len(self.out) > 2 * self.sim.config.max_queue:
            log.warning(
                "connection %d: %d frames queued, dropping the connection", self.conn_id, len(self.out)
            )
            self.abort()

    def _kill(self, sub: Subscription, code: int, *, front: bool) -> None:
        """End ``sub`` with a terminal error; frames still queued for it are not sent."""
        self.sim.remove_subscription(sub)
        self.subs.pop(sub.sid, None)
        self.dead.add(sub.sid)
        seq = self.last_seq_sent.get(sub.sid, 0) + 1
        frame = error_frame(code, sid=sub.sid, seq=seq, sending_ts_ms=self.sim.sending_ts())
        if front:
            self.out.appendleft((0, 0, 0, frame))
        else:
            self.out.append((0, 0, 0, frame))
        self.idle.clear()
        self.wake.set()

    async def writer(self) -> None:
        out = self.out
        ws = self.ws
        faults = self.sim.faults
        burst = 0
        try:
            while True:
                if not out:
                    self.idle.set()
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                if self.stalled:
                    await self.unstall.wait()
                    continue
                flags, sid, seq, frame = out.popleft()
                if sid and sid in self.dead:
                    continue
                if flags & F_DELTA and self.pending_gap:
                    self.pending_gap -= 1
                    faults.record("gap", f"connection {self.conn_id} sid {sid} seq {seq} not sent")
                    continue
                await ws.send(frame, text=True)
                self.frames_sent += 1
                if seq:
                    self.last_seq_sent[sid] = seq
                if flags & F_DATA:
                    if flags & F_OBSEQ:
                        if self.pending_dup:
                            self.pending_dup -= 1
                            await ws.send(frame, text=True)
                            faults.record(
                                "duplicate", f"connection {self.conn_id} sid {sid} seq {seq} sent twice"
                            )
                        if self.pending_kill:
                            kind = self.pending_kill.pop(0)
                            sub = self.subs.get(sid)
                            if sub is not None:
                                self._deliver_kill(sub, kind)
                    self.data_sent += 1
                    if faults.specs:
                        faults.after_data_frame(self)
                burst += 1
                if burst >= 1024:
                    burst = 0
                    await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.idle.set()

    async def pinger(self, interval: float, timeout: float) -> None:
        """Ping with payload ``heartbeat`` every ``interval``; close when a pong is ``timeout`` late."""
        loop = asyncio.get_running_loop()
        sent_at: float | None = None
        try:
            while True:
                await asyncio.sleep(interval)
                if self.stalled:
                    sent_at = None
                    continue
                try:
                    await self.ws.ping(b"heartbeat")
                    sent_at = loop.time()
                except ConcurrencyError:  # the previous heartbeat is not answered yet
                    if sent_at is not None and loop.time() - sent_at > timeout:
                        log.info("connection %d: no pong for %.1f s, closing", self.conn_id, timeout)
                        await self.ws.close(1011, "keepalive ping timeout")
                        return
        except ConnectionClosed:
            pass

    # ---- faults ----------------------------------------------------------------------------------

    def apply_fault(self, kind: str, spec: FaultSpec) -> None:
        faults = self.sim.faults
        if self.closed:
            return
        if kind == "gap":
            self.pending_gap += 1
        elif kind == "duplicate":
            self.pending_dup += 1
        elif kind == "malformed":
            self.out.appendleft((0, 0, 0, MALFORMED_FRAME))
            self.idle.clear()
            self.wake.set()
            faults.record("malformed", f"connection {self.conn_id}")
        elif kind == "disconnect":
            faults.record("disconnect", f"connection {self.conn_id} aborted")
            self.abort()
        elif kind == "stall":
            self._start_stall(spec.seconds)
        elif kind in ("error25", "error10"):
            sub = next((s for s in self.subs.values() if s.channel == "orderbook_delta"), None)
            if sub is None:
                self.pending_kill.append(kind)
            else:
                self._deliver_kill(sub, kind)

    def _deliver_kill(self, sub: Subscription, kind: str) -> None:
        self._kill(sub, 25 if kind == "error25" else 10, front=True)
        self.sim.faults.record(kind, f"connection {self.conn_id} sid {sub.sid} killed")

    def clear_pending_faults(self) -> None:
        self.pending_gap = 0
        self.pending_dup = 0
        self.pending_kill.clear()

    def _start_stall(self, seconds: float | None) -> None:
        if self.stalled:
            return
        seconds = seconds or DEFAULT_STALL_S
        self.stalled = True
        self.unstall.clear()
        with contextlib.suppress(Exception):
            self.ws.transport.pause_reading()
        self._stall_handle = asyncio.get_running_loop().call_later(seconds, self._end_stall)
        self.sim.faults.record("stall", f"connection {self.conn_id} silent for {seconds:g} s")

    def _end_stall(self) -> None:
        if not self.stalled:
            return
        self.stalled = False
        self.unstall.set()
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        if not self.closed:
            with contextlib.suppress(Exception):
                self.ws.transport.resume_reading()
        log.info("connection %d: stall over", self.conn_id)

    def abort(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.ws.transport.abort()

    # ---- commands --------------------------------------------------------------------------------

    def on_message(self, text: str) -> None:
        """A command arrived: handle it now, or later when the ``reorder`` fault holds it back."""
        delay = self.sim.faults.take_reorder(self.conn_id)
        if delay is None:
            self.handle_text(text)
        else:
            asyncio.get_running_loop().call_later(delay, self._handle_late, text)

    def _handle_late(self, text: str) -> None:
        if not self.closed:
            self.handle_text(text)

    def handle_text(self, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            self._error(1, None, text="Unable to process message: not JSON")
            return
        if not isinstance(obj, dict):
            self._error(1, None, text="Unable to process message: not a JSON object")
            return
        raw_id = obj.get("id")
        if raw_id is None:
            id_ = None
        elif type(raw_id) is int and raw_id >= 0:
            id_ = raw_id or None
        else:
            self._error(1, None, text="Unable to process message: id must be a non-negative integer")
            return
        cmd = obj.get("cmd")
        try:
            if cmd == "list_subscriptions":
                self._list(id_)
                return
            if cmd not in ("subscribe", "unsubscribe", "update_subscription"):
                raise _CommandError(5)
            params = obj.get("params")
            if params is None:
                raise _CommandError(2)
            if not isinstance(params, dict):
                raise _CommandError(1, text="Unable to process message: params must be an object")
            if cmd == "subscribe":
                self._subscribe(id_, params)
            elif cmd == "unsubscribe":
                self._unsubscribe(id_, params)
            else:
                self._update(id_, params)
        except _CommandError as exc:
            self._error(exc.code, id_, text=exc.text, sid=exc.sid, market_tickers=exc.market_tickers)

    def _error(
        self,
        code: int,
        id_: int | None,
        *,
        text: str | None = None,
        sid: int | None = None,
        market_tickers: list[str] | None = None,
    ) -> None:
        self.push_control(
            error_frame(
                code,
                id_=id_,
                sid=sid,
                market_tickers=market_tickers,
                text=text,
                sending_ts_ms=self.sim.sending_ts(),
            )
        )

    def _list(self, id_: int | None) -> None:
        body = [{"channel": s.channel, "sid": s.sid} for s in sorted(self.subs.values(), key=lambda s: s.sid)]
        self.push_control(envelope(b"ok", encode(body), id_=id_, sending_ts_ms=self.sim.sending_ts()))

    @staticmethod
    def _bool(params: dict[str, Any], key: str) -> bool:
        value = params.get(key, False)
        if not isinstance(value, bool):
            raise _CommandError(1, text=f"Unable to process message: {key} must be a boolean")
        return value

    def _markets_param(
        self,
        params: dict[str, Any],
        *,
        allow_single: bool = True,
        allow_ids: bool = True,
        sid: int | None = None,
    ) -> tuple[list[str] | None, bool]:
        """The market filter of a command: (tickers in request order, given as ids?)."""
        keys = [
            k
            for k in ("market_ticker", "market_tickers", "market_id", "market_ids")
            if params.get(k) is not None
        ]
        if len(keys) > 1:
            raise _CommandError(
                11, sid=sid, text=f"Invalid parameter: {' and '.join(keys)} are mutually exclusive"
            )
        if not keys:
            return None, False
        key = keys[0]
        value = params[key]
        if key in ("market_ticker", "market_id"):
            if not allow_single:
                raise _CommandError(
                    14, sid=sid, text=f"Market Ticker required: use market_tickers, not {key}"
                )
            if not isinstance(value, str):
                raise _CommandError(1, sid=sid, text=f"Unable to process message: {key} must be a string")
            values = [value]
        else:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _CommandError(
                    1, sid=sid, text=f"Unable to process message: {key} must be a list of strings"
                )
            if not value:
                return None, False
            values = list(dict.fromkeys(value))
        model = self.sim.model
        if key in ("market_id", "market_ids"):
            if not allow_ids:
                raise _CommandError(
                    14, sid=sid, text="Market Ticker required: this action takes market_tickers"
                )
            unknown = [v for v in values if v not in model.by_id]
            if unknown:
                raise _CommandError(
                    11, sid=sid, text="Invalid parameter: unknown market_id", market_tickers=unknown
                )
            return [model.by_id[v].ticker for v in values], True
        unknown = [v for v in values if v not in model.markets]
        if unknown:
            raise _CommandError(
                11, sid=sid, text="Invalid parameter: unknown market ticker", market_tickers=unknown
            )
        return values, False

    def _subscribe(self, id_: int | None, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if channels is None or channels == []:
            raise _CommandError(3)
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise _CommandError(1, text="Unable to process message: channels must be a list of strings")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise _CommandError(8, text=f"Unknown channel name: {', '.join(unknown)}")
        use_yes_price = self._bool(params, "use_yes_price")
        initial_ticker = self._bool(params, "send_initial_snapshot")
        skip_ack = self._bool(params, "skip_ticker_ack")
        shard_factor = params.get("shard_factor")
        shard_key = params.get("shard_key")
        for key, value in (("shard_factor", shard_factor), ("shard_key", shard_key)):
            if value is not None and type(value) is not int:
                raise _CommandError(1, text=f"Unable to process message: {key} must be an integer")
        if shard_key is not None and shard_factor is None:
            raise _CommandError(20)
        if shard_factor is not None:
            if shard_factor <= 0:
                raise _CommandError(19)
            if shard_factor > 100:
                raise _CommandError(22)
            if shard_key is not None and not 0 <= shard_key < shard_factor:
                raise _CommandError(21)
        tickers, by_ids = self._markets_param(params)
        for channel in dict.fromkeys(channels):
            try:
                self._subscribe_one(
                    id_,
                    channel,
                    tickers,
                    by_ids,
                    use_yes_price=use_yes_price,
                    initial_ticker=initial_ticker,
                    skip_ack=skip_ack,
                )
            except _CommandError as exc:
                self._error(exc.code, id_, text=exc.text, market_tickers=exc.market_tickers)

    def _subscribe_one(
        self,
        id_: int | None,
        channel: str,
        tickers: list[str] | None,
        by_ids: bool,
        *,
        use_yes_price: bool,
        initial_ticker: bool,
        skip_ack: bool,
    ) -> None:
        sim = self.sim
        if channel in PRIVATE_CHANNELS:
            if not self.authenticated:
                raise _CommandError(9)
            if sim.faults.take_deny_private():
                raise _CommandError(9)
        if channel == "orderbook_delta" and (tickers is None or by_ids):
            raise _CommandError(14)
        if by_ids and channel != "ticker":
            raise _CommandError(11, text=f"Invalid parameter: market_ids are not supported on {channel}")
        existing = next((s for s in self.subs.values() if s.channel == channel), None)
        if existing is not None:
            # idempotent subscribe (2025-09-25): same markets -> nothing; new markets -> added
            added: list[str] = []
            if existing.markets is not None:
                if tickers is None:
                    existing.markets = None  # now every market (orderbook_delta always has tickers)
                else:
                    added = [t for t in tickers if t not in existing.markets]
                    existing.markets.update(added)
            if sim.config.repeat_subscribe == "ok":
                # what the real server does (PROTOCOL.md 10b item 1): an ``ok`` on the existing sid that
                # takes the sid's next seq and carries the full, sorted market list
                self._ack_markets(id_, existing, skip_list=skip_ack)
            else:
                self._ack_subscribed(id_, existing)
            self._initial_data(existing, added, initial_ticker)
            return
        sub = Subscription(
            next(self._sids),
            channel,
            self,
            set(tickers) if tickers is not None else None,
            by_ids=by_ids,
            use_yes_price=use_yes_price,
            skip_ack=skip_ack,
        )
        self.subs[sub.sid] = sub
        sim.add_subscription(sub)
        first = tickers if tickers is not None else [m.ticker for m in sim.model.market_list]
        if channel == "orderbook_delta" and sim.faults.take_early_data():
            self._initial_data(sub, first, initial_ticker)
            self._ack_subscribed(id_, sub)
        else:
            self._ack_subscribed(id_, sub)
            self._initial_data(sub, first, initial_ticker)
        if channel in PRIVATE_CHANNELS and not sim.model.user_active:
            log.info(
                "connection %d subscribed to %s: the simulated user starts trading", self.conn_id, channel
            )
            sim.model.activate_user()

    def _ack_subscribed(self, id_: int | None, sub: Subscription) -> None:
        self.push_control(
            envelope(
                b"subscribed",
                encode({"channel": sub.channel, "sid": sub.sid}),
                id_=id_,
                sending_ts_ms=self.sim.sending_ts(),
            )
        )

    def _ack_markets(self, id_: int | None, sub: Subscription, *, skip_list: bool = False) -> None:
        """``ok`` with the subscription's full market list; it consumes the sid's next seq."""
        sub.seq += 1
        msg: bytes | None = None
        if not (sub.skip_ack or skip_list):
            markets = sorted(sub.markets) if sub.markets is not None else []
            if sub.by_ids:
                model = self.sim.model
                msg = encode({"market_ids": [model.markets[t].market_id for t in markets]})
            else:
                msg = encode({"market_tickers": markets})
        self.push_control(
            envelope(b"ok", msg, id_=id_, sid=sub.sid, seq=sub.seq, sending_ts_ms=self.sim.sending_ts()),
            sub.sid,
            sub.seq,
        )

    def _initial_data(
        self, sub: Subscription, tickers: Iterable[str], initial_ticker: bool, id_: int | None = None
    ) -> None:
        if sub.channel == "orderbook_delta":
            for t in tickers:
                self.sim.push_snapshot(sub, t, id_)
        elif sub.channel == "ticker" and initial_ticker:
            for t in tickers:
                self.sim.push_ticker(sub, t)

    def _unsubscribe(self, id_: int | None, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if sids is None or sids == []:
            raise _CommandError(4)
        if not isinstance(sids, list) or not all(type(s) is int for s in sids):
            raise _CommandError(1, text="Unable to process message: sids must be a list of integers")
        for sid in dict.fromkeys(sids):
            sub = self.subs.pop(sid, None)
            if sub is None:
                self._error(7, id_, sid=sid)
                continue
            self.sim.remove_subscription(sub)
            sub.seq += 1
            self.push_control(
                envelope(
                    b"unsubscribed", None, id_=id_, sid=sid, seq=sub.seq, sending_ts_ms=self.sim.sending_ts()
                ),
                sid,
                sub.seq,
            )

    def _update(self, id_: int | None, params: dict[str, Any]) -> None:
        action = params.get("action")
        if action is None:
            raise _CommandError(15)
        if not isinstance(action, str):
            raise _CommandError(1, text="Unable to process message: action must be a string")
        sid_param = params.get("sid")
        sids_param = params.get("sids")
        if sids_param is not None:
            if not isinstance(sids_param, list) or not all(type(s) is int for s in sids_param):
                raise _CommandError(1, text="Unable to process message: sids must be a list of integers")
            if len(sids_param) != 1 or sid_param is not None:
                raise _CommandError(12)
            sid = sids_param[0]
        elif sid_param is not None:
            if type(sid_param) is not int:
                raise _CommandError(1, text="Unable to process message: sid must be an integer")
            sid = sid_param
        else:
            raise _CommandError(12)
        sub = self.subs.get(sid)
        if sub is None:
            raise _CommandError(7, sid=sid)
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise _CommandError(13, sid=sid)
        if action == "get_snapshot" and sub.channel != "orderbook_delta":
            raise _CommandError(13, sid=sid)
        if sub.channel not in MARKET_FILTER_CHANNELS:
            raise _CommandError(13, sid=sid)
        is_snapshot = action == "get_snapshot"
        tickers, by_ids = self._markets_param(
            params, allow_single=not is_snapshot, allow_ids=sub.channel == "ticker", sid=sid
        )
        if tickers is None:
            raise _CommandError(14, sid=sid)
        if is_snapshot:
            assert sub.markets is not None
            missing = [t for t in tickers if t not in sub.markets]
            if missing:
                self._error(
                    11,
                    id_,
                    sid=sid,
                    market_tickers=missing,
                    text="Invalid parameter: market not in this subscription",
                )
            for t in tickers:
                if t in sub.markets:
                    self.sim.push_snapshot(sub, t, id_)
            return
        added: list[str] = []
        if sub.markets is not None:
            if action == "add_markets":
                added = [t for t in tickers if t not in sub.markets]
                sub.markets.update(added)
            else:
                sub.markets.difference_update(tickers)
        if by_ids:
            sub.by_ids = True
        self._ack_markets(id_, sub, skip_list=self._bool(params, "skip_ticker_ack"))
        if added:
            self._initial_data(sub, added, self._bool(params, "send_initial_snapshot"))


class ExchangeSimulator:
    """A local Kalshi exchange on a real WebSocket. Use as ``async with ExchangeSimulator(cfg) as sim``."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        config = config or SimulatorConfig()
        config.validate()
        self.config = config
        self.model = ExchangeModel(
            config.resolved_tickers(),
            seed=config.seed,
            tick=config.tick,
            fractional_sizes=not config.legacy_cents,
            depth=config.depth,
            maker_fee_rate=_fraction(config.maker_fee_rate),
            taker_fee_rate=_fraction(config.taker_fee_rate),
            now_ms=_now_ms,
        )
        self.wire = Wire(
            legacy_cents=config.legacy_cents,
            empty_sides=config.empty_sides,
            like_production=config.like_production,
            seed=config.seed,
        )
        self._conns: dict[int, Connection] = {}
        self.faults = FaultController(
            config.faults, connections=lambda: list(self._conns.values()), seed=config.seed
        )
        self._subs: dict[str, list[Subscription]] = {c: [] for c in CHANNELS}
        self._keys: list[auth.PublicKey] = []
        self.private_key: auth.PrivateKey | None = None
        if config.public_key is not None:
            self._keys.append(auth.load_public_key(config.public_key))
        else:
            self.private_key = auth.generate_private_key(config.key_type)
            self._keys.append(self.private_key.public_key())
        self.key_id = str(uuid.uuid4())
        self._auth: weakref.WeakKeyDictionary[ServerConnection, str | None] = weakref.WeakKeyDictionary()
        self._conn_ids = itertools.count(1)
        self._server: Server | None = None
        self._flow_task: asyncio.Task[None] | None = None
        self._flow_started = False
        self._flow_done = asyncio.Event()
        self._stopped = False
        self.port = config.port
        self.frames_generated = 0
        self.overflows = 0
        self.connections_total = 0
        self.handshakes_rejected = 0
        self.truth_error: str | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=2,
            compression=None,
            max_size=2**20,
            logger=logging.getLogger(WS_LOGGER),  # its records pass REDACT_SIGNATURE
        )
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1]
        self.faults.start()
        log.info(
            "simulator serving %s (%d markets, rate %g frames/s, seed %d, %s)",
            self.url,
            len(self.model.market_list),
            self.config.rate,
            self.config.seed,
            "legacy cents" if self.config.legacy_cents else "fixed point",
        )
        if not self.config.start_paused:
            self.start_flow()

    def start_flow(self) -> None:
        """Start the order flow (automatic unless ``start_paused``)."""
        if self._flow_started:
            return
        self._flow_started = True
        loop = asyncio.get_running_loop()
        duration = self.config.duration
        if duration is not None:
            loop.call_at(loop.time() + max(0.0, duration - 1.0), self.faults.disable)
        self._flow_task = loop.create_task(self._run_flow())

    def stop_flow(self) -> None:
        """End the order flow now (the books stop changing; the server keeps serving)."""
        if self._flow_task is not None and not self._flow_task.done():
            self._flow_task.cancel()
        elif not self._flow_started:
            self._flow_started = True
            self._on_flow_end()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._flow_task is not None and not self._flow_task.done():
            self._flow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flow_task
        for conn in list(self._conns.values()):
            if conn.stalled:
                conn.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._write_truth_file()
        log.info("simulator stopped")

    async def wait_quiet(self, timeout: float | None = None) -> None:
        """Wait until the order flow has ended and every live connection's queue is sent."""

        async def _wait() -> None:
            await self._flow_done.wait()
            for conn in list(self._conns.values()):
                if not conn.stalled and not conn.closed:
                    await conn.idle.wait()

        await asyncio.wait_for(_wait(), timeout)

    @property
    def flow_done(self) -> bool:
        return self._flow_done.is_set()

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}{WS_PATH}"

    @property
    def connections(self) -> int:
        return len(self._conns)

    # ---- credentials -----------------------------------------------------------------------------

    def add_public_key(self, pem: bytes) -> None:
        """Also accept signatures made with the private key of ``pem``."""
        self._keys.append(auth.load_public_key(pem))

    def write_credentials(
        self,
        env_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
    ) -> tuple[str, Path]:
        """Write the simulator's own private key and a ``.env`` file for it; returns (key id, key path)."""
        if self.private_key is None:
            raise RuntimeError("the simulator was given a public key: it has no private key to write")
        env = Path(env_path)
        kp = Path(key_path) if key_path is not None else env.with_name(env.name + ".key")
        kp = auth.write_private_key(kp, self.private_key)
        auth.write_env_file(env, key_id=self.key_id, private_key_path=kp, url=self.url)
        return self.key_id, kp

    # ---- truth -----------------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The true state now, in the core's summary format (plus ``faults`` and ``fills``)."""
        return {
            "markets": self.model.truth_markets(),
            "faults": self.faults.summary(),
            "fills": self.model.fills,
            "trades": sum(m.trades for m in self.model.market_list),
            "clock": self.model.clock,
            "overflows": self.overflows,
        }

    def write_truth(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.truth(), indent=1) + "\n")
        os.replace(tmp, p)
        log.info("truth written to %s", p)

    # ---- order flow ------------------------------------------------------------------------------

    async def _run_flow(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.config.rate
        duration = self.config.duration
        t0 = loop.time()
        end = t0 + duration if duration is not None else None
        produced = 0.0
        # small batches, and writers flush up to 1024 frames per turn: when the machine cannot keep
        # up, sending wins over generating (the flow falls behind its schedule instead of queueing)
        max_batch = max(1.0, min(rate * 0.01, 200.0))
        step = self.model.step
        dispatch = self._dispatch
        try:
            while True:
                now = loop.time()
                if end is not None and now >= end:
                    break
                due = (now - t0) * rate - produced
                if due >= 1:
                    budget = min(due, max_batch)
                    made = 0
                    while made < budget:
                        events = step()
                        if events:
                            dispatch(events)
                            made += len(events)
                    produced += made
                    if due - made > rate:  # more than a second behind: do not try to catch up
                        produced = (now - t0) * rate
                    await asyncio.sleep(0)
                else:
                    wait = t0 + (produced + 1) / rate - now
                    if end is not None:
                        wait = min(wait, end - now)
                    await asyncio.sleep(max(wait, 0.0002))
        except Exception:
            log.exception("order flow failed; the books stop changing")
            raise
        finally:
            self._on_flow_end()

    def _on_flow_end(self) -> None:
        if self._flow_done.is_set():
            return
        self._flow_done.set()
        self.faults.disable()
        log.info("order flow ended after %d steps: the books stop changing", self.model.steps)
        self._write_truth_file()

    def _write_truth_file(self) -> None:
        """Write ``config.truth_json`` if set; a failure is logged and kept in :attr:`truth_error`."""
        path = self.config.truth_json
        if path is None:
            return
        try:
            self.write_truth(path)
        except OSError as exc:
            self.truth_error = f"cannot write the truth: {exc.strerror or exc}"
            log.error("%s: %s", path, self.truth_error)

    def sending_ts(self) -> int | None:
        return None if self.config.legacy_cents else _now_ms()

    def add_subscription(self, sub: Subscription) -> None:
        self._subs[sub.channel].append(sub)

    def remove_subscription(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs[sub.channel].remove(sub)

    def _dispatch(self, events: list[Event]) -> None:
        self.frames_generated += len(events)
        subs = self._subs
        wire = self.wire
        ts = self.sending_ts()
        book_ts = None if self.config.like_production else ts  # production: none on book frames
        for ev in events:
            if type(ev) is BookDelta:
                ticker = ev.market.ticker
                for sub in subs["orderbook_delta"]:
                    if sub.markets is not None and ticker in sub.markets:
                        sub.seq += 1
                        sub.conn.push(
                            F_DATA | F_DELTA | F_OBSEQ,
                            sub.sid,
                            sub.seq,
                            envelope(
                                b"orderbook_delta",
                                wire.delta_msg(ev, sub.use_yes_price),
                                sid=sub.sid,
                                seq=sub.seq,
                                sending_ts_ms=book_ts,
                            ),
                        )
            elif type(ev) is Ticker:
                ticker = ev.market.ticker
                for sub in subs["ticker"]:
                    if sub.markets is None or ticker in sub.markets:
                        sub.conn.push(
                            F_DATA,
                            sub.sid,
                            0,
                            envelope(b"ticker", wire.ticker_msg(ev), sid=sub.sid, sending_ts_ms=ts),
                        )
            elif type(ev) is Trade:
                ticker = ev.market.ticker
                for sub in subs["trade"]:
                    if sub.markets is None or ticker in sub.markets:
                        sub.seq += 1
                        sub.conn.push(
                            F_DATA,
                            sub.sid,
                            sub.seq,
                            envelope(
                                b"trade", wire.trade_msg(ev), sid=sub.sid, seq=sub.seq, sending_ts_ms=ts
                            ),
                        )
            elif type(ev) is Fill:
                ticker = ev.market.ticker
                for sub in subs["fill"]:
                    if sub.markets is None or ticker in sub.markets:
                        sub.conn.push(
                            F_DATA,
                            sub.sid,
                            0,
                            envelope(b"fill", wire.fill_msg(ev), sid=sub.sid, sending_ts_ms=ts),
                        )
            elif type(ev) is Position:
                ticker = ev.market.ticker
                for sub in subs["market_positions"]:
                    if sub.markets is None or ticker in sub.markets:
                        sub.conn.push(
                            F_DATA,
                            sub.sid,
                            0,
                            envelope(
                                b"market_position",
                                wire.position_msg(ev, self.model.user_id),
                                sid=sub.sid,
                                sending_ts_ms=ts,
                            ),
                        )

    def push_snapshot(self, sub: Subscription, ticker: str, id_: int | None = None) -> None:
        m = self.model.markets[ticker]
        yes, no, clock = self.model.book_levels(ticker)
        sub.seq += 1
        frame = envelope(
            b"orderbook_snapshot",
            self.wire.snapshot_msg(m, yes, no, clock, sub.use_yes_price),
            id_=id_,
            sid=sub.sid,
            seq=sub.seq,
            sending_ts_ms=None if self.config.like_production else self.sending_ts(),
        )
        sub.conn.push(F_DATA | F_OBSEQ, sub.sid, sub.seq, frame)

    def push_ticker(self, sub: Subscription, ticker: str) -> None:
        m: Market = self.model.markets[ticker]
        ev = Ticker(m, _now_ms())
        sub.conn.push(
            F_DATA,
            sub.sid,
            0,
            envelope(b"ticker", self.wire.ticker_msg(ev), sid=sub.sid, sending_ts_ms=self.sending_ts()),
        )

    # ---- connections -----------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path != WS_PATH:
            return connection.respond(
                HTTPStatus.NOT_FOUND, f"No WebSocket endpoint at {path}; use {WS_PATH}\n"
            )
        if self.faults.take_auth_reject():
            self.handshakes_rejected += 1
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "Authentication rejected (simulator fault auth-reject)\n"
            )
        headers: Headers = request.headers
        key_id = headers.get(auth.KEY_HEADER)
        ts = headers.get(auth.TS_HEADER)
        sig = headers.get(auth.SIG_HEADER)
        if self.config.allow_anonymous and not (key_id or ts or sig):
            self._auth[connection] = None
            return None
        try:
            kid = auth.check_headers(
                key_id,
                ts,
                sig,
                path=path,
                keys=self._keys,
                now_ms=_now_ms(),
                window_ms=int(self.config.auth_window_s * 1000),
            )
        except auth.AuthError as exc:
            self.handshakes_rejected += 1
            log.info("handshake refused: %s", exc)
            return connection.respond(HTTPStatus.UNAUTHORIZED, f"Unauthorized: {exc}\n")
        self._auth[connection] = kid
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        key_id = self._auth.pop(ws, None)
        conn = Connection(self, ws, next(self._conn_ids), key_id)
        self._conns[conn.conn_id] = conn
        self.connections_total += 1
        log.debug("connection %d open (key %s)", conn.conn_id, key_id)
        self.faults.on_connection_open(conn)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(conn.writer())]
        interval = self.config.ping_interval
        if interval is not None:
            timeout = self.config.ping_timeout if self.config.ping_timeout is not None else 3 * interval
            tasks.append(loop.create_task(conn.pinger(interval, timeout)))
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    try:
                        message = message.decode()
                    except UnicodeDecodeError:
                        conn._error(1, None)
                        continue
                conn.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            for sub in list(conn.subs.values()):
                self.remove_subscription(sub)
            conn.subs.clear()
            if conn._stall_handle is not None:
                conn._stall_handle.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            del self._conns[conn.conn_id]
            log.debug("connection %d closed", conn.conn_id)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fraction(value: Decimal) -> Fraction:
    return Fraction(str(value))
