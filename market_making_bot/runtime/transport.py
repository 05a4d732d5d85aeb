"""The socket layer under :class:`~market_making_bot.runtime.client.KalshiWebSocketClient`, behind one small seam.

A :class:`Transport` opens a WebSocket connection (``connect(url, headers, options)``, an async context manager)
and yields a :class:`Connection` with ``recv``/``send``/``close``. Whatever goes wrong leaves the ``async with``
block as one of this module's exceptions, the same on every transport, so that the client maps them once:

* :class:`HandshakeRefused` (``status``: the HTTP status; 401/403 -> ``AuthenticationError``, exit code 4);
* :class:`HandshakeFailed` (an answer that is not a WebSocket upgrade);
* :class:`TransportClosed` (the connection ended: the close frame received and sent, if any, ``clean`` for a normal
  closure 1000/1001, ``too_big`` for a frame over ``max_size`` refused with 1009, ``ping_timeout`` for no pong in
  time);
* :class:`BadURL` (a URL no transport can use; not recovered);
* and, unchanged, ``OSError`` (refused, reset) and ``TimeoutError``/``asyncio.TimeoutError`` (the opening
  handshake took longer than ``open_timeout``).

Three implementations, chosen by name (:func:`get_transport`):

* ``websockets``: the ``websockets`` library's asyncio client (pure-Python frame parsing); always installed, the
  fallback;
* ``aiohttp`` (a dependency already): ``ClientSession.ws_connect``, whose frame reader is compiled (Cython), with
  our own pings (aiohttp's ``autoping`` would swallow the pongs our ping timeout waits for);
* ``picows`` (the ``[fast]`` extra): ``picows.websockets``, websockets' own API over picows' compiled parser;
* ``auto`` (the default, :data:`DEFAULT_TRANSPORT`): picows if installed (the ``[fast]`` extra), else websockets
  (:data:`AUTO_ORDER`; the measured figures are in README "Performance").

The same behaviour on each: the signed headers on the opening request, permessage-deflate offered, frames of at
most ``max_size`` bytes (after decompression too; a larger one closes the connection with 1009), a ping every
``ping_interval`` seconds and the connection closed (1011, "keepalive ping timeout") when no pong comes within
``ping_timeout``, text frames delivered as UTF-8 ``bytes`` (never decoded here: a frame that is not UTF-8 reaches
the decoder and is counted as malformed), and a bounded receive buffer (beyond it the socket is not read: TCP
backpressure). A signature in any handshake log line is redacted (``redact.REDACT_SIGNATURE`` on the libraries'
loggers).

Hot path: ``Connection.recv`` is what the client awaits once per frame. For ``websockets`` and ``picows`` it is the
library's own bound ``recv`` method (no wrapper: no per-frame cost added); their exceptions are translated once per
connection, when they leave the ``async with`` block. For ``aiohttp`` it is one thin coroutine over
``ws.receive()`` that returns data frames and handles the few control messages. ``Connection.closed_errors`` lists
the classes that mean "closed" for code that runs outside the block (the client's housekeeping task).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from market_making_bot.redact import redacted_logger
from market_making_bot.runtime.transport_names import (
    AUTO_ORDER,
    DEFAULT_TRANSPORT,
    TRANSPORTS,
    available_transports,
    installed,
)

__all__ = [
    "AUTO_ORDER",
    "DEFAULT_TRANSPORT",
    "LIBRARY_LOGGERS",
    "TRANSPORTS",
    "AiohttpTransport",
    "PicowsTransport",
    "WebsocketsTransport",
    "BadURL",
    "CloseFrame",
    "Connection",
    "ConnectOptions",
    "HandshakeFailed",
    "HandshakeRefused",
    "Transport",
    "TransportClosed",
    "TransportError",
    "available_transports",
    "get_transport",
]

PING_TIMEOUT_REASON = "keepalive ping timeout"
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)  # the same class from Python 3.11 on, not on 3.10


# ------------------------------------------------------------------------------------------------------ errors
class TransportError(Exception):
    """Base class of the transport's errors."""


class BadURL(TransportError, ValueError):
    """The URL cannot be used (not ``ws://``/``wss://``, no host, ...)."""


class HandshakeRefused(TransportError):
    """The server answered the opening handshake with HTTP ``status`` instead of 101."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"server rejected WebSocket connection: HTTP {status}")


class HandshakeFailed(TransportError):
    """The answer to the opening handshake was not a valid WebSocket upgrade."""


@dataclass(frozen=True)
class CloseFrame:
    code: int
    reason: str


class TransportClosed(TransportError):
    """The connection ended. ``rcvd``/``sent``: the close frames received and sent (``None``: none);
    ``clean``: a normal closure (1000 or 1001 received, or our own close); ``too_big``: we refused a frame larger
    than ``max_size`` (1009); ``ping_timeout``: no pong came within ``ping_timeout``."""

    def __init__(
        self,
        rcvd: CloseFrame | None,
        sent: CloseFrame | None,
        *,
        clean: bool = False,
        too_big: bool = False,
        ping_timeout: bool = False,
    ) -> None:
        self.rcvd, self.sent = rcvd, sent
        self.clean, self.too_big, self.ping_timeout = clean, too_big, ping_timeout
        super().__init__(self.describe())

    def describe(self) -> str:
        rcvd = self.rcvd
        if rcvd is None:
            return "closed abruptly (no close frame)"
        return f"closed by server (code {rcvd.code}{', ' + rcvd.reason if rcvd.reason else ''})"


# ------------------------------------------------------------------------------------------------- the seam
@dataclass(frozen=True)
class ConnectOptions:
    """Everything a transport needs besides the URL and the headers (seconds; bytes)."""

    open_timeout: float = 10.0
    ping_interval: float | None = 10.0
    ping_timeout: float | None = 10.0
    close_timeout: float = 2.0
    max_size: int = 16 * 1024 * 1024
    max_queue: int = 32  # frames (websockets); aiohttp bounds its buffer in bytes (64 KiB) instead
    logger: logging.Logger | None = None  # websockets' handshake logger (redacted)


class Connection(Protocol):
    """One open WebSocket connection."""

    # ``recv(False)``: the next data frame (text frames as UTF-8 bytes). A read-only attribute, not necessarily a
    # method, so that a transport can hand out its library's own bound method (the per-frame call). It raises the
    # transport's own exceptions; they become TransportClosed when they leave ``Transport.connect``'s block.
    @property
    def recv(self) -> Callable[[bool], Awaitable[str | bytes]]: ...

    @property
    def closed_errors(self) -> tuple[type[BaseException], ...]:
        """The exception classes that mean "the connection is closed" (for code outside the ``async with``
        block)."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self) -> None: ...

    @property
    def reading(self) -> bool | None:
        """Whether the socket is being read; ``False`` while the receive buffer is full (TCP backpressure holds
        the rest on the sender) or once the connection is closed; ``None`` where the library does not tell
        (picows)."""
        ...


def _is_reading(transport: Any) -> bool:
    return transport is not None and not transport.is_closing() and bool(transport.is_reading())


class Transport(Protocol):
    name: str

    def connect(
        self, url: str, headers: Mapping[str, str], options: ConnectOptions
    ) -> contextlib.AbstractAsyncContextManager[Connection]: ...


# ------------------------------------------------------------------------------------------------ websockets
class _WebsocketsConnection:
    __slots__ = ("_ws", "closed_errors", "recv", "send")

    def __init__(self, ws: Any, ConnectionClosed: type[BaseException]) -> None:  # noqa: N803 - the library's class
        self._ws = ws
        self.recv = ws.recv  # the library's bound method: no wrapper on the hot path
        self.send = ws.send
        self.closed_errors: tuple[type[BaseException], ...] = (ConnectionClosed, TransportClosed)

    async def close(self) -> None:
        await self._ws.close()

    @property
    def reading(self) -> bool | None:
        transport = getattr(self._ws, "transport", None)  # picows.websockets keeps its transport private
        return None if transport is None else _is_reading(transport)


class WebsocketsTransport:
    """The ``websockets`` library's asyncio client (its keepalive pings, ``max_size``, ``max_queue``)."""

    name = "websockets"
    package = "websockets"  # the module that has ``asyncio.client.connect`` and ``exceptions``

    @contextlib.asynccontextmanager
    async def connect(self, url: str, headers: Mapping[str, str], options: ConnectOptions) -> AsyncIterator[Connection]:
        import importlib

        connect = importlib.import_module(f"{self.package}.asyncio.client").connect
        errors = importlib.import_module(f"{self.package}.exceptions")
        ConnectionClosed, ConnectionClosedOK = errors.ConnectionClosed, errors.ConnectionClosedOK  # noqa: N806
        InvalidHandshake, InvalidStatus, InvalidURI = (  # noqa: N806
            errors.InvalidHandshake,
            errors.InvalidStatus,
            errors.InvalidURI,
        )
        try:
            async with connect(
                url,
                additional_headers=dict(headers),
                open_timeout=options.open_timeout,
                ping_interval=options.ping_interval,
                ping_timeout=options.ping_timeout,
                close_timeout=options.close_timeout,
                max_size=options.max_size,
                max_queue=options.max_queue,
                logger=options.logger,
            ) as ws:
                yield _WebsocketsConnection(ws, ConnectionClosed)
        except InvalidStatus as exc:
            raise HandshakeRefused(exc.response.status_code) from None
        except InvalidURI as exc:
            raise BadURL(str(exc)) from None
        except InvalidHandshake as exc:
            raise HandshakeFailed(str(exc) or type(exc).__name__) from exc
        except ConnectionClosed as exc:
            rcvd = CloseFrame(exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else None
            sent = CloseFrame(exc.sent.code, exc.sent.reason) if exc.sent is not None else None
            raise TransportClosed(
                rcvd,
                sent,
                clean=isinstance(exc, ConnectionClosedOK),
                too_big=sent is not None and sent.code == MESSAGE_TOO_BIG,
                ping_timeout=sent is not None and rcvd is None and "ping timeout" in sent.reason,
            ) from None


class PicowsTransport(WebsocketsTransport):
    """``picows`` (the ``[fast]`` extra): its ``picows.websockets`` module is websockets' asyncio client API (the
    same ``connect`` options, exceptions and close codes, permessage-deflate included) over picows' compiled
    frame parser and connection."""

    name = "picows"
    package = "picows.websockets"


# --------------------------------------------------------------------------------------------------- aiohttp
# aiohttp's and picows' own loggers, redacted like websockets' (neither logs a request header today; a later
# version must not leak a signature through them either). picows.websockets logs through the logger it is given.
LIBRARY_LOGGERS = ("aiohttp.client", "aiohttp.websocket", "aiohttp.internal", "picows", "picows.client")
for _name in LIBRARY_LOGGERS:
    redacted_logger(_name)


class _AiohttpConnection:
    """aiohttp's ``ClientWebSocketResponse`` with our pings (``autoping=False``: pings are answered here, pongs
    end the wait of :meth:`_keepalive`), close frames turned into :class:`TransportClosed`."""

    def __init__(self, ws: Any, options: ConnectOptions) -> None:
        from aiohttp import WSMsgType

        self._ws = ws
        self._options = options
        self._receive = ws.receive
        self._text, self._binary = WSMsgType.TEXT, WSMsgType.BINARY
        self._ping, self._pong, self._error = WSMsgType.PING, WSMsgType.PONG, WSMsgType.ERROR
        self._close = WSMsgType.CLOSE
        self._pong_waiter: asyncio.Future[None] | None = None
        self._closed_by_us = False
        self._ping_timed_out = False
        self.closed_errors: tuple[type[BaseException], ...] = (TransportClosed, ConnectionError)
        self._keeper: asyncio.Task[None] | None = None
        if options.ping_interval is not None:
            self._keeper = asyncio.get_running_loop().create_task(self._keepalive(options.ping_interval))

    async def recv(self, decode: bool = False) -> str | bytes:
        """The next data frame (``decode`` is ignored: text frames stay UTF-8 bytes, as with websockets'
        ``recv(False)``)."""
        receive, text, binary = self._receive, self._text, self._binary
        while True:
            kind, data, extra = await receive()
            if kind is text or kind is binary:  # the one test of a data frame: the rest is control traffic
                return data  # type: ignore[no-any-return]
            if kind is self._ping:
                await self._ws.pong(data)
            elif kind is self._pong:
                waiter = self._pong_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            else:
                raise self._closed(kind, data, extra)

    def _closed(self, kind: Any, data: Any, extra: Any) -> TransportClosed:
        ws = self._ws
        if kind is self._error:  # a protocol error: aiohttp has closed with its code (1009 for a too big frame)
            code = int(getattr(data, "code", 0) or ws.close_code or 1002)
            too_big = code == MESSAGE_TOO_BIG
            return TransportClosed(None, CloseFrame(code, str(data)), too_big=too_big)
        if self._ping_timed_out:
            return TransportClosed(None, CloseFrame(INTERNAL_ERROR, PING_TIMEOUT_REASON), ping_timeout=True)
        if kind is self._close:  # CLOSE: the server's close frame (code, reason); aiohttp answered it
            rcvd = CloseFrame(int(data) if data is not None else 1005, extra or "")  # 1005: no status code
            return TransportClosed(rcvd, rcvd, clean=self._closed_by_us or rcvd.code in (1000, 1001))
        if self._closed_by_us:  # CLOSING: our own close() (the run is stopping)
            return TransportClosed(None, CloseFrame(1000, ""), clean=True)
        return TransportClosed(None, None)  # CLOSED: the TCP connection ended without a close frame

    async def send(self, text: str) -> None:
        if self._ws.closed:
            raise TransportClosed(None, None)
        await self._ws.send_str(text)

    async def close(self) -> None:
        self._closed_by_us = True
        await self._ws.close()

    @property
    def reading(self) -> bool | None:
        conn = getattr(self._ws, "_conn", None)  # aiohttp keeps the connection (and its transport) here
        return _is_reading(getattr(conn, "transport", None))

    async def _keepalive(self, interval: float) -> None:
        """A ping every ``interval`` seconds; no pong within ``ping_timeout``: close (1011), as websockets does."""
        loop = asyncio.get_running_loop()
        timeout = self._options.ping_timeout
        ws = self._ws
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not ws.closed:
                await asyncio.sleep(interval)
                waiter: asyncio.Future[None] = loop.create_future()
                self._pong_waiter = waiter
                await ws.ping()
                if timeout is None:
                    continue
                try:
                    await asyncio.wait_for(waiter, timeout)
                except _TIMEOUTS:
                    self._ping_timed_out = True
                    await ws.close(code=INTERNAL_ERROR, message=PING_TIMEOUT_REASON.encode())
                    return

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
        if not self._ws.closed:
            self._closed_by_us = True
            with contextlib.suppress(Exception):
                await self._ws.close()


class AiohttpTransport:
    """``aiohttp.ClientSession.ws_connect`` (compiled frame reader), one session per connection."""

    name = "aiohttp"

    @contextlib.asynccontextmanager
    async def connect(self, url: str, headers: Mapping[str, str], options: ConnectOptions) -> AsyncIterator[Connection]:
        import aiohttp

        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        conn: _AiohttpConnection | None = None
        try:
            try:
                ws = await asyncio.wait_for(
                    session.ws_connect(
                        url,
                        headers=dict(headers),
                        autoping=False,  # our pings and pong timeout (_keepalive); pings are answered in recv
                        autoclose=True,
                        compress=15,  # permessage-deflate offered, as websockets does
                        max_msg_size=options.max_size,
                        timeout=_ws_timeout(aiohttp, options.close_timeout),
                        **_aiohttp_no_decode(),
                    ),
                    options.open_timeout,
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status != 101:
                    raise HandshakeRefused(exc.status) from None
                raise HandshakeFailed(exc.message) from None
            except aiohttp.InvalidURL as exc:
                raise BadURL(f"invalid URI: {exc}") from None
            except aiohttp.ClientConnectorError as exc:  # an OSError: refused, unreachable
                raise OSError(exc.os_error.errno, str(exc)) from None
            except aiohttp.ClientError as exc:  # reset or closed during the handshake
                raise HandshakeFailed(f"{type(exc).__name__}: {exc}") from None
            except ValueError as exc:  # yarl/aiohttp refuse some URLs with a plain ValueError
                raise BadURL(f"invalid URI: {exc}") from None
            conn = _AiohttpConnection(ws, options)
            try:
                yield conn
            except (ConnectionError, aiohttp.ClientError) as exc:  # a send on a connection that just went
                raise TransportClosed(None, None) from exc
        finally:
            if conn is not None:
                await conn.aclose()
            await session.close()


def _ws_timeout(aiohttp: Any, close_timeout: float) -> Any:
    """No receive timeout (our pings find a dead connection), ``close_timeout`` for the closing handshake:
    ``ClientWSTimeout`` from aiohttp 3.10 on, a plain number of seconds (the close timeout) before."""
    timeout_class = getattr(aiohttp, "ClientWSTimeout", None)
    return close_timeout if timeout_class is None else timeout_class(ws_receive=None, ws_close=close_timeout)


@functools.cache
def _aiohttp_no_decode() -> dict[str, Any]:
    """``decode_text=False`` where aiohttp has it (3.13 on): text frames as bytes, never decoded (as websockets'
    ``recv(False)``); older versions decode them to ``str``, which the decoder also takes. Asked on the first
    aiohttp connection, not at import: importing aiohttp costs about 150 ms, which a replay or a run on another
    transport must not pay."""
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        return {}
    return (
        {"decode_text": False}
        if "decode_text" in inspect.signature(aiohttp.ClientSession.ws_connect).parameters
        else {}
    )


# --------------------------------------------------------------------------------------------------- choose
_FACTORIES: dict[str, Callable[[], Transport]] = {
    "websockets": WebsocketsTransport,
    "aiohttp": AiohttpTransport,
    "picows": PicowsTransport,
}


def get_transport(name: str | Transport | None = None) -> Transport:
    """The transport called ``name`` (``None``: :data:`DEFAULT_TRANSPORT`; ``auto``: picows if installed, else
    websockets). A :class:`Transport` object is returned as it is. Raises ``ValueError`` for an unknown or missing
    one."""
    if name is None:
        name = DEFAULT_TRANSPORT
    if not isinstance(name, str):
        return name
    if name == "auto":
        name = next((n for n in AUTO_ORDER if installed(n)), "websockets")  # websockets: a dependency
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown WebSocket transport {name!r} (choose from {', '.join(TRANSPORTS)})")
    if not installed(name):
        raise ValueError(f"WebSocket transport {name!r} needs the {name} package, which is not installed")
    return factory()
