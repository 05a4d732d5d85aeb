"""Fixtures for the simulator's tests: running simulators and signed clients, cleaned up after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.auth import auth_headers

from .helpers import Client, now_ms


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Awaitable[ExchangeSimulator]]]:
    """``sim = await make_sim(rate=500, duration=1)``: started now, stopped at the end of the test."""
    started: list[ExchangeSimulator] = []

    async def factory(**kwargs: Any) -> ExchangeSimulator:
        kwargs.setdefault("ping_interval", None)
        sim = ExchangeSimulator(SimulatorConfig(**kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """``c = await open_client(sim)``: a signed connection with the simulator's own key."""
    clients: list[Client] = []

    async def factory(sim: ExchangeSimulator, **kwargs: Any) -> Client:
        assert sim.private_key is not None
        headers = auth_headers("test-key", sim.private_key, now_ms())
        ws = await connect(sim.url, additional_headers=headers, max_size=None, **kwargs)
        client = Client(ws)
        clients.append(client)
        return client

    yield factory
    for c in clients:
        # abort: a client that stopped reading (flow control) would never see the close handshake
        c.ws.transport.abort()
