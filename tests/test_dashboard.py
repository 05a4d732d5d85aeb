"""The dashboard: a known state rendered to text with rich's recording console; refresh rate, keys, log routing."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

from market_making_bot.core import Core
from market_making_bot.dashboard import (
    HIGHLIGHT_S,
    MAX_REFRESH_HZ,
    Dashboard,
    Snapshot,
    parse_keys,
    position_view,
    render,
)
from market_making_bot.mm_ws_listener import main

from .market_frames import T0_MS, T0_NS, A, B, delta, fake_client, frame, known_core
from .paths import FIXTURES

NOW_NS = T0_NS + 3_000_000_000


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def text_of(snap: Snapshot, width: int = 140) -> str:
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
    row_a = line_with(text, r"▶\s+" + A)
    assert re.search(r"ok\s+45¢\s+47¢\s+2¢\s+46¢\s+46¢\s+2\s+12\.50\s+2\.50 YES\s+\$0\.025\s+3\.0s", row_a)
    row_b = line_with(text, r"│\s+" + B)
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
    assert "Markets (12-19 of 20)" in text and re.search(r"▶\s+KXM-15", text)


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
