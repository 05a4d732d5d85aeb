"""Timing and memory measurement shared by every benchmark in ``bench/``.

Each in-process benchmark gets a callable ``step(frame, recv_ns)`` and a list of input frames, and is measured in two
passes over fresh state:

* a throughput pass with no timer inside the loop (ns per frame and frames per second);
* a latency pass that reads ``time.perf_counter_ns`` around every call and keeps every sample (p50, p99, p99.9, max).

The timer itself costs a few tens of ns per call; it is measured (``timer_overhead_ns``) and subtracted from the
latency samples so that the percentiles are the cost of the step alone.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Step = Callable[[Any, int], object]
"""``step(frame, recv_ns)``: process one frame."""

FRAME_SPACING_NS = 1_000_000
"""Receive times handed to the pipelines: frame i is received at i ms (deterministic, as a replay does)."""


def rss_bytes() -> int:
    """Current resident set size of this process (``/proc/self/statm``; 0 where it does not exist)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def timer_overhead_ns(samples: int = 200_000) -> int:
    """Median cost of one ``perf_counter_ns()`` pair as used in the latency loop."""
    clock = time.perf_counter_ns
    out = array("q", bytes(8 * samples))
    for i in range(samples):
        t0 = clock()
        out[i] = clock() - t0
    return int(sorted(out)[samples // 2])


def percentile(sorted_samples: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted samples (q in 0..100)."""
    if not sorted_samples:
        return 0
    rank = max(1, min(len(sorted_samples), int(-(-q * len(sorted_samples) // 100))))
    return int(sorted_samples[rank - 1])


@dataclass
class Result:
    """Figures of one benchmark row; every time in ns."""

    name: str
    frames: int
    total_ns: int = 0
    ns_per_frame: float = 0.0
    frames_per_s: float = 0.0
    p50_ns: int = 0
    p99_ns: int = 0
    p999_ns: int = 0
    max_ns: int = 0
    rss_before: int = 0
    """RSS when the input was loaded and the pipeline built, before the first frame."""
    peak_rss: int = 0
    """Peak RSS of the process that ran the row (input included)."""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_throughput(step: Step, frames: Sequence[Any], recv_times: Sequence[int]) -> int:
    """Feed every frame once; returns the elapsed ns (no timer inside the loop)."""
    clock = time.perf_counter_ns
    t0 = clock()
    for frame, recv_ns in zip(frames, recv_times, strict=True):
        step(frame, recv_ns)
    return clock() - t0


def run_latency(step: Step, frames: Sequence[Any], recv_times: Sequence[int], overhead_ns: int) -> array[int]:
    """Feed every frame once, timing each call; returns the per-frame samples in ns, timer overhead removed."""
    clock = time.perf_counter_ns
    samples = array("q", bytes(8 * len(frames)))
    for i, (frame, recv_ns) in enumerate(zip(frames, recv_times, strict=True)):
        t0 = clock()
        step(frame, recv_ns)
        samples[i] = clock() - t0 - overhead_ns
    return samples


def measure(
    name: str,
    make_step: Callable[[], Step],
    frames: Sequence[Any],
    *,
    latency: bool = True,
    throughput: bool = True,
    overhead_ns: int | None = None,
    note: str = "",
) -> Result:
    """Throughput pass then latency pass, each on a fresh ``make_step()`` (fresh state) over the same frames.

    The cyclic garbage collector stays enabled, as in a real run: its pauses are part of the latency tail.
    """
    recv_times = range(0, len(frames) * FRAME_SPACING_NS, FRAME_SPACING_NS)
    result = Result(name=name, frames=len(frames), note=note, rss_before=rss_bytes())
    if throughput:
        gc.collect()
        step = make_step()
        total = run_throughput(step, frames, recv_times)
        result.total_ns = total
        result.ns_per_frame = total / max(1, len(frames))
        result.frames_per_s = len(frames) * 1e9 / total if total else 0.0
        del step
    if latency:
        if overhead_ns is None:
            overhead_ns = timer_overhead_ns()
        gc.collect()
        step = make_step()
        t0 = time.perf_counter_ns()
        samples = run_latency(step, frames, recv_times, overhead_ns)
        result.extra["latency_pass_ns_per_frame"] = (time.perf_counter_ns() - t0) / max(1, len(frames))
        samples = sorted(samples)
        del step
        result.p50_ns = percentile(samples, 50)
        result.p99_ns = percentile(samples, 99)
        result.p999_ns = percentile(samples, 99.9)
        result.max_ns = int(samples[-1]) if samples else 0
        result.extra["timer_overhead_ns"] = overhead_ns
    result.peak_rss = peak_rss_bytes()
    return result
