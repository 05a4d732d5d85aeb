"""The asyncio shell over loopback: the periodic ``[HEALTH]`` line is the protocol object's ``HealthReport``, and
the connection events reach the bus."""

from __future__ import annotations

import logging

import pytest

from market_making_bot.feed.events import ConnectionUp, Event, HealthReport, Notice, NoticeKind
from market_making_bot.runtime.client import ConnectionPolicy
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from tests.live.support import WatchedCore, running_client, wait_until

TICKERS = ["KXSHELL-26DEC31-A", "KXSHELL-26DEC31-B"]


async def test_health_line_and_events_from_the_protocol_object(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    core = WatchedCore()
    policy = ConnectionPolicy(health_interval=0.2, tick=0.05, ping_interval=1.0, ping_timeout=1.0)
    sim = ExchangeSimulator(SimulatorConfig(tickers=TICKERS, rate=300, seed=5, duration=5.0))
    seen: list[Event] = []
    with caplog.at_level(logging.INFO, logger="market_making_bot"):
        run = running_client(sim, core, policy=policy, with_private=False, transport=transport)
        async with sim, run as (client, _, _):
            client.protocol.bus.subscribe(Event, seen.append)
            await wait_until(core, lambda: "[HEALTH] connected" in caplog.text, 10, "a [HEALTH] line")
            assert client.connections == 1 and str(client.state) == "connected"
    line = next(r.getMessage() for r in caplog.records if "[HEALTH]" in r.getMessage())
    assert "books usable 2/2" in line or "not usable" in line
    assert "| frames " in line and "None" not in line
    # the listener was attached before the client task ran: it saw the whole connection
    assert [(e.connection, e.url) for e in seen if isinstance(e, ConnectionUp)] == [(1, sim.url)]
    assert any(isinstance(e, HealthReport) and e.health.state == "connected" for e in seen)
    assert all(n.kind is not NoticeKind.ERROR for n in seen if isinstance(n, Notice))
    assert "subscribed orderbook_delta (sid" in caplog.text  # the Session's notices are logged by the shell
