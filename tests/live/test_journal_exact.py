"""Replaying a journal gives exactly the state the live run had (issue 6)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from market_making_bot.cli.listener import main
from market_making_bot.feed.core import Core
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.simulator import ExchangeSimulator, FaultSpec, SimulatorConfig
from market_making_bot.storage.journal import JournalWriter, iter_journal
from market_making_bot.storage.replay import run_replay
from tests.live.support import WatchedCore, converged, wait_until


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    counters = {k: v for k, v in summary["counters"].items() if k not in ("reconnects", "resyncs")}
    return {"markets": summary["markets"], "counters": counters}


def test_cli_record_then_replay_gives_an_equal_summary(tmp_path: Path) -> None:
    journal, live, replayed = tmp_path / "run.jsonl.gz", tmp_path / "live.json", tmp_path / "replay.json"
    argv = ["--simulate", "--sim-rate", "300", "--duration", "2", "--log-level", "WARNING"]
    assert main([*argv, "--record", str(journal), "--summary-json", str(live)]) == 0
    assert main(["--replay", str(journal), "--summary-json", str(replayed), "--log-level", "WARNING"]) == 0
    a, b = json.loads(live.read_text()), json.loads(replayed.read_text())
    assert a["counters"]["frames"] > 100 and any(m["yes"] for m in a["markets"].values())
    assert a["markets"] == b["markets"]  # every field of every market
    assert _comparable(a) == _comparable(b)


async def test_journal_of_a_run_with_reconnects_and_gaps_replays_exactly(tmp_path: Path) -> None:
    path = tmp_path / "faulty.jsonl"
    faults = [FaultSpec.parse(f) for f in ("gap:every=90", "disconnect:every=300", "malformed:every=200")]
    cfg = SimulatorConfig(tickers=["KXJ-1", "KXJ-2"], rate=500, seed=3, duration=3.0, faults=faults)
    live = WatchedCore()
    async with ExchangeSimulator(cfg) as sim:
        assert sim.private_key is not None
        with JournalWriter(path, url=sim.url) as journal:
            client = KalshiWebSocketClient(
                sim.url,
                Signer(sim.key_id, sim.private_key),
                live,
                Session(cfg.resolved_tickers(), with_private=True),
                ConnectionPolicy(backoff_base=0.05, backoff_cap=0.2),
                on_frame=journal.frame_in,
                on_send=journal.frame_out,
                on_connect=journal.connected,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop))
            await sim.wait_quiet(timeout=60)
            await wait_until(live, lambda: converged(live, sim), timeout=30, what="convergence")
            stop.set()
            await asyncio.wait_for(task, 10)
    assert client.connections >= 2
    conns = {r.conn for r in iter_journal(path)}
    assert conns == set(range(1, client.connections + 1))  # reconnects are visible in the journal
    replayed = Core()
    run_replay([path], replayed)
    assert _comparable(replayed.summary()) == _comparable(live.summary())
