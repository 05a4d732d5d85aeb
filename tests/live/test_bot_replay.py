"""Issue 16: "the journal records every order request and reply, so that a replay reproduces the strategy's
decisions". The bot runs against the built-in simulator (``--simulate``: real loopback WebSocket and REST) with
``--record``; ``--replay`` feeds that journal through the same engine and strategy: every decision equals the
journal's, the summary equals the live one; another strategy parameter gives the first difference, exit 1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.cli.bot import load_strategy, main
from market_making_bot.feed.core import Core
from market_making_bot.feed.events import ConnectionDown, ConnectionUp, Event, FillSeen
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.runtime.bot import Bot, BotSettings
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.storage.bot_replay import replay_bot
from market_making_bot.storage.journal import JournalWriter
from market_making_bot.trading.order_log import decode_order_record
from market_making_bot.trading.risk import RiskLimits

from .test_bot_paper import FAST, MAX_ORDER, MAX_POSITION, MakeSim, make_sim, public, quoter, signer

__all__ = ["make_sim", "public", "signer"]  # the paper tests' fixtures, used here

ROOT = Path(__file__).resolve().parents[2]
QUOTER = str(ROOT / "examples" / "quoter.py") + ":Quoter"


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """The CLI sets the root handler and level and quiets some loggers (the simulator's): put them back after, so
    that later tests (which read the simulator's DEBUG lines) see the logging they expect."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    with _logging_kept():
        yield


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("botreplay")
    journal, summary = d / "run.jsonl", d / "live.json"
    with _logging_kept():
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


@pytest.mark.parametrize(
    "faults",
    [["disconnect:every=300", "gap:every=150", "order-429:every=4:count=1", "order-timeout:every=7:count=1"]],
    ids=["disconnect+gap+429+timeout"],
)
async def test_replay_is_exact_through_faults(
    make_sim: MakeSim, signer: Signer, tmp_path: Path, faults: list[str]
) -> None:
    """Disconnects, gaps, refused and timed-out creates (unknown outcomes settled by REST reads): the replay still
    plans exactly what the live engine planned, and ends in the same summary."""
    sim = await make_sim(rate=300, seed=11, faults=faults)
    tickers = sim.config.resolved_tickers()
    core = Core(tickers)
    journal = JournalWriter(tmp_path / "run.jsonl")
    fills, reconnects, done = 0, -1, asyncio.Event()

    def on_event(event: Event) -> None:
        nonlocal fills, reconnects
        fills += isinstance(event, FillSeen)
        reconnects += isinstance(event, ConnectionUp)
        if fills >= 4 and reconnects >= 1:
            done.set()

    core.bus.subscribe(Event, on_event)
    core.bus.subscribe(ConnectionDown, lambda e: journal.lost(e.connection, e.reason, e.recv_ns))
    client = KalshiWebSocketClient(
        sim.url, signer, core, Session(tickers, with_private=True, with_orders=True),
        ConnectionPolicy(ping_interval=5.0, ping_timeout=5.0),
        on_frame=journal.frame_in, on_send=journal.frame_out, on_connect=journal.connected,
    )  # fmt: skip
    params = {"half_spread": "0.005", "size": "1", "skew": "0.005"}
    limits = RiskLimits(max_position=MAX_POSITION, max_order_size=MAX_ORDER, max_open_orders=8)
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        settings = BotSettings(tickers, limits, group_limit=50_000, rest_lag=0.2, book_wait=2.0, stop_timeout=10.0)
        bot = Bot(quoter(params), api, client, settings, journal=journal,
                  on_rest=lambda text, t: journal.rest(text, t, 0))  # fmt: skip
        stop = asyncio.Event()
        run = asyncio.create_task(bot.run(stop))
        try:
            await asyncio.wait_for(done.wait(), 40)
        finally:
            sim.stop_flow()
            stop.set()
            await asyncio.wait_for(run, 30)
    journal.close()
    live = bot.summary()
    fired = sim.truth()["faults"]
    assert fired.get("disconnect", 0) >= 1 and fired.get("order-429", 0) >= 1, fired
    result = replay_bot([tmp_path / "run.jsonl"], quoter(params))
    assert result.difference is None, result.line()
    assert result.decisions >= live["trading"]["orders_sent"] >= 4
    assert result.summary == live
