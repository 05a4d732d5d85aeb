"""A REST 401 on the listener's ``--with-private`` path stops the run with exit code 4 and the one-line advice
(``runtime.client.AUTH_ADVICE``), never a traceback: at start (a key the exchange does not know: REST refuses the
positions read before any WebSocket connection), and while running (the WebSocket accepts the key, REST refuses it:
the simulator's ``rest-401`` fault, met by the backfill after a reconnect). The listener is a separate process, as a
user runs it; the simulator runs in the test, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from market_making_bot.runtime.client import AUTH_ADVICE
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from tests.keys import write_key
from tests.live.test_listener_process import _read_until

LISTENER = [sys.executable, "-m", "market_making_bot.mm_ws_listener"]
TICKER = "KXAUTH-26DEC31-A"


def _advice(key_id: str) -> str:
    return AUTH_ADVICE.format(key=key_id[:8] + "…")


def _check_output(out: str, key_id: str) -> None:
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if _advice(key_id) in line]
    assert len(lines) == 1, out  # said once, on one line
    assert "HTTP 401" in lines[0] and "ERROR" in lines[0]
    assert key_id not in out  # the key id only shortened


async def test_rest_refusing_the_key_at_start_exits_4_before_connecting(tmp_path: Path) -> None:
    other_public = write_key(tmp_path / "other.pem", "ed25519")  # the exchange knows another key
    mine = tmp_path / "mine.pem"
    write_key(mine, "ed25519")
    key_id = "fedcba9876543210-not-registered"
    cfg = SimulatorConfig(tickers=[TICKER], rate=50, public_key=other_public)
    async with ExchangeSimulator(cfg) as sim:
        env = tmp_path / ".env"
        env.write_text(
            f"KALSHI_API_KEY_ID={key_id}\nKALSHI_PRIVATE_KEY_PATH={mine}\n"
            f"KALSHI_WS_URL={sim.url}\nKALSHI_API_URL={sim.api_url}\n"
        )
        proc = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(env), "--ticker", TICKER, "--with-private", "--duration", "30",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert sim.gate.rest_rejected == 1  # the positions read, once: no retry of a refused signature
        assert sim.connections_total == 0  # stopped before any WebSocket connection
    assert proc.returncode == 4, out.decode()
    _check_output(out.decode(), key_id)


async def test_the_websocket_accepting_and_rest_refusing_exits_4(tmp_path: Path) -> None:
    cfg = SimulatorConfig(tickers=[TICKER], rate=50)
    async with ExchangeSimulator(cfg) as sim:
        env = tmp_path / ".env"
        key_id, _key = sim.write_credentials(env)
        proc = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(env), "--ticker", TICKER, "--with-private", "--duration", "30",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        head = await _read_until(proc.stdout, "subscribed fill (sid", timeout=30)  # the WebSocket accepted the key
        assert sim.faults.inject("rest-401", count=None) == 1  # from now on REST refuses it
        assert sim.faults.inject("disconnect") == 1  # the reconnect's fill ack backfills: REST is asked again
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert sim.faults.counts["rest-401"] >= 1
        assert sim.handshakes_rejected == 0  # the WebSocket never refused it
    assert proc.returncode == 4, out.decode()
    _check_output(head + out.decode(), key_id)
