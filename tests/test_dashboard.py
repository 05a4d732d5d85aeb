"""The dashboard: a known state rendered to text with rich's recording console; refresh rate, keys, log routing."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from market_making_bot.cli.listener import main
from market_making_bot.cli.monitor import ERRORS_ECHOED, log_to_file
from market_making_bot.feed.core import Core
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.views.dashboard.app import (
    FILLS_SHOWN,
    HIGHLIGHT_S,
    MAX_REFRESH_HZ,
    Dashboard,
    Snapshot,
    common_prefix,
    parse_keys,
    position_view,
    render,
    ticker_label,
    wrap_fields,
)

from .keys import write_key
from .market_frames import T0_MS, T0_NS, A, B, delta, fake_client, frame, known_core
from .paths import FIXTURES

NOW_NS = T0_NS + 3_000_000_000
LISTENER = [sys.executable, "-m", "market_making_bot.mm_ws_listener"]


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def text_of(snap: Snapshot, width: int = 140) -> str:
    """The screen written to a file (no terminal: as tall as it needs)."""
    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    console.print(render(snap, NOW_NS / 1e9))
    return console.export_text()


def hhmmss(ts_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"


def line_with(text: str, pattern: str) -> str:
    for line in text.splitlines():
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matches {pattern!r} in:\n{text}")


@pytest.fixture
def dash() -> Dashboard:
    return Dashboard(known_core(), fake_client(), private=True, log_file="/tmp/run.log", clock=Clock())


def test_ladder_shows_top_ten_yes_bids_and_yes_asks_from_no_bids(dash: Dashboard) -> None:
    snap = dash.snapshot(NOW_NS)
    assert snap.detail is not None
    assert [(lv.price, lv.size) for lv in snap.detail.bids[:2]] == [(4500, 1250), (4400, 10500)]
    assert len(snap.detail.bids) == 10  # 13 levels, the best 10 shown
    assert [(lv.price, lv.size) for lv in snap.detail.asks] == [(4700, 4000), (4800, 725), (4950, 300)]
    text = text_of(snap)
    # level 1: 12.50 at 45¢ bid, 40 at 47¢ ask (the NO bid at 53¢)
    assert re.search(r"│\s+1\s+12\.50\s+45¢\s+47¢\s+40\s+│", text)
    assert re.search(r"│\s+2\s+105\s+44¢\s+48¢\s+7\.25\s+│", text)
    assert re.search(r"│\s+3\s+10\s+43¢\s+49\.5¢\s+3\s+│", text)
    assert re.search(r"│\s+10\s+10\s+36¢\s+│", text)
    assert not re.search(r"│\s+11\s", text)
    assert "35¢" not in text and "33¢" not in text  # below the top 10
    assert "spread 2¢  mid 46¢  levels YES 13 / NO 3" in text


def test_trades_volume_and_markets_table(dash: Dashboard) -> None:
    text = text_of(dash.snapshot(NOW_NS))
    newest = line_with(text, re.escape(hhmmss(T0_MS + 2000)))
    assert re.search(r"NO\s+46¢\s+54¢\s+10\s", newest)
    older = line_with(text, re.escape(hhmmss(T0_MS + 1000)) + r"\s+YES")
    assert re.search(r"YES\s+45¢\s+55¢\s+2\.50\s", older)
    assert text.index(hhmmss(T0_MS + 2000)) < text.index(hhmmss(T0_MS + 1000))  # newest first
    assert "volume 12.50  last 60s 12.50 (YES 2.50 / NO 10)" in text
    assert "exchange volume 1234  open interest 99" in text
    assert "Markets KXTEST-26DEC31-… (1-2 of 2)" in text  # the shared prefix once, in the title
    row_a = line_with(text, r"▶\s+…A\s")
    assert re.search(r"ok\s+45¢\s+47¢\s+2¢\s+46¢\s+46¢\s+2\s+12\.50\s+2\.50 YES\s+\$0\.025\s+3\.0s", row_a)
    row_b = line_with(text, r"│\s+…B\s")
    assert "NO: sequence gap" in row_b and re.search(r"20¢\s+--\s+--", row_b)


def test_status_bar_counts_and_usable_books(dash: Dashboard) -> None:
    text = text_of(dash.snapshot(NOW_NS))
    status = line_with(text, "CONNECTED")
    for part in (
        "● CONNECTED",
        "up 0:00:00",
        "frames 11",
        "reconnects 2",
        "gaps 1",
        "resyncs 1",
        "latency p50 5 ms p99 100 ms",
        "books usable 1/2",
        time.strftime("%H:%M:%S", time.localtime(NOW_NS / 1e9)),
    ):
        assert part in status, part
    # the not-usable book says why, in its own panel title when selected
    dash.select(B)
    text = text_of(dash.snapshot(NOW_NS))
    assert re.search(rf"{B}\s+NOT USABLE", text)
    assert "NOT USABLE: sequence gap on sid 2 (expected 2, got 3)" in text


def test_status_bar_states_and_frame_rate() -> None:
    clock = Clock(10.0)
    core = known_core()
    dash = Dashboard(core, fake_client("reconnecting"), clock=clock)
    assert dash.snapshot(NOW_NS).status.fps is None
    clock.now += 1.0
    core.counters["frames"] += 50
    status = dash.snapshot(NOW_NS).status
    assert status.fps == pytest.approx(50.0)
    assert status.uptime_s == pytest.approx(1.0)
    assert "● RECONNECTING" in text_of(dash.snapshot(NOW_NS))


def test_private_panel_position_average_cost_and_mark_to_mid_pnl(dash: Dashboard) -> None:
    text = text_of(dash.snapshot(NOW_NS))
    # 2.50 YES bought for $1.125: avg 45¢; mid 46¢ -> worth $1.15 -> +$0.025
    assert "position 2.50 YES  avg cost 45¢  mark 46¢  P&L @mid $0.025  realized $0.50  fees $0.013" in text
    assert "total of 1 position: P&L @mid $0.025  realized $0.50" in text
    fill = line_with(text, re.escape(hhmmss(T0_MS + 1000)) + r"\s+BUY YES")
    assert re.search(r"BUY YES\s+45¢\s+2\.50\s+maker\s+\$0\.013\s+2\.50 YES", fill)
    public = Dashboard(known_core(), fake_client(), private=False, clock=Clock())
    assert "Your position" not in text_of(public.snapshot(NOW_NS))


def test_no_position_is_marked_with_the_no_price() -> None:
    core = known_core()
    market = core.state.markets[A]
    market.position = -400  # 4 NO contracts
    market.last_position = None
    view = position_view(market)
    assert view is not None and view.mark == 5400 and view.avg_cost is None and view.pnl is None
    core.feed(frame("market_position", {"market_ticker": A, "position_fp": "-4.00", "position_cost_dollars": "2"}), 0)
    view = position_view(core.state.markets[A])
    # 4 NO at 50¢ average; NO mark = 100 - 46 = 54¢ -> worth $2.16 -> +$0.16
    assert view is not None and (view.avg_cost, view.mark, view.pnl) == (5000, 5400, 160_000)


def test_changed_levels_are_highlighted_for_a_while() -> None:
    clock = Clock()
    core = known_core()
    dash = Dashboard(core, clock=clock)
    first = dash.snapshot(NOW_NS)
    assert first.detail is not None and all(lv.change == 0 for lv in first.detail.bids + first.detail.asks)
    core.feed(delta(A, "0.4500", "-2.50", 1, 3), NOW_NS)  # 45¢ bid shrinks
    core.feed(delta(A, "0.5300", "1.00", 1, 4, side="no"), NOW_NS)  # 47¢ ask grows
    clock.now += 0.25
    snap = dash.snapshot(NOW_NS)
    assert snap.detail is not None
    assert (snap.detail.bids[0].size, snap.detail.bids[0].change) == (1000, -1)
    assert (snap.detail.asks[0].size, snap.detail.asks[0].change) == (4100, 1)
    assert snap.detail.bids[1].change == 0
    styled = Console(record=True, width=140, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    styled.print(render(snap, NOW_NS / 1e9))
    html = styled.export_html(inline_styles=True)
    assert re.search(r"background-color: #800000[^>]*>\s*10<", html)  # shrunk: red background
    assert re.search(r"background-color: #008000[^>]*>\s*41<", html)  # grew: green background
    clock.now += HIGHLIGHT_S
    later = dash.snapshot(NOW_NS)
    assert later.detail is not None and later.detail.bids[0].change == 0 and later.detail.asks[0].change == 0


def test_keys_select_markets_and_quit() -> None:
    assert parse_keys(b"\t") == ["next"]
    assert parse_keys(b"\x1b[C\x1b[D\x1b[A\x1b[B") == ["next", "prev", "prev", "next"]
    assert parse_keys(b"2q") == ["select:1", "quit"]
    assert parse_keys(b"\x1b[15~x\x1bOP") == []  # unknown sequences and keys are ignored
    dash = Dashboard(known_core(), clock=Clock())
    assert dash.snapshot(NOW_NS).detail.row.ticker == A  # type: ignore[union-attr]
    dash._on_input(b"n")
    assert dash.snapshot(NOW_NS).detail.row.ticker == B  # type: ignore[union-attr]
    dash._on_input(b"n")  # wraps around
    assert dash.snapshot(NOW_NS).detail.row.ticker == A  # type: ignore[union-attr]
    dash._on_input(b"2")
    assert dash.snapshot(NOW_NS).selected == 1
    dash._on_input(b"9")  # no 9th market: unchanged
    assert dash.snapshot(NOW_NS).selected == 1
    stop = asyncio.Event()
    dash._stop = stop
    dash._on_input(b"q")
    assert stop.is_set()


def test_many_markets_scroll_around_the_selection() -> None:
    core = Core()
    tickers = [f"KXM-{i:02d}" for i in range(20)]
    for i, t in enumerate(tickers):
        body = {"market_ticker": t, "yes_dollars_fp": [["0.4000", "1.00"]]}
        core.feed(frame("orderbook_snapshot", body, 1, i + 1), 0)
    dash = Dashboard(core, clock=Clock())
    dash.select("KXM-15")
    snap = dash.snapshot(NOW_NS)
    assert snap.total_markets == 20 and snap.selected == 15
    assert snap.rows[0].ticker == "KXM-11" and len(snap.rows) == 8
    text = text_of(snap)
    assert "Markets KXM-… (12-19 of 20)" in text and re.search(r"▶\s+…15\s", text)


def test_empty_state_renders() -> None:
    dash = Dashboard(Core(), fake_client("connecting"), private=True, clock=Clock())
    text = text_of(dash.snapshot(NOW_NS))
    assert "waiting for market data" in text and "● CONNECTING" in text and "books usable 0/0" in text


def test_render_fits_a_narrow_terminal(dash: Dashboard) -> None:
    text = text_of(dash.snapshot(NOW_NS), width=100)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "45¢" in text and "47¢" in text


def test_rendering_failure_is_shown_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    dash = Dashboard(Core(), clock=Clock(), log_file="/tmp/x.log")

    def broken(now_ns: int | None = None) -> Snapshot:
        raise RuntimeError("boom")

    dash.snapshot = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        first = dash.render_now()
        dash.render_now()
    assert dash.render_errors == 2
    assert [r.message for r in caplog.records].count("dashboard: rendering failed (the feed goes on)") == 1
    console = Console(record=True, width=80, file=io.StringIO())
    console.print(first)
    assert "dashboard error (see the log: /tmp/x.log)" in console.export_text()


def test_refresh_rate_is_fixed_and_capped() -> None:
    with pytest.raises(ValueError):
        Dashboard(Core(), refresh_hz=MAX_REFRESH_HZ + 1)

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        dash = Dashboard(Core(), refresh_hz=MAX_REFRESH_HZ, console=Console(file=io.StringIO()), screen=False)
        stop = asyncio.Event()
        times: list[float] = []
        original = dash.render_now

        def counting() -> object:
            times.append(loop.time())
            if len(times) == 5:
                stop.set()
            return original()

        dash.render_now = counting  # type: ignore[method-assign,assignment]
        for _ in range(20):  # keys pressed quickly do not raise the rate above the cap
            loop.call_soon(dash._on_input, b"n")
        await asyncio.wait_for(dash.run(stop), timeout=5)
        return times

    times = asyncio.run(run())
    gaps = [b - a for a, b in zip(times[1:], times[2:], strict=False)]  # times[0]: the Live's initial renderable
    assert len(gaps) == 3 and all(g >= 1 / MAX_REFRESH_HZ - 0.01 for g in gaps), gaps


async def test_run_renders_the_live_state_and_stops() -> None:
    out = io.StringIO()
    core = known_core()
    dash = Dashboard(core, fake_client(), console=Console(file=out, width=120), screen=False, refresh_hz=10)
    stop = asyncio.Event()
    original = dash.render_now

    def once() -> object:
        if dash.refreshes >= 1:
            stop.set()
        return original()

    dash.render_now = once  # type: ignore[method-assign,assignment]
    await asyncio.wait_for(dash.run(stop), timeout=5)
    assert "KXTEST-26DEC31-A" in out.getvalue() and "CONNECTED" in out.getvalue()
    assert "frames 11" in dash.status_line()


def test_dashboard_and_metrics_are_refused_with_replay(capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--dashboard"], ["--metrics-port", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["--replay", str(FIXTURES / "fixed_point_session.jsonl"), *extra])
        assert exc.value.code == 2
    assert "not --replay" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--simulate", "--dashboard-refresh", "11"])


def test_log_file_takes_the_log_off_the_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "run.log"
    assert main(["--replay", str(FIXTURES / "fixed_point_session.jsonl"), "--log-file", str(log_file)]) == 0
    captured = capsys.readouterr()
    assert "[ORDERBOOK SNAPSHOT]" not in captured.err + captured.out
    content = log_file.read_text(encoding="utf-8")
    assert "[ORDERBOOK SNAPSHOT] KXTEST-26DEC31-A" in content and "Replay done" in content


# ---------------------------------------------------------------------------------------------- terminal sizes

EVENT = "KXNBAGAME-26DEC01-"
TEAMS = ("LAL", "BOS", "NYK", "GSW", "MIA")


def game_day_core() -> Core:
    """Five markets of one event (long tickers sharing KXNBAGAME-26DEC01-), deep books, trades and fills in LAL,
    positions in LAL and BOS, and NYK's book not usable (a sequence gap)."""
    core = Core()
    for i, team in enumerate(TEAMS):
        core.feed(frame("subscribed", {"channel": "orderbook_delta", "sid": i + 1}, id=i + 1), T0_NS)
        yes = [[f"0.{c:02d}00", f"{(c * 37) % 900 + 10}.00"] for c in range(30 + i, 45 + i)]
        no = [[f"0.{c:02d}00", f"{(c * 53) % 700 + 5}.50"] for c in range(40 - i, 53 - i)]
        body = {"market_ticker": EVENT + team, "yes_dollars_fp": yes, "no_dollars_fp": no}
        core.feed(frame("orderbook_snapshot", body, i + 1, 1), T0_NS)
    core.feed(delta(EVENT + "NYK", "0.3000", "1.00", 3, 3), T0_NS)  # seq 2 missing: NYK not usable
    for k in range(12):
        trade = {
            "trade_id": f"t-{k}",
            "market_ticker": EVENT + "LAL",
            "yes_price_dollars": "0.4400",
            "no_price_dollars": "0.5600",
            "count_fp": "1234.50",
            "taker_side": "yes" if k % 2 else "no",
            "ts_ms": T0_MS + k * 100,
        }
        core.feed(frame("trade", trade, 9, k + 1), T0_NS)
    for k in range(8):
        fill = {
            "trade_id": f"t-{k}",
            "order_id": "o-1",
            "market_ticker": EVENT + "LAL",
            "is_taker": bool(k % 2),
            "side": "yes",
            "action": "buy",
            "yes_price_dollars": "0.4400",
            "count_fp": "10.00",
            "fee_cost": "0.070000",
            "post_position_fp": f"{10 * (k + 1)}.00",
            "ts_ms": T0_MS + k * 100,
        }
        core.feed(frame("fill", fill, 10), T0_NS)
    for team, position, cost, realized in (("LAL", "80.00", "35.20", "-1.50"), ("BOS", "-25.00", "14.00", "2.00")):
        body = {
            "market_ticker": EVENT + team,
            "position_fp": position,
            "position_cost_dollars": cost,
            "realized_pnl_dollars": realized,
            "fees_paid_dollars": "0.56",
        }
        core.feed(frame("market_position", body, 11), T0_NS)
    core.counters["frames"] = 1_234_567
    core.counters["reconnects"] = 2
    core.latencies_ms.clear()
    core.latencies_ms.extend([3, 5, 7, 100])
    return core


def game_day(state: str = "connected", core: Core | None = None) -> Dashboard:
    dash = Dashboard(
        core or game_day_core(),
        fake_client(state),
        private=True,
        log_file="/tmp/mm-ws-listener-abcd1234.log",
        clock=Clock(),
    )
    dash._keys = True  # as on a terminal: the key help is shown
    dash.select(EVENT + "LAL")
    return dash


def screen(dash: Dashboard, width: int, height: int) -> list[str]:
    """The screen as a terminal of width x height shows it (every line, nothing cropped)."""
    console = Console(
        record=True, width=width, height=height, file=io.StringIO(), color_system=None, force_terminal=True
    )
    console.print(render(dash.snapshot(NOW_NS), NOW_NS / 1e9))
    lines = console.export_text().splitlines()
    assert len(lines) <= height, f"{len(lines)} lines on a {width}x{height} screen:\n" + "\n".join(lines)
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, too_wide
    return lines


def one_line_with(lines: list[str], *parts: str) -> str:
    """The line holding every one of ``parts`` whole (a field cut across two lines is not found)."""
    for line in lines:
        if all(part in line for part in parts):
            return line
    raise AssertionError(f"no line holds {parts!r}:\n" + "\n".join(lines))


SIZES = [(80, 24), (100, 30), (120, 40), (140, 45)]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_size_shows_distinct_tickers_the_marker_pnl_and_the_key_help(width: int, height: int) -> None:
    lines = screen(game_day(), width, height)
    text = "\n".join(lines)
    # tickers: the shared prefix once, in the title; each market by what tells it apart
    assert f"Markets {EVENT}…" in text
    rows = {team: one_line_with(lines, f"…{team} ") for team in TEAMS}
    assert len(set(rows.values())) == len(TEAMS)
    assert not any(EVENT in row for row in rows.values())
    # the selection marker, on the selected market's row only
    assert text.count("▶") == 1 and "▶" in rows["LAL"]
    # the not-usable book says so on its row; the others are ok
    assert "NO: sequence gap" in rows["NYK"] and all(" ok " in rows[t] for t in TEAMS if t != "NYK")
    # P&L: in the markets table (LAL: 80 YES bought at 44¢, mid 46¢ -> +$1.60; BOS: 25 NO) and the position line
    assert re.search(r"80 YES\s+\$1\.60", rows["LAL"]) and re.search(r"25 NO\s+-\$0\.75", rows["BOS"])
    one_line_with(lines, "position 80 YES", "P&L @mid $1.60")
    one_line_with(lines, "total of 2 positions: P&L @mid $0.85")
    # the ladder of the selected market, under its full ticker
    one_line_with(lines, f"{EVENT}LAL", "ok")
    assert re.search(r"^\W*1\s+738\s+44¢\s+48¢\s+661\.50\b", one_line_with(lines, "738", "44¢", "661.50"))
    # the status bar: each field whole on one line, the state and the usable count on the first line
    assert "● CONNECTED" in lines[0] or "● CONNECTED" in lines[1]
    one_line_with(lines, "● CONNECTED", "books usable 4/5")
    for field in (
        "up 0:00:00",
        "frames 1,234,567",
        "reconnects 2",
        "gaps 1",
        "resyncs 0",
        "latency p50 5 ms p99 100 ms",
    ):
        one_line_with(lines, field)
    # the key help, whole, at the bottom
    assert "keys: Tab/→ next" in lines[-1] or "keys: Tab/→ next" in lines[-2]
    one_line_with(lines, "keys: Tab/→ next", "1-9 pick", "q quit")


def test_small_screens_trade_depth_for_room_and_large_ones_show_everything() -> None:
    small = "\n".join(screen(game_day(), 80, 24))
    assert "╭" not in small  # rules instead of boxes: two lines more for the data
    assert "Last trades" in small and "06:46:29.100" in small  # the newest trade (and its milliseconds)
    assert re.search(r"BUY YES\s+44¢\s+10\s+taker", small)  # the newest fill
    large = screen(game_day(), 140, 45)
    text = "\n".join(large)
    assert "╭─ Kalshi market data" in text and "Age" in text and "Last" in text and "Trades" in text
    assert re.search(r"│\s+10\s+405\s+35¢\s+57¢\s+184\.50\s+│", text)  # ten levels
    assert len([line for line in large if "BUY YES" in line]) == FILLS_SHOWN
    one_line_with(large, "spread min 4¢ max 4¢ mean 4¢")
    one_line_with(large, "log: /tmp/mm-ws-listener-abcd1234.log")


def test_a_lost_connection_shows_on_every_row_and_in_the_status() -> None:
    core = game_day_core()
    for market in core.state.markets.values():  # what the recovery layer does when the connection drops
        market.invalid_reason = "connection lost"
    for width, height in SIZES:
        lines = screen(game_day("reconnecting", core), width, height)
        one_line_with(lines, "● RECONNECTING", "books usable 0/5")
        for team in TEAMS:
            assert "NO: connection lost" in one_line_with(lines, f"…{team} ")
        one_line_with(lines, f"{EVENT}LAL", "NOT USABLE")
        one_line_with(lines, "NOT USABLE: connection lost")


def test_many_markets_on_a_small_screen_keep_the_selection_in_view() -> None:
    core = game_day_core()
    for i in range(20):
        body = {"market_ticker": f"{EVENT}X{i:02d}", "yes_dollars_fp": [["0.4000", "1.00"]]}
        core.feed(frame("orderbook_snapshot", body, 99, i + 1), T0_NS)
    dash = game_day(core=core)
    dash.select(f"{EVENT}X17")
    lines = screen(dash, 80, 24)
    assert "▶" in one_line_with(lines, "…X17 ")
    assert re.search(r"Markets KXNBAGAME-26DEC01-… \(\d+-\d+ of 25\)", "\n".join(lines))
    one_line_with(lines, "q quit")


@pytest.mark.parametrize(("width", "height"), [(60, 16), (80, 12), (200, 60)])
def test_odd_sizes_still_fit(width: int, height: int) -> None:
    lines = screen(game_day(), width, height)
    assert "▶" in "\n".join(lines) and "q quit" in "\n".join(lines)


def test_written_to_a_file_the_screen_is_whole() -> None:
    text = text_of(game_day().snapshot(NOW_NS), width=80)  # a file's console: 80x25 by default
    assert "╭─ Kalshi market data" in text and len(text.splitlines()) > 25
    assert re.search(r"│\s+10\s+405\s+35¢\s+57¢\s+184\.50\s+│", text)


def test_the_closing_status_lines_break_between_fields() -> None:
    lines = game_day().status_lines(40, first=24)
    assert len(lines[0]) <= 24 and all(len(line) <= 40 for line in lines[1:])
    for field in ("● CONNECTED", "books usable 4/5", "frames 1,234,567", "latency p50 5 ms p99 100 ms"):
        one_line_with(lines, field)


def test_ticker_labels_and_field_wrapping() -> None:
    assert common_prefix([EVENT + "LAL", EVENT + "BOS"]) == EVENT
    assert common_prefix(["KXA-26-X", "KXB-26-X"]) == ""  # only whole parts are elided
    assert common_prefix(["KXNBAGAME-26DEC01-LAL", "KXNBAGAME-26DEC02-LAL"]) == "KXNBAGAME-"
    assert common_prefix([EVENT + "LAL"]) == ""  # one market: its whole ticker
    assert ticker_label(EVENT + "LAL", EVENT, 16) == "…LAL"
    assert ticker_label("KXHIGHNY-26AUG05-B85.5", "", 10) == "…G05-B85.5"  # too long: the end is kept
    fields = [Text("alpha 1"), Text("beta 22"), Text("gamma 333")]
    assert [t.plain for t in wrap_fields(fields, 17)] == ["alpha 1  beta 22", "gamma 333"]
    assert [t.plain for t in wrap_fields(fields, 8)] == ["alpha 1", "beta 22", "gamma 3…"]
    assert [t.plain for t in wrap_fields(fields, 40, first=10)] == ["alpha 1", "beta 22  gamma 333"]


# ---------------------------------------------------------------------------------------------- fatal errors


def _no_kalshi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KALSHI_"):
            monkeypatch.delenv(name)


def test_a_dashboard_run_with_a_config_error_prints_the_reason_on_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_kalshi_environment(monkeypatch)
    missing = tmp_path / "no-such-key.pem"
    env = tmp_path / ".env"
    env.write_text(f"KALSHI_API_KEY_ID=0123456789abcdef\nKALSHI_PRIVATE_KEY_PATH={missing}\n", encoding="utf-8")
    log_file = tmp_path / "run.log"
    code = main(["--ticker", "KXA", "--dashboard", "--env-file", str(env), "--log-file", str(log_file)])
    assert code == 3
    err = capsys.readouterr().err
    reason = f"mm-ws-listener: ERROR configuration error: private key file not found: KALSHI_PRIVATE_KEY_PATH={missing}"
    assert reason in err, err
    assert err.index(reason) < err.index(f"stopped with exit code 3; see the log in {log_file}")
    assert "Traceback" not in err and " - INFO - " not in err  # the errors only, not the log
    assert "private key file not found" in log_file.read_text(encoding="utf-8")


def test_the_log_file_prints_its_errors_once_in_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, handler = log_to_file(str(tmp_path / "run.log"))
    assert path == str(tmp_path / "run.log")
    work = logging.getLogger("market_making_bot.test")
    work.setLevel(logging.INFO)
    work.info("fine")
    work.warning("a warning stays in the file")
    for i in range(ERRORS_ECHOED + 2):
        work.error("problem %d\nsecond line of it", i)
    try:
        raise ValueError("bad value\nmore")
    except ValueError:
        work.exception("handler failed")
    work.critical("the end")
    assert capsys.readouterr().err == ""  # nothing on the terminal while the run goes on
    handler.close()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"mm-ws-listener: {ERRORS_ECHOED + 4} errors, the last {ERRORS_ECHOED}:"
    assert err[1:] == [
        *(f"mm-ws-listener: ERROR problem {i}" for i in range(4, ERRORS_ECHOED + 2)),
        "mm-ws-listener: ERROR handler failed (ValueError: bad value)",
        "mm-ws-listener: CRITICAL the end",
    ]
    handler.close()
    assert capsys.readouterr().err == ""  # printed once
    content = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "a warning stays in the file" in content and "Traceback" in content and "second line of it" in content


async def test_a_dashboard_run_refused_by_the_server_prints_why_after_the_screen(tmp_path: Path) -> None:
    other_public = write_key(tmp_path / "other.pem", "ed25519")  # the server knows a different key
    mine = tmp_path / "mine.pem"
    write_key(mine, "ed25519")
    async with ExchangeSimulator(SimulatorConfig(tickers=["KXDASH-26DEC31-A"], public_key=other_public)) as sim:
        env = tmp_path / ".env"
        env.write_text(f"KALSHI_API_KEY_ID=0123456789abcdef\nKALSHI_PRIVATE_KEY_PATH={mine}\nKALSHI_WS_URL={sim.url}\n")
        proc = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(env), "--ticker", "KXDASH-26DEC31-A", "--dashboard", "--duration", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")},
        )  # fmt: skip
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 4, err
    assert "Kalshi market data" in out  # the dashboard was drawn (its last screen, on a non-terminal)
    refused = [line for line in err.splitlines() if line.startswith("mm-ws-listener: ERROR authentication")]
    assert len(refused) == 1, err
    assert "HTTP 401" in refused[0] and "0123456789abcdef" not in err
    assert err.index("log written to") < err.index(refused[0]) < err.index("stopped with exit code 4")
    assert "Traceback" not in err
