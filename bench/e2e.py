"""End to end over loopback: a sender in another process, the project's listener (``KalshiWebSocketClient`` feeding
a ``Core``, logging at WARNING) receiving in a process of its own, once per WebSocket transport
(``runtime/transport.py``: websockets, aiohttp, picows; those installed). Figures: the sustained rate (frames
processed per second over the measured window), the lag from the frame's ``sending_ts_ms`` (stamped by the sender
as it writes the frame) to the end of ``Core.feed`` for that frame, p50/p99 (both processes read the same wall
clock; the stamp has ms resolution), split into the part before the client received it (socket buffers, the
library's queue) and receipt to processed; the listener's CPU per frame (its process CPU time, user + system, over
the window, divided by the frames in it), its share of a core and of the time it waited for a CPU; and the
sender's own figures (``bench/blast.py``: offered rate, CPU, backpressure, lateness against its pace).

The transports take turns (``rounds`` rounds, each transport once per sender per round, a fresh sender each time)
so that the machine's drift hits them alike; a row reports its best round by rate.

Senders:

* the project's exchange simulator (``python -m market_making_bot.simulator``) at a rate far above what it can
  produce, so that it sends as fast as it can; needs the simulator;
* ``bench/blast.py``, which pushes the cached recording (paced at 50,000 frames/s, then unpaced): a sender that is
  certainly faster than the listener, to measure the listener itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

__all__ = ["run_e2e"]

WARMUP_S = 1.0
PACED_RATE = 50_000
KEEPS_PACE = 0.99  # a paced row "keeps the pace" when it processes at least 99% of the rate offered


def _importable(python: str, module: str, cwd: Path, env: dict[str, str]) -> bool:
    proc = subprocess.run([python, "-c", f"import {module}"], cwd=cwd, env=env, capture_output=True)
    return proc.returncode == 0


def _percentile(ordered: list[int], q: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return float(ordered[rank - 1])


# --------------------------------------------------------------------------------------------------------------
# Listener (runs in its own process: ``python -m bench.run --child e2e-listen URL SECONDS TICKERS [ENV_FILE]``)


async def _listen(
    url: str, seconds: float, tickers: list[str], env_file: str | None, transport: str = "websockets"
) -> dict[str, Any]:
    from market_making_bot.feed.core import Core
    from market_making_bot.feed.session import Session
    from market_making_bot.kalshi.auth import Signer
    from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
    from market_making_bot.views.output import setup_logging

    setup_logging("WARNING")
    if env_file:
        from market_making_bot.runtime.config import Config

        signer = Config.load(env_file, ws_url=url).signer()
    else:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        signer = Signer("bench-key", ed25519.Ed25519PrivateKey.generate())
    core = Core()
    session = Session(tickers)
    policy = ConnectionPolicy(health_interval=None, max_reconnects=0)
    client = KalshiWebSocketClient(url, signer, core, session, policy, transport=transport)

    lags = array("q")
    socket_lags = array("q")  # stamp -> received by the client (sender's buffer, kernel buffers, library queue)
    done = array("q")
    cpu_at = array("q")  # (index into done, process CPU ns, run-queue wait ns) every 1,024 stamped frames
    feed = core.feed
    clock = time.time_ns
    cpu = time.process_time_ns

    def timed_feed(data: str | bytes, recv_ns: int) -> Any:
        msg = feed(data, recv_ns)
        if msg is not None and msg.sending_ts_ms is not None:
            now = clock()
            sent_ns = msg.sending_ts_ms * 1_000_000
            lags.append(now - sent_ns)
            socket_lags.append(recv_ns - sent_ns)
            done.append(now)
            if not len(done) & 1023:
                cpu_at.append(len(done) - 1)
                cpu_at.append(cpu())
                cpu_at.append(_run_delay_ns())
        return msg

    core.feed = timed_feed  # type: ignore[method-assign]
    stop = asyncio.Event()
    runner = asyncio.create_task(client.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(runner, timeout=10)
    # The measured window: from WARMUP_S after the first stamped frame to the last one.
    if not done:
        return {"frames": core.counters["frames"], "error": "no stamped frame received"}
    t0 = done[0] + int(WARMUP_S * 1e9)
    window = [i for i, t in enumerate(done) if t >= t0]
    span = (done[-1] - t0) / 1e9 if window else 0.0
    lag_ms = sorted(lags[i] // 1000 for i in window)  # microseconds
    socket_ms = sorted(socket_lags[i] // 1000 for i in window)
    # received -> processed: the frame's own Core.feed plus whatever ran before it on the loop since its receipt
    proc_us = sorted((lags[i] - socket_lags[i]) // 1000 for i in window)
    samples = [
        (cpu_at[i], cpu_at[i + 1], cpu_at[i + 2]) for i in range(0, len(cpu_at), 3) if window and cpu_at[i] >= window[0]
    ]
    ok = len(samples) >= 2 and samples[-1][0] > samples[0][0]
    frames_sampled = samples[-1][0] - samples[0][0] if ok else 0
    cpu_per_frame_us = (samples[-1][1] - samples[0][1]) / frames_sampled / 1000 if ok else float("nan")
    sample_span_s = (done[samples[-1][0]] - done[samples[0][0]]) / 1e9 if ok else 0.0
    return {
        "transport": client.transport.name,
        "cpu_us_per_frame": cpu_per_frame_us,
        # the share of one core the listener used, and of the time it was runnable but waited for a CPU
        "cpu_share": (samples[-1][1] - samples[0][1]) / 1e9 / sample_span_s if sample_span_s > 0 else float("nan"),
        "run_queue_wait_share": (
            (samples[-1][2] - samples[0][2]) / 1e9 / sample_span_s if sample_span_s > 0 else float("nan")
        ),
        "socket_lag_p50_ms": _percentile(socket_ms, 50) / 1000,
        "socket_lag_p99_ms": _percentile(socket_ms, 99) / 1000,
        "processing_lag_p50_ms": _percentile(proc_us, 50) / 1000,
        "processing_lag_p99_ms": _percentile(proc_us, 99) / 1000,
        "frames": core.counters["frames"],
        "stamped": len(done),
        "window_frames": len(window),
        "window_s": span,
        "rate": len(window) / span if span > 0 else 0.0,
        "lag_p50_ms": _percentile(lag_ms, 50) / 1000,
        "lag_p99_ms": _percentile(lag_ms, 99) / 1000,
        "lag_max_ms": (lag_ms[-1] / 1000) if lag_ms else float("nan"),
        "decode_errors": core.counters["decode_errors"],
        "gaps": core.counters["gaps"],
        "peak_rss": _peak_rss(),
        "python": platform.python_version(),
    }


def _run_delay_ns() -> int:
    """Time this process spent runnable but waiting for a CPU (``/proc/self/schedstat``, Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def listen_main(
    url: str, seconds: float, tickers: str, env_file: str | None, transport: str = "websockets"
) -> dict[str, Any]:
    return asyncio.run(_listen(url, seconds, [t for t in tickers.split(",") if t], env_file or None, transport))


# --------------------------------------------------------------------------------------------------------------
# Orchestration


def _start(cmd: list[str], repo: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a sender and read the ``ws://`` URL it prints."""
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        for word in line.split():
            if word.startswith("ws://"):
                return proc, word
    proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"sender did not print its URL: {' '.join(cmd)}\n{err[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop a sender (SIGTERM) and return the figures ``bench/blast.py`` prints as it ends (``{}`` from others)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    for line in reversed((out or "").strip().splitlines()):
        if line.startswith('{"sender_stats"'):
            return dict(json.loads(line)["sender_stats"])
    return {}


def _listen_child(
    python: str,
    repo: Path,
    env: dict[str, str],
    url: str,
    seconds: float,
    tickers: list[str],
    env_file: str | None,
    transport: str,
) -> dict[str, Any]:
    cmd = [python, "-m", "bench.run", "--child", "e2e-listen", url, str(seconds), ",".join(tickers)]
    cmd += [env_file or "", transport]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"listener failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _describe(r: dict[str, Any]) -> str:
    """One line: the listener's figures, where its lag was spent, and the sender's own (bench/blast.py)."""
    if r.get("rate") is None:
        return str(r.get("error"))[:300]
    text = (
        f"{r['rate']:,.0f} frames/s, lag p50 {r['lag_p50_ms']:.1f} ms, p99 {r['lag_p99_ms']:.1f} ms "
        f"(before the client got it: p99 {r.get('socket_lag_p99_ms', float('nan')):.1f} ms; received to processed: "
        f"p99 {r.get('processing_lag_p99_ms', float('nan')):.2f} ms), CPU {r['cpu_us_per_frame']:.2f} us/frame "
        f"({r.get('cpu_share', float('nan')):.0%} of a core, waited for a CPU "
        f"{r.get('run_queue_wait_share', float('nan')):.0%} of the time)"
    )
    s = r.get("sender_stats") or {}
    if "offered_rate" in s:
        text += (
            f"; sender: {s['offered_rate']:,.0f} frames/s offered, {s['cpu_us_per_frame']:.2f} us/frame "
            f"({s['cpu_share']:.0%} of a core, waited for a CPU {s['run_queue_wait_share']:.0%}), blocked by the "
            f"socket {s['blocked_share']:.0%} of the time, at worst {s['max_behind_pace_ms']:.0f} ms behind its pace"
        )
    return text


def _tickers_of(recording: Path, limit: int = 10_000) -> list[str]:
    tickers: dict[str, None] = {}
    with open(recording, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i > limit:
                break
            if '"orderbook_snapshot"' in line:
                tickers[json.loads(line)["msg"]["market_ticker"]] = None
    return list(tickers)


def _transports(python: str, repo: Path, env: dict[str, str]) -> list[str]:
    """The transports installed for ``python``, the default one (what ``--ws-transport`` not given uses) first."""
    code = (
        "from market_making_bot.runtime.transport import available_transports as a, get_transport as g; "
        "d = g(None).name; print(','.join([d] + [n for n in a() if n != d]))"
    )
    proc = subprocess.run([python, "-c", code], cwd=repo, env=env, capture_output=True, text=True)
    names = proc.stdout.strip().split(",") if proc.returncode == 0 and proc.stdout.strip() else []
    return names or ["websockets"]


def run_e2e(
    python: str,
    repo: Path,
    env: dict[str, str],
    seconds: float,
    recording: Path | None = None,
    markets: int = 50,
    transports: list[str] | None = None,
    rounds: int = 1,
) -> dict[str, Any]:
    if not _importable(python, "market_making_bot.runtime.client", repo, env):
        return {"skipped": "not yet measured: market_making_bot.runtime.client is not available"}
    names = transports or _transports(python, repo, env)
    out: dict[str, Any] = {}
    runs: list[tuple[str, list[str], list[str], str | None]] = []
    tmp = tempfile.mkdtemp(prefix="mm-e2e-")
    if recording is not None:
        tickers = _tickers_of(recording)
        for label, rate in (("replay sender paced at 50,000 frames/s", PACED_RATE), ("replay sender unpaced", 0)):
            cmd = [python, "-m", "bench.blast", str(recording), "--rate", str(rate)]
            runs.append((label, cmd, tickers, None))
    if _importable(python, "market_making_bot.simulator", repo, env):
        creds = os.path.join(tmp, "sim.env")
        cmd = [
            python,
            "-m",
            "market_making_bot.simulator",
            "--markets",
            str(markets),
            "--rate",
            "10000000",
            "--seed",
            "1",
            "--write-credentials",
            creds,
        ]
        runs.append(("simulator, as fast as it can", cmd, [], creds))
    else:
        out["simulator"] = {"skipped": "not yet measured: market_making_bot.simulator is not available"}
    for round_no in range(rounds):
        for label, cmd, tickers, creds in runs:
            for transport in names:
                key = f"{label}, {transport}"
                if creds is not None and os.path.exists(creds):
                    os.remove(creds)
                proc, url = _start(cmd, repo, env)
                try:
                    if creds is not None:
                        deadline = time.monotonic() + 30
                        while not os.path.exists(creds) and time.monotonic() < deadline:
                            time.sleep(0.05)
                    result = _listen_child(python, repo, env, url, seconds, tickers, creds, transport)
                except Exception as exc:  # one sender failing must not lose the other rows
                    result = {"error": str(exc)[-1500:]}
                finally:
                    sender_stats = _stop(proc)
                if sender_stats:
                    result["sender_stats"] = sender_stats
                result.update(sender=label, transport=transport, round=round_no + 1)
                rate = result.get("rate")
                print(f"  e2e round {round_no + 1}: {key}: " + _describe(result), flush=True)
                brief = {k: result.get(k) for k in ("rate", "lag_p50_ms", "lag_p99_ms", "cpu_us_per_frame")}
                best = out.get(key)
                if best is None or result.get("rate", -1.0) > best.get("rate", -1.0):
                    result["rounds"] = [*((best or {}).get("rounds", [])), brief]
                    out[key] = result
                else:
                    best["rounds"] = [*best.get("rounds", []), brief]
    rows = [r for r in out.values() if isinstance(r, dict) and "rate" in r]
    if rows:
        paced = [r for r in rows if r["sender"].startswith("replay sender paced")]
        # The target (issue 17): 50,000 frames/s offered, kept (processed at 99% of it or more over the window),
        # with p99 lag under 100 ms, on the best socket layer: the one that keeps the pace with the lowest p99.
        best = min(paced or rows, key=lambda r: (r["rate"] < KEEPS_PACE * PACED_RATE, r["lag_p99_ms"]))
        out["best_transport"] = best["transport"]
        out["rate"], out["lag_p99_ms"] = best["rate"], best["lag_p99_ms"]
        out["transports"] = {
            r["transport"]: {k: r.get(k) for k in ("rate", "lag_p50_ms", "lag_p99_ms", "cpu_us_per_frame")}
            for r in paced
        }
        if names[0] in out["transports"]:
            out["default_transport"] = names[0]
        out["text"] = "; ".join(f"{r['sender']} over {r['transport']}: {_describe(r)}" for r in rows)
    if not rows:
        out["skipped"] = "; ".join(f"{k}: {v.get('error') or v.get('skipped')}" for k, v in out.items())
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.e2e``: the loopback rows alone (every transport side by side); the recording is the cached
    one of ``python -m bench.run`` (made if missing)."""
    import argparse

    from .recording import ensure_recording

    parser = argparse.ArgumentParser(prog="python -m bench.e2e")
    parser.add_argument("--seconds", type=float, default=12.0, help="each listener's run (default 12)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2): each transport once per round")
    parser.add_argument("--transport", action="append", help="only these transports (repeatable)")
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    recording, _ = ensure_recording(args.frames, args.markets)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = run_e2e(sys.executable, repo, env, args.seconds, recording, args.markets, args.transport, max(1, args.rounds))
    out["machine"] = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    print()
    print("| loopback sender | transport | frames/s processed | lag p50 | lag p99 | CPU per frame |")
    print("|---|---|---:|---:|---:|---:|")
    for r in (v for v in out.values() if isinstance(v, dict) and "rate" in v):
        print(
            f"| {r['sender']} | {r['transport']} | {r['rate']:,.0f} | {r['lag_p50_ms']:.1f} ms | "
            f"{r['lag_p99_ms']:.1f} ms | {r['cpu_us_per_frame']:.2f} µs |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
