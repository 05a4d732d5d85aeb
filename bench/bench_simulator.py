"""How many frames per second the simulator sustains to one client on loopback.

Starts ``python -m market_making_bot.simulator`` in a child process at a series of ``--rate`` values
and connects one client (this process) subscribed to ``orderbook_delta``, ``ticker`` and ``trade`` on
every market. For each rate it counts the data frames received over a measurement window (after a
warm-up), checks ``seq`` continuity, and reports delivered frames/s. A rate is *sustained* when at
least 95 % of it arrives with no gap and no error. The sweep stops at the first rate not sustained.

    python bench/bench_simulator.py                       # default sweep
    python bench/bench_simulator.py --rates 5000 20000 --seconds 5 --markets 10

Not a test: numbers depend on the machine (2 cores here: the simulator and the client each get one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: E402

from market_making_bot.simulator.auth import auth_headers  # noqa: E402

DATA_TYPES = {"orderbook_snapshot", "orderbook_delta", "ticker", "trade"}


class Envelope(msgspec.Struct):
    type: str
    sid: int = 0
    seq: int = 0


def start_simulator(
    rate: float, markets: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    env_path = workdir / f"sim-{int(rate)}.env"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "market_making_bot.simulator",
            "--rate",
            str(rate),
            "--markets",
            str(markets),
            "--write-credentials",
            str(env_path),
            "--log-level",
            "WARNING",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    if not url:
        raise SystemExit(f"the simulator did not start (exit code {proc.wait()})")
    values = dict(
        line.split("=", 1)
        for line in env_path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return proc, url, values


async def measure(
    url: str,
    creds: dict[str, str],
    markets: int,
    warmup: float,
    seconds: float,
) -> tuple[float, int, int]:
    """(delivered data frames/s, seq gaps, errors) over the measurement window."""
    key = load_pem_private_key(Path(creds["KALSHI_PRIVATE_KEY_PATH"]).read_bytes(), None)
    headers = auth_headers(creds["KALSHI_API_KEY_ID"], key, time.time_ns() // 1_000_000)  # type: ignore[arg-type]
    decode = msgspec.json.Decoder(Envelope).decode
    tickers = [f"KXSIM-26DEC31-M{i + 1}" for i in range(markets)]
    async with connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
        await ws.send(
            msgspec.json.encode(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta", "ticker", "trade"], "market_tickers": tickers},
                }
            ).decode()
        )
        last: dict[int, int] = {}
        gaps = errors = 0
        count = 0
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        start = t0 + warmup
        end = start + seconds
        counting = False
        while True:
            raw = await ws.recv(decode=False)
            now = loop.time()
            if now >= end:
                break
            if not counting and now >= start:
                counting = True
                count = 0
            env = decode(raw)
            if env.seq:
                if env.seq != last.get(env.sid, 0) + 1:
                    gaps += 1
                last[env.sid] = env.seq
            if env.type == "error":
                errors += 1
            elif env.type in DATA_TYPES:
                count += 1
        return count / seconds, gaps, errors


async def main_async(args: argparse.Namespace) -> int:
    best = 0.0
    print(
        f"simulator -> 1 client on loopback, {args.markets} markets, channels orderbook_delta+ticker+trade, "
        f"{args.seconds:g} s per rate after {args.warmup:g} s warm-up ({os.cpu_count()} CPUs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rate in args.rates:
            proc, url, creds = start_simulator(rate, args.markets, Path(tmp))
            try:
                delivered, gaps, errors = await measure(url, creds, args.markets, args.warmup, args.seconds)
            finally:
                proc.terminate()
                proc.wait(10)
            kept_up = delivered >= 0.95 * rate and gaps == 0 and errors == 0
            print(
                f"  --rate {rate:>9,.0f}: delivered {delivered:>9,.0f} frames/s ({delivered / rate:6.1%}), "
                f"gaps {gaps}, errors {errors} -> {'sustained' if kept_up else 'NOT sustained'}",
                flush=True,
            )
            if kept_up:
                best = max(best, delivered)
            else:
                print(f"  (at saturation the client received {delivered:,.0f} frames/s)")
                break
    print(f"sustained: {best:,.0f} frames/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", type=float, nargs="+", default=[2000, 5000, 10000, 20000, 30000, 40000, 60000])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--markets", type=int, default=5)
    return asyncio.run(main_async(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
