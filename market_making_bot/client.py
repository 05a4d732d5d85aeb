"""The asyncio layer: owns the socket, timers and reconnects; everything else is delegated.

* :class:`market_making_bot.session.Session` decides what to send (subscriptions, healing commands);
* :class:`market_making_bot.core.Core` turns frames into state and output;
* this module connects with freshly signed headers, feeds every frame in arrival order with its receive time,
  sends what the session queues, runs the session's timers (``Session.tick``), and reconnects with capped
  exponential backoff and full jitter.

Recovery policy of this layer:

* **A lost connection** (closed by the server, reset, a refused frame, or a silent stall caught by our ping
  timeout: "no pong within N s: ping timeout") makes every book not usable at once (``Core.connection_lost``, with
  the reason), in every view, until its snapshot arrives on a new connection; then it reconnects. A run that ends
  while disconnected (duration, signal, a reconnect refused with 401) keeps them not usable in its summary.
* **Limits**: a frame or decompressed message larger than ``MAX_MESSAGE_BYTES`` (16 MiB; the biggest real snapshot
  is far smaller) is refused by websockets (close 1009), counted in ``oversized_frames``, and the connection is
  recovered by reconnecting. At most ``MAX_QUEUE`` received frames wait in memory; beyond that websockets stops
  reading and TCP backpressure holds the rest on the server, so a flood cannot swell the process.
* **No valid market left** (every ticker rejected): the run stops with :class:`NoMarketsError` (exit code 5).
* The housekeeping task never dies: an exception in one round is logged and counted (``handler_errors``).
* Timeouts: ``asyncio.TimeoutError`` is caught as well as ``TimeoutError`` (they differ on Python 3.10).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import CloseCode

from market_making_bot.auth import Signer, shorten_key_id
from market_making_bot.core import Core
from market_making_bot.redact import redacted_logger
from market_making_bot.sequence import SequenceProblem
from market_making_bot.session import Notice, Session

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_QUEUE",
    "AuthenticationError",
    "ConnectionPolicy",
    "KalshiWebSocketClient",
    "NoMarketsError",
]

log = logging.getLogger("market_making_bot.client")
# the logger handed to websockets' connect(): websockets logs every handshake header at DEBUG, the signature
# included (``> KALSHI-ACCESS-SIGNATURE: ...``), when a program sets DEBUG on the root logger; this one redacts it.
# Its own default name, so that setup_logging's quieting of "websockets" (output.py) still applies to it.
WS_LOG = redacted_logger("websockets.client")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest frame, and largest message after permessage-deflate decompression, that is accepted (websockets
``max_size``); a larger one closes the connection (1009), is counted and the client reconnects."""
MAX_QUEUE = 32
"""Received frames buffered before websockets stops reading the socket (TCP backpressure)."""
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)  # the same class from Python 3.11 on, not on 3.10


class NoMarketsError(Exception):
    """Every market ticker was rejected by the server: nothing is left to listen to."""


class AuthenticationError(Exception):
    """The server refused the handshake (HTTP 401/403): the credentials are wrong, expired or for the other host."""

    def __init__(self, status: int, url: str, key_id_short: str) -> None:
        self.status = status
        super().__init__(
            f"authentication failed: the server answered HTTP {status} to the signed handshake at {url}. "
            f"Check that API key {key_id_short} exists and matches the private key file, that demo keys are used "
            f"with the demo host (KALSHI_DEMO_MODE / --demo) and production keys with production, and that this "
            f"machine's clock is correct."
        )


@dataclass
class ConnectionPolicy:
    """Reconnect and liveness settings (seconds)."""

    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 30.0  # a connection that lived this long resets the backoff
    ping_interval: float | None = 10.0  # our own WebSocket pings; no pong within ping_timeout means dead
    ping_timeout: float | None = 10.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    max_reconnects: int | None = None  # None: forever (until stopped)
    resync_timeout: float = 5.0  # a requested snapshot that has not come by then: resubscribe the order book
    health_interval: float | None = 60.0  # periodic [HEALTH] line at INFO (None: never)
    tick: float = 0.5  # housekeeping period
    snapshot_grace: float = 5.0  # warn about a subscribed market with no book this long after connecting

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * (2**attempt)))


class KalshiWebSocketClient:
    """Connects to Kalshi (or the simulator), subscribes, and feeds every frame to a :class:`Core`."""

    def __init__(
        self,
        url: str,
        signer: Signer,
        core: Core,
        session: Session,
        policy: ConnectionPolicy | None = None,
        *,
        rng: random.Random | None = None,
        on_frame: Callable[[str | bytes, int, int], None] | None = None,
        on_send: Callable[[str, int, int], None] | None = None,
        on_connect: Callable[[int, int], None] | None = None,
    ) -> None:
        self.url = url
        self.signer = signer
        self.core = core
        self.session = session
        self.policy = policy or ConnectionPolicy()
        self._rng = rng or random.Random()
        self._on_frame = on_frame
        self._on_send = on_send
        self._on_connect = on_connect
        self.connections = 0  # successful handshakes so far (the connection number)
        self.reconnects = 0
        self.state = "idle"
        self._ws: ClientConnection | None = None
        self._started = time.monotonic()
        self._live = False
        self._last_health = self._started
        core.on_sequence_problem.append(self._on_problem)

    # ------------------------------------------------------------------------------------------------ run
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. Raises :class:`AuthenticationError` if a handshake is refused."""
        attempt = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._connect_and_stream(stop)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self._set_state("auth_failed")
                    raise AuthenticationError(status, self.url, shorten_key_id(self.signer.key_id)) from None
                log.warning("handshake refused with HTTP %d", status)
            except (OSError, *_TIMEOUTS, InvalidHandshake, ConnectionClosed) as exc:
                if isinstance(exc, InvalidURI):
                    raise
                if stop.is_set():
                    break
                why = self._describe(exc)
                if self._lose_connection(why):
                    log.warning("connection lost: %s", why)
                else:
                    log.warning("connection %s: %s", "lost" if self.connections else "failed", why)
            if stop.is_set():
                break
            self._lose_connection("closed by the server")
            if time.monotonic() - started >= self.policy.stable_after:
                attempt = 0
            if self.policy.max_reconnects is not None and self.reconnects >= self.policy.max_reconnects:
                log.error("giving up after %d reconnects", self.reconnects)
                break
            delay = self.policy.backoff(attempt, self._rng)
            attempt += 1
            self.reconnects += 1
            self.core.counters["reconnects"] = self.reconnects
            self._set_state("reconnecting")
            log.info("reconnecting in %.2f s (attempt %d)", delay, attempt)
            with contextlib.suppress(*_TIMEOUTS):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        self._set_state("stopped")

    async def _connect_and_stream(self, stop: asyncio.Event) -> None:
        self._set_state("connecting")
        headers = self.signer.headers(self.url)  # fresh timestamp and signature for every attempt
        async with connect(
            self.url,
            additional_headers=headers,
            open_timeout=self.policy.open_timeout,
            ping_interval=self.policy.ping_interval,
            ping_timeout=self.policy.ping_timeout,
            close_timeout=self.policy.close_timeout,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=MAX_QUEUE,
            logger=WS_LOG,
        ) as ws:
            self._ws = ws
            self.connections += 1
            conn = self.connections
            opened_ns = time.time_ns()
            if self._on_connect is not None:
                self._on_connect(conn, opened_ns)
            self._set_state("connected")
            self.core.connection_opened(opened_ns)
            self._live = True
            self.session.connected(time.monotonic())
            await self._flush(ws, conn)
            watcher = asyncio.create_task(self._close_on(stop, ws))
            housekeeper = asyncio.create_task(self._housekeeping(ws, conn))
            try:
                await self._stream(ws, conn)
            finally:
                watcher.cancel()
                housekeeper.cancel()
                self._ws = None
            if self.session.fatal is not None:
                raise NoMarketsError(self.session.fatal)

    def _lose_connection(self, reason: str) -> bool:
        """The live connection is gone: every book it fed is not usable, with ``reason``. ``True`` if there was
        a live connection (the first call after it went)."""
        if not self._live:
            return False
        self._live = False
        self._set_state("disconnected")
        self.core.connection_lost(reason)
        return True

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, ConnectionClosed):
            sent = exc.sent
            if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.core.counters["oversized_frames"] += 1
                return f"a frame larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB was refused (close 1009)"
            if sent is not None and exc.rcvd is None and "ping timeout" in sent.reason:
                return f"no pong within {self.policy.ping_timeout:g} s: ping timeout"
        return _describe(exc)

    async def _stream(self, ws: ClientConnection, conn: int) -> None:
        core, session, on_frame = self.core, self.session, self._on_frame
        handle_control = self._handle_control
        # Frames as bytes (``decode=False``): msgspec reads UTF-8 bytes directly, so the text is never built; a
        # frame that is not valid UTF-8 is then counted as malformed instead of closing the connection.
        recv = ws.recv
        while True:
            try:
                raw = await recv(False)
            except ConnectionClosedOK:
                return
            recv_ns = time.time_ns()
            if on_frame is not None:
                on_frame(raw, recv_ns, conn)
            msg = core.feed(raw, recv_ns)
            if msg is not None and msg.type in _CONTROL_TYPES:
                handle_control(msg)
                if session.fatal is not None:
                    log.error("%s; stopping", session.fatal)
                    await ws.close()
                    return
            if session.outbox:
                await self._flush(ws, conn)

    async def _housekeeping(self, ws: ClientConnection, conn: int) -> None:
        """Periodic: the session's timers (late snapshots, backoff, lost replies, markets without a book); the
        health line. A failing round is logged and counted; the task goes on."""
        policy = self.policy
        connected_at = time.monotonic()
        warned = False
        while True:
            await asyncio.sleep(policy.tick)
            try:
                now = time.monotonic()
                self._log(self.session.tick(now, self._missing_books()))
                if not warned and now - connected_at >= policy.snapshot_grace:
                    warned = True
                    self._warn_missing_books()
                if self.session.outbox:
                    await self._flush(ws, conn)
                if policy.health_interval is not None and now - self._last_health >= policy.health_interval:
                    self._last_health = now
                    self.log_health()
            except ConnectionClosed:
                return  # the stream sees it too and recovers
            except Exception:
                self.core.counters["handler_errors"] += 1
                log.exception("[HANDLER ERROR] in housekeeping; it goes on")

    def _missing_books(self) -> list[str]:
        markets = self.core.state.markets
        return [t for t in self.session.tickers if t not in markets or not markets[t].usable]

    def _warn_missing_books(self) -> None:
        sub = self.session.subs.get("orderbook_delta")
        if sub is None or sub.status != "active":
            return
        markets = self.core.state.markets
        missing = [t for t in self.session.tickers if t not in markets or not markets[t].has_snapshot]
        if missing:
            log.warning(
                "no order book snapshot for %s %.0f s after connecting: is the ticker right and the market open?",
                ", ".join(missing),
                self.policy.snapshot_grace,
            )

    def log_health(self) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        h = self.core.health()
        markets = self.core.state.markets
        unusable = [f"{t} ({m.unusable_reason})" for t, m in markets.items() if not m.usable]
        lat = h["feed_latency_ms"]
        log.info(
            "[HEALTH] %s | up %.0f s | frames %d | reconnects %d | gaps %d | resyncs %d | duplicates %d | "
            "malformed %d | handler errors %d | latency p50 %s ms p99 %s ms | books usable %d/%d%s",
            self.state,
            time.monotonic() - self._started,
            self.core.counters["frames"],
            h["reconnects"],
            h["gaps"],
            h["resyncs"],
            h["duplicates_dropped"],
            h["malformed"],
            h["handler_errors"],
            _ms(lat["p50"]),
            _ms(lat["p99"]),
            len(markets) - len(unusable),
            len(markets),
            (" | not usable: " + ", ".join(unusable)) if unusable else "",
        )

    def _on_problem(self, problem: SequenceProblem) -> None:
        """Core hook: books went bad; ask the session to re-baseline them on the live connection."""
        if problem.kind in ("gap", "duplicate", "regression"):
            markets = self.core.markets_on_sid(problem.sid)
        else:
            markets = [problem.market_ticker] if problem.market_ticker else []
        self._log(self.session.resync(problem.sid, markets, time.monotonic()))

    async def _flush(self, ws: ClientConnection, conn: int) -> None:
        self.core.counters["resyncs"] = self.session.resyncs
        for cmd in self.session.take_outbox():
            text = json.dumps(cmd, separators=(",", ":"))
            if self._on_send is not None:
                self._on_send(text, time.time_ns(), conn)
            log.debug("-> %s", text)
            await ws.send(text)

    @staticmethod
    async def _close_on(stop: asyncio.Event, ws: ClientConnection) -> None:
        await stop.wait()
        await ws.close()

    # --------------------------------------------------------------------------------------- control frames
    def _handle_control(self, msg: Any) -> None:
        try:
            self._log(self.session.handle(msg, time.monotonic()))
        except Exception:  # a session bug must not cost the connection
            self.core.counters["handler_errors"] += 1
            log.exception("[HANDLER ERROR] while handling a %s reply", msg.type)

    @staticmethod
    def _log(notices: list[Notice]) -> None:
        for n in notices:
            log.log(n.level, "%s", n.text)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.info("connection state: %s -> %s", self.state, state)
            self.state = state


_CONTROL_TYPES = frozenset({"subscribed", "unsubscribed", "error", "ok", "orderbook_snapshot"})


def _ms(value: float | None) -> str:
    return "--" if value is None else f"{value:.0f}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        if rcvd is None:
            return "closed abruptly (no close frame)"
        return f"closed by server (code {rcvd.code}{', ' + rcvd.reason if rcvd.reason else ''})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
