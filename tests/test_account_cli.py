"""``python -m market_making_bot.account`` (issue 14 item 4) against the simulator over loopback HTTP.

Signed with the simulator's ``--write-credentials`` file as ``--env-file``, as a user would run it. Each
subcommand's table and JSON are compared with the simulator's own state (``sim.model``), computed here with
``Decimal``, never with the command's formatting code. Bad inputs give one line and exit 2 (no traceback), a
refused signature exit 4 with the listener's advice, a REST error Kalshi's code and message with exit 1.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.cli import account
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.auth import generate_private_key, write_private_key

pytestmark = pytest.mark.slow

TICKERS = ["KXACC-26DEC31-A1", "KXACC-26DEC31-A2", "KXACC-26DEC31-A3", "KXOTHER-26DEC31-B1"]


@pytest.fixture(autouse=True)
def _no_kalshi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KALSHI_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[ExchangeSimulator]:
    """A simulator whose user has traded and has resting orders; the flow is stopped (the state holds still)."""
    s = ExchangeSimulator(SimulatorConfig(rate=20_000, tickers=TICKERS, start_paused=True, ping_interval=None))
    await s.start()
    s.model.activate_user()
    for _ in range(200_000):  # deterministic: step the model directly, no waiting
        s.fanout.dispatch(s.model.step())
        users = [m.user for m in s.model.market_list if m.user is not None]
        if len(s.model.fill_log) >= 15 and sum(len(u.resting) for u in users) >= 2:
            break
    assert len(s.model.fill_log) >= 15
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
    """A table back into cells: columns are two or more spaces apart."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def _size(v: int) -> str:
    return f"{Decimal(v) / 100:.2f}"


def _price(v: int) -> str:
    return f"{Decimal(v) / 10_000:.4f}"


def _money6(v: int) -> str:
    return f"{Decimal(v) / 1_000_000:.6f}"


def _money_cell(v: int) -> str:
    """2 decimals, more only where they are needed to be exact."""
    whole, frac = _money6(v).split(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac:0<2}"


def _own(side: str, yes_price: int) -> int:
    return yes_price if side == "yes" else 10_000 - yes_price


# ---- positions ---------------------------------------------------------------------------------------------


def _true_positions(sim: ExchangeSimulator, event: str | None = None) -> dict[str, dict[str, str]]:
    traded: dict[str, int] = {}
    for f in sim.model.fill_log:
        traded[f.market.ticker] = traded.get(f.market.ticker, 0) + f.count * _own(f.side, f.yes_price)
    out = {}
    for m in sim.model.market_list:
        u = m.user
        if u is None or not u.fills or (event and not m.ticker.startswith(event + "-")):
            continue
        out[m.ticker] = {
            "ticker": m.ticker,
            "position_fp": _size(u.position),
            "market_exposure_dollars": _money6(u.cost),
            "total_traded_dollars": _money6(traded.get(m.ticker, 0)),
            "realized_pnl_dollars": _money6(u.realized_pnl),
            "fees_paid_dollars": _money6(u.fees_paid),
        }
    return out


async def test_positions_json_and_table_equal_the_simulator(sim: ExchangeSimulator, env_file: Path) -> None:
    truth = _true_positions(sim)
    assert truth, "the user holds positions"
    code, out, err = await _run("positions", "--env-file", str(env_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["command"] == "positions" and doc["api_url"] == sim.api_url and doc["environment"] == "production"
    assert doc["count"] == len(truth) and doc["truncated"] is False
    got = {r["ticker"]: r for r in doc["positions"]}
    assert set(got) == set(truth)
    for ticker, row in got.items():
        assert list(row) == [*truth[ticker], "last_updated_ts"]  # stable keys, in a stable order
        assert {k: row[k] for k in truth[ticker]} == truth[ticker]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["last_updated_ts"])

    code, out, err = await _run("positions", "--env-file", str(env_file))
    assert code == 0, err
    header, *rows = _cells(out)
    assert header[:7] == ["TICKER", "SIDE", "POSITION", "EXPOSURE $", "TRADED $", "REALIZED P&L $", "FEES $"]
    assert len(rows) == len(truth)
    for cells in rows:
        t = truth[cells[0]]
        pos = Decimal(t["position_fp"])
        side = "yes" if pos > 0 else "no" if pos < 0 else "flat"
        expected = [cells[0], side, t["position_fp"]] + [
            _money_cell(int(Decimal(t[k]) * 1_000_000))
            for k in ("market_exposure_dollars", "total_traded_dollars", "realized_pnl_dollars", "fees_paid_dollars")
        ]
        assert cells[:7] == expected
    # the columns are aligned: every line has its POSITION column ending at the same place
    lines = out.splitlines()
    end = lines[0].index("POSITION") + len("POSITION")
    assert all(line[end - 1] != " " and line[end] == " " for line in lines)


async def test_positions_filtered_by_event_and_ticker(sim: ExchangeSimulator, env_file: Path) -> None:
    held = list(_true_positions(sim))
    code, out, _ = await _run("positions", "--env-file", str(env_file), "--event", "KXACC-26DEC31", "--json")
    assert code == 0
    assert sorted(r["ticker"] for r in json.loads(out)["positions"]) == sorted(_true_positions(sim, "KXACC-26DEC31"))
    code, out, _ = await _run("positions", "--env-file", str(env_file), "--ticker", ",".join(held[:2]), "--json")
    assert code == 0
    assert [r["ticker"] for r in json.loads(out)["positions"]] == held[:2]


# ---- fills -------------------------------------------------------------------------------------------------


async def test_fills_json_and_table_equal_the_simulator(sim: ExchangeSimulator, env_file: Path) -> None:
    truth = list(reversed(sim.model.fill_log))  # newest first
    code, out, err = await _run("fills", "--env-file", str(env_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["count"] == len(truth) and doc["truncated"] is False
    for row, f in zip(doc["fills"], truth, strict=True):
        assert row == {
            "fill_id": f.trade_id,
            "trade_id": f.trade_id,
            "order_id": f.order_id,
            "ticker": f.market.ticker,
            "outcome_side": f.side,
            "book_side": "bid" if f.side == "yes" else "ask",
            "count_fp": _size(f.count),
            "yes_price_dollars": _price(f.yes_price),
            "no_price_dollars": _price(10_000 - f.yes_price),
            "is_taker": f.is_taker,
            "fee_cost": _money6(f.fee),
            "created_time": row["created_time"],
        }
        assert row["created_time"].endswith(f".{f.ts_ms % 1000:03d}Z")
    code, out, _ = await _run("fills", "--env-file", str(env_file))
    assert code == 0
    header, *rows = _cells(out)
    assert header == ["TIME (UTC)", "TICKER", "SIDE", "COUNT", "PRICE $", "FEE $", "ROLE", "TRADE ID", "ORDER ID"]
    assert [c[1:] for c in rows] == [
        [
            f.market.ticker,
            f.side,
            _size(f.count),
            _price(_own(f.side, f.yes_price)),
            _money_cell(f.fee),
            "taker" if f.is_taker else "maker",
            f.trade_id,
            f.order_id,
        ]
        for f in truth
    ]


async def test_fills_limit_and_ticker(sim: ExchangeSimulator, env_file: Path) -> None:
    truth = list(reversed(sim.model.fill_log))
    code, out, err = await _run("fills", "--env-file", str(env_file), "--limit", "4", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [r["fill_id"] for r in doc["fills"]] == [f.trade_id for f in truth[:4]]
    assert doc["truncated"] is True and doc["filters"]["limit"] == 4
    assert "showing the first 4 fills" in err
    ticker = truth[0].market.ticker
    code, out, _ = await _run("fills", "--env-file", str(env_file), "--ticker", ticker, "--json")
    assert [r["fill_id"] for r in json.loads(out)["fills"]] == [f.trade_id for f in truth if f.market.ticker == ticker]


# ---- orders ------------------------------------------------------------------------------------------------


async def test_orders_json_and_table_equal_the_simulator(sim: ExchangeSimulator, env_file: Path) -> None:
    resting = {
        order.order_id: (m.ticker, side, price, order.size)
        for m in sim.model.market_list
        if m.user is not None
        for side, (price, order) in m.user.resting.items()
    }
    filled: dict[str, int] = {}
    for f in sim.model.fill_log:
        filled[f.order_id] = filled.get(f.order_id, 0) + f.count
    code, out, err = await _run("orders", "--env-file", str(env_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["filters"]["status"] == "resting"
    got = {r["order_id"]: r for r in doc["orders"]}
    assert set(got) == set(resting) and len(got) >= 2
    for oid, (ticker, side, price, size) in resting.items():
        row = got[oid]
        yes_price = price if side == "yes" else 10_000 - price
        assert (row["ticker"], row["status"], row["outcome_side"]) == (ticker, "resting", side)
        assert row["yes_price_dollars"] == _price(yes_price) and row["no_price_dollars"] == _price(10_000 - yes_price)
        assert row["remaining_count_fp"] == _size(size)
        assert row["fill_count_fp"] == _size(filled.get(oid, 0))
        assert row["initial_count_fp"] == _size(size + filled.get(oid, 0))
    code, out, _ = await _run("orders", "--env-file", str(env_file))
    assert code == 0
    header, *rows = _cells(out)
    assert header[:7] == ["TICKER", "SIDE", "STATUS", "PRICE $", "INITIAL", "FILLED", "REMAINING"]
    by_id = {c[8]: c for c in rows}
    assert set(by_id) == set(resting)
    for oid, (ticker, side, price, size) in resting.items():
        assert by_id[oid][:7] == [
            ticker, side, "resting", _price(price), _size(size + filled.get(oid, 0)), _size(filled.get(oid, 0)),
            _size(size),
        ]  # fmt: skip
    code, out, _ = await _run("orders", "--env-file", str(env_file), "--status", "canceled", "--json")
    assert code == 0 and json.loads(out)["orders"] == []  # the simulator keeps no canceled orders
    code, out, _ = await _run("orders", "--env-file", str(env_file), "--status", "canceled")
    assert out == "no orders\n"


# ---- balance -----------------------------------------------------------------------------------------------


async def test_balance_equals_the_simulator(sim: ExchangeSimulator, env_file: Path) -> None:
    import aiohttp

    from market_making_bot.simulator.auth import auth_headers
    from market_making_bot.simulator.units import now_ms

    assert sim.private_key is not None
    headers = auth_headers("k", sim.private_key, now_ms(), "/trade-api/v2/portfolio/balance")
    async with aiohttp.ClientSession() as s, s.get(sim.api_url + "/portfolio/balance", headers=headers) as r:
        raw = await r.json()
    code, out, err = await _run("balance", "--env-file", str(env_file), "--json")
    assert code == 0, err
    doc = json.loads(out)
    cents = raw["balance"]
    assert cents != sim.config.starting_balance_cents  # the fills moved it
    assert doc["balance"] == {
        "balance_dollars": f"{Decimal(cents) / 100:.6f}",
        "portfolio_value_dollars": f"{Decimal(raw['portfolio_value']) / 100:.6f}",
        "updated_ts": doc["balance"]["updated_ts"],
    }
    assert abs(doc["balance"]["updated_ts"] - raw["updated_ts"]) <= 2
    code, out, _ = await _run("balance", "--env-file", str(env_file))
    assert code == 0
    table = dict((c[0], c[1]) for c in _cells(out))
    assert table["available balance $"] == f"{Decimal(cents) / 100:.2f}"
    assert table["portfolio value $"] == f"{Decimal(raw['portfolio_value']) / 100:.2f}"


# ---- markets -----------------------------------------------------------------------------------------------


async def test_markets_json_and_table_equal_the_simulator(sim: ExchangeSimulator, env_file: Path) -> None:
    def truth(ticker: str) -> dict[str, str]:
        m = sim.model.markets[ticker]
        y, n = m.yes.best(), m.no.best()
        return {
            "ticker": ticker,
            "yes_bid_dollars": _price(y if y is not None else 0),
            "yes_ask_dollars": _price(10_000 - n if n is not None else 10_000),
            "last_price_dollars": _price(m.last_price),
            "volume_fp": _size(m.volume),
            "open_interest_fp": _size(m.open_interest),
        }

    code, out, err = await _run("markets", "--env-file", str(env_file), "--event", "KXACC-26DEC31", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [r["ticker"] for r in doc["markets"]] == TICKERS[:3]
    for row in doc["markets"]:
        assert {k: row[k] for k in truth(row["ticker"])} == truth(row["ticker"])
        assert row["event_ticker"] == "KXACC-26DEC31" and row["status"] == "active"
    code, out, _ = await _run("markets", "--env-file", str(env_file), "--series", "KXOTHER")
    assert code == 0
    header, *rows = _cells(out)
    assert header[:7] == ["TICKER", "STATUS", "YES BID $", "YES ASK $", "LAST $", "VOLUME", "OPEN INT"]
    t = truth(TICKERS[3])
    assert [r[:7] for r in rows] == [
        [TICKERS[3], "active", t["yes_bid_dollars"], t["yes_ask_dollars"], t["last_price_dollars"], t["volume_fp"],
         t["open_interest_fp"]]
    ]  # fmt: skip
    code, out, err = await _run(
        "markets", "--env-file", str(env_file), "--ticker", f"{TICKERS[1]},KXNOPE-1-2", "--json"
    )
    doc = json.loads(out)
    assert code == 0 and [r["ticker"] for r in doc["markets"]] == [TICKERS[1]]
    assert doc["not_found"] == ["KXNOPE-1-2"] and "no market KXNOPE-1-2" in err


# ---- failures ----------------------------------------------------------------------------------------------


async def test_a_refused_signature_is_exit_4_with_the_listeners_advice(
    sim: ExchangeSimulator, env_file: Path, tmp_path: Path
) -> None:
    from market_making_bot.runtime.client import AuthenticationError

    key_path = tmp_path / "sim.env.key"
    assert key_path.exists()
    write_private_key(key_path, generate_private_key("ed25519"))  # a key the simulator does not know
    code, out, err = await _run("positions", "--env-file", str(env_file))
    assert code == account.EXIT_AUTH == 4 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "HTTP 401 authentication_error" in err
    listener = str(AuthenticationError(401, "wss://x", sim.key_id[:8] + "…"))
    advice = listener[listener.index("Check that") :]
    assert err.rstrip().endswith(advice), (err, advice)
    assert "PRIVATE KEY" not in err


async def test_a_rest_error_prints_kalshis_code_and_message(sim: ExchangeSimulator, env_file: Path) -> None:
    sim.faults.inject("rest-503", count=None)  # every request from now on (the retries too)
    code, out, err = await _run("orders", "--env-file", str(env_file))
    assert code == account.EXIT_REST == 1 and out == ""
    assert err == (
        "kalshi-account: orders: Kalshi answered HTTP 503 service_unavailable: service unavailable "
        "(simulator fault rest-503)\n"
    )


async def test_a_single_429_is_retried(sim: ExchangeSimulator, env_file: Path) -> None:
    sim.faults.inject("rest-429", count=1)
    code, out, err = await _run("fills", "--env-file", str(env_file), "--json")
    assert code == 0, err
    assert json.loads(out)["count"] == len(sim.model.fill_log)
    assert sim.faults.counts["rest-429"] == 1


async def test_unreachable_is_exit_1(tmp_path: Path, env_file: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = await _run(
        "markets", "--env-file", str(env_file), "--api-url", f"http://127.0.0.1:{port}/trade-api/v2", "--limit", "1"
    )
    assert code == 1 and err.startswith("kalshi-account: markets: GET /trade-api/v2/markets")
    assert err.count("\n") == 1


BAD_INPUTS: list[tuple[list[str], int, str]] = [
    ([], 2, "the following arguments are required: COMMAND"),
    (["wallet"], 2, "invalid choice: 'wallet'"),
    (["balance", "--event", "E"], 2, "--event: balance does not take it"),
    (["fills", "--event", "E"], 2, "--event: fills does not take it (fills takes --ticker --limit)"),
    (["positions", "--series", "S"], 2, "--series: positions does not take it"),
    (["orders", "--status", "open"], 2, "--status: orders take one of resting, canceled, executed, all"),
    (["markets", "--status", "active"], 2, "--status: markets take one of unopened, open"),
    (["fills", "--limit", "0"], 2, "argument --limit: must be from 1 to 1000000"),
    (["fills", "--limit", "many"], 2, "argument --limit: must be a whole number"),
    (["fills", "--ticker", ","], 2, "--ticker: no ticker given"),
    (["markets", "--event", "A,B"], 2, "--event: needs one ticker"),
    (["markets", "--api-url", "ftp://h/trade-api/v2"], 2, "argument --api-url: must be an http:// or https://"),
    (["markets", "--demo", "--prod"], 2, "not allowed with argument"),
    (["positions", "--env-file", "/nonexistent/sim.env"], 3, "configuration error: env file not found"),
]


@pytest.mark.parametrize(("argv", "code", "message"), BAD_INPUTS, ids=[" ".join(a) or "none" for a, _, _ in BAD_INPUTS])
async def test_bad_inputs_are_one_line(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        got = await account.run_argv(argv, io.StringIO(), err := io.StringIO())
        text = err.getvalue()
    except SystemExit as exc:
        got = int(exc.code or 0)
        text = capsys.readouterr().err
    assert got == code
    assert message in text and text.count("\n") == 1 and "Traceback" not in text, text


async def test_a_missing_key_file_is_exit_3(env_file: Path, tmp_path: Path) -> None:
    (tmp_path / "sim.env.key").unlink()
    code, _, err = await _run("balance", "--env-file", str(env_file))
    assert code == 3 and "configuration error" in err and "private key file not found" in err


def test_money_cells_are_exact() -> None:
    assert account.money_cell(12_340_000) == "12.34"
    assert account.money_cell(54_600) == "0.0546"
    assert account.money_cell(1) == "0.000001"
    assert account.money_cell(0) == "0.00"
    assert account.money_cell(-1_500_000) == "-1.50"


# ---- the real command, as a process --------------------------------------------------------------------------


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    return subprocess.run(
        [sys.executable, "-m", "market_making_bot.account", *argv], capture_output=True, text=True, env=env, timeout=60
    )


async def test_the_command_as_a_process(sim: ExchangeSimulator, env_file: Path) -> None:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "market_making_bot.account", "positions", "--env-file", str(env_file), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    doc: dict[str, Any] = json.loads(out)
    assert {r["ticker"] for r in doc["positions"]} == set(_true_positions(sim))


def test_help_and_version() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    for text in ("examples:", "exit codes:", "JSON (--json)", "positions", "--env-file"):
        assert text in done.stdout
    done = _cli("fills", "--help")
    assert done.returncode == 0 and "--ticker" in done.stdout and "--api-url" in done.stdout
    done = _cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("market-making-bot ")
