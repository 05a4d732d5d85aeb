"""The library's front door: the feed's events from recordings, from Kalshi, or from the built-in simulator.

Replay (synchronous, no network)::

    import market_making_bot as mmb

    for event in mmb.replay(["session.jsonl.gz"], kinds=[mmb.BookChanged, mmb.TradeSeen]):
        print(event)

Live, or against the built-in simulator (asyncio)::

    async with mmb.connect(["KXEPSTEINLIST-26-HKIS"]) as feed:       # key from .env (mmb.Config)
        async for event in feed.events(mmb.BookChanged, mmb.BookUsable, mmb.BookUnusable):
            ...
    async with mmb.simulate(markets=3) as feed:                      # no account, no network
        feed.bus.subscribe(mmb.TradeSeen, print)                     # or callbacks, synchronously in the feed
        await feed.run(duration=10)

Events are delivered in order, each after the frame that caused it has been applied (``event.market`` is the
market's state at that moment). Only the kinds asked for are built. Nothing here places orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from os import PathLike
from typing import Any

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import Event
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.marketdata.state import MarketDataState
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.runtime.config import Config
from market_making_bot.runtime.transport import Transport
from market_making_bot.storage.replay import iter_replay

__all__ = ["LiveFeed", "connect", "replay", "simulate"]

log = logging.getLogger("market_making_bot.api")


def replay(
    paths: Iterable[str | PathLike[str]],
    *,
    tickers: Sequence[str] | None = None,
    kinds: Iterable[type[Event]] = (Event,),
    speed: float | None = None,
) -> Iterator[Event]:
    """The events of recorded frames (journals written by ``--record``, or raw captures), in order.

    ``tickers``: only these markets (default: every market in the recording). ``kinds``: the event types wanted
    (default: every event). ``speed``: replay at that many times the recorded pace (default: as fast as possible).
    Raises :class:`market_making_bot.storage.journal.RecordingError` for an input that cannot be used.
    """
    core = Core(list(tickers) if tickers else None)
    pending: list[Event] = []
    for kind in kinds:
        core.bus.subscribe(kind, pending.append)
    for _ in iter_replay(paths, core, speed=speed):
        if pending:
            batch = pending[:]
            pending.clear()
            yield from batch


class LiveFeed:
    """A running connection's feed: its ``bus`` (callbacks), its ``state`` (books, trades, fills, positions) and
    :meth:`events` (an async iterator). Made by :func:`connect` and :func:`simulate`; runs until the ``async with``
    block ends, :meth:`stop` is called, or the connection gives up (authentication refused, no valid market)."""

    def __init__(self, client: KalshiWebSocketClient) -> None:
        self.client = client
        self.core = client.core
        self.bus = client.core.bus
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> MarketDataState:
        return self.core.state

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.client.run(self._stop))

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None) -> None:
        """Run until stopped (or for ``duration`` seconds); re-raises what ended the connection, if anything."""
        self.start()
        assert self._task is not None
        if duration is not None:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=duration)
            self.stop()
        await self._task

    async def events(self, *kinds: type[Event]) -> AsyncIterator[Event]:
        """Events of ``kinds`` (default: every event) as they come, until the feed stops. Events wait in an
        unbounded queue while the consumer is busy: a consumer that cannot keep up should use callbacks."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        offs = [self.bus.subscribe(kind, queue.put_nowait) for kind in (kinds or (Event,))]
        self.start()
        assert self._task is not None
        self._task.add_done_callback(lambda _task: queue.put_nowait(None))
        try:
            while True:
                event = await queue.get()
                if event is None:
                    if self._task.done() and not self._task.cancelled() and self._task.exception() is not None:
                        raise self._task.exception()  # type: ignore[misc]
                    return
                yield event
        finally:
            for off in offs:
                off()

    async def aclose(self) -> None:
        self.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


@contextlib.asynccontextmanager
async def connect(
    tickers: Sequence[str],
    *,
    with_private: bool = False,
    config: Config | None = None,
    policy: ConnectionPolicy | None = None,
    transport: Transport | str | None = None,
) -> AsyncIterator[LiveFeed]:
    """Connect to Kalshi for ``tickers`` with the key of ``config`` (default ``Config.load()``: ``.env`` and the
    environment; demo or production as it says). Read-only: market data and, with ``with_private``, your fills and
    positions. ``transport``: the socket layer, ``"auto"`` (the default: picows if the ``[fast]``
    extra installed it, else websockets), ``"websockets"``, ``"aiohttp"`` or ``"picows"``; see
    :mod:`market_making_bot.runtime.transport`."""
    cfg = config or Config.load()
    feed = _feed(cfg.ws_url, cfg.signer(), list(tickers), with_private, policy, transport)
    try:
        yield feed
    finally:
        await feed.aclose()


@contextlib.asynccontextmanager
async def simulate(
    markets: int = 3,
    *,
    tickers: Sequence[str] | None = None,
    seed: int = 1,
    rate: float = 20.0,
    policy: ConnectionPolicy | None = None,
    transport: Transport | str | None = None,
    **simulator: Any,
) -> AsyncIterator[LiveFeed]:
    """Start the built-in exchange simulator in this process and connect to it with a throwaway key (private
    channels on). ``simulator``: more :class:`market_making_bot.simulator.SimulatorConfig` settings (faults, ...).
    ``transport``: as for :func:`connect`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    key = ed25519.Ed25519PrivateKey.generate()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings: dict[str, Any] = {"public_key": public_pem, "seed": seed, "rate": rate, **simulator}
    if tickers:
        settings["tickers"] = list(tickers)
    else:
        settings["markets"] = markets
    async with ExchangeSimulator(SimulatorConfig(**settings)) as sim:
        feed = _feed(sim.url, Signer("simulated-key", key), sim.config.resolved_tickers(), True, policy, transport)
        try:
            yield feed
        finally:
            await feed.aclose()


def _feed(
    url: str,
    signer: Signer,
    tickers: list[str],
    with_private: bool,
    policy: ConnectionPolicy | None,
    transport: Transport | str | None = None,
) -> LiveFeed:
    core = Core(tickers)
    session = Session(tickers, with_private=with_private)
    return LiveFeed(KalshiWebSocketClient(url, signer, core, session, policy, transport=transport))
