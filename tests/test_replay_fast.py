"""The fast replay (issue 17): ``run_replay`` feeds a one-frame-per-line recording from a plain loop, the log level
changes no state, and a replay loads none of the network stack. Each must give exactly what it gave before."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.cli.listener import main
from market_making_bot.feed.core import Core
from market_making_bot.kalshi.messages import Message
from market_making_bot.storage.journal import RecordingError
from market_making_bot.storage.replay import ReplayReport, iter_replay, run_replay

from .paths import FIXTURES

REPO = Path(__file__).resolve().parent.parent

Seen = list[tuple[int, str | None]]


def _lines(*frames: bytes) -> bytes:
    return b"\n".join(frames) + b"\n"


def _session() -> bytes:
    return (FIXTURES / "fixed_point_session.jsonl").read_bytes()


def _cut_gzip(data: bytes) -> bytes:
    packed = gzip.compress(data)
    return packed[: len(packed) * 2 // 3]  # the end of the stream (and its trailer) lost


def _recordings(tmp: Path) -> dict[str, list[Path]]:
    """Every layout the line loop takes or hands over, alone and after another file (the times run on)."""
    session = _session()
    bad = (FIXTURES / "bad_frames.jsonl").read_bytes()
    made: dict[str, bytes] = {
        "crlf_blank_lines.jsonl": b"\r\n\r\n" + session.replace(b"\n", b"\r\n\n"),
        "one_line_separated.txt": _lines(*[line + b"\n;;" for line in session.splitlines() if line.strip()]),
        "not_utf8_and_not_json.jsonl": _lines(session.splitlines()[0], b'{"type":"ok","id":1,"x":"\xff"}',
                                              b"not json", b"  ", *session.splitlines()[1:]),  # fmt: skip
        "session.jsonl.gz": gzip.compress(session),
        "cut.jsonl.gz": _cut_gzip(session * 40),
        "cut_at_once.jsonl.gz": gzip.compress(session)[:40],
        "nothing_readable.jsonl": _lines(b'{"type":', b"[1,", b"]"),
        "blank.jsonl": b"\n \n\r\n",
    }
    for name, data in made.items():
        (tmp / name).write_bytes(data)
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.is_file())
    sets = {p.name: [p] for p in fixtures}
    sets.update({name: [tmp / name] for name in made})
    sets["bad_frames"] = [FIXTURES / "bad_frames.jsonl"]
    assert bad  # the fixture exists
    sets["several"] = [tmp / "crlf_blank_lines.jsonl", FIXTURES / "recording_object.json", tmp / "cut.jsonl.gz",
                       FIXTURES / "bad_frames.jsonl", FIXTURES / "frames_separated.txt"]  # fmt: skip
    return sets


def _outcome(replay: Callable[[list[Path], Core, ReplayReport, Seen], int], paths: list[Path]) -> dict[str, Any]:
    core = Core(None)
    report = ReplayReport()
    seen: Seen = []
    try:
        result: Any = replay(paths, core, report, seen)
    except RecordingError as exc:
        result = f"RecordingError: {exc} (exit {exc.exit_code})"
    return {
        "result": result,
        "seen": seen,
        "summary": core.summary(),
        "counters": dict(core.counters),
        "report": (report.frames, report.bad_records, report.files),
    }


def _with_after(paths: list[Path], core: Core, report: ReplayReport, seen: Seen) -> int:
    def after(msg: Message | None, recv_ns: int) -> None:
        assert report.frames == len(seen) + 1  # counted before ``after`` is called, as iter_replay does
        seen.append((recv_ns, None if msg is None else msg.type))

    return run_replay(paths, core, report=report, after=after)


def _without_after(paths: list[Path], core: Core, report: ReplayReport, seen: Seen) -> int:
    return run_replay(paths, core, report=report)


def _iterated(paths: list[Path], core: Core, report: ReplayReport, seen: Seen) -> int:
    for msg, recv_ns in iter_replay(paths, core, report=report):
        seen.append((recv_ns, None if msg is None else msg.type))
    return len(seen)


def test_the_line_loop_feeds_exactly_what_the_generators_feed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checked = 0
    for name, paths in _recordings(tmp_path).items():
        caplog.clear()
        reference = _outcome(_iterated, paths)
        reference_log = [(r.levelno, r.getMessage()) for r in caplog.records]
        for replay in (_with_after, _without_after):
            caplog.clear()
            got = _outcome(replay, paths)
            if replay is _without_after:
                got["seen"] = reference["seen"]  # nothing to compare: no callback
            assert got == reference, (name, replay.__name__)
            assert [(r.levelno, r.getMessage()) for r in caplog.records] == reference_log, name
        checked += 1
    assert checked >= 15
    # The cases the comparison must cover did happen (the loop did not just agree on nothing).
    cut = _outcome(_iterated, [tmp_path / "cut.jsonl.gz"])
    assert cut["report"][1] == 1 and 0 < cut["report"][0] < 40 * 19
    assert "not a single frame could be read" in _outcome(_iterated, [tmp_path / "nothing_readable.jsonl"])["result"]
    odd = _outcome(_with_after, [tmp_path / "not_utf8_and_not_json.jsonl"])
    assert odd["counters"]["decode_errors"] >= 1 and odd["result"] == 21  # every non-blank line fed, bad ones too
    assert [t for t, _ in odd["seen"]] == [1_000_000 * n for n in range(21)]  # 1 ms apart from 0, blanks skipped


def test_an_exception_from_after_leaves_the_counts_right(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_session())
    report = ReplayReport()
    calls = 0

    def after(msg: Message | None, recv_ns: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyError("stop")

    core = Core(None)
    with pytest.raises(KeyError):
        run_replay([path], core, report=report, after=after)
    assert report.frames == 3 == core.counters["frames"]


def _replay_main(argv: list[str], caplog: pytest.LogCaptureFixture) -> tuple[int, dict[str, Any], list[str]]:
    caplog.clear()
    try:
        code = main(argv)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    summary = json.loads(Path(argv[argv.index("--summary-json") + 1]).read_text())
    problems = [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    return code, summary, problems


def test_a_replay_at_warning_ends_in_the_same_state_as_one_at_info_or_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fewer listeners at WARNING (no log line to write for a delta, a ticker, a trade) change nothing else: the
    same summary, and the same warnings and errors."""
    caplog.set_level(logging.DEBUG)
    files = [str(FIXTURES / "fixed_point_session.jsonl"), str(FIXTURES / "bad_frames.jsonl"),
             str(FIXTURES / "legacy_cents_session.jsonl")]  # fmt: skip
    results = []
    for level in ("WARNING", "INFO", "DEBUG", "ERROR"):
        out = tmp_path / f"{level}.json"
        results.append(_replay_main(["--replay", *files, "--log-level", level, "--summary-json", str(out)], caplog))
    codes, summaries, problems = zip(*results, strict=True)
    assert codes == (0, 0, 0, 0)
    assert summaries[0] == summaries[1] == summaries[2] == summaries[3]
    assert summaries[0]["counters"]["decode_errors"] > 0 and summaries[0]["counters"]["frames"] > 40
    assert problems[0] == problems[1] == problems[2] and any("[DECODE ERROR]" in p for p in problems[0])
    assert problems[3] == [p for p in problems[0] if p.startswith(("ERROR", "CRITICAL"))]


def test_a_replay_loads_no_network_stack(tmp_path: Path) -> None:
    """Startup of ``--replay``: the transports (asyncio, aiohttp, websockets, ssl), the REST models and the package
    metadata are not imported; the replay still works and writes its summary."""
    summary = tmp_path / "s.json"
    code = (
        "import sys\n"
        "from market_making_bot.cli.listener import main\n"
        f"code = main(['--replay', {str(FIXTURES / 'fixed_point_session.jsonl')!r}, '--log-level', 'WARNING',"
        f" '--summary-json', {str(summary)!r}])\n"
        "heavy = ['asyncio', 'aiohttp', 'websockets', 'picows', 'ssl', 'cryptography', 'importlib.metadata',\n"
        "         'market_making_bot.kalshi.rest', 'market_making_bot.feed.backfill',\n"
        "         'market_making_bot.runtime.transport']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert json.loads(summary.read_text())["counters"]["frames"] == 19
