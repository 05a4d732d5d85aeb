"""The bot command: bad input is one line and exit 2 before anything connects; the README's demo command quotes, gets
filled and stops clean; --dry-run sends nothing; the kill switch (SIGUSR1) cancels and stops."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from market_making_bot.cli.bot import load_strategy, main

ROOT = Path(__file__).resolve().parent.parent
QUOTER = f"{ROOT / 'examples' / 'quoter.py'}:Quoter"
BOT = [sys.executable, "-m", "market_making_bot.bot"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "--strategy"),
        (["--strategy", QUOTER], "--ticker or --event is required"),
        (["--strategy", "nope.py:X", "--simulate"], "nope.py: no such file"),
        (["--strategy", "examples/quoter.py", "--simulate"], "must be PATH_OR_MODULE:Class"),
        (["--strategy", f"{ROOT / 'examples' / 'quoter.py'}:Nope", "--simulate"], "no Strategy subclass named 'Nope'"),
        (["--strategy", "no_such_module_xyz:Q", "--simulate"], "cannot be imported"),
        (["--strategy", QUOTER, "--simulate", "--param", "size=lots"], "--param: Quoter: bad parameter"),
        (["--strategy", QUOTER, "--simulate", "--param", "sizes=1"], "unknown parameter 'sizes'"),
        (["--strategy", QUOTER, "--simulate", "--param", "novalue"], "KEY=VALUE"),
        (["--strategy", QUOTER, "--simulate", "--max-position", "0"], "--max-position"),
        (["--strategy", QUOTER, "--simulate", "--max-loss", "ten"], "--max-loss"),
        (["--strategy", QUOTER, "--simulate", "--max-order-size", "1.234"], "--max-order-size"),
        (["--strategy", QUOTER, "--simulate", "--duration", "0"], "--duration"),
        (["--strategy", QUOTER, "--simulate", "--live"], "--live is for a real exchange"),
        (["--strategy", QUOTER, "--simulate", "--summary-json", "/no/such/dir/s.json"], "--summary-json"),
        (["--strategy", QUOTER, "--ticker", "A", "--env-file", "/no/such.env"], "--env-file"),
        (["--strategy", QUOTER, "--ticker", "A", "--api-url", "localhost"], "is not a URL"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_load_strategy_by_module_name() -> None:
    strategy = load_strategy("market_making_bot.trading.strategy:Strategy", {"k": "v"})
    assert strategy.params == {"k": "v"}


async def _run(*args: str, timeout: float = 90) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.slow  # a bot process and a simulator
async def test_the_readme_demo_quotes_gets_filled_and_stops_clean(tmp_path: Path) -> None:
    summary_path, journal = tmp_path / "bot.json", tmp_path / "bot.jsonl"
    # The README's command, with a shorter duration and a faster order flow (and the journal).
    code, out = await _run(
        *BOT, "--simulate", "--strategy", "examples/quoter.py:Quoter", "--duration", "6", "--sim-rate", "300",
        "--summary-json", str(summary_path), "--record", str(journal),
    )  # fmt: skip
    assert code == 0, out
    summary = json.loads(summary_path.read_text())
    # the journal has every order request and answer beside the frames
    from market_making_bot.trading.order_log import decode_order_record

    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    records = [decode_order_record(r["frame"]) for r in lines if r.get("dir") == "order"]
    creates = [r for r in records if r["op"] == "create" and r["phase"] == "request"]
    assert creates and all(r["body"]["client_order_id"] == r["coid"] for r in creates)
    assert {r["coid"] for r in records if r["op"] == "create" and r["phase"] == "reply"} == {r["coid"] for r in creates}
    assert any(r["op"] == "update" and r["state"] == "canceled" for r in records)
    assert any(r.get("dir") == "in" for r in lines)
    trading = summary["trading"]
    assert trading["orders_sent"] == len(creates) > 0 and trading["left_resting"] == []
    assert sum(m["fills"] for m in summary["markets"].values()) >= 1, out
    for market in summary["markets"].values():
        assert set(market["pnl"]) == {"realized", "unrealized", "fees", "total"}
        assert market["pnl"]["fees"].count(".") == 1 and len(market["pnl"]["fees"].split(".")[1]) == 6
    assert "bot stopped" in out and "Traceback" not in out


@pytest.mark.slow  # a bot process and a simulator
async def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    summary_path = tmp_path / "bot.json"
    code, out = await _run(
        *BOT, "--simulate", "--strategy", "examples/quoter.py:Quoter", "--duration", "2", "--dry-run",
        "--summary-json", str(summary_path),
    )  # fmt: skip
    assert code == 0, out
    assert "would place bid" in out
    summary = json.loads(summary_path.read_text())
    assert summary["trading"]["orders_sent"] == 0 and summary["trading"]["dry_run"] is True
    assert "POST /trade-api/v2/portfolio/events/orders" not in out


@pytest.mark.slow  # a bot process and a simulator
async def test_kill_switch_cancels_everything_at_once(tmp_path: Path) -> None:
    summary_path = tmp_path / "bot.json"
    proc = await asyncio.create_subprocess_exec(
        *BOT, "--simulate", "--strategy", "examples/quoter.py:Quoter", "--summary-json", str(summary_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []

    async def until_resting() -> None:
        while True:
            line = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
            assert line, "".join(seen)
            seen.append(line)
            if "-> resting" in line:
                return

    await asyncio.wait_for(until_resting(), 60)
    proc.send_signal(signal.SIGUSR1)
    rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    out = "".join(seen) + rest.decode()
    assert proc.returncode == 0, out
    assert "bot stopping (kill switch)" in out
    summary = json.loads(summary_path.read_text())
    assert summary["trading"]["left_resting"] == [] and "kill switch" in summary["trading"]["halted"]


def test_the_dashboard_key_k_is_the_kill_switch() -> None:
    pytest.importorskip("rich")
    from market_making_bot.views.dashboard.app import Dashboard, parse_keys
    from tests.market_frames import fake_client, known_core

    assert parse_keys(b"K") == ["kill"] and parse_keys(b"k") == ["prev"]
    dash = Dashboard(known_core(), fake_client())
    killed: list[bool] = []
    dash._on_input(b"K")  # no bot: nothing happens
    dash.on_kill = lambda: killed.append(True)
    dash._on_input(b"nK")
    assert killed == [True]


def test_bot_metrics_are_the_summary_figures() -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from market_making_bot.views.bot_metrics import BOT_METRIC_NAMES, BotCollector

    summary = {
        "markets": {
            "KXA": {
                "orders": 3,
                "fills": 2,
                "position": "-1.50",
                "mark": "0.45500",
                "pnl": {"realized": "0.010000", "unrealized": None, "fees": "0.003200", "total": "-0.020000"},
            }
        },
        "trading": {"orders_sent": 3, "amended": 1, "cancelled": 2, "rejected": 0, "unknown": 0,
                    "refusals": {"max-position": 4}, "halted": "stop: duration"},
    }  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BotCollector(lambda: summary))
    text = generate_latest(registry).decode()
    assert 'kalshi_bot_orders_total{market="KXA"} 3.0' in text
    assert 'kalshi_bot_position_contracts{market="KXA"} -1.5' in text
    assert 'kalshi_bot_pnl_dollars{market="KXA",part="fees"} 0.0032' in text
    assert 'part="unrealized"' not in text  # unknown is not a zero
    assert 'kalshi_bot_refusals_total{rule="max-position"} 4.0' in text
    assert "kalshi_bot_halted 1.0" in text
    assert all(name in text for name in BOT_METRIC_NAMES)


@pytest.mark.slow  # a bot process and a simulator
async def test_unknown_markets_are_dropped_and_none_left_is_exit_5(tmp_path: Path) -> None:
    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    async with ExchangeSimulator(SimulatorConfig(markets=1, rate=50, auto_user=False)) as sim:
        env = tmp_path / "sim.env"
        sim.write_credentials(env)
        real = sim.config.resolved_tickers()[0]
        code, out = await _run(
            *BOT, "--env-file", str(env), "--ticker", "KXNOPE-26DEC31-X", "--strategy", "examples/quoter.py:Quoter",
            "--duration", "5",
        )  # fmt: skip
        assert code == 5, out
        assert "KXNOPE-26DEC31-X" in out and "no market to trade" in out
        code, out = await _run(
            *BOT, "--env-file", str(env), "--ticker", f"KXNOPE-26DEC31-X,{real}", "--strategy",
            "examples/quoter.py:Quoter", "--duration", "2", "--summary-json", str(tmp_path / "s.json"),
        )  # fmt: skip
        assert code == 0, out
        summary = json.loads((tmp_path / "s.json").read_text())
        assert list(summary["trading"]) and "KXNOPE-26DEC31-X" not in summary["markets"]
        code, out = await _run(*BOT, "--simulate", "--event", "NOPE", "--strategy", "examples/quoter.py:Quoter")
        assert code == 5 and "no open market in --event NOPE" in out, out
