"""Issue 12, the listener's side: a lost connection makes every book not usable at once (and in a summary written
during the outage), timeouts on Python 3.10, no valid market left, oversized frames, a dying subscription under
repeated errors and stalls, and a housekeeping task that never dies. Real loopback sockets, no sleeps."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from websockets.asyncio.server import ServerConnection, serve

from market_making_bot.feed.core import Core
from market_making_bot.feed.session import Notice, Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.client import (
    MAX_MESSAGE_BYTES,
    AuthenticationError,
    ConnectionPolicy,
    KalshiWebSocketClient,
    NoMarketsError,
)
from market_making_bot.simulator import ExchangeSimulator, FaultSpec, SimulatorConfig
from tests.live.support import WatchedCore, converged, running_client, wait_until

TICKERS = ["KXOUT-26DEC31-A", "KXOUT-26DEC31-B", "KXOUT-26DEC31-C"]
PING = 0.3
FAST = ConnectionPolicy(
    backoff_base=0.05, backoff_cap=0.3, ping_interval=PING, ping_timeout=PING, close_timeout=0.2, open_timeout=2.0
)


def _sim(*faults: str, tickers: list[str] = TICKERS, **kw: Any) -> ExchangeSimulator:
    cfg = SimulatorConfig(tickers=tickers, rate=300, seed=5, faults=[FaultSpec.parse(f) for f in faults], **kw)
    return ExchangeSimulator(cfg)


class OutageCore(WatchedCore):
    """Keeps the summary as it is the moment the connection is declared lost (what ``--summary-json`` would say
    during the outage), and wakes a waiter."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = asyncio.Event()
        self.summary_at_loss: dict[str, Any] | None = None
        self.reasons_at_loss: list[str | None] = []

    def connection_lost(self, reason: str) -> list[str]:
        hit = super().connection_lost(reason)
        self.summary_at_loss = self.summary()
        self.reasons_at_loss = [m.unusable_reason for m in self.state.markets.values()]
        self.lost.set()
        return hit


async def _lost_within(core: OutageCore, timeout: float) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(core.lost.wait(), timeout)
    return loop.time() - start


def _all_usable(core: Core, tickers: list[str]) -> bool:
    markets = core.state.markets
    return all(t in markets and markets[t].usable for t in tickers)


def _none_usable(core: Core, tickers: list[str]) -> bool:
    markets = core.state.markets
    return all(not markets[t].usable for t in tickers)


async def _poll(predicate: Any, timeout: float, what: str) -> float:
    """Wait for ``predicate()`` while no frames flow (an outage), re-checking on each loop turn of a short timer;
    returns the time it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    event = asyncio.Event()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        loop.call_later(0.02, event.set)
        await event.wait()
        event.clear()
    return loop.time() - start


async def test_stopped_exchange_makes_every_book_not_usable_at_once(transport: str) -> None:
    core = OutageCore()
    sim = _sim()
    await sim.start()
    try:
        async with running_client(sim, core, policy=FAST, with_private=False, transport=transport) as (client, _, _):
            await wait_until(core, lambda: _all_usable(core, TICKERS), 10, "every book usable")
            await sim.stop()
            assert await _lost_within(core, 5) < PING + PING + 1.0
            await _poll(lambda: client.state != "connected", 5, "the client to notice")
            summary = core.summary()  # as --summary-json would write it during the outage
            assert all(summary["markets"][t]["usable"] is False for t in TICKERS)
            reasons = {core.state.markets[t].unusable_reason for t in TICKERS}
            assert all(r is not None and r.startswith("connection lost") for r in reasons), reasons
    finally:
        await sim.stop()


async def test_silent_stall_is_a_ping_timeout_and_books_wait_for_the_new_connection(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    core = OutageCore()
    sim = _sim()
    async with sim, running_client(sim, core, policy=FAST, with_private=False, transport=transport) as (client, _, _):
        await wait_until(core, lambda: _all_usable(core, TICKERS), 10, "every book usable")
        with caplog.at_level(logging.WARNING, logger="market_making_bot.runtime.client"):
            assert sim.faults.inject("stall", seconds=30) == 1
            assert await _lost_within(core, 5) < PING + PING + 1.0
            assert core.summary_at_loss is not None
            assert all(core.summary_at_loss["markets"][t]["usable"] is False for t in TICKERS)
            assert all(r is not None and "ping timeout" in r for r in core.reasons_at_loss), core.reasons_at_loss
            await wait_until(core, lambda: client.connections >= 2 and _all_usable(core, TICKERS), 10, "recovery")
        text = caplog.text
        assert f"no pong within {PING:g} s: ping timeout" in text
        assert "closed abruptly" not in text


async def test_summary_of_a_run_ended_by_a_refused_reconnect_says_not_usable() -> None:
    core = WatchedCore()
    sim = _sim("disconnect:at=150", "auth-reject:at=150:count=all")
    async with sim, running_client(sim, core, policy=FAST, with_private=False) as (_, task, _):
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(task, timeout=20)
    summary = core.summary()
    assert summary["markets"] and all(m["usable"] is False for m in summary["markets"].values())


async def test_open_timeout_is_caught_on_every_python(transport: str) -> None:
    """Python 3.10: ``asyncio.TimeoutError`` is not the builtin ``TimeoutError``; it must not escape."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts TCP, never answers the HTTP upgrade
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = ConnectionPolicy(backoff_base=0.01, backoff_cap=0.02, open_timeout=0.2, max_reconnects=2)
    client = KalshiWebSocketClient(
        f"ws://127.0.0.1:{port}/",
        Signer("k", ed25519.Ed25519PrivateKey.generate()),
        Core(),
        Session(["A"]),
        policy,
        transport=transport,
    )
    try:
        await asyncio.wait_for(client.run(asyncio.Event()), timeout=10)
    finally:
        server.close()
    assert client.reconnects == 2 and client.connections == 0 and client.state == "stopped"


async def test_no_valid_market_left_stops_the_run() -> None:
    core = WatchedCore()
    async with _sim() as sim:
        assert sim.private_key is not None
        session = Session(["KXNOPE-1", "KXNOPE-2"])
        client = KalshiWebSocketClient(sim.url, Signer(sim.key_id, sim.private_key), core, session, FAST)
        with pytest.raises(NoMarketsError, match="no valid market left"):
            await asyncio.wait_for(client.run(asyncio.Event()), timeout=10)
    assert session.bad_tickers == {"KXNOPE-1", "KXNOPE-2"}


@pytest.mark.parametrize("compression", [None, "deflate"], ids=["plain", "deflated"])
async def test_oversized_frame_is_refused_counted_and_the_connection_recovered(
    transport: str, compression: str | None
) -> None:
    """16 MiB is the limit of a frame, and of a message after permessage-deflate decompression (a 16 MiB + 1 text
    of one letter compresses to about 16 KiB on the wire)."""
    connections = 0
    negotiated: list[bool] = []

    async def hostile(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        negotiated.append(bool(ws.protocol.extensions))
        if connections == 1:
            await ws.send("x" * (MAX_MESSAGE_BYTES + 1))
        await ws.wait_closed()

    core = Core()
    async with serve(hostile, "127.0.0.1", 0, max_size=None, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        policy = ConnectionPolicy(backoff_base=0.01, backoff_cap=0.02, max_reconnects=1, ping_interval=None)
        client = KalshiWebSocketClient(
            f"ws://127.0.0.1:{port}/",
            Signer("k", ed25519.Ed25519PrivateKey.generate()),
            core,
            Session([]),
            policy,
            transport=transport,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await _poll(lambda: client.connections >= 2, 10, "the reconnect")
        stop.set()
        await asyncio.wait_for(task, 10)
    assert core.counters["oversized_frames"] == 1
    assert core.counters["frames"] == 0  # the oversized frame never reached the decoder
    assert negotiated[0] is (compression is not None)  # both transports offer permessage-deflate


async def test_order_book_survives_repeated_error25_and_a_stall() -> None:
    """Issue 12 item 10: ``--fault error25:every=300 --fault stall:at=3000:for=8`` on 20 markets used to leave every
    book not usable until exit; now the channel recovers and the books end equal to the truth."""
    tickers = [f"KXCONV-26DEC31-M{i:02d}" for i in range(20)]
    cfg = SimulatorConfig(
        tickers=tickers,
        rate=2500,
        seed=3,
        duration=5.0,
        faults=[FaultSpec.parse("error25:every=300"), FaultSpec.parse("stall:at=3000:for=8")],
    )
    core = WatchedCore()
    session = Session(tickers, backoff_base=0.05, backoff_cap=0.4, rng=random.Random(1))
    async with ExchangeSimulator(cfg) as sim, running_client(sim, core, policy=FAST, session=session):
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what="books after error25 and a stall")
        faults = sim.truth()["faults"]
        assert faults["error25"] >= 3 and faults["stall"] == 1
    assert core.health()["reconnects"] >= 1


async def test_housekeeping_survives_an_exception() -> None:
    class FlakySession(Session):
        ticks = 0

        def tick(self, now: float, missing_books: Any = ()) -> list[Notice]:
            self.ticks += 1
            if self.ticks == 1:
                raise RuntimeError("bug in a timer")
            return super().tick(now, missing_books)

    core = WatchedCore()
    async with _sim() as sim:
        session = FlakySession(TICKERS)
        policy = ConnectionPolicy(backoff_base=0.05, backoff_cap=0.3, tick=0.05)
        async with running_client(sim, core, policy=policy, session=session):
            await wait_until(core, lambda: session.ticks >= 3, 10, "more housekeeping rounds")
    assert core.counters["handler_errors"] == 1


async def test_gap_right_after_early_data_is_seen_and_healed() -> None:
    """``--fault early-data --fault gap:at=0`` used to end with a wrong book marked usable and no gap counted."""
    core = WatchedCore()
    sim = _sim("early-data:at=0", "gap:at=0", duration=2.0)
    async with sim, running_client(sim, core, policy=FAST, with_private=False):
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what="books after early data and a gap")
        assert sim.truth()["faults"]["gap"] == 1
    assert core.counters["gaps"] >= 1
