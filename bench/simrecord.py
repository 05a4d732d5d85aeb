"""Make the benchmark recording with the project's exchange simulator.

The simulator runs in its own process (``python -m market_making_bot.simulator``) at a rate far above what it can
produce, so it produces as fast as it can; a small recording client written here (websockets, signed with the key
the simulator writes) subscribes to the order book of every market, ``ticker``, ``trade``, ``fill`` and
``market_positions``, and writes every text frame it receives, as received, one per line, until it has ``frames``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["record"]

CHANNELS = ("orderbook_delta", "ticker", "trade", "fill", "market_positions")


def _read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


async def _record(url: str, env: dict[str, str], tickers: list[str], path: Path, frames: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from market_making_bot.kalshi.auth import Signer, load_private_key

    key = load_private_key(env["KALSHI_PRIVATE_KEY_PATH"], variable="KALSHI_PRIVATE_KEY_PATH")
    signer = Signer(env["KALSHI_API_KEY_ID"], key)
    counts: dict[str, int] = {}
    n = 0
    t0 = time.perf_counter()
    async with connect(
        url, additional_headers=signer.headers(url), max_size=None, max_queue=None, compression=None
    ) as ws:
        for i, channel in enumerate(CHANNELS, start=1):
            params: dict[str, Any] = {"channels": [channel]}
            if channel == "orderbook_delta":
                params["market_tickers"] = tickers
                params["use_yes_price"] = False
            await ws.send(json.dumps({"id": i, "cmd": "subscribe", "params": params}))
        with open(path, "w", encoding="utf-8") as f:
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                f.write(text.replace("\n", " "))
                f.write("\n")
                n += 1
                if n % 50_000 == 0 or n <= 200:
                    kind = json.loads(text).get("type", "?")
                    counts[kind] = counts.get(kind, 0) + 1
                if n >= frames:
                    break
    return {"record_seconds": round(time.perf_counter() - t0, 1), "sampled_types": counts}


def record(path: Path, frames: int, markets: int, seed: int) -> dict[str, Any]:
    """Write ``frames`` frames produced by the simulator over ``markets`` markets to ``path``; returns metadata."""
    from market_making_bot.simulator.model import default_tickers

    tickers = default_tickers(markets)
    tmp = Path(tempfile.mkdtemp(prefix="mm-bench-sim-"))
    creds = tmp / "sim.env"
    cmd = [
        sys.executable, "-m", "market_making_bot.simulator", "--markets", str(markets), "--rate", "10000000",
        "--seed", str(seed), "--key-type", "ed25519", "--write-credentials", str(creds), "--log-level", "WARNING",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("ws://"):
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the simulator did not start: {url!r} {err[-2000:]}")
        deadline = time.monotonic() + 30
        while not creds.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = asyncio.run(_record(url, _read_env(creds), tickers, path, frames))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"source": "the project's exchange simulator (python -m market_making_bot.simulator)", **info}
