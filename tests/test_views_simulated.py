"""``--metrics-port`` and ``--dashboard`` in a short CLI run against the built-in simulator (loopback only)."""

from __future__ import annotations

import logging
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from market_making_bot.cli.listener import main

pytest.importorskip("market_making_bot.simulator", reason="the simulator is not on this branch yet")

WAIT_S = 20.0


class Watch(logging.Handler):
    """Sets events from the run's log: the metrics URL, every market's first snapshot, some trades."""

    def __init__(self, markets: int, trades: int) -> None:
        super().__init__(logging.INFO)
        self.url: str | None = None
        self.listening = threading.Event()
        self.ready = threading.Event()
        self._snapshots: set[str] = set()
        self._trades = 0
        self._markets, self._min_trades = markets, trades

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("metrics: serving Prometheus metrics at "):
            self.url = text.rsplit(" ", 1)[1]
            self.listening.set()
        elif text.startswith("[ORDERBOOK SNAPSHOT] "):
            self._snapshots.add(text.split()[-1])
        elif text.startswith("[TRADE] "):
            self._trades += 1
        if len(self._snapshots) >= self._markets and self._trades >= self._min_trades:
            self.ready.set()


def run_in_thread(argv: list[str]) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv)), daemon=True)
    thread.start()
    return thread, codes


def test_metrics_endpoint_answers_during_a_simulated_run(tmp_path: Path) -> None:
    watch = Watch(markets=3, trades=3)
    logging.getLogger("market_making_bot").addHandler(watch)
    try:
        thread, codes = run_in_thread(
            [
                "--simulate",
                "--sim-rate",
                "200",
                "--duration",
                "3",
                "--metrics-port",
                "0",
                "--log-file",
                str(tmp_path / "run.log"),
            ]
        )
        assert watch.listening.wait(WAIT_S), "the metrics server did not start"
        assert watch.ready.wait(WAIT_S), "no snapshots and trades from the simulator"
        assert watch.url is not None and watch.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(watch.url, timeout=10) as response:
            text = response.read().decode("utf-8")
        thread.join(WAIT_S)
    finally:
        logging.getLogger("market_making_bot").removeHandler(watch)
    assert not thread.is_alive() and codes == [0]
    series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            series[(s.name, tuple(sorted(s.labels.items())))] = s.value
    markets = sorted({dict(labels)["market"] for name, labels in series if name == "kalshi_book_usable"})
    assert len(markets) == 3
    assert series[("kalshi_connected", ())] == 1
    assert series[("kalshi_connections_total", ())] == 1
    assert series[("kalshi_frames_total", (("type", "orderbook_snapshot"),))] == 3
    assert series[("kalshi_frames_total", (("type", "trade"),))] >= 3
    assert series[("kalshi_reconnects_total", ())] == 0
    assert series[("kalshi_errors_total", (("kind", "malformed"),))] == 0
    for market in markets:
        bid = series[("kalshi_best_bid_dollars", (("market", market),))]
        ask = series[("kalshi_best_ask_dollars", (("market", market),))]
        assert 0 < bid < ask < 1
        assert series[("kalshi_spread_dollars", (("market", market),))] == pytest.approx(ask - bid)
        assert series[("kalshi_book_usable", (("market", market),))] == 1
    inf = series[("kalshi_feed_latency_seconds_bucket", (("le", "+Inf"),))]
    assert series[("kalshi_feed_latency_seconds_count", ())] == inf
    assert "simulated-key" not in text and "PRIVATE KEY" not in text


def test_dashboard_run_keeps_the_log_off_the_screen(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "run.log"
    code = main(["--simulate", "--sim-rate", "200", "--duration", "1.5", "--dashboard", "--log-file", str(log_file)])
    assert code == 0
    out, err = capfd.readouterr()
    assert "[ORDERBOOK SNAPSHOT]" not in out + err and " - INFO - " not in out + err
    assert f"log written to {log_file}" in err
    assert "Kalshi market data" in out  # the dashboard drew (the final frame stays on a non-terminal)
    log = log_file.read_text(encoding="utf-8")
    assert "[ORDERBOOK SNAPSHOT]" in log and "end of run" in log
