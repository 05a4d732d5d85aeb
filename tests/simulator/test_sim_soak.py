"""``bench/soak.py`` starts its simulator so that the simulator's log can never block it (issue 12, item 11)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from websockets.asyncio.client import connect

from bench.soak import start_simulator
from market_making_bot.simulator.auth import auth_headers

from .helpers import Client, now_ms, repo_root


async def test_a_simulator_that_logs_megabytes_keeps_serving(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(repo_root()), os.environ.get("PYTHONPATH")]))
    )
    creds = tmp_path / "sim.env"
    # every data frame triggers a logged fault: about 400 bytes of log per frame, far beyond a pipe's
    # 64 KiB buffer long before the client below has its frames
    args = [
        "--markets", "2", "--rate", "3000", "--write-credentials", str(creds), "--ping-interval", "0",
        "--fault", "malformed:every=1", "--log-level", "INFO",
    ]  # fmt: skip
    proc, url = await asyncio.to_thread(start_simulator, args, tmp_path / "simulator.log")
    try:
        values = dict(line.split("=", 1) for line in creds.read_text().splitlines() if "=" in line)
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(Path(values["KALSHI_PRIVATE_KEY_PATH"]).read_bytes(), None)
        headers = auth_headers(values["KALSHI_API_KEY_ID"], key, now_ms())  # type: ignore[arg-type]
        async with connect(url, additional_headers=headers) as ws:
            c = Client(ws)
            await c.send(
                "subscribe",
                {"channels": ["orderbook_delta"], "market_tickers": ["KXSIM-26DEC31-M1", "KXSIM-26DEC31-M2"]},
            )
            deltas = 0
            while deltas < 1500:
                text = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(text, str) and text.endswith("}") and '"type":"orderbook_delta"' in text:
                    assert json.loads(text)["sid"] == 1
                    deltas += 1
        assert (tmp_path / "simulator.log").stat().st_size > 256 * 1024
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        assert proc.stdout is not None
        proc.stdout.close()
