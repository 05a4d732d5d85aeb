"""Issue 16: "the journal records every order request and reply, so that a replay reproduces the strategy's
decisions". The bot runs against the built-in simulator (``--simulate``: real loopback WebSocket and REST) with
``--record``; ``--replay`` feeds that journal through the same engine and strategy: every decision equals the
journal's, the summary equals the live one; another strategy parameter gives the first difference, exit 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.cli.bot import load_strategy, main
from market_making_bot.storage.bot_replay import replay_bot
from market_making_bot.trading.order_log import decode_order_record

ROOT = Path(__file__).resolve().parents[2]
QUOTER = str(ROOT / "examples" / "quoter.py") + ":Quoter"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("botreplay")
    journal, summary = d / "run.jsonl", d / "live.json"
    code = main([
        "--simulate", "--strategy", QUOTER, "--duration", "1.5", "--sim-rate", "200", "--seed", "7",
        "--record", str(journal), "--summary-json", str(summary), "--log-level", "WARNING",
    ])  # fmt: skip
    assert code == 0
    return journal, json.loads(summary.read_text())


def _ops(journal: Path) -> list[str]:
    out = []
    for line in journal.read_text().splitlines()[1:]:
        rec = json.loads(line)
        if rec["dir"] == "order":
            out.append(decode_order_record(rec["frame"])["op"])
    return out


def test_replay_reproduces_every_decision_and_the_summary(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, live = recorded
    ops = _ops(journal)
    assert ops.count("round") > 0 and ops.count("seed") == 1 and ops.count("stop") == 1
    creates = live["trading"]["orders_sent"]
    assert creates >= 2  # the run quoted: something to reproduce
    out = tmp_path / "replay.json"
    capsys.readouterr()
    code = main(["--replay", str(journal), "--strategy", QUOTER, "--summary-json", str(out)])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, line
    assert line.startswith("replay: ") and line.endswith(" decisions, all equal")
    assert int(line.split()[1]) >= creates  # every create (and every cancel) of the engine was compared
    replayed = json.loads(out.read_text())
    live = dict(live)
    live.pop("recording")
    assert replayed["pnl"] == live["pnl"]
    assert replayed["trading"] == live["trading"]
    assert replayed["markets"] == live["markets"]
    assert replayed == live


def test_replay_with_another_parameter_names_the_first_difference(
    recorded: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    journal, _ = recorded
    result = replay_bot([journal], load_strategy(QUOTER, {"half_spread": "0.05"}))
    assert not result.equal
    assert result.difference is not None and "the journal has create" in result.difference
    assert "the engine planned" in result.difference
    capsys.readouterr()
    code = main(["--replay", str(journal), "--strategy", QUOTER, "--param", "half_spread=0.05"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 1
    assert line == result.line() and " differs: " in line


def test_replay_refuses_what_is_not_a_bot_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames.jsonl"
    frames.write_text('{"type":"orderbook_delta","sid":1,"seq":1,"msg":{}}\n')
    assert main(["--replay", str(frames), "--strategy", QUOTER]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mm-bot: --replay: ") and "not a journal of the bot" in err and "\n" not in err
    assert main(["--replay", str(tmp_path / "missing.jsonl"), "--strategy", QUOTER]) == 1
    assert "no such recording" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--replay", str(frames), "--strategy", QUOTER, "--simulate"])
    assert exc.value.code == 2
    assert "--simulate is for a live run, not --replay" in capsys.readouterr().err
