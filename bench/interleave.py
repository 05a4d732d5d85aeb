"""Throughput of several pipelines measured side by side, so that a noisy machine slows them all alike.

A virtual machine's speed drifts by a factor of two over seconds (neighbours, frequency); rows measured one after
the other then compare a fast phase with a slow one. Here every row runs in a long-lived worker process (one per
interpreter: kalshi-sdk needs its own Python) holding its own pipeline; the recording is cut into chunks, and the
parent has each row process chunk 1, then each row chunk 2, and so on, so that all rows see the same phases. The
whole pass is made ``rounds`` times over fresh pipelines; a row's time is the sum, over chunks, of its best time for
that chunk. Each time is taken inside the worker around the feed loop only (no pipe, no timer per frame).

Worker protocol (one line each way, JSON): ``["reset", row]``, ``["run", row, chunk, chunks]`` -> elapsed ns,
``["digest", row]``, ``["quit"]``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["interleaved_throughput", "worker_main"]


def worker_main(recording: str, rows: list[str]) -> int:
    """Serve commands on stdin for ``rows`` over ``recording`` (``python -m bench.run --child worker ...``)."""
    from .pipelines import ROWS
    from .recording import load_frames
    from .stats import FRAME_SPACING_NS

    frames = load_frames(Path(recording))
    inputs = {name: ROWS[name].prepare(frames) for name in rows}
    pipelines: dict[str, Any] = {}
    clock = time.perf_counter_ns
    out = sys.stdout
    print(json.dumps({"ready": {name: len(items) for name, items in inputs.items()}}), file=out, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd[0]
        if op == "quit":
            break
        name = cmd[1]
        if op == "reset":
            pipelines.pop(name, None)
            gc.collect()
            pipelines[name] = ROWS[name].make()
            reply: Any = "ok"
        elif op == "run":
            chunk, chunks = cmd[2], cmd[3]
            items = inputs[name]
            start, end = len(items) * chunk // chunks, len(items) * (chunk + 1) // chunks
            feed = pipelines[name].feed
            part = items[start:end]
            recv = range(start * FRAME_SPACING_NS, end * FRAME_SPACING_NS, FRAME_SPACING_NS)
            t0 = clock()
            for item, recv_ns in zip(part, recv, strict=True):
                feed(item, recv_ns)
            reply = clock() - t0
        elif op == "digest":
            pipeline = pipelines[name]
            reply = pipeline.digest() if hasattr(pipeline, "digest") else None
        else:
            reply = {"error": f"unknown command {op}"}
        print(json.dumps(reply), file=out, flush=True)
    return 0


class _Worker:
    def __init__(self, python: str, recording: Path, rows: list[str], env: dict[str, str], cwd: Path) -> None:
        cmd = [python, "-m", "bench.run", "--child", "worker", str(recording), ",".join(rows)]
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.sizes: dict[str, int] = self._read()["ready"]

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"benchmark worker died:\n{err[-3000:]}")
        return json.loads(line)

    def ask(self, *cmd: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError, json.JSONDecodeError):
                self.ask("quit")
            self.proc.wait(timeout=30)


def interleaved_throughput(
    plan: dict[str, list[str]],
    recording: Path,
    env: dict[str, str],
    cwd: Path,
    *,
    chunks: int = 50,
    rounds: int = 2,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """``plan``: interpreter -> rows it runs. Every row runs in a worker process of its own (rows sharing a worker
    warm each other's parse caches: that flattered the pipeline by about 9%), with its ``Row.env`` added to ``env``.
    Returns per row: frames, total_ns (sum of per-chunk bests), ns_per_frame, frames_per_s, the per-round totals
    and the final books' digest."""
    from .pipelines import ROWS

    workers: dict[str, _Worker] = {}
    owner: dict[str, _Worker] = {}
    try:
        for python, rows in plan.items():
            for row in rows:
                worker = workers[row] = _Worker(python, recording, [row], {**env, **ROWS[row].env}, cwd)
                owner[row] = worker
        names = list(owner)
        best = {name: [float("inf")] * chunks for name in names}
        totals: dict[str, list[int]] = {name: [] for name in names}
        digests: dict[str, Any] = {}
        for r in range(rounds):
            t_round = time.perf_counter()
            for name in names:
                owner[name].ask("reset", name)
            spent = dict.fromkeys(names, 0)
            for chunk in range(chunks):
                # Rotate the order so that no row always runs right after another one.
                k = chunk % len(names)
                for name in names[k:] + names[:k]:
                    ns = int(owner[name].ask("run", name, chunk, chunks))
                    spent[name] += ns
                    best[name][chunk] = min(best[name][chunk], ns)
            for name in names:
                totals[name].append(spent[name])
                digests[name] = owner[name].ask("digest", name)
            if progress:
                print(f"  interleaved round {r + 1}/{rounds}: {time.perf_counter() - t_round:.0f} s", flush=True)
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            frames = owner[name].sizes[name]
            total = int(sum(best[name]))
            out[name] = {
                "frames": frames,
                "total_ns": total,
                "ns_per_frame": total / max(1, frames),
                "frames_per_s": frames * 1e9 / total if total else 0.0,
                "round_totals_ns": totals[name],
                "digest": digests.get(name),
            }
        return out
    finally:
        for worker in workers.values():
            worker.close()
