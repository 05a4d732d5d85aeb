"""The journal (issue 6): writing, rotation, compression, crash tolerance, replay and pacing."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from market_making_bot.cli.checks import check_record_path
from market_making_bot.cli.listener import main
from market_making_bot.feed.core import Core
from market_making_bot.storage.journal import (
    REMOVED_CHECK_EVERY,
    JournalWriter,
    RecordingError,
    expand_journal_paths,
    iter_journal,
    parse_rotation,
)
from market_making_bot.storage.replay import run_replay

SUB = '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}'
SNAP = (
    '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes_dollars_fp":[["0.4000","10.00"]],'
    '"no_dollars_fp":[["0.5500","5.00"]]}}'
)
DELTA = '{"type":"orderbook_delta","sid":1,"seq":%d,"msg":{"market_ticker":"M","price_dollars":"0.4000","delta_fp":"1.00","side":"yes"}}'  # noqa: E501
T0 = 1_732_449_000_000_000_000


def _session(w: JournalWriter, deltas: int = 3, conn: int = 1, t0: int = T0) -> None:
    w.connected(conn, t0)
    w.frame_out('{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"]}}', t0 + 1, conn)
    w.frame_in(SUB, t0 + 2, conn)
    w.frame_in(SNAP, t0 + 3, conn)
    for i in range(deltas):
        w.frame_in(DELTA % (i + 2), t0 + 10 + i, conn)


@pytest.mark.parametrize("name", ["j.jsonl", "j.jsonl.gz"])
def test_write_and_read_back_verbatim(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with JournalWriter(path, url="ws://x/trade-api/ws/v2") as w:
        _session(w)
    assert w.files == [path]
    recs = list(iter_journal(path))
    assert [r.dir for r in recs] == ["connect", "out", "in", "in", "in", "in", "in"]
    assert recs[2].frame == SUB and recs[3].t == T0 + 3 and recs[3].conn == 1
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as f:  # type: ignore[operator]
        lines = f.read().splitlines()
    assert json.loads(lines[0])["journal"] == "market_making_bot"
    assert json.loads(lines[1]) == {"t": T0, "conn": 1, "dir": "connect", "url": "ws://x/trade-api/ws/v2"}


def test_every_line_is_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    for name in ("live.jsonl", "live.jsonl.gz"):
        path = tmp_path / name
        w = JournalWriter(path)
        _session(w, deltas=2)
        # not closed, as after a crash: every line written so far is readable
        assert [r.dir for r in iter_journal(path)] == ["connect", "out", "in", "in", "in", "in"]
        w.close()


def test_a_journal_cut_in_the_middle_of_a_line_replays_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    with JournalWriter(path) as w:
        _session(w, deltas=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # the last delta loses its end
    core = Core()
    assert run_replay([path], core) == 4  # subscribed, snapshot, two deltas
    assert core.state.markets["M"].book.yes == {4000: 1200}
    assert core.counters["decode_errors"] == 0

    gz = tmp_path / "cut.jsonl.gz"
    with JournalWriter(gz) as w:
        _session(w, deltas=3)
    raw = gz.read_bytes()
    gz.write_bytes(raw[: len(raw) - 12])  # the gzip trailer and some of the last block gone
    core = Core()
    assert run_replay([gz], core) >= 4 and core.counters["decode_errors"] == 0


def test_rotation_by_size_names_the_set_after_its_session_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "rot.jsonl"
    (tmp_path / "rot.0001.jsonl").write_text("someone else's file\n")
    with JournalWriter(path, rotate=parse_rotation("600B"), session="20261201T193000Z") as w:
        _session(w, deltas=6)
    assert len(w.files) >= 2 and not path.exists()
    assert [f.name for f in w.files[:2]] == ["rot.20261201T193000Z.0001.jsonl", "rot.20261201T193000Z.0002.jsonl"]
    assert (tmp_path / "rot.0001.jsonl").read_text() == "someone else's file\n"
    # the set replays in order from its session's name
    assert expand_journal_paths([tmp_path / "rot.20261201T193000Z.jsonl"]) == w.files
    core = Core()
    run_replay(w.files, core)
    assert core.state.markets["M"].book.yes == {4000: 1600}


def test_hourly_rotation(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "h.jsonl", rotate="hourly", session="20241124T113000Z") as w:
        _session(w, deltas=1, t0=T0)
        _session(w, deltas=1, t0=T0 + 3600 * 10**9, conn=2)
    assert [f.name for f in w.files] == ["h.20241124T113000Z.0001.jsonl", "h.20241124T113000Z.0002.jsonl"]


def test_parse_rotation() -> None:
    assert parse_rotation("100MB") == 100_000_000 and parse_rotation("1GiB") == 2**30
    assert parse_rotation("hourly") == "hourly" and parse_rotation(None) is None
    with pytest.raises(ValueError, match="bad rotation"):
        parse_rotation("often")


def test_replay_reconnects_like_the_live_run(tmp_path: Path) -> None:
    path = tmp_path / "rc.jsonl"
    with JournalWriter(path) as w:
        _session(w, deltas=1, conn=1)
        w.connected(2, T0 + 100)
        w.frame_in(DELTA % 9, T0 + 101, 2)  # a delta before the new connection's snapshot: not applied
    core = Core()
    run_replay([path], core)
    market = core.state.markets["M"]
    assert not market.usable and market.book.yes == {4000: 1100}
    assert core.counters["deltas_without_snapshot"] == 1


def test_speed_paces_by_recorded_time(tmp_path: Path) -> None:
    path = tmp_path / "pace.jsonl"
    with JournalWriter(path) as w:
        w.frame_in(SUB, T0, 1)
        w.frame_in(SNAP, T0 + 2_000_000_000, 1)  # 2 s later
        w.frame_in(DELTA % 2, T0 + 3_000_000_000, 1)  # 1 s after that
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    run_replay([path], Core(), speed=4.0, sleep=sleep, clock=lambda: now[0])
    assert slept == pytest.approx([0.5, 0.25])
    slept.clear()
    run_replay([path], Core(), speed=None, sleep=sleep, clock=lambda: now[0])
    assert slept == []


def test_cli_record_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, err in (
        (["--simulate", "--record-rotate", "1MB"], "--record-rotate needs --record"),
        (["--simulate", "--record", "x.jsonl", "--record-rotate", "sometimes"], "bad rotation"),
        (["--replay", "x.jsonl", "--record", "y.jsonl"], "--record is for live runs"),
        (["--replay", "x.jsonl", "--speed", "0"], "argument --speed: takes a finite number above 0"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and err in capsys.readouterr().err


def test_two_runs_under_one_name_never_share_a_set(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl.gz"
    first = JournalWriter(path, rotate="hourly", session="20261201T193000Z")
    second = JournalWriter(path, rotate="hourly", session=None)  # named after now
    with first:
        _session(first, deltas=2)
    third = JournalWriter(path, rotate="hourly", session=first._free_session("20261201T193000Z"))
    assert third.session == "20261201T193000Z-2"  # a run started in the same second gets its own name
    with second, third:
        _session(second, deltas=1)
        _session(third, deltas=3)
    sets = {f.name.split(".")[1] for f in [*first.files, *second.files, *third.files]}
    assert len(sets) == 3
    # the common name is ambiguous: refused with the sessions listed (exit code 2), nothing replayed
    with pytest.raises(RecordingError) as exc:
        expand_journal_paths([path])
    assert exc.value.exit_code == 2 and "3 recorded sessions" in str(exc.value)
    assert "day.20261201T193000Z.jsonl.gz" in str(exc.value) and "day.20261201T193000Z-2.jsonl.gz" in str(exc.value)
    # one session by its name: only its frames
    core = Core()
    assert run_replay([tmp_path / "day.20261201T193000Z.jsonl.gz"], core) == 4
    assert core.state.markets["M"].book.yes == {4000: 1200}
    core = Core()
    assert run_replay([tmp_path / "day.20261201T193000Z-2.jsonl.gz"], core) == 5


def test_a_single_session_replays_from_the_common_name_and_old_numbered_sets_still_do(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "one.jsonl", rotate="hourly") as w:
        _session(w)
    assert expand_journal_paths([tmp_path / "one.jsonl"]) == w.files
    legacy = [tmp_path / "old.0001.jsonl", tmp_path / "old.0002.jsonl"]  # written by version 1
    for p in legacy:
        p.write_text('{"journal":"market_making_bot","version":1,"started_ns":0}\n')
    assert expand_journal_paths([tmp_path / "old.jsonl"]) == legacy


def test_a_journal_is_never_overwritten_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text("an earlier run\n")
    with pytest.raises(ValueError, match="already exists and a journal is never overwritten"):
        check_record_path(path, None, overwrite=False)
    check_record_path(path, None, overwrite=True)
    check_record_path(path, "hourly", overwrite=False)  # rotated files are new names beside PATH
    # a file that appears after the check is not overwritten either: the writer creates exclusively
    with JournalWriter(path) as w:
        _session(w)
    assert path.read_text() == "an earlier run\n" and w.failed and "exists" in (w.error or "")
    with JournalWriter(path, overwrite=True) as w:
        _session(w)
    assert not w.failed and len(list(iter_journal(path))) == 7


def test_a_journal_removed_during_the_run_stops_recording(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gone.jsonl.gz"
    w = JournalWriter(path)
    _session(w, deltas=10)
    path.unlink()  # the writes still succeed (an unlinked inode): only the check sees it
    for i in range(REMOVED_CHECK_EVERY):
        w.frame_in(DELTA % (i + 20), T0 + 100 + i, 1)
    assert w.failed and "removed during the run" in (w.error or "") and str(path) in (w.error or "")
    before = w.dropped  # the records after the check that found it
    w.frame_in(DELTA % 9999, T0 + 9999, 1)
    assert w.dropped == before + 1 and w.lines == REMOVED_CHECK_EVERY
    w.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "recording stopped" in errors[0].getMessage()
    # removed near the end of a short run: found at close
    short = tmp_path / "short.jsonl"
    w = JournalWriter(short)
    _session(w, deltas=1)
    short.unlink()
    w.close()
    assert w.failed
