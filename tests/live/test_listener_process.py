"""The listener as a user runs it (a separate process) against the simulator over loopback (issue 4)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from market_making_bot.cli.listener import main
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from tests.keys import write_key
from tests.live.support import books

LISTENER = [sys.executable, "-m", "market_making_bot.mm_ws_listener"]
SIMULATOR = [sys.executable, "-m", "market_making_bot.simulator"]
TICKERS = ["KXLIVE-26DEC31-A", "KXLIVE-26DEC31-B"]


async def _run(*args: str, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _read_until(stream: asyncio.StreamReader, needle: str, timeout: float) -> str:
    seen = []

    async def scan() -> str:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"stream ended before {needle!r}; got:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return line

    return await asyncio.wait_for(scan(), timeout)


async def test_separate_simulator_and_listener_processes_agree(tmp_path: Path) -> None:
    """The issue's done-when: simulator CLI with --write-credentials, listener CLI with --env-file."""
    creds, truth_path, summary_path = tmp_path / "sim.env", tmp_path / "truth.json", tmp_path / "summary.json"
    sim = await asyncio.create_subprocess_exec(
        *SIMULATOR, "--port", "0", "--ticker", TICKERS[0], "--ticker", TICKERS[1], "--rate", "300", "--seed", "5",
        "--duration", "4", "--write-credentials", str(creds), "--truth-json", str(truth_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        await _read_until(sim.stdout, "credentials:", timeout=30)
        assert creds.is_file()
        code, out = await _run(
            *LISTENER, "--env-file", str(creds), "--ticker", ",".join(TICKERS), "--with-private",
            "--duration", "7", "--log-level", "WARNING", "--summary-json", str(summary_path),
        )  # fmt: skip
        assert code == 0, out
        await _read_until(sim.stdout, "truth written", timeout=30)  # the duration's end writes the truth
    finally:
        if sim.returncode is None:
            sim.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sim.wait(), 30)
    truth = json.loads(truth_path.read_text())
    summary = json.loads(summary_path.read_text())
    assert books(summary, TICKERS) == books(truth, TICKERS)
    assert all(summary["markets"][t]["usable"] for t in TICKERS)
    assert sum(summary["markets"][t]["fills"] for t in TICKERS) == truth["fills"] > 0
    assert any(summary["markets"][t]["yes"] for t in TICKERS)


async def test_auth_rejected_exits_4_with_advice_and_no_retry_storm(tmp_path: Path, transport: str) -> None:
    other_public = write_key(tmp_path / "other.pem", "rsa")  # the server knows a different key
    mine = tmp_path / "mine.pem"
    write_key(mine, "rsa")
    async with ExchangeSimulator(SimulatorConfig(tickers=TICKERS, public_key=other_public)) as sim:
        env = tmp_path / ".env"
        env.write_text(f"KALSHI_API_KEY_ID=0123456789abcdef\nKALSHI_PRIVATE_KEY_PATH={mine}\nKALSHI_WS_URL={sim.url}\n")
        code, out = await _run(
            *LISTENER, "--env-file", str(env), "--ticker", TICKERS[0], "--duration", "20", "--ws-transport", transport
        )
        assert sim.handshakes_rejected == 1
    assert code == 4
    assert "authentication failed" in out and "HTTP 401" in out and "01234567…" in out
    assert "Check that API key 01234567… exists" in out  # the same advice on every transport
    assert "0123456789abcdef" not in out


async def test_sigint_shuts_down_cleanly_and_writes_the_summary(tmp_path: Path) -> None:
    async with ExchangeSimulator(SimulatorConfig(tickers=TICKERS, rate=100)) as sim:
        env = tmp_path / ".env"
        sim.write_credentials(env)
        summary = tmp_path / "summary.json"
        proc = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(env), "--ticker", ",".join(TICKERS), "--summary-json", str(summary),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        await _read_until(proc.stdout, "[ORDERBOOK SNAPSHOT]", timeout=30)
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert "end of run" in rest.decode()
    data = json.loads(summary.read_text())
    assert set(TICKERS) <= set(data["markets"]) and data["counters"]["frames"] > 0


async def test_secrets_never_reach_the_logs(tmp_path: Path, transport: str) -> None:
    async with ExchangeSimulator(SimulatorConfig(tickers=TICKERS, rate=200, duration=1)) as sim:
        env = tmp_path / ".env"
        key_id, key_path = sim.write_credentials(env)
        code, out = await _run(
            *LISTENER, "--env-file", str(env), "--ticker", TICKERS[0], "--with-private", "--duration", "1.5",
            "--log-level", "DEBUG", "--ws-transport", transport,
        )  # fmt: skip
    assert code == 0
    assert f"over {transport} as key" in out
    assert "[ORDERBOOK SNAPSHOT]" in out  # the run did log at DEBUG/INFO
    pem_body = [ln for ln in Path(key_path).read_text().splitlines() if ln and not ln.startswith("-----")]
    assert not any(line in out for line in pem_body)
    assert "KALSHI-ACCESS-SIGNATURE" not in out and "PRIVATE KEY" not in out
    assert key_id not in out and key_id[:8] in out


def test_missing_and_bad_credentials_exit_3_with_the_exact_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in os.environ if v.startswith("KALSHI_")]:
        monkeypatch.delenv(var)
    env = tmp_path / ".env"
    env.write_text("KALSHI_API_KEY_ID=abc\n")
    assert main(["--env-file", str(env), "--ticker", "X"]) == 3
    assert "missing KALSHI_PRIVATE_KEY_PATH for the production environment" in capsys.readouterr().err
    env.write_text(f"KALSHI_API_KEY_ID=abc\nKALSHI_PRIVATE_KEY_PATH={tmp_path / 'gone.pem'}\n")
    assert main(["--env-file", str(env), "--ticker", "X"]) == 3
    assert f"KALSHI_PRIVATE_KEY_PATH={tmp_path / 'gone.pem'} does not exist" in capsys.readouterr().err
    env.write_text("KALSHI_DEMO_MODE=true\nKALSHI_DEMO_API_KEY=abc\n")
    assert main(["--env-file", str(env), "--ticker", "X"]) == 3
    assert "missing KALSHI_DEMO_PRIVATE_KEY_PATH for the demo environment" in capsys.readouterr().err
