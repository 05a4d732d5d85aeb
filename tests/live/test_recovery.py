"""Never silently wrong (issue 5): one test per injected fault. The listener recovers on its own, counts the event,
and ends with every book usable and equal to the simulator's truth."""

from __future__ import annotations

import asyncio

import pytest

from market_making_bot.feed.events import TradeSeen
from market_making_bot.runtime.client import AuthenticationError, ConnectionPolicy
from market_making_bot.simulator import ExchangeSimulator, FaultSpec, SimulatorConfig
from tests.live.support import WatchedCore, converged, running_client, wait_until

TICKERS = ["KXFAULT-26DEC31-A", "KXFAULT-26DEC31-B"]


def _sim(*faults: str, duration: float = 2.5, rate: float = 400, **kw: object) -> ExchangeSimulator:
    cfg = SimulatorConfig(
        tickers=TICKERS, rate=rate, seed=11, duration=duration, faults=[FaultSpec.parse(f) for f in faults], **kw
    )  # type: ignore[arg-type]
    return ExchangeSimulator(cfg)


async def _recovers(
    fault: str, policy: ConnectionPolicy | None = None, transport: str | None = None
) -> tuple[WatchedCore, ExchangeSimulator]:
    core = WatchedCore()
    async with _sim(fault) as sim, running_client(sim, core, policy=policy, transport=transport):
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what=f"recovery from {fault}")
        assert sum(sim.truth()["faults"].values()) > 0, "the fault never fired"
    return core, sim


async def test_gap_is_healed_with_get_snapshot_on_the_live_connection(transport: str) -> None:
    core, sim = await _recovers("gap:every=60", transport=transport)
    fired = sim.truth()["faults"]["gap"]
    h = core.health()
    assert h["gaps"] >= 1 and h["resyncs"] >= 1
    assert h["reconnects"] == 0  # a gap is not a reason to reconnect
    assert core.counters["gaps"] <= fired


async def test_duplicate_is_dropped_not_applied() -> None:
    core, sim = await _recovers("duplicate:every=50")
    assert core.counters["duplicates"] == sim.truth()["faults"]["duplicate"] >= 1
    assert core.health()["duplicates_dropped"] >= 1


async def test_abrupt_disconnect_reconnects_and_resubscribes(transport: str) -> None:
    core, sim = await _recovers("disconnect:every=150", transport=transport)
    assert core.health()["reconnects"] == sim.truth()["faults"]["disconnect"] >= 1


async def test_stall_is_detected_by_ping_timeout_and_recovered(transport: str) -> None:
    policy = ConnectionPolicy(
        backoff_base=0.05, backoff_cap=0.2, ping_interval=0.3, ping_timeout=0.3, close_timeout=0.2
    )
    core, sim = await _recovers("stall:at=100:for=30", policy, transport)
    assert sim.truth()["faults"]["stall"] == 1
    assert core.health()["reconnects"] >= 1


async def test_malformed_frame_is_counted_and_skipped(transport: str) -> None:
    core, sim = await _recovers("malformed:every=80", transport=transport)
    assert core.health()["malformed"] == sim.truth()["faults"]["malformed"] >= 1
    assert core.health()["handler_errors"] == 0


@pytest.mark.parametrize("kind", ["error25", "error10"])
async def test_terminal_subscription_error_resubscribes(kind: str) -> None:
    core, sim = await _recovers(f"{kind}:at=120")
    assert sim.truth()["faults"][kind] == 1
    assert core.health()["resyncs"] >= 1 and core.health()["reconnects"] == 0


async def test_early_data_before_the_ack_is_not_lost() -> None:
    core, sim = await _recovers("early-data:at=0")
    assert sim.truth()["faults"]["early-data"] == 1
    assert core.counters["deltas_without_snapshot"] == 0


async def test_refused_private_channel_leaves_public_streams_running() -> None:
    core = WatchedCore()
    async with _sim("deny-private") as sim, running_client(sim, core) as (client, _, _):
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what="public books")
        assert client.session.subs["fill"].status == "refused"
        assert client.session.subs["orderbook_delta"].status == "active"


async def test_auth_rejected_on_reconnect_stops_with_a_clear_error(transport: str) -> None:
    core = WatchedCore()
    async with _sim("disconnect:at=100", "auth-reject:at=100:count=all") as sim:
        async with running_client(sim, core, transport=transport) as (client, task, _):
            with pytest.raises(AuthenticationError, match="HTTP 401"):
                await asyncio.wait_for(task, timeout=20)
        assert client.connections == 1 and sim.handshakes_rejected == 1


async def test_handler_exception_is_counted_and_the_loop_goes_on() -> None:
    def flaky(event: TradeSeen) -> None:
        raise RuntimeError("bug in a consumer")

    core = WatchedCore()
    core.bus.subscribe(TradeSeen, flaky)
    async with _sim(rate=400) as sim, running_client(sim, core):
        await sim.wait_quiet(timeout=30)
        await wait_until(
            core, lambda: converged(core, sim, positions=True), timeout=20, what="books despite a failing handler"
        )
    assert core.health()["handler_errors"] == sim.truth()["trades"] >= 1


async def test_soak_with_gaps_duplicates_malformed_frames_and_disconnects() -> None:
    """A bounded soak: several fault kinds repeating at once; books end equal and every fault is accounted for."""
    core = WatchedCore()
    faults = ("gap:every=70", "duplicate:every=110", "malformed:every=130", "disconnect:every=400")
    async with _sim(*faults, duration=4.0, rate=600) as sim, running_client(sim, core):
        await sim.wait_quiet(timeout=60)
        await wait_until(core, lambda: converged(core, sim), timeout=30, what="convergence after the soak")
        fired = sim.truth()["faults"]
    h = core.health()
    assert fired["disconnect"] >= 2 and fired["gap"] >= 3
    assert h["reconnects"] == fired["disconnect"]
    assert h["malformed"] == fired["malformed"]
    assert 1 <= core.counters["duplicates"] <= fired["duplicate"]
    assert 1 <= h["gaps"] <= fired["gap"]  # a gap just before a disconnect is never seen, and needs no healing
    assert h["handler_errors"] == 0 and core.counters["negative_levels"] == 0


async def test_bad_ticker_is_reported_and_the_other_markets_keep_streaming(caplog: pytest.LogCaptureFixture) -> None:
    core = WatchedCore()
    async with _sim(duration=1.5) as sim:
        assert sim.private_key is not None
        from market_making_bot.feed.session import Session
        from market_making_bot.kalshi.auth import Signer
        from market_making_bot.runtime.client import KalshiWebSocketClient

        session = Session([*TICKERS, "KXNOPE-00JAN01-Z"], with_private=True)
        client = KalshiWebSocketClient(sim.url, Signer(sim.key_id, sim.private_key), core, session)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        try:
            await sim.wait_quiet(timeout=30)
            await wait_until(core, lambda: converged(core, sim), timeout=20, what="books of the good tickers")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert session.bad_tickers == {"KXNOPE-00JAN01-Z"}
    assert all(sub.status == "active" for sub in session.subs.values())
    assert "market KXNOPE-00JAN01-Z rejected by the server" in caplog.text
