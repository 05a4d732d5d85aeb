"""Run every benchmark of issue 7 and print the figures: ``python -m bench.run`` from the repository root.

Over the same cached recording:

* in-process rows (``bench/pipelines.py``): decode floor, project decoder, book update only (project and baseline),
  the project's full pipeline, the baseline, and kalshi-sdk 22.4.0 (skipped, saying so, when it cannot be imported).
  Throughput (ns per frame, frames per second) is measured side by side in long-lived worker processes, chunk by
  chunk in rotation, best of ``--rounds`` per chunk (``bench/interleave.py``), so that the machine's drifting speed
  slows every row alike and the ratios hold; then each row runs alone in its own child process for the per-frame
  latency pass (p50/p99/p99.9, a timer around every frame) and its own peak RSS;
* whole-process rows: ``python -m market_making_bot.mm_ws_listener --replay FILE --log-level WARNING --summary-json P``
  as users run it, interpreter start and imports included, next to the baseline and kalshi-sdk replaying the same
  file in their own processes;
* memory: RSS with 1,000 markets, 50 levels per side;
* end to end over loopback (``bench/e2e.py``, alone: ``python -m bench.e2e``): a sender in another process (the
  recording paced at 50,000 frames/s and unpaced, the simulator as fast as it can), the listener in its own process
  once per installed WebSocket transport (websockets, aiohttp, picows): sustained rate, lag p50/p99 (split into
  before receipt and receipt to processed), CPU per frame, and the sender's own offered rate and CPU; the 50,000
  frames/s, p99 < 100 ms target is judged on the best transport.

Options: ``--frames N`` (default 1,000,000), ``--markets N`` (50), ``--quick`` (100,000 frames, fewer checks),
``--only ROW[,ROW]``, ``--sdk-python PATH`` (an interpreter that has kalshi-sdk, used for the kalshi-sdk rows when
this one does not), ``--json PATH``, ``--markdown PATH``. Results are also written to ``bench/.cache/last-run.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .recording import CACHE_DIR, ensure_recording, load_frames

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ("floor", "decode", "book", "book_baseline", "pipeline", "pipeline_compiled", "baseline", "sdk")
PROCESS_ROWS = ("startup", "replay_cli", "replay_cli_pure", "replay_baseline", "replay_sdk")
ALL_ROWS = (*IN_PROCESS, *PROCESS_ROWS, "memory", "e2e")
CALLGRIND_ROWS = ("floor", "decode", "pipeline", "pipeline_compiled", "baseline", "sdk")
CALLGRIND_WARMUP = 30_000
CALLGRIND_SAMPLE = 20_000
PURE = {"MARKET_MAKING_BOT_PURE": "1"}

# --------------------------------------------------------------------------------------------------------------
# Targets (issue 7), as ratios from one run.

TARGET_FLOOR_RATIO = 2.0
TARGET_BASELINE = 8.0
TARGET_SDK = 6.0
ACCEPT_BASELINE = 4.0
ACCEPT_SDK = 3.0
TARGET_P99_NS = 20_000
TARGET_E2E_RATE = 50_000
TARGET_E2E_P99_MS = 100
KEEPS_PACE = 0.99  # bench/e2e.py's: processing 99% of the rate offered counts as keeping it
TARGET_RSS_MB = 150
# Issue 17: the compiled pipeline against the floor, the baseline and kalshi-sdk; the pure one against the baseline;
# the whole-process replay against the baseline's and kalshi-sdk's.
TARGET_PURE_BASELINE = 2.5
TARGET_REPLAY_BASELINE = 4.0
TARGET_REPLAY_SDK = 3.0


def _env_for_children() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _compiled(python: str) -> bool:
    """The project's compiled hot path is built for ``python``."""
    code = "from market_making_bot.feed import hotpath; raise SystemExit(0 if hotpath.COMPILED else 1)"
    env = {**_env_for_children(), "MARKET_MAKING_BOT_PURE": "0"}
    return subprocess.run([python, "-c", code], env=env, cwd=REPO, capture_output=True).returncode == 0


def _can_import(python: str, module: str) -> bool:
    code = f"import {module}"
    proc = subprocess.run([python, "-c", code], env=_env_for_children(), cwd=REPO, capture_output=True)
    return proc.returncode == 0


def _python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    )
    return out.stdout.strip()


# --------------------------------------------------------------------------------------------------------------
# Children


def _child_in_process(row_name: str, recording: str, latency: bool, throughput: bool = True) -> dict[str, Any]:
    from .pipelines import ROWS
    from .stats import measure, rss_bytes

    row = ROWS[row_name]
    frames = load_frames(Path(recording))
    items = row.prepare(frames)
    if items is not frames:
        del frames
    holder: dict[str, Any] = {}

    def make() -> Any:
        holder["last"] = pipeline = row.make()
        return pipeline.feed

    rss_loaded = rss_bytes()
    result = measure(row_name, make, items, latency=latency, throughput=throughput)
    pipeline = holder.get("last") or row.make()
    result.extra["rss_input_loaded"] = rss_loaded
    result.extra["python"] = platform.python_version()
    if hasattr(pipeline, "digest"):
        result.extra["digest"] = pipeline.digest()
    if hasattr(pipeline, "counters"):
        result.extra["counters"] = pipeline.counters()
    return result.to_dict()


def _replay_feed(kind: str, path: str) -> int:
    """Body of the baseline / kalshi-sdk whole-process replays: read the JSONL file line by line and feed it."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    if kind == "baseline":
        from .baseline import BaselinePipeline

        feed = BaselinePipeline().feed
    else:
        from .sdk import SdkPipeline

        feed = SdkPipeline().feed
    n = 0
    recv_ns = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                feed(line, recv_ns)
                recv_ns += 1_000_000
                n += 1
    return n


def _child_sample(row_name: str, recording: str, frames: int) -> dict[str, Any]:
    """Feed the first ``frames`` frames of the recording to a fresh pipeline of the row (run under callgrind)."""
    from .pipelines import ROWS

    row = ROWS[row_name]
    items = row.prepare(load_frames(Path(recording), frames))
    feed = row.make().feed
    recv_ns = 0
    for item in items:
        recv_ns += 1_000_000
        feed(item, recv_ns)
    return {"frames": len(items)}


def _instructions(python: str, row_name: str, recording: Path, env: dict[str, str]) -> float | None:
    """Instructions per frame of a row (callgrind, deterministic): the difference between a run that feeds
    ``CALLGRIND_WARMUP + CALLGRIND_SAMPLE`` frames and one that feeds the warm-up only, divided by the sample. The
    imports, the loading and the warm-up cancel out. ``None`` without valgrind."""
    import re
    import shutil

    if shutil.which("valgrind") is None:
        return None
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (CALLGRIND_WARMUP, CALLGRIND_WARMUP + CALLGRIND_SAMPLE):
            out = Path(tmp) / f"cg.{n}"
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                python,
                "-m",
                "bench.run",
                "--child",
                "sample",
                row_name,
                str(recording),
                str(n),
            ]
            proc = subprocess.run(
                cmd, env={**_env_for_children(), **env}, cwd=REPO, capture_output=True, text=True, timeout=1800
            )
            found = re.search(r"Collected : (\d+)", proc.stderr)
            if proc.returncode != 0 or not found:
                raise RuntimeError(f"callgrind of {row_name} failed:\n{proc.stderr[-2000:]}")
            counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / CALLGRIND_SAMPLE


def _child_memory(markets: int, levels: int, kind: str) -> dict[str, Any]:
    import gc

    from .stats import peak_rss_bytes, rss_bytes
    from .synth import snapshot_frames

    frames = snapshot_frames(markets, levels)
    text_bytes = sum(len(f) for f in frames)
    if kind == "pipeline":
        import market_making_bot.cli.listener  # noqa: F401  - what the listener process imports
        from market_making_bot.feed.core import Core
        from market_making_bot.views.output import setup_logging

        setup_logging("WARNING")
        target: Any = Core()
    elif kind == "baseline":
        from .baseline import BaselinePipeline

        target = BaselinePipeline()
    else:
        from .sdk import SdkPipeline

        target = SdkPipeline()
    gc.collect()
    rss_before = rss_bytes()
    recv = 0
    for frame in frames:
        target.feed(frame, recv)
        recv += 1_000_000
    del frames
    gc.collect()
    rss_after = rss_bytes()
    if kind == "pipeline":
        count = len(target.state.markets)
        levels_total = sum(len(m.book.yes) + len(m.book.no) for m in target.state.markets.values())
    elif kind == "baseline":
        count = len(target.markets)
        levels_total = sum(len(m.book.yes) + len(m.book.no) for m in target.markets.values())
    else:
        books = target.books._books
        count = len(books)
        levels_total = sum(len(b.yes) + len(b.no) for b in books.values())
    return {
        "name": f"memory_{kind}",
        "markets": count,
        "levels": levels_total,
        "snapshot_text_bytes": text_bytes,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "state_bytes": rss_after - rss_before,
        "peak_rss": peak_rss_bytes(),
        "python": platform.python_version(),
    }


def _run_child(python: str, args: list[str], timeout: float = 900, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [python, "-m", "bench.run", "--child", *args]
    full_env = {**_env_for_children(), **(env or {})}
    proc = subprocess.run(cmd, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _timed_process(cmd: list[str], timeout: float = 900, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall time, exit code and peak RSS (from wait4) of that process."""
    t0 = time.perf_counter_ns()
    full_env = {**_env_for_children(), **(env or {})}
    proc = subprocess.Popen(cmd, env=full_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter_ns() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.communicate(timeout=timeout)
    return {
        "wall_ns": wall,
        "returncode": proc.returncode,
        "peak_rss": usage.ru_maxrss * 1024,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "stdout": out[-2000:],
        "stderr": err[-2000:],
    }


# --------------------------------------------------------------------------------------------------------------
# Report


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}"


def _fmt_row(r: dict[str, Any]) -> str:
    lat = f"{_us(r['p50_ns']):>7} {_us(r['p99_ns']):>7} {_us(r['p999_ns']):>8}" if r.get("p50_ns") else " " * 24
    ins = r.get("instructions_per_frame")
    return (
        f"{r['name']:<17} {r['frames']:>9,} {r['ns_per_frame']:>9.0f} {r['frames_per_s']:>11,.0f} {lat}"
        f" {_mb(r['peak_rss']):>8} {f'{ins:,.0f}' if ins else '':>9}  {r.get('extra', {}).get('python', '')}"
    )


def _verdict(value: float, target: float, accept: float | None = None, higher_is_better: bool = True) -> str:
    def ok(limit: float) -> bool:
        return value >= limit if higher_is_better else value <= limit

    if ok(target):
        return "MET"
    if accept is not None and ok(accept):
        return "MISSED target, above accepted floor"
    return "MISSED"


def _describe_e2e(row: dict[str, Any]) -> str:
    from .e2e import _describe

    return _describe(row)


def _summary(results: dict[str, Any]) -> list[str]:
    rows = results["rows"]
    lines: list[str] = []

    def ns(name: str) -> float | None:
        r = rows.get(name)
        return r["ns_per_frame"] if r and "ns_per_frame" in r else None

    pure, compiled = ns("pipeline"), ns("pipeline_compiled")
    floor, base, sdk = ns("floor"), ns("baseline"), ns("sdk")
    checks: list[tuple[str, str, str]] = []
    if pure is None and compiled is None:  # the other targets (replay, memory, loopback) are still judged
        lines.append("  (no pipeline row: its ratios not computed)")
    if compiled is not None:
        if floor:
            ratio = compiled / floor
            checks.append(("compiled pipeline / decode floor", f"{ratio:.2f}x", _verdict(ratio, 2.0, None, False)))
        if base:
            ratio = base / compiled
            checks.append(("baseline / compiled pipeline", f"{ratio:.2f}x", _verdict(ratio, TARGET_BASELINE)))
        if sdk:
            ratio = sdk / compiled
            checks.append(("kalshi-sdk / compiled pipeline", f"{ratio:.2f}x", _verdict(ratio, TARGET_SDK)))
        p99 = rows["pipeline_compiled"]["p99_ns"]
        checks.append(("compiled pipeline p99 per frame", f"{_us(p99)} us", _verdict(p99, TARGET_P99_NS, None, False)))
    elif "pipeline_compiled" in rows:
        checks.append(("compiled pipeline", "not measured", rows["pipeline_compiled"].get("skipped", "")))
    if pure is not None:
        if floor:
            checks.append(("pure pipeline / decode floor", f"{pure / floor:.2f}x", "(no target)"))
        if base:
            ratio = base / pure
            checks.append(("baseline / pure pipeline", f"{ratio:.2f}x", _verdict(ratio, TARGET_PURE_BASELINE)))
        if sdk:
            checks.append(("kalshi-sdk / pure pipeline", f"{sdk / pure:.2f}x", "(no target)"))
    elif rows.get("sdk"):
        checks.append(("kalshi-sdk", "not measured", rows["sdk"].get("skipped", "")))
    for cli_name, label in (("replay_cli", "--replay"), ("replay_cli_pure", "--replay, pure")):
        cli = rows.get(cli_name)
        if not cli or "frames_per_s" not in cli:
            continue
        rb = rows.get("replay_baseline")
        if rb and "frames_per_s" in rb:
            ratio = cli["frames_per_s"] / rb["frames_per_s"]
            target = TARGET_REPLAY_BASELINE if cli_name == "replay_cli" else None
            verdict = _verdict(ratio, target) if target else "(no target)"
            checks.append((f"whole process: {label} vs baseline replay", f"{ratio:.2f}x", verdict))
        rs = rows.get("replay_sdk")
        if rs and "frames_per_s" in rs:
            ratio = cli["frames_per_s"] / rs["frames_per_s"]
            verdict = _verdict(ratio, TARGET_REPLAY_SDK) if cli_name == "replay_cli" else "(no target)"
            checks.append((f"whole process: {label} vs kalshi-sdk replay", f"{ratio:.2f}x", verdict))
    mem = rows.get("memory")
    if mem and "rss_after" in mem:
        checks.append(
            (
                f"RSS at {mem['markets']:,} markets x 50 levels/side",
                _mb(mem["rss_after"]),
                _verdict(mem["rss_after"] / 1e6, TARGET_RSS_MB, None, False),
            )
        )
    e2e = rows.get("e2e")
    if e2e and "rate" in e2e:
        # Judged on the best socket layer (bench/e2e.py: the one that keeps the pace with the lowest p99); a row
        # keeps the pace when it processes 99% of the 50,000 frames/s offered or more.
        best = e2e.get("best_transport", "websockets")
        checks.append(
            (
                f"loopback at 50,000/s, best ({best}): rate",
                f"{e2e['rate']:,.0f} frames/s",
                _verdict(e2e["rate"], TARGET_E2E_RATE * KEEPS_PACE),
            )
        )
        checks.append(
            (
                f"loopback at 50,000/s, best ({best}): lag p99",
                f"{e2e['lag_p99_ms']:.1f} ms",
                _verdict(e2e["lag_p99_ms"], TARGET_E2E_P99_MS, None, False),
            )
        )
        for name, t in (e2e.get("transports") or {}).items():
            if name != best and t.get("rate") is not None:
                value = f"{t['rate']:,.0f}/s p99 {t['lag_p99_ms']:.0f} ms"
                checks.append((f"loopback at 50,000/s over {name}", value, "(no target)"))
    elif e2e:
        checks.append(("loopback end to end", "not measured", e2e.get("skipped", "")))
    width = max((len(c[0]) for c in checks), default=0)
    for name, value, verdict in checks:
        lines.append(f"  {name:<{width}}  {value:>14}  {verdict}")
    return lines


def _print_report(results: dict[str, Any]) -> None:
    rows = results["rows"]
    print()
    print(f"Machine: {results['machine']}")
    rec = results["recording"]
    print(
        f"Recording: {rec['frames']:,} frames over {rec['markets']} markets, {rec['bytes'] / 1e6:.0f} MB, "
        f"source: {rec['source']} ({rec['path']})"
    )
    print()
    print(
        f"{'row':<17} {'frames':>9} {'ns/frame':>9} {'frames/s':>11} {'p50 us':>7} {'p99 us':>7} {'p99.9 us':>8}"
        f" {'peak RSS':>8} {'instr/fr':>9}  python"
    )
    for name in IN_PROCESS:
        r = rows.get(name)
        if r is None:
            continue
        if "skipped" in r:
            print(f"{name:<17} skipped: {r['skipped']}")
        else:
            print(_fmt_row(r))
    print()
    for name in PROCESS_ROWS:
        r = rows.get(name)
        if r is None:
            continue
        if "skipped" in r:
            print(f"{name:<16} skipped: {r['skipped']}")
        elif name == "startup":
            print(
                f"{name:<16} interpreter start + import of the listener: {r['wall_ns'] / 1e6:.0f} ms wall, "
                f"peak RSS {_mb(r['peak_rss'])}"
            )
        else:
            print(
                f"{name:<16} {r['frames']:,} frames in {r['wall_ns'] / 1e9:.2f} s wall = {r['frames_per_s']:,.0f} "
                f"frames/s ({r['wall_ns'] / r['frames']:.0f} ns/frame), peak RSS {_mb(r['peak_rss'])}"
                f"{', python ' + r['python'] if r.get('python') else ''}"
            )
    mem = rows.get("memory")
    if mem:
        print()
        if "skipped" in mem:
            print(f"memory: skipped: {mem['skipped']}")
        else:
            for key in ("memory", "memory_baseline", "memory_sdk"):
                m = rows.get(key)
                if m and "rss_after" in m:
                    print(
                        f"{key:<16} {m['markets']:,} markets, {m['levels']:,} levels: process RSS {_mb(m['rss_after'])}"
                        f" (state {_mb(m['state_bytes'])}, before {_mb(m['rss_before'])})"
                    )
    e2e = rows.get("e2e")
    if e2e:
        print()
        if "skipped" in e2e:
            print(f"e2e: skipped: {e2e['skipped']}")
        else:
            print("Loopback (bench/e2e.py), each socket layer in its own listener process:")
            for key, v in e2e.items():
                if isinstance(v, dict) and "rate" in v:
                    print(f"  {key}: {_describe_e2e(v)}")
    digests = {
        n: rows[n]["extra"]["digest"]
        for n in ("pipeline", "pipeline_compiled", "baseline", "sdk", "book", "book_baseline")
        if n in rows and "digest" in rows[n].get("extra", {})
    }
    if digests:
        same = len(set(digests.values())) == 1
        print()
        print(f"Final books identical across rows: {'yes' if same else 'NO'} {digests}")
    print()
    print("Targets (issues 7 and 17):")
    for line in _summary(results):
        print(line)
    print(f"\nTotal benchmark time: {results['elapsed_s']:.0f} s")


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table, for the README's performance section."""
    rows = results["rows"]
    out = [
        "| row | frames | ns/frame | frames/s | p50 µs | p99 µs | p99.9 µs | peak RSS | instructions/frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    from .pipelines import ROWS

    for name in IN_PROCESS:
        r = rows.get(name)
        if r is None:
            continue
        title = ROWS[name].title
        if "skipped" in r:
            out.append(f"| {title} | not measured: {r['skipped']} | | | | | | | |")
            continue
        ins = r.get("instructions_per_frame")
        out.append(
            f"| {title} | {r['frames']:,} | {r['ns_per_frame']:,.0f} | {r['frames_per_s']:,.0f} | {_us(r['p50_ns'])} | "
            f"{_us(r['p99_ns'])} | {_us(r['p999_ns'])} | {_mb(r['peak_rss'])} | {f'{ins:,.0f}' if ins else ''} |"
        )
    for name in ("replay_cli", "replay_cli_pure", "replay_baseline", "replay_sdk"):
        r = rows.get(name)
        if r is None or "skipped" in r:
            continue
        out.append(
            f"| {r['title']} (whole process) | {r['frames']:,} | {r['wall_ns'] / r['frames']:,.0f} | "
            f"{r['frames_per_s']:,.0f} | | | | {_mb(r['peak_rss'])} | |"
        )
    e2e = rows.get("e2e") or {}
    senders = [v for v in e2e.values() if isinstance(v, dict) and "rate" in v]
    mem = [(k, rows[k]) for k in ("memory", "memory_baseline", "memory_sdk") if "rss_after" in rows.get(k, {})]
    if senders or mem or "startup" in rows:
        out.append("")
        out.append("| measurement | result |")
        out.append("|---|---|")
        if "startup" in rows and "wall_ns" in rows["startup"]:
            out.append(f"| interpreter start + import of the listener | {rows['startup']['wall_ns'] / 1e6:.0f} ms |")
        for v in senders:
            cpu = f", CPU {v['cpu_us_per_frame']:.1f} µs/frame" if "cpu_us_per_frame" in v else ""
            sock = f" (before the client got it: {v['socket_lag_p99_ms']:.1f})" if "socket_lag_p99_ms" in v else ""
            sender = v.get("sender_stats") or {}
            offered = (
                f"; sender offered {sender['offered_rate']:,.0f}/s, {sender['cpu_us_per_frame']:.1f} µs/frame"
                if "offered_rate" in sender
                else ""
            )
            out.append(
                f"| loopback, {v['sender']}, over {v.get('transport', 'websockets')} | {v['rate']:,.0f} frames/s "
                f"processed, lag p50 {v['lag_p50_ms']:.1f} ms, p99 {v['lag_p99_ms']:.1f} ms{sock}{cpu}{offered} |"
            )
        names = {"memory": "project", "memory_baseline": "baseline", "memory_sdk": "kalshi-sdk"}
        for key, m in mem:
            out.append(
                f"| RSS, {names[key]}, {m['markets']:,} markets x {m['levels'] // max(1, m['markets']) // 2} levels "
                f"a side | {_mb(m['rss_after'])} (state {_mb(m['state_bytes'])}) |"
            )
    out.append("")
    out.append("| target | measured | verdict |")
    out.append("|---|---:|---|")
    for line in _summary(results):
        parts = [p for p in line.strip().split("  ") if p.strip()]
        if len(parts) >= 3:
            out.append(f"| {parts[0].strip()} | {parts[1].strip()} | {' '.join(p.strip() for p in parts[2:])} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------------
# Main


def _machine() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{cpu or platform.processor()}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100,000 frames, no whole-process kalshi-sdk replay")
    parser.add_argument("--only", help="comma-separated rows: " + ",".join(ALL_ROWS))
    parser.add_argument("--skip", help="comma-separated rows to leave out")
    parser.add_argument("--source", choices=("auto", "simulator", "synthetic"), default="auto")
    parser.add_argument("--sdk-python", help="interpreter with kalshi-sdk installed (for the kalshi-sdk rows)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--markdown", help="write the Markdown table here")
    parser.add_argument("--memory-markets", type=int, default=1000)
    parser.add_argument("--memory-levels", type=int, default=50)
    parser.add_argument("--e2e-seconds", type=float, default=12.0)
    parser.add_argument("--chunks", type=int, default=50, help="chunks of the interleaved throughput pass")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the interleaved throughput pass")
    parser.add_argument("--no-callgrind", action="store_true", help="leave out the instruction counts")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "row":
            out = _child_in_process(rest[0], rest[1], rest[2] == "latency", rest[3:4] != ["latency-only"])
        elif kind == "worker":
            from .interleave import worker_main

            return worker_main(rest[0], rest[1].split(","))
        elif kind == "memory":
            out = _child_memory(int(rest[0]), int(rest[1]), rest[2])
        elif kind == "sample":
            out = _child_sample(rest[0], rest[1], int(rest[2]))
        elif kind == "e2e-listen":
            from .e2e import listen_main

            out = listen_main(
                rest[0],
                float(rest[1]),
                rest[2],
                rest[3] if len(rest) > 3 else None,
                rest[4] if len(rest) > 4 else "websockets",
            )
        elif kind == "replay":
            t0 = time.perf_counter_ns()
            n = _replay_feed(rest[0], rest[1])
            out = {"frames": n, "loop_ns": time.perf_counter_ns() - t0, "python": platform.python_version()}
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(out))
        return 0

    if args.quick:
        args.frames = min(args.frames, 100_000)
    selected = list(ALL_ROWS)
    if args.only:
        selected = [r.strip() for r in args.only.split(",") if r.strip()]
    if args.skip:
        skip = {r.strip() for r in args.skip.split(",")}
        selected = [r for r in selected if r not in skip]
    started = time.perf_counter()
    python = sys.executable
    have_core = _can_import(python, "market_making_bot.feed.core")
    have_compiled = have_core and _compiled(python)
    sdk_python: str | None = python if _can_import(python, "kalshi.ws.orderbook") else None
    sdk_note = ""
    if (
        sdk_python is None
        and args.sdk_python
        and _can_import(args.sdk_python, "kalshi.ws.orderbook")
        and _can_import(args.sdk_python, "msgspec")
    ):
        sdk_python = args.sdk_python
        sdk_note = f"run by {args.sdk_python} (Python {_python_version(args.sdk_python)})"
    print(
        f"Python {platform.python_version()} ({python}); project core importable: {have_core}; kalshi-sdk: "
        f"{'yes' if sdk_python else 'not installed'} {sdk_note}",
        flush=True,
    )

    t0 = time.perf_counter()
    path, meta = ensure_recording(args.frames, args.markets, args.seed, args.source)
    meta["path"] = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
    print(f"Recording ready in {time.perf_counter() - t0:.1f} s: {meta}", flush=True)

    results: dict[str, Any] = {
        "machine": _machine(),
        "python": platform.python_version(),
        "recording": meta,
        "rows": {},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = results["rows"]
    from .pipelines import ROWS

    # In-process rows: throughput side by side (bench/interleave.py), then each row alone in its own process for
    # the per-frame latency pass and its peak RSS.
    plan: dict[str, list[str]] = {}
    for name in IN_PROCESS:
        if name not in selected:
            continue
        row = ROWS[name]
        if row.needs in ("core", "compiled") and not have_core:
            rows[name] = {"skipped": "market_making_bot core not importable"}
        elif row.needs == "compiled" and not have_compiled:
            rows[name] = {"skipped": "the compiled hot path is not built (no C compiler at install time)"}
        elif row.needs == "sdk" and sdk_python is None:
            rows[name] = {
                "skipped": "kalshi-sdk is not installed (pip install kalshi-sdk==22.4.0, Python >= 3.12; "
                "or pass --sdk-python)"
            }
        else:
            interp = sdk_python if row.needs == "sdk" and sdk_python else python
            plan.setdefault(interp, []).append(name)
    if plan:
        from .interleave import interleaved_throughput

        t1 = time.perf_counter()
        tp = interleaved_throughput(plan, path, _env_for_children(), REPO, chunks=args.chunks, rounds=args.rounds)
        print(f"  interleaved throughput: {time.perf_counter() - t1:.0f} s", flush=True)
        for interp, names in plan.items():
            for name in names:
                t1 = time.perf_counter()
                r = _run_child(interp, ["row", name, str(path), "latency", "latency-only"], env=ROWS[name].env)
                r.update({k: tp[name][k] for k in ("frames", "total_ns", "ns_per_frame", "frames_per_s")})
                r["extra"]["round_totals_ns"] = tp[name]["round_totals_ns"]
                if tp[name]["digest"] is not None:
                    r["extra"]["digest"] = tp[name]["digest"]
                rows[name] = r
                print(
                    f"  {name}: {r['ns_per_frame']:.0f} ns/frame, p99 {r['p99_ns'] / 1000:.1f} us "
                    f"({time.perf_counter() - t1:.0f} s)",
                    flush=True,
                )

        if not args.no_callgrind:
            for interp, names in plan.items():
                for name in names:
                    if name in CALLGRIND_ROWS:
                        t1 = time.perf_counter()
                        count = _instructions(interp, name, path, ROWS[name].env)
                        rows[name]["instructions_per_frame"] = count
                        if count is not None:
                            print(
                                f"  {name}: {count:,.0f} instructions/frame (callgrind, {CALLGRIND_SAMPLE:,} frames "
                                f"after {CALLGRIND_WARMUP:,}; {time.perf_counter() - t1:.0f} s)",
                                flush=True,
                            )

    if "startup" in selected and have_core:
        rows["startup"] = _timed_process([python, "-c", "import market_making_bot.cli.listener"])
    for replay_row, replay_env in (("replay_cli", {"MARKET_MAKING_BOT_PURE": "0"}), ("replay_cli_pure", PURE)):
        if replay_row not in selected or not have_core:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / "summary.json"
            cmd = [
                python,
                "-m",
                "market_making_bot.cli.listener",
                "--replay",
                str(path),
                "--log-level",
                "WARNING",
                "--summary-json",
                str(summary),
            ]
            r = _timed_process(cmd, env=replay_env)
            if r["returncode"] != 0:
                raise RuntimeError(f"replay failed: {r['stderr']}")
            doc = json.loads(summary.read_text())
            r["frames"] = doc["counters"]["frames"]
            r["markets"] = len(doc["markets"])
            r["frames_per_s"] = r["frames"] * 1e9 / r["wall_ns"]
            path_name = "pure Python" if replay_row == "replay_cli_pure" or not have_compiled else "compiled"
            r["title"] = f"mm_ws_listener --replay --log-level WARNING --summary-json, {path_name}"
            rows[replay_row] = r
            print(f"  {replay_row}: {r['frames_per_s']:,.0f} frames/s whole process", flush=True)
    for name, kind, interp in (("replay_baseline", "baseline", python), ("replay_sdk", "sdk", sdk_python)):
        if name not in selected:
            continue
        if interp is None:
            rows[name] = {"skipped": "kalshi-sdk is not installed"}
            continue
        if args.quick and kind == "sdk":
            continue
        r = _timed_process([interp, "-m", "bench.run", "--child", "replay", kind, str(path)])
        if r["returncode"] != 0:
            raise RuntimeError(f"{name} failed: {r['stderr']}")
        child = json.loads(r["stdout"].strip().splitlines()[-1])
        r["frames"] = child["frames"]
        r["python"] = child["python"]
        r["frames_per_s"] = r["frames"] * 1e9 / r["wall_ns"]
        r["title"] = "baseline replay" if kind == "baseline" else "kalshi-sdk replay"
        rows[name] = r
        print(f"  {name}: {r['frames_per_s']:,.0f} frames/s whole process", flush=True)

    if "memory" in selected:
        if not have_core:
            rows["memory"] = {"skipped": "market_making_bot core not importable"}
        else:
            m_args = [str(args.memory_markets), str(args.memory_levels)]
            rows["memory"] = _run_child(python, ["memory", *m_args, "pipeline"])
            rows["memory_baseline"] = _run_child(python, ["memory", *m_args, "baseline"])
            if sdk_python:
                rows["memory_sdk"] = _run_child(sdk_python, ["memory", *m_args, "sdk"])
    if "e2e" in selected:
        from .e2e import run_e2e

        rows["e2e"] = run_e2e(python, REPO, _env_for_children(), args.e2e_seconds, path, args.markets)

    results["elapsed_s"] = time.perf_counter() - started
    _print_report(results)
    CACHE_DIR.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    (CACHE_DIR / "last-run.json").write_text(text)
    if args.json:
        Path(args.json).write_text(text)
    if args.markdown:
        Path(args.markdown).write_text(markdown(results))
    return 0


def _markdown_from_json(path: str) -> None:
    """``python -c 'from bench.run import _markdown_from_json as m; m("RESULTS.json")'``: print the table again."""
    print(markdown(json.loads(Path(path).read_text())))


if __name__ == "__main__":
    raise SystemExit(main())
