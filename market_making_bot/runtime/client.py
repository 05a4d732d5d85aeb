"""The asyncio shell: owns the socket, runs the timers and reconnects; it holds no policy.

* :class:`market_making_bot.feed.protocol.FeedProtocol` (Core + Session + the recovery policy, sans-I/O) decides
  everything: what a frame means, what to send, when to resync, the health counters;
* this module connects with freshly signed headers, hands every frame to ``FeedProtocol.receive_frame`` in arrival
  order with its receive time (``time.time_ns()``), sends ``FeedProtocol.data_to_send()``, calls
  ``FeedProtocol.tick`` every ``ConnectionPolicy.tick`` seconds, tells it when a connection opens or is lost, and
  reconnects with capped exponential backoff and full jitter (``ConnectionPolicy.attempt_after``: reset after a
  connection that lived ``stable_after``, at most 2 s after one that delivered a snapshot). It logs the protocol's
  ``Notice`` and ``HealthReport`` events (the ``[HEALTH]`` line) and its own connection-state changes.

What this layer does about failures:

* **A lost connection** (closed by the server, reset, a refused frame, or a silent stall caught by our ping
  timeout: "no pong within N s: ping timeout") makes every book not usable at once (``Core.connection_lost``, with
  the reason), in every view, until its snapshot arrives on a new connection; then it reconnects. A run that ends
  while disconnected (duration, signal, a reconnect refused with 401) keeps them not usable in its summary.
* **Limits**: a frame or decompressed message larger than ``MAX_MESSAGE_BYTES`` (16 MiB; the biggest real snapshot
  is far smaller) is refused by websockets (close 1009), counted in ``oversized_frames``, and the connection is
  recovered by reconnecting. At most ``MAX_QUEUE`` received frames wait in memory; beyond that websockets stops
  reading and TCP backpressure holds the rest on the server, so a flood cannot swell the process.
* **No valid market left** (every ticker rejected): the run stops with :class:`NoMarketsError` (exit code 5).
* The housekeeping task never dies: an exception in one round is logged and counted (``handler_errors``, by the
  protocol object).
* Timeouts: ``asyncio.TimeoutError`` is caught as well as ``TimeoutError`` (they differ on Python 3.10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import CloseCode

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import HealthReport, Notice
from market_making_bot.feed.health import health_line
from market_making_bot.feed.protocol import ClientState, FeedProtocol
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer, shorten_key_id
from market_making_bot.redact import redacted_logger

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_QUEUE",
    "AuthenticationError",
    "ConnectionPolicy",
    "KalshiWebSocketClient",
    "NoMarketsError",
]

log = logging.getLogger("market_making_bot.runtime.client")
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


AUTH_ADVICE = (
    "Check that API key {key} exists and matches the private key file, that demo keys are used with the demo host "
    "(KALSHI_DEMO_MODE / --demo) and production keys with production, and that this machine's clock is correct."
)
"""What to check after a refused signature (WebSocket or REST); ``{key}`` is the shortened key id."""


class AuthenticationError(Exception):
    """The server refused the handshake (HTTP 401/403): the credentials are wrong, expired or for the other host.
    ``what``: the refused request (the WebSocket's handshake, or a signed REST request such as ``GET
    /portfolio/positions``)."""

    def __init__(self, status: int, url: str, key_id_short: str, what: str = "the signed handshake") -> None:
        self.status = status
        super().__init__(
            f"authentication failed: the server answered HTTP {status} to {what} at {url}. "
            + AUTH_ADVICE.format(key=key_id_short)
        )


@dataclass
class ConnectionPolicy:
    """Reconnect and liveness settings (seconds)."""

    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 30.0  # a connection that lived this long resets the backoff
    served_attempt_cap: int = 2  # a connection that delivered a snapshot restarts the backoff from at most 2**this
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

    def attempt_after(self, attempt: int, lived: float, served: bool) -> int:
        """The backoff exponent for the reconnect after a connection (or attempt) that lasted ``lived`` seconds;
        ``served``: a snapshot arrived on it. Lived ``stable_after``: 0. Served: at most ``served_attempt_cap``
        (base 0.5 s: the delay at most 2 s), so a server that drops connections every few seconds costs seconds of
        outage per drop, not up to ``backoff_cap`` (30 s); it is not hammered either (a new connection and its
        snapshots at most every ~1 s on average). Otherwise (refused, reset, no snapshot) the exponent keeps
        growing to ``backoff_cap``."""
        if lived >= self.stable_after:
            return 0
        if served:
            return min(attempt, self.served_attempt_cap)
        return attempt


class KalshiWebSocketClient:
    """Connects to Kalshi (or the simulator) and moves frames between the socket and a :class:`FeedProtocol`.

    ``protocol`` is built from ``core`` and ``session`` (``protocol.bus``: the events); ``on_frame``, ``on_send`` and
    ``on_connect`` are the journal's hooks (every frame received, every command sent, every connection opened)."""

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
        self.policy = policy or ConnectionPolicy()
        self.protocol = FeedProtocol(
            core,
            session,
            url=url,
            snapshot_grace=self.policy.snapshot_grace,
            health_interval=self.policy.health_interval,
        )
        self._rng = rng or random.Random()
        self._on_frame = on_frame
        self._on_send = on_send
        self._on_connect = on_connect
        self._ws: ClientConnection | None = None
        self.protocol.bus.subscribe(Notice, _log_notice)
        self.protocol.bus.subscribe(HealthReport, _log_health_report)

    # The protocol object's, for the views (dashboard, metrics) and tests.
    @property
    def core(self) -> Core:
        return self.protocol.core

    @property
    def session(self) -> Session:
        return self.protocol.session

    @property
    def state(self) -> ClientState:
        return self.protocol.state

    @property
    def connections(self) -> int:
        """Successful handshakes so far (the connection number)."""
        return self.protocol.connections

    @property
    def reconnects(self) -> int:
        return self.protocol.reconnects

    # ------------------------------------------------------------------------------------------------ run
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. Raises :class:`AuthenticationError` if a handshake is refused."""
        protocol = self.protocol
        attempt = 0
        while not stop.is_set():
            started = time.monotonic()
            snapshots = self._snapshots()
            try:
                await self._connect_and_stream(stop)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self._set_state(ClientState.AUTH_FAILED)
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
            attempt = self.policy.attempt_after(attempt, time.monotonic() - started, self._snapshots() > snapshots)
            if self.policy.max_reconnects is not None and self.reconnects >= self.policy.max_reconnects:
                log.error("giving up after %d reconnects", self.reconnects)
                break
            delay = self.policy.backoff(attempt, self._rng)
            attempt += 1
            self._set_state(ClientState.RECONNECTING)
            protocol.reconnecting(time.time_ns())
            log.info("reconnecting in %.2f s (attempt %d)", delay, attempt)
            with contextlib.suppress(*_TIMEOUTS):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        self._set_state(ClientState.STOPPED)

    async def _connect_and_stream(self, stop: asyncio.Event) -> None:
        self._set_state(ClientState.CONNECTING)
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
            conn = self.connections + 1
            opened_ns = time.time_ns()
            if self._on_connect is not None:
                self._on_connect(conn, opened_ns)
            self._set_state(ClientState.CONNECTED)
            self.protocol.connection_opened(opened_ns)
            await self._flush(ws, conn)
            watcher = asyncio.create_task(self._close_on(stop, ws))
            housekeeper = asyncio.create_task(self._housekeeping(ws, conn))
            try:
                await self._stream(ws, conn)
            finally:
                watcher.cancel()
                housekeeper.cancel()
                self._ws = None
            if self.protocol.fatal is not None:
                raise NoMarketsError(self.protocol.fatal)

    def _snapshots(self) -> int:
        """Order-book snapshots received so far (read once per connection, not per frame)."""
        return self.core.by_type.get("orderbook_snapshot", 0)

    def _lose_connection(self, reason: str) -> bool:
        """The live connection is gone (the protocol marks every book it fed not usable). ``True`` if there was a
        live connection (the first call after it went)."""
        if not self.protocol.live:
            return False
        self._set_state(ClientState.DISCONNECTED)
        return self.protocol.connection_lost(reason, time.time_ns())

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, ConnectionClosed):
            sent = exc.sent
            if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.protocol.frame_too_big(time.time_ns())
                return f"a frame larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB was refused (close 1009)"
            if sent is not None and exc.rcvd is None and "ping timeout" in sent.reason:
                return f"no pong within {self.policy.ping_timeout:g} s: ping timeout"
        return _describe(exc)

    async def _stream(self, ws: ClientConnection, conn: int) -> None:
        protocol, on_frame = self.protocol, self._on_frame
        session = protocol.session
        receive_frame = protocol.receive_frame
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
            receive_frame(raw, recv_ns)
            if protocol.fatal is not None:
                log.error("%s; stopping", protocol.fatal)
                await ws.close()
                return
            if session.outbox:  # a peek (one list's truth value per frame), not a decision: data_to_send is the API
                await self._flush(ws, conn)

    async def _housekeeping(self, ws: ClientConnection, conn: int) -> None:
        """Every ``policy.tick`` seconds: the protocol's timers, then whatever they queued. A failing round is
        logged and counted; the task goes on."""
        protocol = self.protocol
        while True:
            await asyncio.sleep(self.policy.tick)
            try:
                protocol.tick(time.time_ns())
                await self._flush(ws, conn)
            except ConnectionClosed:
                return  # the stream sees it too and recovers
            except Exception:
                protocol.handler_error("housekeeping", time.time_ns())

    def log_health(self) -> None:
        """Log the ``[HEALTH]`` line now."""
        if log.isEnabledFor(logging.INFO):
            log.info("%s", health_line(self.protocol.health(time.time_ns())))

    async def _flush(self, ws: ClientConnection, conn: int) -> None:
        for text in self.protocol.data_to_send():
            if self._on_send is not None:
                self._on_send(text, time.time_ns(), conn)
            log.debug("-> %s", text)
            await ws.send(text)

    @staticmethod
    async def _close_on(stop: asyncio.Event, ws: ClientConnection) -> None:
        await stop.wait()
        await ws.close()

    def _set_state(self, state: ClientState) -> None:
        if state != self.protocol.state:
            log.info("connection state: %s -> %s", self.protocol.state, state)
            self.protocol.state = state


def _log_notice(notice: Notice) -> None:
    log.log(notice.level, "%s", notice.text)


def _log_health_report(report: HealthReport) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info("%s", health_line(report.health))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        if rcvd is None:
            return "closed abruptly (no close frame)"
        return f"closed by server (code {rcvd.code}{', ' + rcvd.reason if rcvd.reason else ''})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
