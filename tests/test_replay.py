from __future__ import annotations

import json
from pathlib import Path

import pytest

from market_making_bot.core import Core
from market_making_bot.mm_ws_listener import build_arg_parser, main, parse_tickers
from market_making_bot.replay import iter_recording, run_replay

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
