"""No fill lost when a run ends while disconnected (issue 14's done-when, reproduced).

The defect: against ``--fault disconnect:every=N`` the reconnect backoff can leave the listener disconnected for the
last seconds of a run; the backfill ran only after a ``fill`` subscription ack and on a 60 s timer, and the run's end
cancelled it, so the fills made in that time were missing from the summary (38 fills against the simulator's 67).
Now ``--with-private`` ends with one last backfill (fills since the last seen, positions), journaled as a ``rest``
record, so a replay of the journal gives the same summary.

Reproduced through the listener's real path: a separate listener process (``--env-file`` from the simulator's
credentials), its WebSocket through a loopback proxy in the test that can cut every connection and then answer
every handshake 503 (a refused reconnect that is not a 401), fills made by stepping the simulator's model while the
connection is down, then SIGINT. The test waits on the listener's log lines, never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.kalshi.auth import Signer
from market_making_bot.kalshi.rest import Backoff
from market_making_bot.runtime.account import RestAccount
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from tests.live.proxy import CuttingProxy

LISTENER = [sys.executable, "-m", "market_making_bot.mm_ws_listener"]
TICKERS = ["KXFIN-26DEC31-A", "KXFIN-26DEC31-B"]


async def _read_until(stream: asyncio.StreamReader, needle: str, seen: list[str], timeout: float = 30) -> None:
    async def scan() -> None:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the listener's output ended before {needle!r}:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return

    await asyncio.wait_for(scan(), timeout)


def _make_fills(sim: ExchangeSimulator, n: int) -> None:
    """``n`` fills of the simulated user, by stepping the model directly (seeded: the same fills every run)."""
    model = sim.model
    model.activate_user()
    target = len(model.fill_log) + n
    for _ in range(1_000_000):
        sim.fanout.dispatch(model.step())  # no connection is open: the stream's frames go nowhere
        if len(model.fill_log) >= target:
            return
    raise AssertionError("the simulated user did not trade")


def _truth(sim: ExchangeSimulator) -> dict[str, tuple[int, str]]:
    return {
        t: (m["fills"], m["position"] if m["position"] is not None else "0.00")
        for t, m in sim.truth()["markets"].items()
    }


def _per_market(summary: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {t: (m["fills"], m["position"]) for t, m in summary["markets"].items()}


async def test_a_run_ending_while_disconnected_has_every_fill_and_position(tmp_path: Path) -> None:
    cfg = SimulatorConfig(tickers=TICKERS, rate=1, seed=7, start_paused=True, ping_interval=None)
    env, summary, journal = tmp_path / ".env", tmp_path / "summary.json", tmp_path / "run.jsonl"
    seen: list[str] = []
    async with ExchangeSimulator(cfg) as sim, CuttingProxy(sim.port) as proxy:
        sim.write_credentials(env)
        ws_url = sim.url.replace(f":{sim.port}/", f":{proxy.port}/")
        assert ws_url != sim.url
        proc = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(env), "--ws-url", ws_url, "--ticker", ",".join(TICKERS), "--with-private",
            "--record", str(journal), "--summary-json", str(summary), "--log-level", "INFO",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            # connected, subscribed to fills and the ack's backfill done: nothing of it can be in flight any more
            await _read_until(proc.stdout, "backfill (after subscribing to fills)", seen)
            proxy.refuse()
            await _read_until(proc.stdout, "connection lost", seen)
            _make_fills(sim, 4)  # made while the listener is disconnected
            await _read_until(proc.stdout, "handshake refused with HTTP 503", seen)  # and it cannot come back
            proc.send_signal(signal.SIGINT)
            rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        out = "".join(seen) + rest.decode()
        truth = _truth(sim)
    assert proc.returncode == 0, out
    assert proxy.refused >= 1
    assert sum(f for f, _ in truth.values()) == 4
    live = json.loads(summary.read_text())
    assert _per_market(live) == truth, out
    assert live["counters"]["reconnects"] >= 1 and not any(m["usable"] for m in live["markets"].values())
    assert "Traceback" not in out
    records = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert any(r["dir"] == "rest" and "end of the run" in r["frame"] for r in records)
    replayed = tmp_path / "replay.json"
    again = await asyncio.create_subprocess_exec(
        *LISTENER, "--replay", str(journal), "--summary-json", str(replayed), "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    replay_out, _ = await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0, replay_out.decode()
    replay = json.loads(replayed.read_text())
    assert _per_market(replay) == _per_market(live)  # the final backfill's record replays to the same fills
    # (not ``usable``: the journal records connections opened, not the loss at the end, so the replay's books
    # end usable; every other field is the same)
    same = ("yes", "no", "fills", "position")
    assert {t: {k: m[k] for k in same} for t, m in replay["markets"].items()} == {
        t: {k: m[k] for k in same} for t, m in live["markets"].items()
    }


def _api(sim: ExchangeSimulator) -> KalshiAPIClient:
    assert sim.private_key is not None
    return KalshiAPIClient(
        sim.api_url, Signer(sim.key_id, sim.private_key), backoff=Backoff(retries=0, base=0.01, cap=0.02)
    )


@pytest.mark.parametrize(
    ("fault", "timeout", "why"),
    [(FaultSpec("rest-503", count=None), 5.0, "failed"), (FaultSpec("rest-slow", ms=3000), 0.3, "timed out")],
)
async def test_a_failed_or_late_final_backfill_says_what_may_be_missing_in_one_warning(
    fault: FaultSpec, timeout: float, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with ExchangeSimulator(SimulatorConfig(tickers=TICKERS, rate=1, start_paused=True)) as sim, _api(sim) as api:
        account = RestAccount(api, Core(TICKERS), TICKERS, with_private=True)
        await account.load_start()
        fault.at = sim.faults.rest_requests  # from the next request on: every one of the final backfill
        sim.faults.add(fault)
        with caplog.at_level(logging.WARNING, logger="market_making_bot.runtime.account"):
            done = await account.final_backfill(timeout=timeout)
    assert done is False
    lines = [r.getMessage() for r in caplog.records if r.name == "market_making_bot.runtime.account"]
    assert len(lines) == 1, lines
    assert f"the last backfill at the end of the run {why}" in lines[0] and "may be missing" in lines[0]
