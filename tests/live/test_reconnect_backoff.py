"""The reconnect backoff (``ConnectionPolicy.attempt_after``): a connection that delivered a snapshot restarts the
backoff from at most ``served_attempt_cap``, so a server dropping connections every few seconds costs at most
``base * 2**cap`` per drop (2 s by default), not up to the 30 s cap; a server refusing the handshake (503 here) or
resetting before any snapshot still backs off exponentially to the cap.

Measured with issue 14's run (simulator ``--markets 3 --rate 400 --fault disconnect:every=300``, listener
``--with-private --duration 24``): before, 6 reconnects waited 20.1 s in all (one 10.2 s) and 1830 frames arrived;
with the cap, 11 reconnects waited 10.0 s (at most 1.8 s) and 3877 frames arrived.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from tests.live.proxy import CuttingProxy
from tests.live.support import WatchedCore, running_client, wait_until

TICKERS = ["KXBACK-26DEC31-A", "KXBACK-26DEC31-B"]


def test_attempt_after_resets_caps_or_keeps_growing() -> None:
    policy = ConnectionPolicy()
    assert policy.attempt_after(7, lived=30.0, served=False) == 0  # stable: reset
    assert policy.attempt_after(7, lived=1.0, served=True) == 2  # served: the delay at most 0.5 * 2**2 = 2 s
    assert policy.attempt_after(1, lived=1.0, served=True) == 1  # never raised by it
    assert policy.attempt_after(7, lived=1.0, served=False) == 7  # refused or reset before any snapshot


def _attempts(caplog: pytest.LogCaptureFixture) -> list[int]:
    found = (re.search(r"reconnecting in [0-9.]+ s \(attempt (\d+)\)", r.getMessage()) for r in caplog.records)
    return [int(m.group(1)) for m in found if m]


async def test_a_server_that_keeps_dropping_served_connections_is_rejoined_within_the_capped_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = SimulatorConfig(tickers=TICKERS, rate=1, seed=3, start_paused=True, ping_interval=None)
    policy = ConnectionPolicy(backoff_base=0.01, backoff_cap=10.0, ping_interval=None, ping_timeout=None)
    core = WatchedCore(TICKERS)
    with caplog.at_level(logging.INFO, logger="market_making_bot.runtime.client"):
        async with ExchangeSimulator(cfg) as sim, running_client(sim, core, policy=policy) as (client, _t, _stop):
            for drop in range(1, 7):  # six drops, each after the connection delivered its snapshots
                await wait_until(core, lambda: core.health_value().books_usable == 2, 10, "the snapshots")
                assert sim.faults.inject("disconnect") == 1
                await wait_until(core, lambda d=drop: client.reconnects >= d, 10, f"reconnect {drop}")  # type: ignore[misc]
            await wait_until(core, lambda: core.health_value().books_usable == 2, 10, "the last snapshots")
    attempts = _attempts(caplog)
    assert len(attempts) == 6
    assert max(attempts) == 3 < 6  # without the cap the sixth would be attempt 6 (a delay up to base * 2**5)


async def test_a_server_refusing_the_handshake_is_still_backed_off_exponentially(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = SimulatorConfig(tickers=TICKERS, rate=1, seed=3, start_paused=True, ping_interval=None)
    policy = ConnectionPolicy(backoff_base=0.001, backoff_cap=10.0, ping_interval=None, ping_timeout=None)
    core = WatchedCore(TICKERS)
    with caplog.at_level(logging.INFO, logger="market_making_bot.runtime.client"):
        async with ExchangeSimulator(cfg) as sim, CuttingProxy(sim.port) as proxy:
            proxy.refuse()  # every handshake answered 503
            assert sim.private_key is not None
            url = sim.url.replace(f":{sim.port}/", f":{proxy.port}/")
            signer = Signer(sim.key_id, sim.private_key)
            client = KalshiWebSocketClient(url, signer, core, Session(TICKERS, with_private=False), policy)
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop))
            try:
                await proxy.wait_refused(7, timeout=20)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    attempts = _attempts(caplog)
    assert attempts[:6] == [1, 2, 3, 4, 5, 6]  # no snapshot ever came: the exponent keeps growing
    assert client.connections == 0
