"""One client connection: its outbound queue, writer and pinger tasks, the faults armed on it, and its commands.

Frames are appended, already numbered, to :attr:`Connection.out` (by the fan-out and by the command
replies) and one writer task sends them in that order; the faults that act on the stream (gap,
corrupt-book, duplicate, malformed, stall, error 25/10, disconnect) are applied there. A command's text goes to the
connection's :class:`~.commands.CommandProtocol`, whose actions are carried out here, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from market_making_bot.simulator.commands import CommandProtocol
from market_making_bot.simulator.fanout import F_DATA, F_DELTA, F_OBSEQ
from market_making_bot.simulator.faults import DEFAULT_STALL_S, FaultSpec
from market_making_bot.simulator.subscriptions import (
    Action,
    Added,
    Removed,
    Reply,
    SendSnapshot,
    SendTicker,
    Subscription,
    UserWanted,
)
from market_making_bot.simulator.units import CONTRACT, fmt_size
from market_making_bot.simulator.wire import ErrorCode, error_frame

if TYPE_CHECKING:
    from market_making_bot.simulator.server import ExchangeSimulator

log = logging.getLogger("market_making_bot.simulator")

Item = tuple[int, int, int, bytes]  # flags, sid (0: none), seq (0: none), frame

MALFORMED_FRAME = b'{"type":"orderbook_delta","sid":'
_DELTA_FP = re.compile(rb'"delta_fp":"(-?)(\d+)\.(\d\d)"')
_DELTA_LEGACY = re.compile(rb'"delta":(-?\d+)')
_DELTA_LEVEL = re.compile(
    rb'"market_ticker":"([^"]+)".*?"price(?:_dollars)?":"?(\d+)(?:\.(\d+))?"?.*?"side":"(yes|no)"'
)
CORRUPT_DEPTH_TICKS = 3
"""``corrupt-book`` hits a delta at least this many ticks below its side's best bid: a level deep in the book,
where a phantom size cannot soon cross the book (a crossed book would reveal it without any audit)."""


def corrupt_delta(frame: bytes) -> tuple[bytes, str] | None:
    """``corrupt-book``: the delta frame with 1.00 contract more in its change (fixed-point ``delta_fp`` or the
    legacy whole ``delta``), and what was done; ``None`` when the change would become 0 (a level left as it was
    would not look like a delta)."""
    found = _DELTA_FP.search(frame)
    if found is not None:
        sign, whole, cents = found.groups()
        old = (-1 if sign else 1) * (int(whole) * CONTRACT + int(cents))
        new = old + CONTRACT
        if new == 0:
            return None
        text = f'"delta_fp":"{fmt_size(new)}"'.encode()
        return frame[: found.start()] + text + frame[found.end() :], f"delta {fmt_size(old)} sent as {fmt_size(new)}"
    legacy = _DELTA_LEGACY.search(frame)
    if legacy is None:
        return None
    old = int(legacy.group(1))
    if old + 1 == 0:
        return None
    text = f'"delta":{old + 1}'.encode()
    return frame[: legacy.start()] + text + frame[legacy.end() :], f"delta {old} sent as {old + 1}"


class Connection:
    """One client connection: its subscriptions, its outbound queue and its writer/pinger tasks."""

    def __init__(
        self,
        sim: ExchangeSimulator,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        conn_id: int,
        key_id: str | None,
    ) -> None:
        self.sim = sim
        self.ws = ws
        self.transport = transport
        self.conn_id = conn_id
        self.key_id = key_id
        self.protocol = CommandProtocol(
            sim.directory,
            self,
            authenticated=key_id is not None,
            repeat_subscribe=sim.config.repeat_subscribe,
            faults=sim.faults,
        )
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
        self.pending_corrupt = 0
        self.pending_kill: list[str] = []
        self.stalled = False
        self.unstall = asyncio.Event()
        self._stall_handle: asyncio.TimerHandle | None = None
        self.ping_sent_at: float | None = None  # loop time of the heartbeat not answered yet

    @property
    def subs(self) -> dict[int, Subscription]:
        return self.protocol.subs

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
            self._kill(sub, ErrorCode.BUFFER_OVERFLOW, front=False)
        if len(self.out) > 2 * self.sim.config.max_queue:
            log.warning("connection %d: %d frames queued, dropping the connection", self.conn_id, len(self.out))
            self.abort()

    def _kill(self, sub: Subscription, code: ErrorCode, *, front: bool) -> None:
        """End ``sub`` with a terminal error; frames still queued for it are not sent."""
        self.sim.fanout.remove(sub)
        self.protocol.end(sub.sid)
        self.dead.add(sub.sid)
        seq = self.last_seq_sent.get(sub.sid, 0) + 1
        frame = error_frame(code, sid=sub.sid, seq=seq, sending_ts_ms=self.sim.fanout.sending_ts())
        if front:
            self.out.appendleft((0, 0, 0, frame))
        else:
            self.out.append((0, 0, 0, frame))
        self.idle.clear()
        self.wake.set()

    async def writer(self) -> None:
        out = self.out
        # aiohttp's send_frame takes the frame's bytes as they are (send_str would encode a str again)
        send = self.ws.send_frame
        text = WSMsgType.TEXT
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
                if flags & F_DELTA and self.pending_corrupt and self._deep(frame):
                    corrupted = corrupt_delta(frame)
                    if corrupted is not None:  # else (a delta of -1.00 would become 0): the next delta
                        self.pending_corrupt -= 1
                        frame, what = corrupted
                        faults.record("corrupt-book", f"connection {self.conn_id} sid {sid} seq {seq}: {what}")
                await send(frame, text)
                self.frames_sent += 1
                if seq:
                    self.last_seq_sent[sid] = seq
                if flags & F_DATA:
                    if flags & F_OBSEQ:
                        if self.pending_dup:
                            self.pending_dup -= 1
                            await send(frame, text)
                            faults.record("duplicate", f"connection {self.conn_id} sid {sid} seq {seq} sent twice")
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
        except (ConnectionError, RuntimeError):  # the socket is closing or gone
            pass
        finally:
            self.closed = True
            self.idle.set()

    async def pinger(self, interval: float, timeout: float) -> None:
        """Ping with payload ``heartbeat`` every ``interval``; close when a pong is ``timeout`` late."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(interval)
                if self.stalled:
                    self.ping_sent_at = None
                    continue
                sent_at = self.ping_sent_at
                if sent_at is None:
                    self.ping_sent_at = loop.time()
                    await self.ws.ping(b"heartbeat")
                elif loop.time() - sent_at > timeout:  # the previous heartbeat is not answered yet
                    log.info("connection %d: no pong for %.1f s, closing", self.conn_id, timeout)
                    await self.ws.close(code=1011, message=b"keepalive ping timeout")
                    return
        except (ConnectionError, RuntimeError):
            pass

    def on_pong(self, payload: bytes) -> None:
        if payload == b"heartbeat":
            self.ping_sent_at = None

    # ---- faults ----------------------------------------------------------------------------------

    def apply_fault(self, kind: str, spec: FaultSpec) -> None:
        faults = self.sim.faults
        if self.closed:
            return
        if kind == "gap":
            self.pending_gap += 1
        elif kind == "corrupt-book":
            self.pending_corrupt += 1
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

    def _deep(self, frame: bytes) -> bool:
        """The delta ``frame`` is at a level ``CORRUPT_DEPTH_TICKS`` or more below its side's best bid (the truth)."""
        found = _DELTA_LEVEL.search(frame)
        if found is None:
            return False
        ticker, whole, frac, side = found.groups()
        market = self.sim.model.markets.get(ticker.decode())
        if market is None:
            return False
        # legacy integer cents, or a dollar string
        price = int(whole) * 100 if frac is None else int(whole) * 10_000 + int(frac.ljust(4, b"0")[:4])
        best = market.ladder("yes" if side == b"yes" else "no").best()
        return best is not None and price <= best - CORRUPT_DEPTH_TICKS * market.tick

    def _deliver_kill(self, sub: Subscription, kind: str) -> None:
        self._kill(sub, ErrorCode.BUFFER_OVERFLOW if kind == "error25" else ErrorCode.CHANNEL_ERROR, front=True)
        self.sim.faults.record(kind, f"connection {self.conn_id} sid {sub.sid} killed")

    def clear_pending_faults(self) -> None:
        self.pending_gap = 0
        self.pending_corrupt = 0
        self.pending_dup = 0
        self.pending_kill.clear()

    def _start_stall(self, seconds: float | None) -> None:
        if self.stalled:
            return
        seconds = seconds or DEFAULT_STALL_S
        self.stalled = True
        self.unstall.clear()
        with contextlib.suppress(Exception):
            self.transport.pause_reading()
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
                self.transport.resume_reading()
        log.info("connection %d: stall over", self.conn_id)

    def abort(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.transport.abort()

    # ---- commands --------------------------------------------------------------------------------

    def on_message(self, message: str | bytes) -> None:
        """A command arrived: handle it now, or later when the ``reorder`` fault holds it back."""
        if isinstance(message, bytes):
            try:
                message = message.decode()
            except UnicodeDecodeError:
                self.execute(self.protocol.undecodable(self.sim.fanout.sending_ts()))
                return
        delay = self.sim.faults.take_reorder(self.conn_id)
        if delay is None:
            self.handle_text(message)
        else:
            asyncio.get_running_loop().call_later(delay, self._handle_late, message)

    def _handle_late(self, text: str) -> None:
        if not self.closed:
            self.handle_text(text)

    def handle_text(self, text: str) -> None:
        self.execute(self.protocol.receive(text, self.sim.fanout.sending_ts()))

    def execute(self, actions: list[Action]) -> None:
        """Carry out what the command protocol asked for, in its order."""
        sim = self.sim
        for action in actions:
            if isinstance(action, Reply):
                self.push_control(action.frame, action.sid, action.seq)
            elif isinstance(action, SendSnapshot):
                sim.fanout.send_snapshot(action.sub, action.ticker, action.id_, action.seq)
            elif isinstance(action, SendTicker):
                sim.fanout.send_ticker(action.sub, action.ticker)
            elif isinstance(action, Added):
                sim.fanout.add(action.sub)
            elif isinstance(action, Removed):
                sim.fanout.remove(action.sub)
            elif isinstance(action, UserWanted) and not sim.model.user_active:
                log.info(
                    "connection %d subscribed to %s: the simulated user starts trading", self.conn_id, action.channel
                )
                sim.model.activate_user()

    def close(self) -> None:
        """The socket is gone: no more frames, its subscriptions leave the fan-out."""
        self.closed = True
        for sub in self.protocol.close():
            self.sim.fanout.remove(sub)
        if self._stall_handle is not None:
            self._stall_handle.cancel()
