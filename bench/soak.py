"""Longer soak run: the simulator and the listener as two processes, with repeating gaps and disconnects.

    python bench/soak.py [--seconds 60] [--rate 2000] [--markets 10] [--fault SPEC ...] [--margin 15]

The heaviest mix used so far (all books equal to the truth and usable at the end, none wrong while usable):
``--fault reorder --fault error25:every=1500 --fault error10:every=2500 --fault early-data
--fault stall:every=20000:for=3 --fault rest-503:every=7 --fault rest-429:every=5``.

Starts ``python -m market_making_bot.simulator`` with ``--fault gap:every=300 --fault disconnect:every=3000``
(and duplicates and malformed frames), runs the listener against it with ``--env-file`` for the same time plus a
margin, then compares the listener's ``--summary-json`` books with the simulator's ``--truth-json`` and prints the
health counters next to the faults the simulator injected. Exits 1 if a book differs or is not usable.

The simulator's log goes to ``simulator.log`` in the run's temporary directory, never into a pipe nobody
reads: a long run logs megabytes (every injected fault is logged), and a full pipe would freeze the simulator.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO


def start_simulator(sim_args: list[str], log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m market_making_bot.simulator SIM_ARGS``; returns the process and the URL it serves.

    stdout carries only the URL line (printed once the server listens and the credentials are written);
    stderr, the log, goes to ``log_path``.
    """
    log: IO[str] = log_path.open("w")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "market_making_bot.simulator", *sim_args],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    finally:
        log.close()  # the child has its own descriptor
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("ws://"):
        proc.kill()
        proc.wait(30)
        raise RuntimeError(f"the simulator did not start; its log: {log_path}\n{log_path.read_text()[-2000:]}")
    return proc, url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--markets", type=int, default=10)
    ap.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="more faults (e.g. reorder, error25:every=500)"
    )
    ap.add_argument(
        "--margin", type=float, default=15.0, help="listener time after the flow (resubscribing backs off up to 10 s)"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mm-soak-"))
    creds, truth, summary = tmp / "sim.env", tmp / "truth.json", tmp / "summary.json"
    faults = ["gap:every=300", "duplicate:every=700", "malformed:every=900", "disconnect:every=3000", *args.fault]
    sim_args = [
        "--port", "0", "--markets", str(args.markets),
        "--rate", str(args.rate), "--duration", str(args.seconds), "--write-credentials", str(creds),
        "--truth-json", str(truth), *[a for f in faults for a in ("--fault", f)],
    ]  # fmt: skip
    sim, _url = start_simulator(sim_args, tmp / "simulator.log")
    try:
        tickers = [f"KXSIM-26DEC31-M{i}" for i in range(1, args.markets + 1)]
        started = time.monotonic()
        listener = subprocess.run(
            [
                sys.executable, "-m", "market_making_bot.mm_ws_listener", "--env-file", str(creds),
                "--ticker", ",".join(tickers), "--with-private", "--duration", str(args.seconds + args.margin),
                "--log-level", "WARNING", "--summary-json", str(summary),
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - started
    finally:
        sim.terminate()
        sim.wait(30)
    if listener.returncode != 0:
        print(listener.stderr[-4000:])
        print(f"simulator log: {tmp / 'simulator.log'}")
        return 1
    t, s = json.loads(truth.read_text()), json.loads(summary.read_text())
    bad = [
        m
        for m in tickers
        if not s["markets"].get(m, {}).get("usable")
        or (s["markets"][m]["yes"], s["markets"][m]["no"]) != (t["markets"][m]["yes"], t["markets"][m]["no"])
    ]
    print(f"soak: {args.seconds:g} s of flow at {args.rate:g} frames/s over {args.markets} markets ({elapsed:.1f} s)")
    print(f"  frames received: {s['counters']['frames']}")
    print(f"  faults injected: {t['faults']}")
    print(f"  listener health: {s['health']}")
    print(f"  books equal to truth and usable: {len(tickers) - len(bad)}/{len(tickers)}")
    if bad:
        print(f"  MISMATCH: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
