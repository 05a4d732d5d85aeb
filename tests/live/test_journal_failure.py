"""A journal that fails during a run (issue 12, item 10): recording stops loudly, the feed goes on, exit code 6.

Before, a full disk raised out of the client's frame hook and was taken for a lost connection (10 reconnects, about
5% of the frames processed, exit 1). ``/dev/full`` is a real file whose every flush fails with ENOSPC.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from pathlib import Path
from typing import IO, Any

import pytest

from market_making_bot.cli.listener import main
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.storage.journal import JournalWriter, iter_journal
from tests.live.support import WatchedCore, converged, wait_until

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full on this system")


@needs_dev_full
def test_cli_run_with_a_full_disk_goes_on_and_exits_6(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    summary = tmp_path / "s.json"
    argv = ["--simulate", "--sim-rate", "300", "--duration", "1.5", "--log-level", "WARNING"]
    with caplog.at_level(logging.WARNING):
        code = main([*argv, "--record", str(DEV_FULL), "--record-overwrite", "--summary-json", str(summary)])
    assert code == 6
    data = json.loads(summary.read_text())
    rec = data["recording"]
    assert rec["ok"] is False and "No space left on device" in rec["error"] and "/dev/full" in rec["error"]
    assert rec["records"] == 0 and rec["dropped"] > 100
    counters = data["counters"]
    assert counters["reconnects"] == 0 and counters["frames"] > 100  # the feed went on, on one connection
    assert counters["frames"] <= rec["dropped"]  # every frame processed, none recorded
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("recording stopped" in m for m in errors) == 1  # said once, not once per frame
    assert any("recording FAILED" in m and "exit code 6" in m for m in errors)


class _FailingFile:
    """A real file whose writes start failing with EIO after ``ok_writes`` (the documented ``opener`` hook)."""

    def __init__(self, path: Path, mode: str, ok_writes: int) -> None:
        self._f: IO[bytes] = open(path, mode)  # noqa: SIM115
        self._left = ok_writes

    def write(self, data: bytes, /) -> int:
        if self._left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        self._left -= 1
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


async def test_recording_that_fails_mid_run_stops_while_the_books_stay_right(tmp_path: Path) -> None:
    path = tmp_path / "eio.jsonl"
    cfg = SimulatorConfig(tickers=["KXF-1", "KXF-2"], rate=400, seed=5, duration=1.5)
    live = WatchedCore()

    def opener(p: Path, mode: str) -> Any:
        return _FailingFile(p, mode, ok_writes=40)

    async with ExchangeSimulator(cfg) as sim:
        assert sim.private_key is not None
        journal = JournalWriter(path, url=sim.url, opener=opener)
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
        journal.close()
    assert client.connections == 1 and client.reconnects == 0
    assert journal.failed and "Input/output error" in (journal.error or "") and str(path) in (journal.error or "")
    assert journal.lines == 39 and journal.dropped > 100  # the header and 39 records made it
    assert len(list(iter_journal(path))) == 39  # what was written is a readable journal
