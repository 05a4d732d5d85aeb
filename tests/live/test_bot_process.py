"""The issue's done-when, as a trader runs it: the simulator as a separate process (``--no-auto-user``, faults on the
stream and on order writes, ``--write-credentials``, ``--truth-json``) and the bot command against it with
``--env-file``: the bot's summary (fills, positions, fees, P&L per market) equals the simulator's truth, and no order
of the bot is left resting."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from decimal import Decimal
from pathlib import Path

from tests.live.test_bot_paper import expected_pnl
from tests.live.test_listener_process import _read_until

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = [sys.executable, "-m", "market_making_bot.simulator"]
BOT = [sys.executable, "-m", "market_making_bot.bot"]
TICKERS = ["KXBOT-26DEC31-A", "KXBOT-26DEC31-B"]


async def test_bot_against_a_separate_simulator_process_matches_its_truth(tmp_path: Path) -> None:
    creds, truth_path, summary_path = tmp_path / "sim.env", tmp_path / "truth.json", tmp_path / "bot.json"
    sim = await asyncio.create_subprocess_exec(
        *SIMULATOR, "--port", "0", "--ticker", TICKERS[0], "--ticker", TICKERS[1], "--rate", "300", "--seed", "3",
        "--duration", "9", "--no-auto-user", "--write-credentials", str(creds), "--truth-json", str(truth_path),
        "--fault", "disconnect:at=900", "--fault", "gap:every=400", "--fault", "order-429:every=5",
        "--fault", "order-timeout:every=8",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        await _read_until(sim.stdout, "credentials:", timeout=30)
        bot = await asyncio.create_subprocess_exec(
            *BOT, "--env-file", str(creds), "--ticker", ",".join(TICKERS), "--strategy", "examples/quoter.py:Quoter",
            "--param", "half_spread=0.005", "--max-position", "3", "--duration", "11",
            "--summary-json", str(summary_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        out_bytes, _ = await asyncio.wait_for(bot.communicate(), 90)
        out = out_bytes.decode()
        assert bot.returncode == 0, out[-4000:]
    finally:
        if sim.returncode is None:
            sim.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sim.wait(), 30)
    truth = json.loads(truth_path.read_text())
    summary = json.loads(summary_path.read_text())
    assert truth["user"]["resting_orders"] == []
    assert summary["trading"]["left_resting"] == []
    total_fills = 0
    for ticker in TICKERS:
        got = summary["markets"][ticker]
        n, fees, total, position = expected_pnl(truth, ticker, got["mark"])
        total_fills += n
        assert got["fills"] == n, (ticker, out[-3000:])
        assert round(float(got["position"]) * 100) == position
        assert got["pnl"]["fees"] == f"{fees:.6f}"
        assert got["pnl"]["total"] == (None if total is None else f"{total:.6f}")  # None: a position and no mark
        book = truth["markets"][ticker]
        if book["best_yes_bid"] is None or book["best_yes_ask"] is None:  # one side empty at the end: no mid
            assert got["mark"] is None, (ticker, book["best_yes_bid"], book["best_yes_ask"], got["mark"])
        else:  # the end book, without our orders
            mid = (Decimal(book["best_yes_bid"]) + Decimal(book["best_yes_ask"])) / 2
            assert got["mark"] is not None and Decimal(got["mark"]) == mid
    assert total_fills >= 1
    fired = truth["faults"]
    assert fired.get("gap", 0) >= 1 and fired.get("order-429", 0) >= 1, fired
