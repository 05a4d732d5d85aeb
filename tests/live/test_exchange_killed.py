"""Issue 12's "Done when", as a user sees it: the simulator and the listener as two processes; the exchange is
killed (SIGKILL) under the running listener; within the ping timeout the metrics say disconnected and no book usable;
a summary written during the outage (SIGINT) says ``"usable": false`` for every market. Polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

LISTENER = [sys.executable, "-m", "market_making_bot.mm_ws_listener"]
SIMULATOR = [sys.executable, "-m", "market_making_bot.simulator"]
TICKERS = ["KXKILL-26DEC31-A", "KXKILL-26DEC31-B", "KXKILL-26DEC31-C"]
PING = 0.5
METRIC = re.compile(r"^(kalshi_connected|kalshi_books_usable|kalshi_book_usable)(\{[^}]*\})? (\S+)$", re.M)


class Lines:
    """Drains a process's output (so it never blocks on a full pipe) and lets a test wait for a line."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._drain(stream))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))
            self.changed.set()

    async def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        rx = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for line in self.lines:
                if m := rx.search(line):
                    return m
            if self.task.done() or loop.time() > deadline:
                raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(self.lines)[-4000:]}")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback)
        body = r.read().decode()
    return {name + (labels or ""): float(value) for name, labels, value in METRIC.findall(body)}


async def _poll_metrics(url: str, predicate: object, timeout: float, what: str) -> tuple[dict[str, float], float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    metrics: dict[str, float] = {}
    while True:
        metrics = await asyncio.to_thread(_scrape, url)
        if predicate(metrics):  # type: ignore[operator]
            return metrics, loop.time() - start
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last scrape: {metrics}")
        await asyncio.sleep(0.05)  # the scrape interval, not a wait for a condition


def _book_gauges(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.startswith("kalshi_book_usable{")}


async def test_killed_exchange_makes_every_book_not_usable_in_metrics_and_in_the_summary(tmp_path: Path) -> None:
    creds, summary_path = tmp_path / "sim.env", tmp_path / "summary.json"
    sim = await asyncio.create_subprocess_exec(
        *SIMULATOR, "--port", "0", *[a for t in TICKERS for a in ("--ticker", t)], "--rate", "200", "--seed", "5",
        "--write-credentials", str(creds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    listener: asyncio.subprocess.Process | None = None
    try:
        assert sim.stdout is not None
        sim_out = Lines(sim.stdout)
        await sim_out.wait_for("credentials:", 30)
        listener = await asyncio.create_subprocess_exec(
            *LISTENER, "--env-file", str(creds), "--ticker", ",".join(TICKERS), "--ping-interval", str(PING),
            "--ping-timeout", str(PING), "--metrics-port", "0", "--summary-json", str(summary_path),
            "--log-level", "INFO",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert listener.stdout is not None
        out = Lines(listener.stdout)
        url = (await out.wait_for(r"serving Prometheus metrics at (http://\S+)", 30)).group(1)
        metrics, _ = await _poll_metrics(
            url,
            lambda m: m.get("kalshi_connected") == 1 and m.get("kalshi_books_usable") == len(TICKERS),
            20,
            "a connected listener with every book usable",
        )
        assert len(_book_gauges(metrics)) == len(TICKERS) and set(_book_gauges(metrics).values()) == {1.0}

        sim.kill()  # SIGKILL: no close frame, no goodbye
        killed_at = time.monotonic()
        await sim.wait()
        metrics, took = await _poll_metrics(
            url,
            lambda m: (
                m.get("kalshi_connected") == 0
                and m.get("kalshi_books_usable") == 0
                and set(_book_gauges(m).values()) == {0.0}
            ),
            PING + PING + 3,
            "disconnected, no book usable",
        )
        assert len(_book_gauges(metrics)) == len(TICKERS)
        assert time.monotonic() - killed_at < PING + PING + 1.0, took

        listener.send_signal(signal.SIGINT)  # during the outage: the listener is reconnecting in vain
        code = await asyncio.wait_for(listener.wait(), 20)
        await out.task
        assert code == 0, out.text[-3000:]
    finally:
        for proc in (sim, listener):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
    summary = json.loads(summary_path.read_text())
    assert set(summary["markets"]) == set(TICKERS)
    for ticker in TICKERS:
        market = summary["markets"][ticker]
        assert market["usable"] is False, (ticker, market)
        if "unusable_reason" in market or "reason" in market:
            reason = market.get("unusable_reason") or market.get("reason")
            assert reason and "connection lost" in reason, reason
    assert "Traceback" not in out.text
