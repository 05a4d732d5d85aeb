"""Prometheus metrics: the endpoint scraped over HTTP on loopback returns the expected series."""

from __future__ import annotations

import argparse
import asyncio
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from market_making_bot.cli.monitor import start_monitoring
from market_making_bot.feed.core import Core
from market_making_bot.runtime.config import ConfigError
from market_making_bot.views.metrics import METRIC_NAMES, KalshiCollector, MetricsServer, reason_kind

from .market_frames import T0_MS, T0_NS, A, B, fake_client, frame, known_core


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body: bytes = response.read()
    return body.decode("utf-8")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(series: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return series[(name, tuple(sorted(labels.items())))]


async def test_endpoint_serves_counters_and_book_gauges_on_loopback() -> None:
    core = known_core()
    server = MetricsServer(core, fake_client(), port=0)
    server.start()
    try:
        assert server.host == "127.0.0.1" and server.url == f"http://127.0.0.1:{server.port}/metrics"
        text = await asyncio.to_thread(scrape, server.url)
    finally:
        await server.aclose()
    s = samples(text)
    assert value(s, "kalshi_frames_received_total") == 11
    assert value(s, "kalshi_frames_total", type="orderbook_snapshot") == 2
    assert value(s, "kalshi_frames_total", type="orderbook_delta") == 2
    assert value(s, "kalshi_frames_total", type="trade") == 2
    assert value(s, "kalshi_reconnects_total") == 2
    assert value(s, "kalshi_connections_total") == 3
    assert value(s, "kalshi_gaps_total") == 1
    assert value(s, "kalshi_resyncs_total") == 1
    assert value(s, "kalshi_book_problems_total", kind="gap") == 1
    assert value(s, "kalshi_errors_total", kind="malformed") == 0
    assert value(s, "kalshi_errors_total", kind="server") == 0
    assert value(s, "kalshi_connected") == 1
    assert value(s, "kalshi_markets") == 2
    assert value(s, "kalshi_books_usable") == 1
    assert value(s, "kalshi_book_usable", market=A) == 1
    assert value(s, "kalshi_book_usable", market=B) == 0
    assert [k for k in s if k[0] == "kalshi_book_unusable"] == [
        ("kalshi_book_unusable", (("market", B), ("reason", "sequence gap")))
    ]
    assert value(s, "kalshi_best_bid_dollars", market=A) == 0.45
    assert value(s, "kalshi_best_ask_dollars", market=A) == 0.47
    assert value(s, "kalshi_spread_dollars", market=A) == pytest.approx(0.02)
    assert value(s, "kalshi_mid_dollars", market=A) == 0.46
    assert value(s, "kalshi_book_levels", market=A, side="yes") == 13
    assert value(s, "kalshi_book_levels", market=A, side="no") == 3
    assert value(s, "kalshi_position_contracts", market=A) == 2.5
    assert ("kalshi_position_contracts", (("market", B),)) not in s  # no position known: no series
    assert ("kalshi_best_ask_dollars", (("market", B),)) not in s  # empty NO ladder: no ask
    assert value(s, "kalshi_trades_total", market=A) == 2
    assert value(s, "kalshi_fills_total", market=A) == 1
    assert value(s, "kalshi_last_message_age_seconds", market=A) > 0
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names == set(METRIC_NAMES)
    assert all(name.startswith("kalshi_") for name in names)


async def test_latency_histogram_counts_new_samples_once() -> None:
    core = Core()
    server = MetricsServer(core, port=0)
    server.start()
    try:
        # one frame in 8 is sampled by the core; 16 frames with 3 ms and 40 ms of latency
        for i in range(16):
            latency = 3 if i < 8 else 40
            core.feed(
                frame("ticker", {"market_ticker": A, "price_dollars": "0.4500"}, 4, sending_ts_ms=T0_MS + i),
                (T0_MS + i + latency) * 1_000_000,
            )
        expected = list(core.latencies_ms)
        assert expected and set(expected) <= {3, 40}
        first = samples(await asyncio.to_thread(scrape, server.url))
        second = samples(await asyncio.to_thread(scrape, server.url))
    finally:
        await server.aclose()
    for s in (first, second):  # a second scrape does not count the same samples again
        assert value(s, "kalshi_feed_latency_seconds_count") == len(expected)
        assert value(s, "kalshi_feed_latency_seconds_sum") == pytest.approx(sum(expected) / 1000)
        assert value(s, "kalshi_feed_latency_seconds_bucket", le="0.001") == 0
        assert value(s, "kalshi_feed_latency_seconds_bucket", le="0.005") == expected.count(3)
        assert value(s, "kalshi_feed_latency_seconds_bucket", le="0.05") == len(expected)
        assert value(s, "kalshi_feed_latency_seconds_bucket", le="+Inf") == len(expected)


def test_collector_reads_directly_without_a_loop() -> None:
    core = known_core()
    collector = KalshiCollector(core)  # no client: not connected, no connection count
    families = {f.name: f for f in collector.collect()}
    assert families["kalshi_connected"].samples[0].value == 0
    assert families["kalshi_connections"].samples[0].value == 0
    # the core's latency deque keeps working for its own percentiles
    core.latencies_ms.append(9)
    assert core.health()["feed_latency_ms"]["p99"] == 100.0


def test_latency_samples_older_than_the_deque_are_not_double_counted() -> None:
    core = Core()
    collector = KalshiCollector(core)
    samples_deque = core.latencies_ms
    for _ in range(samples_deque.maxlen + 5):  # type: ignore[operator]
        samples_deque.append(1)
    core.latency_samples += samples_deque.maxlen + 5  # type: ignore[operator]  # as the core counts its samples
    collector.ingest()
    hist = collector._latency
    assert hist.count == samples_deque.maxlen and hist.lost == 5


async def test_port_in_use_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = argparse.Namespace(metrics_port=port, metrics_host="127.0.0.1", dashboard=False)
        with pytest.raises(ConfigError, match=f"metrics: cannot listen on 127.0.0.1:{port}"):
            start_monitoring(args, Core(), None, asyncio.Event())


async def test_monitoring_starts_and_stops_the_server() -> None:
    args = argparse.Namespace(metrics_port=0, metrics_host="127.0.0.1", dashboard=False)
    core = known_core()
    core.feed(frame("orderbook_snapshot", {"market_ticker": "KXNEW", "yes_dollars_fp": []}, 9, 1), T0_NS)
    views = start_monitoring(args, core, fake_client(), asyncio.Event())
    url = views.metrics.url
    text = await asyncio.to_thread(scrape, url)
    assert 'kalshi_book_usable{market="KXNEW"} 1.0' in text
    await views.close()
    with pytest.raises(OSError):
        await asyncio.to_thread(scrape, url)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("sequence gap on sid 3 (expected 8, got 9)", "sequence gap"),
        ("connection lost: no pong within 0.3 s: ping timeout", "connection lost"),
        ("subscription sid 1 ended by error 25", "subscription ended by error"),
        ("waiting for the subscription ack (sid 3)", "waiting for the subscription ack"),
        (None, "unknown"),
    ],
)
def test_unusable_reason_label_has_few_values(reason: str | None, kind: str) -> None:
    assert reason_kind(reason) == kind
