"""Before/after cost of the live feed path per frame, each variant in its own process: instructions (callgrind,
deterministic) and time (interleaved: the two variants take turns chunk by chunk, so the machine's drift hits both).

    python -m bench.feed_ab --before /path/to/old/checkout [--after .] [--rounds 3] [--no-callgrind]

The frames are bench/synth.py's (50 markets, ~88% deltas), fed as bytes the way the live client receives them,
with the log at WARNING. "Feed path" is what the asyncio client calls per frame: ``FeedProtocol.receive_frame``
where it exists (issue 13's layout), else ``Core.feed`` plus the client's control-frame check of the flat layout.
The instruction count is the difference between a run that feeds N more frames and one that does not (both
generate the same frames), divided by N: the imports, the frame generation and the warm-up cancel out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WARMUP = 60_000
MEASURED = 20_000
TIMED = 200_000

WORKER = r'''
import sys, time, logging
repo, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, repo)
sys.path.insert(0, sys.argv[4])  # bench/ of the driver, for the frame generator
from synth import generate_frames
frames = [f.encode() for f in generate_frames(int(sys.argv[6]), markets=50, seed=1)]  # the same in every run
logging.basicConfig(level=logging.WARNING)
try:  # issue 13's layout
    from market_making_bot.feed.core import Core
    from market_making_bot.feed.protocol import FeedProtocol
    from market_making_bot.feed.session import Session
    from market_making_bot.views.output import LogOutput
    def make():
        core = Core()
        LogOutput().attach(core.bus)
        proto = FeedProtocol(core, Session([]), url="ws://bench/")
        proto.connection_opened(0)
        return proto.receive_frame
except ImportError:  # the flat layout before it
    from market_making_bot.core import Core
    from market_making_bot.output import Output
    CONTROL = frozenset({"subscribed", "unsubscribed", "error", "ok", "orderbook_snapshot"})
    def make():
        core = Core(output=Output())
        feed = core.feed
        def receive(data, recv_ns):
            msg = feed(data, recv_ns)
            if msg is not None and msg.type in CONTROL:  # the client's dispatch of control frames
                pass
            return msg
        return receive
warm = int(sys.argv[5])
if mode == "serve":  # interleaved timing: the parent has each variant run chunk k of K in turn
    import gc
    receive = make()
    print("ready", flush=True)
    clock = time.perf_counter_ns
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "reset":
            receive = make(); gc.collect(); print("ok", flush=True)
        elif cmd[0] == "run":
            k, kk = int(cmd[1]), int(cmd[2])
            lo, hi = len(frames) * k // kk, len(frames) * (k + 1) // kk
            part = frames[lo:hi]
            t = lo * 1_000_000
            t0 = clock()
            for f in part:
                t += 1_000_000; receive(f, t)
            print(clock() - t0, flush=True)
        else:
            break
    sys.exit(0)
if mode == "time":
    best = None
    for _ in range(3):
        receive = make(); t = 0
        t0 = time.perf_counter()
        for f in frames:
            t += 1_000_000; receive(f, t)
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    print(f"{best / len(frames) * 1e9:.0f}")
else:
    receive = make(); t = 0
    for f in frames[:warm + n]:
        t += 1_000_000; receive(f, t)
'''


def _worker(repo: Path, mode: str, n: int, warm: int, total: int) -> list[str]:
    return [sys.executable, "-c", WORKER, str(repo), mode, str(n), str(Path(__file__).parent), str(warm), str(total)]


def interleaved(variants: dict[str, Path], rounds: int, chunks: int = 20) -> dict[str, float]:
    """ns per frame of each variant, measured side by side: long-lived workers take turns chunk by chunk (a drift
    of the machine's speed hits every variant alike); per chunk the best of ``rounds`` passes, summed."""
    procs = {
        name: subprocess.Popen(
            _worker(repo, "serve", TIMED, 0, TIMED), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for name, repo in variants.items()
    }
    best: dict[str, list[int]] = {name: [0] * chunks for name in variants}
    try:
        for proc in procs.values():
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for r in range(rounds):
            if r:
                for proc in procs.values():
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write("reset\n")
                    proc.stdin.flush()
                    proc.stdout.readline()
            for k in range(chunks):
                for name, proc in procs.items():
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"run {k} {chunks}\n")
                    proc.stdin.flush()
                    took = int(proc.stdout.readline())
                    best[name][k] = took if r == 0 else min(best[name][k], took)
    finally:
        for proc in procs.values():
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.close()
            proc.wait(timeout=30)
    return {name: sum(times) / TIMED for name, times in best.items()}


def instructions(repo: Path) -> float:
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (0, MEASURED):
            out = Path(tmp) / f"cg.{n}"
            done = subprocess.run(
                [
                    "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    *_worker(repo, "cg", n, WARMUP, WARMUP + MEASURED),
                ],
                capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True,
            )
            found = re.search(r"Collected : (\d+)", done.stderr)
            assert found, done.stderr[-2000:]
            counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / MEASURED


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, type=Path, help="checkout of the older version")
    ap.add_argument("--after", default=Path("."), type=Path, help="checkout of the newer version (default .)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (default 3)")
    ap.add_argument("--no-callgrind", action="store_true", help="time only")
    args = ap.parse_args()
    variants = {"before": args.before.resolve(), "after": args.after.resolve()}
    per_frame = interleaved(variants, args.rounds)
    times = {name: [round(value)] for name, value in per_frame.items()}
    for name, value in per_frame.items():
        print(f"{name:6} time: {value:,.0f} ns/frame (interleaved, best of {args.rounds} per chunk)")
    if not args.no_callgrind and shutil.which("valgrind"):
        cg = {name: instructions(repo) for name, repo in variants.items()}
        for name, value in cg.items():
            print(f"{name:6} instructions: {value:,.0f} per frame")
        print(f"change: {100 * (cg['after'] / cg['before'] - 1):+.1f}% instructions, "
              f"{100 * (min(times['after']) / min(times['before']) - 1):+.1f}% time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
