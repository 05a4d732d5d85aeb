from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from market_making_bot.cli.listener import build_arg_parser, main, parse_tickers
from market_making_bot.feed.core import Core
from market_making_bot.storage.journal import JournalWriter, iter_journal
from market_making_bot.storage.replay import ReplayReport, iter_recording, run_replay

from .paths import FIXTURES


def frames_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(text) for _, text in iter_recording(path)]


def test_all_recording_formats_yield_the_same_frames() -> None:
    jsonl = [
        json.loads(line) for line in (FIXTURES / "fixed_point_session.jsonl").read_text().splitlines() if line.strip()
    ]
    expected = jsonl[:11]
    for name in ("recording_object.json", "frames_array.json", "frames_separated.txt"):
        assert frames_of(FIXTURES / name) == expected, name
    assert frames_of(FIXTURES / "fixed_point_session.jsonl") == jsonl  # blank lines skipped


def test_recording_object_gives_receive_times() -> None:
    times = [recv_ns for recv_ns, _ in iter_recording(FIXTURES / "recording_object.json")]
    assert times[:2] == [1786085188400 * 1_000_000, 1786085188410 * 1_000_000]
    assert all(recv_ns is not None for recv_ns in times)
    assert {recv_ns for recv_ns, _ in iter_recording(FIXTURES / "frames_array.json")} == {None}


def test_multiline_separated_seed_frames() -> None:
    types = [f["type"] for f in frames_of(FIXTURES / "seed_readme_frames.txt")]
    assert types == ["orderbook_snapshot", "orderbook_delta", "ticker", "trade", "fill"]


def test_other_layouts(tmp_path: Path) -> None:
    one_line_object = tmp_path / "a.json"
    one_line_object.write_text(json.dumps({"frames": [{"received_ms": 5, "frame": '{"type":"ok"}'}]}))
    assert list(iter_recording(one_line_object)) == [(5_000_000, '{"type":"ok"}')]
    one_line_separated = tmp_path / "b.txt"
    one_line_separated.write_text('{"type":"ok","id":1}\n;;\n{"type":"ok","id":2}\n;;\n')
    assert [f["id"] for f in frames_of(one_line_separated)] == [1, 2]
    damaged_first_line = tmp_path / "c.jsonl"
    damaged_first_line.write_text('{"type":"ok",\n{"type":"ok","id":2}\n')
    assert [text for _, text in iter_recording(damaged_first_line)] == ['{"type":"ok",', '{"type":"ok","id":2}']
    empty = tmp_path / "d.jsonl"
    empty.write_text("\n\n")
    assert list(iter_recording(empty)) == []


def test_same_result_from_every_format() -> None:
    summaries = []
    for name in ("recording_object.json", "frames_array.json", "frames_separated.txt"):
        core = Core()
        run_replay([FIXTURES / name], core)
        summaries.append({k: v for k, v in core.summary().items() if k != "health"})
    assert summaries[0] == summaries[1] == summaries[2]


def test_replay_times_are_deterministic() -> None:
    cores = [Core(), Core()]
    for core in cores:
        run_replay([FIXTURES / "fixed_point_session.jsonl"], core)
    spreads = [core.state.markets["KXTEST-26DEC31-A"].spread for core in cores]
    assert spreads[0].mean() == spreads[1].mean() is not None
    assert spreads[0].duration_ns > 0


# -- command line ------------------------------------------------------------------------------------------------


def test_cli_replay_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    code = main(
        ["--replay", str(FIXTURES / "fixed_point_session.jsonl"), "--summary-json", str(out), "--log-level", "warning"]
    )
    assert code == 0
    summary = json.loads(out.read_text())
    assert set(summary) == {"markets", "counters", "health"}
    market = summary["markets"]["KXTEST-26DEC31-A"]
    assert market["best_yes_bid"] == "0.4520" and market["spread"] == "0.0180" and market["position"] == "2.50"
    assert summary["counters"]["frames"] == 19 and summary["counters"]["decode_errors"] == 0


def test_cli_ticker_filter_and_several_files(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    files = [str(FIXTURES / "fixed_point_session.jsonl"), str(FIXTURES / "legacy_cents_session.jsonl")]
    code = main(["--replay", *files, "--ticker", "KXTEST-26DEC31-B,KXLEGACY-25MAY23-X", "--summary-json", str(out)])
    assert code == 0
    assert sorted(json.loads(out.read_text())["markets"]) == ["KXLEGACY-25MAY23-X", "KXTEST-26DEC31-B"]


def test_cli_without_ticker_explains_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--ticker is required" in err and "--simulate" in err and "--replay" in err


def test_cli_missing_file_returns_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--replay", str(tmp_path / "nope.jsonl"), "--log-level", "ERROR"]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def test_arg_parser_and_ticker_parsing() -> None:
    args = build_arg_parser().parse_args(
        ["--replay", "a", "b", "--ticker", "X", "--ticker", "Y, Z", "--log-level", "debug"]
    )
    assert args.replay == ["a", "b"] and args.log_level == "DEBUG"
    assert parse_tickers(args.ticker) == ["X", "Y", "Z"]
    assert parse_tickers(None) is None and parse_tickers([" , "]) is None


# -- issue 12: replay decodes what live decoded, and never aborts on a damaged recording -----------------------

_T0 = 1_732_449_000_000_000_000
_SUB = '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}'
_SNAP = (
    '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes_dollars_fp":[["0.4000","10.00"]],'
    '"no_dollars_fp":[["0.5500","5.00"]]}}'
)
_DELTA = (
    '{"type":"orderbook_delta","sid":1,"seq":%d,"msg":{"market_ticker":"M","price_dollars":"0.4000",'
    '"delta_fp":"1.00","side":"yes"}}'
)
_NOT_UTF8 = b'{"type":"ticker","sid":9,"msg":{"market_ticker":"M\xff\xfe"}}'


def _record(t: int, frame: str) -> str:
    return json.dumps({"t": t, "conn": 1, "dir": "in", "frame": frame})


# Each of these once aborted --replay with a traceback (KeyError, TypeError, OverflowError) or hung it (--speed).
DAMAGED = [
    "not json at all {",
    json.dumps({"conn": 1, "dir": "in", "frame": _DELTA % 9}),  # no time
    json.dumps({"t": "soon", "conn": 1, "dir": "in", "frame": _DELTA % 9}),  # a time that is not a number
    json.dumps({"t": 10**30, "conn": 1, "dir": "in", "frame": _DELTA % 9}),  # a huge time
    json.dumps({"t": 1.5e18, "conn": 1, "dir": "in", "frame": _DELTA % 9}),  # a float time (once: an endless sleep)
    json.dumps({"t": -5, "conn": 1, "dir": "in", "frame": _DELTA % 9}),
    json.dumps({"t": _T0, "conn": 1, "dir": "in", "frame": 12}),  # a frame that is not text
    json.dumps({"t": _T0, "conn": 1, "dir": "in", "frame": {"type": "ok"}}),
    json.dumps({"t": _T0, "conn": 1, "dir": "in"}),  # no frame
    json.dumps({"t": _T0, "conn": "one", "dir": "connect"}),
    json.dumps({"t": _T0, "conn": 1, "dir": "sideways", "frame": _SUB}),
    json.dumps({"t": _T0, "conn": 1, "dir": "in", "b64": "not base64!"}),
    json.dumps([1, 2, 3]),
    '"a string"',
    "[" * 100_000,  # nested beyond any parser's recursion
]


def _damaged_journal(path: Path) -> None:
    deltas = [_record(_T0 + 10 + i, _DELTA % (i + 2)) for i in range(3)]
    good = [_record(_T0 + 1, _SUB), _record(_T0 + 2, _SNAP), *deltas]
    lines = ['{"journal":"market_making_bot","version":2,"started_ns":0}', good[0], good[1]]
    for i, bad in enumerate(DAMAGED):
        lines.append(bad)
        if i < 3:
            lines.append(good[2 + i])
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("speed", [None, 1000.0])
def test_a_damaged_journal_replays_what_is_readable_and_counts_the_rest(
    tmp_path: Path, speed: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "damaged.jsonl"
    _damaged_journal(path)
    core, report = Core(), ReplayReport()
    slept: list[float] = []
    clock = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    frames = run_replay([path], core, speed=speed, report=report, sleep=sleep, clock=lambda: clock[0])
    assert frames == 5 and report.bad_records == len(DAMAGED)
    assert core.state.markets["M"].book.yes == {4000: 1300} and core.state.markets["M"].usable
    assert all(s < 1 for s in slept)
    warned = [r.getMessage() for r in caplog.records if r.name == "market_making_bot.storage.replay"]
    assert len(warned) == 10 + 1 and f"{len(DAMAGED)} damaged records skipped in all" in warned[-1]
    assert "line 4: not a journal record" in warned[0]


def test_a_cut_or_damaged_gzip_recording_replays_its_start(tmp_path: Path) -> None:
    text = "\n".join([_SUB, _SNAP, *(_DELTA % (i + 2) for i in range(2000))]) + "\n"
    data = gzip.compress(text.encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    core, report = Core(), ReplayReport()
    frames = run_replay([cut], core, report=report)
    assert 2 < frames < 2002 and report.bad_records == 1
    assert core.counters["decode_errors"] == 0 and core.state.markets["M"].usable
    # damage inside the deflate stream: what inflates is fed (the core judges it), then the CRC fails at the end
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(data[: len(data) // 2] + b"\x00\xff" * 50 + data[len(data) // 2 + 100 :])
    report = ReplayReport()
    assert run_replay([corrupt], Core(), report=report) > 2 and report.bad_records == 1


def test_a_frame_that_is_not_utf8_is_malformed_on_replay_as_it_was_live(tmp_path: Path) -> None:
    frames = [_SUB.encode(), _SNAP.encode(), _NOT_UTF8, (_DELTA % 2).encode()]
    live = Core()
    for i, raw in enumerate(frames):  # what the client does: the socket's bytes
        live.feed(raw, _T0 + i)
    assert live.counters["decode_errors"] == 1
    path = tmp_path / "j.jsonl"
    with JournalWriter(path) as w:
        for i, raw in enumerate(frames):
            w.frame_in(raw, _T0 + i, 1)
    assert '"b64"' in path.read_text()  # kept exactly, not replaced by U+FFFD
    recs = list(iter_journal(path))
    assert [r.frame for r in recs] == [f.decode() if f != _NOT_UTF8 else f for f in frames]
    replayed = Core()
    run_replay([path], replayed)
    assert replayed.counters == live.counters and replayed.summary()["markets"] == live.summary()["markets"]
    # the same frame in a raw capture (one frame per line) is counted malformed too
    raw_capture = tmp_path / "raw.jsonl"
    raw_capture.write_bytes(b"\n".join(frames) + b"\n")
    other = Core()
    assert run_replay([raw_capture], other) == 4 and other.counters["decode_errors"] == 1


def test_the_replay_done_line_has_counts_and_no_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "damaged.jsonl"
    _damaged_journal(path)
    with caplog.at_level(logging.INFO):
        assert main(["--replay", str(path), str(path)]) == 0
    (done,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Replay done")]
    assert done.startswith("Replay done: 10 frames from 2 files, 1 market,") and "None" not in done
    assert f"{2 * len(DAMAGED)} damaged records skipped" in done
