"""The simulator's server: its lifecycle, the paced order flow, and the WebSocket connections it serves.

One asyncio task runs the order flow (:class:`~.model.ExchangeModel` steps, paced to ``rate``);
every event is turned into frames for the subscriptions that cover it and appended, already
numbered, to each connection's outbound queue (:mod:`.fanout`); one writer task per connection sends
them in that order (:mod:`.connection`). Commands are handled synchronously between order-flow
batches (:mod:`.commands`, free of I/O), so a snapshot is exactly the book after every delta queued
before it and before every delta queued after it. The handshake is checked by :mod:`.handshake`,
the true state written by :mod:`.truth`.

Transport: one aiohttp server (``aiohttp.web``) serves the WebSocket on ``/trade-api/ws/v2``
(``web.WebSocketResponse``, no permessage-deflate, pings answered and sent by hand so the heartbeat
payload and its pong are ours) and REST under ``/trade-api/v2`` (:mod:`.rest`) on the same host and
port; the ``websockets`` server could only answer GET handshakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from market_making_bot.marker import SIMULATOR_HEADER, SIMULATOR_MARK
from market_making_bot.redact import REDACT_SIGNATURE as REDACT_SIGNATURE  # re-exported (tests, older imports)
from market_making_bot.redact import RedactSignature as RedactSignature
from market_making_bot.redact import redacted_logger
from market_making_bot.simulator import auth
from market_making_bot.simulator import truth as _truth
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.connection import Connection
from market_making_bot.simulator.fanout import FanOut
from market_making_bot.simulator.faults import FaultController
from market_making_bot.simulator.handshake import REST_PREFIX as REST_PREFIX
from market_making_bot.simulator.handshake import WS_PATH as WS_PATH
from market_making_bot.simulator.handshake import Gate, Refused
from market_making_bot.simulator.matching import OrderEntry
from market_making_bot.simulator.model import Event, ExchangeModel, maker_rate_for
from market_making_bot.simulator.rest import RestApi
from market_making_bot.simulator.subscriptions import CHANNELS as CHANNELS  # re-exported (older imports)
from market_making_bot.simulator.subscriptions import MARKET_FILTER_CHANNELS as MARKET_FILTER_CHANNELS
from market_making_bot.simulator.subscriptions import PRIVATE_CHANNELS as PRIVATE_CHANNELS
from market_making_bot.simulator.subscriptions import MarketDirectory
from market_making_bot.simulator.subscriptions import Subscription as Subscription
from market_making_bot.simulator.units import now_ms
from market_making_bot.simulator.wire import Wire

log = logging.getLogger("market_making_bot.simulator")
WS_LOGGER = "market_making_bot.simulator.websockets"


for _name in ("market_making_bot.simulator", WS_LOGGER, "aiohttp.server", "aiohttp.web", "aiohttp.access"):
    redacted_logger(_name)  # the signature never reaches a log (REDACT_SIGNATURE, market_making_bot.redact)


class ExchangeSimulator:
    """A local Kalshi exchange on a real WebSocket and REST. Use as ``async with ExchangeSimulator(cfg) as sim``."""

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
            maker_fee_rate=maker_rate_for(
                config.fee_type, _fraction(config.maker_fee_rate), _fraction(config.taker_fee_rate)
            ),
            taker_fee_rate=_fraction(config.taker_fee_rate),
            now_ms=now_ms,
            unopened=config.opens_after,
        )
        if not config.auto_user:
            self.model.user_stopped = True
        # the account's REST orders (:mod:`.matching`); it hooks the model's maker fills
        self.entry = OrderEntry(self.model, starting_cash_micro=config.starting_balance_cents * 10_000)
        self._expiry: asyncio.TimerHandle | None = None
        self._openings: list[asyncio.TimerHandle] = []
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
        self.fanout = FanOut(self.model, self.wire, config)
        self.directory = MarketDirectory(
            [m.ticker for m in self.model.market_list], {m.ticker: m.market_id for m in self.model.market_list}
        )
        self.gate = Gate(config, self.faults)
        self.rest = RestApi(self)
        self._conn_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._flow_task: asyncio.Task[None] | None = None
        self._flow_started = False
        self._flow_done = asyncio.Event()
        self._stopped = False
        self.port = config.port
        self.frames_generated = 0
        self.overflows = 0
        self.connections_total = 0
        self.truth_error: str | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        # one aiohttp server for the WebSocket and REST (:mod:`.rest`) on the same host and port
        app = web.Application()
        app.on_response_prepare.append(_mark_reply)
        app.router.add_get(WS_PATH, self._ws_handler)
        self.rest.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.faults.start()
        log.info(
            "simulator serving %s and REST on %s (%d markets, rate %g frames/s, seed %d, %s)",
            self.url,
            self.api_url,
            len(self.model.market_list),
            self.config.rate,
            self.config.seed,
            "legacy cents" if self.config.legacy_cents else "fixed point",
        )
        loop = asyncio.get_running_loop()
        for ticker, seconds in self.config.opens_after.items():  # --open-later: from the server's start
            self._openings.append(loop.call_later(seconds, self.open_market, ticker))
        if not self.config.start_paused:
            self.start_flow()

    def open_market(self, ticker: str) -> None:
        """A market of ``opens_after`` opens now: REST lists it ``active`` and the order flow trades it."""
        if self.model.open_market(ticker):
            self.rest.opened_ms[ticker] = now_ms()
            log.info("market %s opens", ticker)

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
        for timer in self._openings:
            timer.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
        if self._flow_task is not None and not self._flow_task.done():
            self._flow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flow_task
        for conn in list(self._conns.values()):
            if conn.stalled:
                conn.abort()
        if self._runner is not None:
            # close every socket with 1001 "going away" (as websockets' server did), 2 s at most each
            sockets = list(self._sockets)
            if sockets:
                await asyncio.gather(*(self._close_socket(ws) for ws in sockets))
            await self._runner.cleanup()
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
    def api_url(self) -> str:
        """The REST base URL (including ``/trade-api/v2``), what ``KALSHI_API_URL`` holds."""
        return f"http://{self.config.host}:{self.port}{REST_PREFIX}"

    @property
    def connections(self) -> int:
        return len(self._conns)

    # ---- credentials -----------------------------------------------------------------------------

    @property
    def private_key(self) -> auth.PrivateKey | None:
        """The simulator's own private key (None when it was given a public key)."""
        return self.gate.private_key

    @property
    def key_id(self) -> str:
        return self.gate.key_id

    @property
    def handshakes_rejected(self) -> int:
        return self.gate.rejected

    def add_public_key(self, pem: bytes) -> None:
        """Also accept signatures made with the private key of ``pem``."""
        self.gate.add_public_key(pem)

    def write_credentials(
        self,
        env_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
    ) -> tuple[str, Path]:
        """Write the simulator's own private key and a ``.env`` file for it; returns (key id, key path)."""
        return self.gate.write_credentials(env_path, key_path, self.url, self.api_url)

    # ---- truth -----------------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The true state now, in the core's summary format (plus ``faults`` and ``fills``)."""
        return _truth.truth(self.model, self.faults, self.overflows, self.entry)

    def write_truth(self, path: str | os.PathLike[str]) -> None:
        _truth.write_truth(path, self.truth())

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
        return self.fanout.sending_ts()

    def order_events(self, events: list[Event]) -> None:
        """The events of an order write (or expiry), fanned out like the flow's; the expiry timer follows."""
        if events:
            self._dispatch(events)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        due = self.entry.next_expiry_ms()
        if due is not None and not self._stopped:
            delay = max(0.0, (due - self.model.now_ms()) / 1000)
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        self.order_events(self.entry.expire())

    def _dispatch(self, events: list[Event]) -> None:
        """One batch of the order flow to every subscriber (a test may wrap this to watch the flow)."""
        self.frames_generated += len(events)
        self.fanout.dispatch(events)

    # ---- connections -----------------------------------------------------------------------------

    async def _close_socket(self, ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), 2.0)

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        """``GET /trade-api/ws/v2``: the signed handshake (401 if refused), then one connection until it closes."""
        ws_log = logging.getLogger(WS_LOGGER)
        if ws_log.isEnabledFor(logging.DEBUG):  # the handshake's headers, as websockets logged them (redacted)
            ws_log.debug("< GET %s HTTP/1.1", request.path_qs)
            for name, value in request.headers.items():
                ws_log.debug("< %s: %s", name, value)
        try:
            key_id = self.gate.check_handshake(request.path, request.headers)
        except Refused as exc:
            return web.Response(status=401, text=f"Unauthorized: {exc}\n")
        # no permessage-deflate: the server never negotiated it (the listener offers it; it works either way)
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=2**20, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text=f"{WS_PATH} is a WebSocket endpoint: send an upgrade\n")
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        conn = Connection(self, ws, transport, next(self._conn_ids), key_id)
        self._conns[conn.conn_id] = conn
        self._sockets.add(ws)
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
            while True:
                msg = await ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    conn.on_message(msg.data)
                elif kind is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif kind is WSMsgType.PONG:
                    conn.on_pong(msg.data)
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    break
        except (ConnectionError, RuntimeError):
            pass
        finally:
            conn.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
            del self._conns[conn.conn_id]
            self._sockets.discard(ws)
            log.debug("connection %d closed", conn.conn_id)
        return ws


def _fraction(value: Decimal) -> Fraction:
    return Fraction(str(value))


async def _mark_reply(request: web.Request, response: web.StreamResponse) -> None:
    """Every reply says it comes from the project's simulator (``market_making_bot.marker``): order entry without
    ``--live`` goes only to a server that says so. Kalshi never sends this header."""
    response.headers[SIMULATOR_HEADER] = SIMULATOR_MARK
