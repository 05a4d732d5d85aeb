"""The listener's REST use against the simulator over loopback (issue 14 item 2): fills made while disconnected are
backfilled (the run ends with the simulator's fills and positions per market), positions are known before the first
fill, an unknown ticker is dropped before subscribing, a REST 503 at start degrades, record then replay reproduces the
summary."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.backfill import RestUpdate, decode_update, encode_update
from market_making_bot.feed.core import Core
from market_making_bot.feed.events import ConnectionDown, FillSeen, PositionChanged
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.kalshi.messages import Fill, MarketPosition
from market_making_bot.kalshi.rest import Backoff
from market_making_bot.runtime.account import RestAccount
from market_making_bot.runtime.client import ConnectionPolicy
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from tests.live.support import WatchedCore, running_client, wait_until

TICKERS = ["KXSIM-26DEC31-A", "KXSIM-26DEC31-B"]
POLICY = ConnectionPolicy(backoff_base=0.02, backoff_cap=0.1, ping_interval=1.0, ping_timeout=1.0)


def _user_truth(sim: ExchangeSimulator) -> dict[str, tuple[int, str]]:
    """Fills and position per market (position ``0.00`` for a market never traded: REST says 0 for it)."""
    return {
        t: (m["fills"], m["position"] if m["position"] is not None else "0.00")
        for t, m in sim.truth()["markets"].items()
    }


def _mine(core: Core) -> dict[str, tuple[int, str]]:
    return {t: (m["fills"], m["position"]) for t, m in core.summary()["markets"].items()}


def _api(sim: ExchangeSimulator) -> KalshiAPIClient:
    assert sim.private_key is not None
    return KalshiAPIClient(
        sim.api_url, Signer(sim.key_id, sim.private_key), backoff=Backoff(retries=1, base=0.01, cap=0.02)
    )


async def test_fills_made_while_disconnected_are_backfilled_and_positions_equal_the_truth() -> None:
    faults = [FaultSpec.parse("disconnect:every=150")]
    cfg = SimulatorConfig(tickers=TICKERS, rate=300, seed=5, faults=faults, start_paused=True)
    sim = ExchangeSimulator(cfg)
    core = WatchedCore(TICKERS)
    fills: list[FillSeen] = []
    positions_before_fill: list[bool] = []

    def on_fill(event: FillSeen) -> None:
        if not fills:
            positions_before_fill.append(all(core.state.markets[t].position is not None for t in TICKERS))
        fills.append(event)

    core.bus.subscribe(FillSeen, on_fill)
    async with sim, _api(sim) as api:
        account = RestAccount(api, core, TICKERS, with_private=True, interval=30.0)
        await account.load_start()
        assert {t: core.state.markets[t].position for t in TICKERS} == dict.fromkeys(TICKERS, 0)
        session = Session(TICKERS, with_private=True, backoff_base=0.02, backoff_cap=0.1, rng=random.Random(3))
        async with running_client(sim, core, policy=POLICY, session=session) as (client, _task, stop):
            backfill = asyncio.create_task(account.run(stop))
            await wait_until(core, lambda: account.backfills >= 1, 10, "the first backfill")
            sim.start_flow()
            await wait_until(core, lambda: client.reconnects >= 3, 30, "three disconnects")
            sim.stop_flow()
            sim.faults.disable()
            await sim.wait_quiet(timeout=10)
            done = account.backfills
            await wait_until(core, lambda: client.state == "connected" and account.backfills > done, 10, "a backfill")
            account._due.set()  # one more after the quiet: nothing can be in flight any more
            done = account.backfills
            await wait_until(core, lambda: account.backfills > done, 10, "the final backfill")
            assert _mine(core) == _user_truth(sim)
            backfill.cancel()
    assert sim.truth()["fills"] > 5
    assert positions_before_fill == [True]
    streamed = sum(1 for e in fills if not e.backfill)
    # whatever the stream missed (a gap's length depends on the reconnect's jitter) the backfill brought
    assert streamed + sum(1 for e in fills if e.backfill) == sim.truth()["fills"]
    ids = [(e.msg.trade_id, e.msg.order_id) for e in fills]
    assert len(ids) == len(set(ids))  # each fill once, from the stream or the backfill
    assert account.failures == 0


async def test_rest_503_at_start_degrades_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    cfg = SimulatorConfig(tickers=TICKERS, rate=50, seed=2, faults=[FaultSpec.parse("rest-503:count=all")])
    async with ExchangeSimulator(cfg) as sim, _api(sim) as api:
        core = Core(TICKERS)
        account = RestAccount(api, core, TICKERS, with_private=True)
        with caplog.at_level(logging.WARNING, logger="market_making_bot.runtime.account"):
            kept = await account.check_tickers(TICKERS)
            await account.load_start()
    assert kept == TICKERS  # not checked: kept, the WebSocket will say
    warnings = [r.getMessage() for r in caplog.records if r.name == "market_making_bot.runtime.account"]
    assert len(warnings) == 3, warnings  # markets, positions, balance/orders: one line each
    assert all("the stream goes on" in w for w in warnings)
    assert all(core.state.get(t) is None for t in TICKERS)


async def test_unknown_ticker_is_dropped_before_subscribing(caplog: pytest.LogCaptureFixture) -> None:
    async with ExchangeSimulator(SimulatorConfig(tickers=TICKERS, rate=10)) as sim, _api(sim) as api:
        account = RestAccount(api, Core(), [*TICKERS, "KXNOPE-1"], with_private=False)
        with caplog.at_level(logging.WARNING, logger="market_making_bot.runtime.account"):
            kept = await account.check_tickers([*TICKERS, "KXNOPE-1"])
    assert kept == TICKERS
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped == ["ticker KXNOPE-1 dropped: unknown market (GET /markets does not list it)"]


def test_rest_update_round_trips_and_applies_the_same_twice() -> None:
    fill = Fill(market_ticker="A", yes_price=4000, count=300, trade_id="t1", order_id="o1", ts_ms=5)
    update = RestUpdate(why="x", fills=[fill], positions=[MarketPosition(market_ticker="A", position=300)])
    again = decode_update(encode_update(update))
    assert again == update
    core = Core(["A"])
    seen: list[FillSeen] = []
    changed: list[PositionChanged] = []
    core.bus.subscribe(FillSeen, seen.append)
    core.bus.subscribe(PositionChanged, changed.append)
    core.apply_rest(again, 10)
    core.apply_rest(again, 11)  # the overlap of the next backfill: the fill once
    assert [e.backfill for e in seen] == [True]
    assert core.summary()["markets"]["A"]["fills"] == 1
    assert core.summary()["markets"]["A"]["position"] == "3.00"
    assert len(changed) == 2


def _listener(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "market_making_bot.mm_ws_listener", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_simulate_record_then_replay_reproduces_the_summary_with_rest_records(tmp_path: Path) -> None:
    journal, live, replayed = tmp_path / "run.jsonl", tmp_path / "live.json", tmp_path / "replay.json"
    run = _listener(
        "--simulate", "--duration", "2", "--sim-rate", "200", "--record", str(journal), "--summary-json",
        str(live), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    rest = [r for r in records if r["dir"] == "rest"]
    assert rest, "positions at start and the backfill are journaled"
    assert decode_update(rest[0]["frame"]).positions  # the start: every followed market's position
    again = _listener("--replay", str(journal), "--summary-json", str(replayed), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    mine: dict[str, Any] = json.loads(live.read_text())
    theirs: dict[str, Any] = json.loads(replayed.read_text())
    assert theirs["markets"] == mine["markets"]
    assert all(m["position"] is not None for m in mine["markets"].values())


async def test_a_fill_made_while_the_connection_is_down_arrives_by_the_backfill() -> None:
    """Deterministic: the connection is aborted by the simulator; inside the listener's own ``ConnectionDown``
    callback (so strictly after it knows it is disconnected and before it can reconnect) the simulated user gets a
    fill; after the reconnect the fill is in the listener's state, told by ``FillSeen(backfill=True)``, and the
    market's fills and position equal the simulator's."""
    cfg = SimulatorConfig(tickers=TICKERS, rate=1, seed=11, start_paused=True, ping_interval=None)
    sim = ExchangeSimulator(cfg)
    core = WatchedCore(TICKERS)
    made: list[str] = []  # the trade id of the fill made while down
    seen: list[FillSeen] = []
    arrived = asyncio.Event()

    def make_a_fill_while_down(_event: ConnectionDown) -> None:
        if made:
            return
        model = sim.model
        model.activate_user()
        before = len(model.fill_log)
        for _ in range(100_000):  # the model, stepped directly (seeded: the same fill every run)
            sim.fanout.dispatch(model.step())  # the stream's frames go nowhere: no connection is open
            if len(model.fill_log) > before:
                break
        assert len(model.fill_log) == before + 1, "the simulated user did not trade"
        made.append(model.fill_log[-1].trade_id)

    def on_fill(event: FillSeen) -> None:
        seen.append(event)
        if made and event.msg.trade_id == made[0]:
            arrived.set()

    core.bus.subscribe(ConnectionDown, make_a_fill_while_down)
    core.bus.subscribe(FillSeen, on_fill)
    async with sim, _api(sim) as api:
        account = RestAccount(api, core, TICKERS, with_private=True, interval=600.0)  # no timer: the ack's backfill
        await account.load_start()
        session = Session(TICKERS, with_private=True, backoff_base=0.02, backoff_cap=0.1, rng=random.Random(3))
        async with running_client(sim, core, policy=POLICY, session=session) as (client, _task, stop):
            backfill = asyncio.create_task(account.run(stop))
            await wait_until(core, lambda: account.backfills >= 1, 10, "the first backfill (after the fill ack)")
            assert not seen  # nothing traded yet
            assert sim.faults.inject("disconnect") == 1
            await asyncio.wait_for(arrived.wait(), 10)
            await wait_until(core, lambda: account.backfills >= 2, 10, "the positions read after the fills")
            backfill.cancel()
            assert client.reconnects >= 1
    assert [(e.msg.trade_id, e.backfill) for e in seen] == [(made[0], True)]
    fill = sim.model.fill_log[-1]
    ticker = fill.market.ticker
    assert seen[0].ticker == ticker and seen[0].msg.count == fill.count and seen[0].msg.yes_price == fill.yes_price
    assert _mine(core)[ticker] == _user_truth(sim)[ticker] == (1, f"{fill.post_position / 100:.2f}")
    assert _mine(core) == _user_truth(sim)
    assert account.failures == 0
