"""The public library API: ``market_making_bot`` exports, replay as an iterator of events, and a live feed from
the built-in simulator over loopback (``mmb.simulate``), iterated and with callbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import market_making_bot as mmb

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_exported_name_resolves_and_all_lists_them() -> None:
    assert sorted(mmb.__all__) == sorted(["__version__", *mmb._EXPORTS])
    for name in mmb.__all__:
        assert getattr(mmb, name) is not None


def test_replay_yields_only_the_kinds_asked_for_in_order() -> None:
    events = list(mmb.replay([FIXTURES / "fixed_point_session.jsonl"], kinds=[mmb.TradeSeen, mmb.BookSnapshot]))
    assert events and {type(e) for e in events} == {mmb.TradeSeen, mmb.BookSnapshot}
    assert [e.recv_ns for e in events] == sorted(e.recv_ns for e in events)
    every = list(mmb.replay([FIXTURES / "fixed_point_session.jsonl"]))
    assert len(every) > len(events) and mmb.ControlReply in {type(e) for e in every}


@pytest.mark.slow
async def test_simulated_feed_iterates_events_and_stops_cleanly() -> None:
    async with mmb.simulate(markets=2, rate=200, policy=mmb.ConnectionPolicy(ping_interval=None)) as feed:
        trades: list[mmb.TradeSeen] = []
        feed.bus.subscribe(mmb.TradeSeen, trades.append)
        usable: set[str] = set()

        async def wait_for_books() -> None:
            async for event in feed.events(mmb.BookUsable, mmb.ConnectionUp):
                if isinstance(event, mmb.BookUsable):
                    usable.add(event.ticker)
                    if len(usable) == 2:
                        return

        await asyncio.wait_for(wait_for_books(), timeout=20)
        assert all(feed.state.markets[t].usable for t in usable)
        feed.stop()
        await asyncio.wait_for(feed.run(), timeout=10)
    assert len(usable) == 2


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["websockets", "aiohttp"])
async def test_simulate_and_connect_take_a_transport(transport: str) -> None:
    async with mmb.simulate(markets=1, rate=200, transport=transport) as feed:
        assert feed.client.transport.name == transport

        async def first_book() -> None:
            async for _ in feed.events(mmb.BookUsable):
                return

        await asyncio.wait_for(first_book(), timeout=20)
    with pytest.raises(ValueError, match="unknown WebSocket transport 'nope'"):
        async with mmb.simulate(markets=1, transport="nope"):
            pass
