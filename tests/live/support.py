"""Helpers for tests that run the listener against the simulator over a real loopback WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from market_making_bot.feed.core import Core
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.simulator import ExchangeSimulator


class WatchedCore(Core):
    """A real Core that wakes waiters after every frame, so tests wait on events, never on sleeps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fed = asyncio.Event()

    def feed(self, data: str | bytes, recv_ns: int, timed: bool = True) -> Any:
        msg = super().feed(data, recv_ns, timed)
        self.fed.set()
        return msg


async def wait_until(core: WatchedCore, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``predicate()`` holds, re-checking after every frame the core processes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        core.fed.clear()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):  # not the same class on 3.10
            await asyncio.wait_for(core.fed.wait(), timeout=min(remaining, 0.5))


def books(summary: dict[str, Any], tickers: Iterable[str]) -> dict[str, Any]:
    """The fields that the listener's summary and the simulator's truth share, per market."""
    return {
        t: {k: summary["markets"][t][k] for k in ("yes", "no", "position")} if t in summary["markets"] else None
        for t in tickers
    }


def converged(core: Core, sim: ExchangeSimulator, *, positions: bool = False) -> bool:
    """The simulator is quiet, and every listener book is usable and equal to the truth (and the positions too,
    with ``positions``: only meaningful when no fill can have been missed, since Kalshi does not replay fills)."""
    if not sim.flow_done:
        return False
    tickers = sim.config.resolved_tickers()
    mine, truth = core.summary()["markets"], sim.truth()["markets"]
    fields = ("yes", "no", "position") if positions else ("yes", "no")
    return all(
        t in mine and mine[t]["usable"] and all(mine[t][f] == truth[t][f] for f in fields) for t in tickers
    )


@contextlib.asynccontextmanager
async def running_client(
    sim: ExchangeSimulator,
    core: Core,
    *,
    with_private: bool = True,
    policy: ConnectionPolicy | None = None,
    session: Session | None = None,
    transport: str | None = None,
) -> AsyncIterator[tuple[KalshiWebSocketClient, asyncio.Task[None], asyncio.Event]]:
    """Run a real client against ``sim`` (signed with the simulator's own generated key) in the background, over
    ``transport`` (default: the client's default, websockets)."""
    assert sim.private_key is not None
    signer = Signer(sim.key_id, sim.private_key)
    session = session or Session(sim.config.resolved_tickers(), with_private=with_private)
    policy = policy or ConnectionPolicy(backoff_base=0.05, backoff_cap=0.5, ping_interval=1.0, ping_timeout=1.0)
    client = KalshiWebSocketClient(sim.url, signer, core, session, policy, transport=transport)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        yield client, task, stop
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
