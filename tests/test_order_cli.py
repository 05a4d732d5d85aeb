"""``python -m market_making_bot.account order ...`` and ``queue`` (issue 15 item 3) against the simulator over
loopback HTTP, signed with its ``--write-credentials`` file: each command once as a table and once as JSON, compared
with the simulator's own orders; an unknown outcome is resolved before the command ends, without a duplicate; the
refusal without ``--live`` against a server that does not carry the simulator's mark (a tiny aiohttp server that
answers like Kalshi) sends no write; ``cancel-mine`` cancels only what the command placed, across runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from market_making_bot.cli import account
from market_making_bot.kalshi.orders import BookSide
from market_making_bot.runtime.config import Config
from market_making_bot.runtime.orders import OrderManager
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.trading.orders import OrderTracker

TICKERS = ["KXORD-26DEC31-A1", "KXORD-26DEC31-A2"]


@pytest.fixture(autouse=True)
def _no_kalshi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KALSHI_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    s = ExchangeSimulator(SimulatorConfig(rate=1, tickers=TICKERS, start_paused=True, ping_interval=None))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
def env_file(sim: ExchangeSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "sim.env"
    sim.write_credentials(path)
    return path


async def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await account.run_argv(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _cells(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("  ") if c.strip()] for line in text.splitlines()]


async def _truth(env_file: Path) -> dict[str, Any]:
    """The simulator's orders as its REST API gives them, by client order id."""
    cfg = Config.load(str(env_file))
    async with KalshiAPIClient(cfg.api_url, cfg.signer()) as api:
        return {o.client_order_id: o async for o in api.orders()}


def _coids(sim: ExchangeSimulator) -> list[str]:
    return [o.client_order_id for o in sim.entry.order_list]


async def test_create_amend_decrease_cancel_table_and_json(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    common = ("--env-file", str(env_file), "--state-file", str(state))
    code, out, err = await _run(
        "order", "create", "--ticker", TICKERS[0], "--side", "bid", "--price", "0.0100", "--count", "3", *common
    )
    assert code == 0, err
    header, row = _cells(out)
    assert header[:3] == ["TICKER", "SIDE", "STATE"] and row[:7] == [
        TICKERS[0], "bid", "resting", "0.0100", "3.00", "0.00", "3.00",
    ]  # fmt: skip
    order_id, coid = row[8], row[9]
    truth = await _truth(env_file)
    assert truth[coid].order_id == order_id and truth[coid].status == "resting"
    saved = json.loads(state.read_text())["orders"]
    assert [(e["client_order_id"], e["order_id"]) for e in saved] == [(coid, order_id)]
    cfg = Config.load(str(env_file))
    assert cfg.api_key_id not in state.read_text() and "PRIVATE" not in state.read_text()  # no key id, no key

    code, out, err = await _run("order", "amend", order_id, "--price", "0.0200", "--count", "2", "--json", *common)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["command"] == "order amend" and doc["destination"] == "simulator" and doc["unknown"] == 0
    (o,) = doc["orders"]
    assert (o["state"], o["price_dollars"], o["remaining_count_fp"], o["client_order_id"]) == (
        "resting", "0.0200", "2.00", coid,
    )  # fmt: skip
    truth = await _truth(env_file)
    assert (truth[coid].yes_price_dollars, truth[coid].remaining_count_fp) == (200, 200)

    code, out, err = await _run("order", "decrease", coid, "--reduce-by", "0.5", *common)  # by client order id
    assert code == 0, err
    assert _cells(out)[1][6] == "1.50"
    assert (await _truth(env_file))[coid].remaining_count_fp == 150

    code, out, err = await _run("order", "cancel", order_id, "--json", *common)
    assert code == 0, err
    assert json.loads(out)["orders"][0]["state"] == "canceled"
    assert (await _truth(env_file))[coid].status == "canceled"
    assert json.loads(state.read_text())["orders"] == []  # terminal: no longer kept
    assert _coids(sim) == [coid]

    code, out, err = await _run("order", "cancel", order_id, *common)  # already canceled: said, exit 1
    assert code == 1 and "canceled" in err


async def test_a_create_that_times_out_is_read_back_and_never_duplicated(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    sim.faults.specs.append(FaultSpec.parse("order-timeout"))  # applied, the reply never comes
    code, out, err = await _run(
        "order", "create", "--ticker", TICKERS[1], "--side", "ask", "--price", "0.99", "--count", "1",
        "--client-order-id", "mine-001", "--env-file", str(env_file), "--state-file", str(tmp_path / "s.json"),
        "--rest-lag", "0.05", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert "outcome unknown" in err and "reading it back" in err
    (o,) = json.loads(out)["orders"]
    assert (o["client_order_id"], o["state"], o["resent"]) == ("mine-001", "resting", 0)
    assert _coids(sim) == ["mine-001"]
    assert (await _truth(env_file))["mine-001"].order_id == o["order_id"]


async def test_a_create_refused_503_is_resent_with_the_same_coid(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    sim.faults.specs.append(FaultSpec.parse("order-reject"))  # 503, not processed
    code, out, err = await _run(
        "order", "create", "--ticker", TICKERS[1], "--side", "bid", "--price", "0.01", "--count", "1",
        "--env-file", str(env_file), "--state-file", str(tmp_path / "s.json"), "--rest-lag", "0.05", "--json",
    )  # fmt: skip
    assert code == 0, err
    (o,) = json.loads(out)["orders"]
    assert o["state"] == "resting" and o["resent"] == 1
    assert _coids(sim) == [o["client_order_id"]]


async def test_cancel_mine_cancels_only_what_the_command_placed(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    common = ("--env-file", str(env_file), "--state-file", str(state))
    mine = []
    for ticker in TICKERS:
        code, out, err = await _run(
            "order", "create", "--ticker", ticker, "--side", "bid", "--price", "0.01", "--count", "1", "--json",
            *common,
        )  # fmt: skip
        assert code == 0, err
        mine.append(json.loads(out)["orders"][0]["client_order_id"])
    cfg = Config.load(str(env_file))
    async with KalshiAPIClient(cfg.api_url, cfg.signer()) as api:  # another program of the same account
        other = await OrderManager(api, OrderTracker("other"), armed=True).place(TICKERS[0], BookSide.BID, 100, 100)
    code, out, err = await _run("order", "cancel-mine", *common)
    assert code == 0, err
    rows = _cells(out)[1:]
    assert sorted(r[9] for r in rows) == sorted(mine) and {r[2] for r in rows} == {"canceled"}
    truth = await _truth(env_file)
    assert [truth[c].status for c in mine] == ["canceled", "canceled"]
    assert truth[other.client_order_id].status == "resting"
    assert json.loads(state.read_text())["orders"] == []
    code, out, err = await _run("order", "cancel-mine", "--json", *common)  # nothing left: an empty list
    assert code == 0 and json.loads(out)["orders"] == []


async def test_queue_table_and_json(sim: ExchangeSimulator, env_file: Path, tmp_path: Path) -> None:
    code, out, err = await _run(
        "order", "create", "--ticker", TICKERS[0], "--side", "bid", "--price", "0.01", "--count", "2", "--json",
        "--env-file", str(env_file), "--state-file", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert code == 0, err
    order_id = json.loads(out)["orders"][0]["order_id"]
    code, out, err = await _run("queue", "--ticker", TICKERS[0], "--env-file", str(env_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [q["order_id"] for q in doc["queue"]] == [order_id] and doc["queue"][0]["market_ticker"] == TICKERS[0]
    code, out, err = await _run("queue", "--env-file", str(env_file))
    assert code == 0 and _cells(out)[1][2] == order_id


# --- the safety rule -------------------------------------------------------------------------------------------------


@pytest.fixture
async def not_the_simulator(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """A server that answers like Kalshi (no simulator mark): it counts the requests it gets."""
    seen: list[str] = []

    async def status(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.json_response({"exchange_active": True, "trading_active": True})

    async def anything(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.json_response({"error": {"code": "bad_request", "message": "no"}}, status=400)

    app = web.Application()
    app.router.add_get("/trade-api/v2/exchange/status", status)
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/trade-api/v2", seen
    finally:
        await runner.cleanup()


async def test_orders_to_a_server_without_the_mark_are_refused_unless_live(
    not_the_simulator: tuple[str, list[str]], env_file: Path, tmp_path: Path
) -> None:
    url, seen = not_the_simulator
    state = tmp_path / "s.json"
    base = ("--env-file", str(env_file), "--api-url", url, "--state-file", str(state))
    create = ("order", "create", "--ticker", TICKERS[0], "--side", "bid", "--price", "0.01", "--count", "1")
    for argv in (create, ("order", "cancel", "some-order-id"), ("order", "cancel-mine")):
        code, out, err = await _run(*argv, *base)
        assert code == 2 and out == ""
        assert "is not the project's simulator" in err and "--live" in err and len(err.splitlines()) == 1
    assert seen == ["GET /trade-api/v2/exchange/status"] * 3  # nothing but the question: no write
    assert not state.exists()
    code, out, err = await _run(*create, *base, "--live")  # with --live it is sent (and refused by this server)
    assert code == 1 and "bad_request" in err
    assert seen[-1] == "POST /trade-api/v2/portfolio/events/orders"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["order", "create", "--ticker", "T", "--side", "bid", "--price", "1.5", "--count", "1"], "--price"),
        (["order", "create", "--ticker", "T", "--side", "bid", "--price", "0.5", "--count", "0"], "--count"),
        (["order", "create", "--ticker", "T", "--side", "buy", "--price", "0.5", "--count", "1"], "--side"),
        (["order", "create", "--ticker", "T", "--side", "bid", "--price", "0.5", "--count", "1", "--reduce-only"],
         "--reduce-only"),
        (["order", "create", "--ticker", "T", "--side", "bid", "--price", "0.5", "--count", "1",
          "--client-order-id", "bad id"], "--client-order-id"),
        (["order", "create", "--simulate", "--live", "--ticker", "T", "--side", "bid", "--price", "0.5",
          "--count", "1"], "--live"),
        (["order", "amend", "X"], "--price and/or --count"),
        (["order", "decrease", "X"], "--reduce-by"),
        (["order", "cancel"], "ID"),
        (["order", "create", "--ticker", "a b", "--side", "bid", "--price", "0.5", "--count", "1"], "--ticker"),
        (["order", "frobnicate"], "frobnicate"),
        (["order", "create", "--ticker", "T", "--side", "bid", "--price", "0.5", "--count", "1", "--rest-lag", "0"],
         "--rest-lag"),
    ],
)  # fmt: skip
async def test_bad_order_command_lines_are_one_line_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        await _run(*argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


async def test_a_refused_signature_is_exit_4_and_nothing_is_placed(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    from market_making_bot.simulator.auth import generate_private_key, write_private_key

    write_private_key(tmp_path / "sim.env.key", generate_private_key("ed25519"))  # a key the simulator does not know
    code, out, err = await _run(
        "order", "create", "--ticker", TICKERS[0], "--side", "bid", "--price", "0.01", "--count", "1",
        "--env-file", str(env_file), "--state-file", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert code == 4, err
    assert out == "" and "HTTP 401" in err and "Check that" in err and len(err.splitlines()) == 1
    assert "PRIVATE KEY" not in err and _coids(sim) == []


async def test_a_damaged_state_file_is_exit_3(env_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    state.write_text("{not json")
    code, out, err = await _run("order", "cancel-mine", "--env-file", str(env_file), "--state-file", str(state))
    assert code == 3 and str(state) in err and "damaged" in err


def test_simulate_as_a_process() -> None:
    """``--simulate`` (the built-in simulator, nothing to set up) as a user runs it: a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "market_making_bot.account", "order", "create", "--simulate", "--ticker",
         "KXSIM-26DEC31-M1", "--side", "bid", "--price", "0.0100", "--count", "3", "--json"],
        capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                         if not k.startswith("KALSHI_")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["destination"] == "simulator" and doc["orders"][0]["state"] == "resting"
    assert doc["orders"][0]["count_fp"] == "3.00" and doc["orders"][0]["client_order_id"].startswith("mmcli-")
