"""The simulator's server: its lifecycle, the paced order flow, and the WebSocket connections it serves.

One asyncio task runs the order flow (:class:`~.model.ExchangeModel` steps, paced to ``rate``);
every event is turned into frames for the subscriptions that cover it and appended, already
numbered, to each connection's outbound queue (:mod:`.fanout`); one writer task per connection sends
them in that order (:mod:`.connection`). Commands are handled synchronously between order-flow
batches (:mod:`.commands`, free of I/O), so a snapshot is exactly the book after every delta queued
before it and before every delta queued after it. The handshake is checked by :mod:`.handshake`,
the true state written by :mod:`.truth`.
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

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from market_making_bot.redact import REDACT_SIGNATURE as REDACT_SIGNATURE  # re-exported (tests, older imports)
from market_making_bot.redact import RedactSignature as RedactSignature
from market_making_bot.redact import redacted_logger
from market_making_bot.simulator import auth
from market_making_bot.simulator import truth as _truth
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.connection import Connection
from market_making_bot.simulator.fanout import FanOut
from market_making_bot.simulator.faults import FaultController
from market_making_bot.simulator.handshake import WS_PATH as WS_PATH
from market_making_bot.simulator.handshake import Gate
from market_making_bot.simulator.model import Event, ExchangeModel
from market_making_bot.simulator.subscriptions import CHANNELS as CHANNELS  # re-exported (older imports)
from market_making_bot.simulator.subscriptions import MARKET_FILTER_CHANNELS as MARKET_FILTER_CHANNELS
from market_making_bot.simulator.subscriptions import PRIVATE_CHANNELS as PRIVATE_CHANNELS
from market_making_bot.simulator.subscriptions import MarketDirectory
from market_making_bot.simulator.subscriptions import Subscription as Subscription
from market_making_bot.simulator.units import now_ms
from market_making_bot.simulator.wire import Wire

log = logging.getLogger("market_making_bot.simulator")
WS_LOGGER = "market_making_bot.simulator.websockets"


for _name in ("market_making_bot.simulator", WS_LOGGER):
    redacted_logger(_name)  # the signature never reaches a log (REDACT_SIGNATURE, market_making_bot.redact)


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
            now_ms=now_ms,
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
        self.fanout = FanOut(self.model, self.wire, config)
        self.directory = MarketDirectory(
            [m.ticker for m in self.model.market_list], {m.ticker: m.market_id for m in self.model.market_list}
        )
        self.gate = Gate(config, self.faults)
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
            process_request=self.gate.process_request,
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
        return self.gate.write_credentials(env_path, key_path, self.url)

    # ---- truth -----------------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The true state now, in the core's summary format (plus ``faults`` and ``fills``)."""
        return _truth.truth(self.model, self.faults, self.overflows)

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

    def _dispatch(self, events: list[Event]) -> None:
        """One batch of the order flow to every subscriber (a test may wrap this to watch the flow)."""
        self.frames_generated += len(events)
        self.fanout.dispatch(events)

    # ---- connections -----------------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        key_id = self.gate.key_of(ws)
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
                conn.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            conn.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            del self._conns[conn.conn_id]
            log.debug("connection %d closed", conn.conn_id)


def _fraction(value: Decimal) -> Fraction:
    return Fraction(str(value))
