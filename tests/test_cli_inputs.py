"""Bad command-line input (issue 12, items 3 and 11): every value, path and input file is checked before anything
starts; a bad one is ONE line naming the option or the file, with the documented exit code, never a traceback.

The table runs in-process (``main(argv)``: the same code as the process, fast); a few cases run as real
processes to prove that no traceback reaches the terminal. No case can connect anywhere: a check that let one
through would try the simulator or Kalshi and fail the expectations (and the listener cases have no ``.env``).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from market_making_bot import export
from market_making_bot import mm_ws_listener as listener
from market_making_bot.storage.journal import JournalWriter

ROOT = Path(__file__).resolve().parents[1]
SUB = '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}'
SNAP = (
    '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes_dollars_fp":[["0.4000","10.00"]],'
    '"no_dollars_fp":[["0.5500","5.00"]]}}'
)
T0 = 1_732_449_000_000_000_000


def _journal(path: Path, **kwargs: object) -> JournalWriter:
    with JournalWriter(path, **kwargs) as w:  # type: ignore[arg-type]
        w.connected(1, T0)
        w.frame_in(SUB.encode(), T0 + 1, 1)
        w.frame_in(SNAP.encode(), T0 + 2, 1)
    return w


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the inputs the table refers to (relative paths, as a user types them)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KALSHI_API_KEY_ID", raising=False)
    (tmp_path / "afile").write_text("a file, not a directory\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "existing.jsonl").write_text("an earlier journal\n")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "trash.jsonl").write_text("{not json\n{nor this\n")
    (tmp_path / "badgz.jsonl").write_bytes(b"\x1f\x8b" + b"\x00garbage" * 20)
    for session in ("20261201T193000Z", "20261201T200000Z"):  # two runs recorded under one name
        _journal(tmp_path / "two.jsonl", rotate="hourly", session=session)
    return tmp_path


def _unwritable_dir() -> str:
    if os.geteuid() != 0:
        return "/"  # not root: the root directory is not writable
    return "/sys"  # root may write almost anywhere, but not into sysfs


LISTENER: list[tuple[list[str], int, str]] = [
    # (argv, exit code, what stderr must name)
    (["--simulate", "--record", "afile/j.jsonl"], 2, "--record: afile is not a directory"),
    (["--simulate", "--record", "adir"], 2, "--record: adir is a directory"),
    (["--simulate", "--record", "missing/j.jsonl"], 2, "--record: directory missing does not exist"),
    (["--simulate", "--record", _unwritable_dir() + "/j.jsonl"], 2, "--record: cannot create files in"),
    (["--simulate", "--record", "existing.jsonl"], 2, "--record: existing.jsonl already exists"),
    (["--simulate", "--record", "adir", "--record-rotate", "1MB"], 2, "--record: adir is a directory"),
    (["--simulate", "--record", "missing/j.jsonl", "--record-rotate", "1MB"], 2, "--record: directory missing"),
    (["--simulate", "--record", "j.jsonl", "--record-rotate", "often"], 2, "--record-rotate: bad rotation"),
    (["--simulate", "--record-overwrite"], 2, "--record-overwrite needs --record"),
    (["--simulate", "--record", "j.jsonl", "--record-rotate", "1MB", "--record-overwrite"], 2, "--record-overwrite"),
    (["--simulate", "--summary-json", "missing/dir/s.json"], 2, "--summary-json: directory missing/dir does not"),
    (["--simulate", "--summary-json", "adir"], 2, "--summary-json: adir is a directory"),
    (["--simulate", "--summary-json", "afile/s.json"], 2, "--summary-json: afile is not a directory"),
    (["--simulate", "--log-file", "missing/x.log"], 2, "--log-file: directory missing does not exist"),
    (["--simulate", "--record", "o.jsonl", "--summary-json", "./o.jsonl"], 2, "--record and --summary-json name the"),
    (["--simulate", "--duration", "-1"], 2, "argument --duration"),
    (["--simulate", "--duration", "0"], 2, "argument --duration"),
    (["--simulate", "--duration", "nan"], 2, "argument --duration"),
    (["--simulate", "--duration", "inf"], 2, "argument --duration"),
    (["--simulate", "--duration", "soon"], 2, "argument --duration"),
    (["--simulate", "--sim-markets", "0"], 2, "argument --sim-markets"),
    (["--simulate", "--sim-markets", "two"], 2, "argument --sim-markets"),
    (["--simulate", "--sim-rate", "0"], 2, "argument --sim-rate"),
    (["--simulate", "--sim-rate", "nan"], 2, "argument --sim-rate"),
    (["--simulate", "--sim-rate", "1e300"], 2, "argument --sim-rate"),
    (["--simulate", "--seed", "x"], 2, "argument --seed"),
    (["--simulate", "--ping-interval", "0"], 2, "argument --ping-interval"),
    (["--simulate", "--ping-interval", "nan"], 2, "argument --ping-interval"),
    (["--simulate", "--ping-timeout", "-2"], 2, "argument --ping-timeout"),
    (["--simulate", "--ping-timeout", "inf"], 2, "argument --ping-timeout"),
    (["--simulate", "--dashboard-refresh", "nan"], 2, "argument --dashboard-refresh"),
    (["--simulate", "--dashboard-refresh", "11"], 2, "argument --dashboard-refresh"),
    (["--simulate", "--metrics-port", "70000"], 2, "argument --metrics-port"),
    (["--simulate", "--metrics-port", "http"], 2, "argument --metrics-port"),
    (["--simulate", "--speed", "10"], 2, "--speed is for --replay"),
    (["--simulate", "--ws-transport", "nope"], 2, "argument --ws-transport: invalid choice: 'nope'"),
    (["--replay", "x.jsonl", "--ws-transport", "aiohttp"], 2, "--ws-transport is for live runs"),
    (["--simulate", "--ws-url", "ws://127.0.0.1:1"], 2, "--ws-url is for live runs"),
    (["--with-private"], 2, "--ticker is required"),
    (["--ticker", ","], 2, "--ticker is required"),
    (["--replay", "existing.jsonl", "--simulate"], 2, "--replay and --simulate"),
    (["--replay", "existing.jsonl", "--duration", "5"], 2, "--duration is for live runs"),
    (["--replay", "existing.jsonl", "--record", "r.jsonl"], 2, "--record is for live runs"),
    (["--replay", "x.jsonl", "--speed", "nan"], 2, "argument --speed"),
    (["--replay", "x.jsonl", "--speed", "inf"], 2, "argument --speed"),
    (["--replay", "x.jsonl", "--speed", "0"], 2, "argument --speed"),
    (["--replay", "binary.bin"], 1, "binary.bin: binary data"),
    (["--replay", "adir"], 1, "adir: is a directory"),
    (["--replay", "missing.jsonl"], 1, "no such recording: missing.jsonl"),
    (["--replay", "trash.jsonl"], 1, "trash.jsonl: not a single frame could be read"),
    (["--replay", "badgz.jsonl"], 1, "badgz.jsonl: damaged gzip data"),
    (["--replay", "two.20261201T193000Z.jsonl", "binary.bin"], 1, "binary.bin"),  # checked before replaying
    (["--replay", "two.jsonl"], 2, "two.jsonl: 2 recorded sessions share this name"),
]

EXPORT: list[tuple[list[str], int, str]] = [
    (["binary.bin", "--to", "csv", "--out", "o"], 1, "binary.bin: binary data"),
    (["adir", "--to", "csv", "--out", "o"], 1, "adir: is a directory"),
    (["missing.jsonl", "--to", "csv", "--out", "o"], 1, "no such recording: missing.jsonl"),
    (["trash.jsonl", "--to", "csv", "--out", "o"], 1, "trash.jsonl: not a single frame could be read"),
    (["two.jsonl", "--to", "csv", "--out", "o"], 2, "2 recorded sessions"),
    (["two.20261201T193000Z.jsonl", "--to", "csv", "--out", "afile"], 2, "--out: afile exists and is not a dir"),
    (["two.20261201T193000Z.jsonl", "--to", "csv", "--out", "afile/o"], 2, "--out: cannot create directory"),
    (["two.20261201T193000Z.jsonl", "--to", "xml", "--out", "o"], 2, "argument --to"),
    (["two.20261201T193000Z.jsonl", "--to", "csv", "--out", "o", "--ticker", ","], 2, "--ticker"),
    (["two.20261201T193000Z.jsonl", "--to", "csv"], 2, "--out"),
]


def _call(main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's exits
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def _assert_one_clear_line(err: str, needle: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if "not a single frame" in needle:  # found while reading: the core's decode-error lines come first
        lines = lines[-1:]
    assert len(lines) == 1, lines  # ONE line, not argparse's usage block
    assert needle in lines[0]


@pytest.mark.parametrize(("argv", "code", "needle"), LISTENER, ids=[" ".join(a) for a, _, _ in LISTENER])
def test_listener_refuses_bad_input(
    place: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, needle: str
) -> None:
    got, err = _call(listener.main, argv, capsys)
    assert got == code, err
    _assert_one_clear_line(err, needle)
    assert not (place / "j.jsonl").exists() and not (place / "missing").exists()  # nothing was created


@pytest.mark.parametrize(("argv", "code", "needle"), EXPORT, ids=[" ".join(a) for a, _, _ in EXPORT])
def test_export_refuses_bad_input(
    place: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, needle: str
) -> None:
    got, err = _call(export.main, argv, capsys)
    assert got == code, err
    _assert_one_clear_line(err, needle)
    if code == 1 and "not a single frame" not in needle:
        assert not (place / "o").exists()  # inputs are checked before the output directory is made


@pytest.mark.parametrize(
    ("main", "argv", "library"),
    [
        (listener.main, ["--simulate", "--metrics-port", "0"], "prometheus_client"),
        (listener.main, ["--simulate", "--dashboard"], "rich"),
        (export.main, ["two.20261201T193000Z.jsonl", "--out", "o"], "pyarrow"),
    ],
)
def test_a_missing_optional_library_is_one_line_and_exit_3(
    place: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    main: Callable[[list[str]], int],
    argv: list[str],
    library: str,
) -> None:
    monkeypatch.setitem(sys.modules, library, None)  # as if not installed: find_spec says None, import fails
    got, err = _call(main, argv, capsys)
    assert got == 3
    _assert_one_clear_line(err, f"needs {library}")


HIDE = """import sys
for name in ("prometheus_client", "rich", "pyarrow"):
    sys.modules[name] = None
"""


@pytest.mark.parametrize(
    ("module", "argv", "code", "needle"),
    [
        ("mm_ws_listener", ["--simulate", "--record", "afile/j.jsonl"], 2, "--record"),
        ("mm_ws_listener", ["--simulate", "--summary-json", "missing/dir/s.json"], 2, "--summary-json"),
        ("mm_ws_listener", ["--simulate", "--duration", "nan"], 2, "--duration"),
        ("mm_ws_listener", ["--replay", "binary.bin"], 1, "binary.bin"),
        ("mm_ws_listener", ["--simulate", "--metrics-port", "9"], 3, "--metrics-port needs prometheus_client"),
        ("export", ["binary.bin", "--out", "o", "--to", "csv"], 1, "binary.bin"),
        ("export", ["existing.jsonl", "--out", "o"], 3, "needs pyarrow"),
    ],
)
def test_as_a_process_no_traceback(place: Path, module: str, argv: list[str], code: int, needle: str) -> None:
    (place / "hide").mkdir()
    (place / "hide" / "sitecustomize.py").write_text(HIDE)  # the optional libraries look uninstalled
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(place / "hide"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", f"market_making_bot.{module}", *argv],
        cwd=place, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == code, proc.stderr
    _assert_one_clear_line(proc.stderr, needle)


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    for main in (listener.main, export.main):
        with pytest.raises(SystemExit) as exc:
            main(["--version"])
        assert exc.value.code == 0
        out = capsys.readouterr().out.strip()
        assert out.startswith("market-making-bot ") and out.split()[1][0].isdigit()
    with pytest.raises(SystemExit):
        export.main(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--ticker KXA-1,KXB-2" in text and "exit codes:" in text
    with pytest.raises(SystemExit):
        listener.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for code in range(7):
        assert f"{code} " in text.split("exit codes:")[1]
    assert "--record-overwrite" in text and "<session>" in text


def test_summary_json_is_still_written_at_exit_after_the_up_front_check(place: Path) -> None:
    summary = place / "adir" / "s.json"
    assert listener.main(["--replay", str(place / "two.20261201T193000Z.jsonl"), "--summary-json", str(summary)]) == 0
    assert '"markets"' in summary.read_text()
    assert not [p for p in (place / "adir").iterdir() if p.name.startswith(".mm-write-probe")]  # probe removed


def test_replay_and_export_read_gzip_by_its_content(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = place / "plain.jsonl"
    _journal(plain)
    no_ext = place / "zipped.jsonl"  # gzip data without .gz in the name
    no_ext.write_bytes(gzip.compress(plain.read_bytes()))
    raw_capture = place / "capture.jsonl.gz"  # a gzipped raw capture (one frame per line), not a journal
    raw_capture.write_bytes(gzip.compress(f"{SUB}\n{SNAP}\n".encode()))
    summaries = []
    for path in (plain, no_ext, raw_capture):
        out = place / f"{path.name}.json"
        assert listener.main(["--replay", str(path), "--summary-json", str(out), "--log-level", "WARNING"]) == 0
        summaries.append(out.read_text())
    assert '"M"' in summaries[0] and summaries[0] == summaries[1]
    assert '"yes": [' in summaries[2]
    assert export.main([str(no_ext), "--to", "csv", "--out", str(place / "t")]) == 0
    assert "snapshots.csv: 2 rows" in capsys.readouterr().out


def test_export_accepts_comma_separated_tickers(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = place / "mn.jsonl"
    with JournalWriter(path) as w:
        w.connected(1, T0)
        w.frame_in(SUB, T0 + 1, 1)
        for i, ticker in enumerate(("M", "N", "O")):
            w.frame_in(SNAP.replace('"seq":1', f'"seq":{i + 1}').replace('"M"', f'"{ticker}"'), T0 + 2 + i, 1)
    assert export.main([str(path), "--to", "csv", "--out", "t", "--ticker", "M,N"]) == 0
    out = capsys.readouterr().out
    assert "snapshots.csv: 4 rows" in out and "top_of_book.csv: 2 rows" in out  # M and N, not O
    assert "None" not in out


def test_a_transport_that_is_not_installed_is_one_line_and_exit_2(
    place: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from market_making_bot.cli import listener as cli

    monkeypatch.setattr(cli, "available_transports", lambda: ["aiohttp", "websockets"])
    with pytest.raises(SystemExit) as info:
        listener.main(["--simulate", "--ws-transport", "picows"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ws-transport picows: the picows package is not installed" in err[0]
