"""Prometheus metrics (``--metrics-port N``): counters, feed latency and per-market book gauges, all ``kalshi_*``.

The values are read at scrape time by a custom collector (nothing is updated per frame). The HTTP server runs in
prometheus_client's own thread; the collector hands the read to the event loop (``call_soon_threadsafe``) and waits
for it, so it sees the state between two frames, never half way through one. Without a running loop (tests, after
the run) it reads directly.

The feed latency histogram needs to know which latency samples are new since the last read: the core counts every
sample it takes (``Core.latency_samples``, next to its bounded ``latencies_ms`` deque), and a task on the event loop
folds the new samples into cumulative buckets once a second (and at every scrape).

Nothing secret is exported: no key id, no URL, no account data beyond positions.

This module needs ``prometheus_client`` (the ``metrics`` extra); it is imported only when ``--metrics-port`` is used.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from market_making_bot.feed.core import Core
from market_making_bot.units import PRICE_SCALE, SIZE_SCALE

__all__ = ["LATENCY_BUCKETS_S", "METRIC_NAMES", "KalshiCollector", "MetricsServer", "reason_kind"]

log = logging.getLogger("market_making_bot.views.metrics")

#: Upper bounds (seconds) of the feed latency histogram buckets (+Inf is added).
LATENCY_BUCKETS_S: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS_MS = [b * 1000 for b in LATENCY_BUCKETS_S]
INGEST_INTERVAL_S = 1.0
READ_TIMEOUT_S = 2.0
_PROBLEM_KINDS = (
    ("gap", "gaps"),
    ("regression", "regressions"),
    ("duplicate", "duplicates"),
    ("delta_without_snapshot", "deltas_without_snapshot"),
    ("negative_level", "negative_levels"),
    ("crossed_book", "crossed_books"),
)

#: Every metric family this module exports (counters without their ``_total`` suffix), for the docs and tests.
METRIC_NAMES: tuple[str, ...] = (
    "kalshi_frames_received",
    "kalshi_frames",
    "kalshi_errors",
    "kalshi_reconnects",
    "kalshi_connections",
    "kalshi_gaps",
    "kalshi_resyncs",
    "kalshi_duplicates_dropped",
    "kalshi_book_problems",
    "kalshi_audits",
    "kalshi_trades",
    "kalshi_fills",
    "kalshi_connected",
    "kalshi_uptime_seconds",
    "kalshi_markets",
    "kalshi_books_usable",
    "kalshi_book_usable",
    "kalshi_book_unusable",
    "kalshi_best_bid_dollars",
    "kalshi_best_ask_dollars",
    "kalshi_spread_dollars",
    "kalshi_mid_dollars",
    "kalshi_book_levels",
    "kalshi_position_contracts",
    "kalshi_last_message_age_seconds",
    "kalshi_feed_latency_seconds",
)


class _LatencyHistogram:
    """Cumulative feed latency histogram (milliseconds in, seconds out) built from the core's sample deque."""

    def __init__(self) -> None:
        self.counts = [0] * (len(_BOUNDS_MS) + 1)
        self.count = 0
        self.sum_ms = 0
        self.seen = 0
        self.lost = 0  # samples that left the bounded deque before they were read (counted, not bucketed)

    def ingest(self, samples: deque[int], taken: int) -> None:
        """Fold in the samples taken since the last call: ``taken`` counts every sample ever taken, ``samples``
        holds the last of them."""
        new = taken - self.seen
        if new <= 0:
            return
        self.seen = taken
        take = min(new, len(samples))
        self.lost += new - take
        counts, bounds = self.counts, _BOUNDS_MS
        total = 0
        for value in islice(reversed(samples), take):
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        self.count += take
        self.sum_ms += total

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*LATENCY_BUCKETS_S, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


@dataclass
class _MarketRead:
    ticker: str
    usable: bool
    reason: str | None
    best_bid: int | None
    best_ask: int | None
    spread: int | None
    mid: int | None
    yes_levels: int
    no_levels: int
    position: int | None
    trades: int
    fills: int
    age_s: float | None


@dataclass
class _Read:
    """One consistent copy of what the metrics show."""

    counters: dict[str, int]
    by_type: dict[str, int]
    state: str | None
    connections: int
    uptime_s: float
    markets: list[_MarketRead] = field(default_factory=list)
    latency_buckets: list[tuple[str, float]] = field(default_factory=list)
    latency_sum_s: float = 0.0
    audits: dict[str, dict[str, int]] = field(default_factory=dict)


T = TypeVar("T")


class KalshiCollector(Collector):
    """Reads ``core`` (and ``client``: connection state, handshakes) when Prometheus scrapes.

    ``loop``: the event loop that owns the core; reads are run on it. Pass ``None`` to read in the caller's thread.
    """

    def __init__(
        self,
        core: Core,
        client: Any = None,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.client = client
        self.loop = loop
        self._clock = clock
        self._started = clock()
        self._latency = _LatencyHistogram()
        self._lock = threading.Lock()
        self._latency.seen = core.latency_samples  # samples taken before the collector existed are not new

    # -- reading -----------------------------------------------------------------------------------------

    def ingest(self) -> None:
        """Fold the latency samples that arrived since the last call into the histogram (call on the loop)."""
        core = self.core
        with self._lock:
            self._latency.ingest(core.latencies_ms, core.latency_samples)

    def read(self) -> _Read:
        """A consistent copy of the values (on the loop when there is one running in another thread)."""
        return self._on_loop(self._read)

    def _read(self) -> _Read:
        self.ingest()
        core = self.core
        now_ns = time.time_ns()
        markets = []
        for ticker, m in sorted(core.state.markets.items()):
            book = m.book
            last = m.last_recv_ns
            markets.append(
                _MarketRead(
                    ticker=ticker,
                    usable=m.usable,
                    reason=m.unusable_reason,
                    best_bid=book.best_yes_bid(),
                    best_ask=book.best_yes_ask(),
                    spread=book.spread(),
                    mid=book.mid(),
                    yes_levels=len(book.yes),
                    no_levels=len(book.no),
                    position=m.position,
                    trades=m.trade_count,
                    fills=m.fill_count,
                    age_s=(now_ns - last) / 1e9 if last else None,
                )
            )
        client = self.client
        with self._lock:
            buckets, latency_sum = self._latency.buckets(), self._latency.sum_ms / 1000
        return _Read(
            counters=dict(core.counters),
            by_type=dict(core.by_type),
            state=None if client is None else str(getattr(client, "state", "")),
            connections=int(getattr(client, "connections", 0) or 0),
            uptime_s=self._clock() - self._started,
            markets=markets,
            latency_buckets=buckets,
            latency_sum_s=latency_sum,
            audits={t: dict(per) for t, per in core.audits.items()},
        )

    def _on_loop(self, fn: Callable[[], T]) -> T:
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return fn()
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the scraping thread
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(call)
            return future.result(timeout=READ_TIMEOUT_S)
        except (RuntimeError, concurrent.futures.TimeoutError):  # loop closed meanwhile, or blocked
            return fn()

    # -- exposition --------------------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        return []  # families are created at collect time; no need to read the core when registering

    def collect(self) -> Iterator[Metric]:
        r = self.read()
        c = r.counters

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, value=value)

        yield counter("kalshi_frames_received", "WebSocket frames received (decodable or not).", c.get("frames", 0))
        frames = CounterMetricFamily("kalshi_frames", "Decoded frames by message type.", labels=["type"])
        for kind, n in sorted(r.by_type.items()):
            frames.add_metric([kind], n)
        yield frames
        errors = CounterMetricFamily(
            "kalshi_errors",
            "Errors: malformed (undecodable) frames, handler exceptions, error replies from the server.",
            labels=["kind"],
        )
        errors.add_metric(["malformed"], c.get("decode_errors", 0))
        errors.add_metric(["handler"], c.get("handler_errors", 0))
        errors.add_metric(["server"], r.by_type.get("error", 0))
        yield errors
        yield counter("kalshi_reconnects", "Reconnections after a lost or failed connection.", c.get("reconnects", 0))
        yield counter("kalshi_connections", "Successful WebSocket handshakes.", r.connections)
        yield counter("kalshi_gaps", "Sequence gaps and regressions seen.", c.get("gaps", 0) + c.get("regressions", 0))
        yield counter("kalshi_resyncs", "Recovery actions: snapshot requests and resubscriptions.", c.get("resyncs", 0))
        yield counter(
            "kalshi_duplicates_dropped",
            "Duplicate frames (same seq) and trades or fills (same trade id) dropped.",
            c.get("duplicates", 0) + c.get("trade_duplicates", 0),
        )
        problems = CounterMetricFamily("kalshi_book_problems", "Sequence and book problems by kind.", labels=["kind"])
        for kind, key in _PROBLEM_KINDS:
            problems.add_metric([kind], c.get(key, 0))
        yield problems
        audits = CounterMetricFamily(
            "kalshi_audits",
            "Book audits (--audit-interval) per market by result: ok, mismatch (book resynced), failed (REST).",
            labels=["market", "result"],
        )
        for ticker, per in sorted(r.audits.items()):
            for result in ("ok", "mismatch", "failed"):
                audits.add_metric([ticker, result], per.get(result, 0))
        yield audits

        connected = GaugeMetricFamily("kalshi_connected", "1 while the WebSocket connection is up.")
        connected.add_metric([], 1.0 if r.state == "connected" else 0.0)
        yield connected
        yield GaugeMetricFamily("kalshi_uptime_seconds", "Seconds since the listener started.", value=r.uptime_s)
        yield GaugeMetricFamily("kalshi_markets", "Markets with state.", value=len(r.markets))
        yield GaugeMetricFamily(
            "kalshi_books_usable", "Books that can be trusted now.", value=sum(m.usable for m in r.markets)
        )

        latency = HistogramMetricFamily(
            "kalshi_feed_latency_seconds",
            "Receive time minus Kalshi's send time (sending_ts_ms, else ts_ms) of each data frame.",
            buckets=r.latency_buckets,
            sum_value=r.latency_sum_s,
        )
        yield latency
        yield from _market_families(r.markets)


def _market_families(markets: list[_MarketRead]) -> Iterator[Metric]:
    def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=["market", *(extra or [])])

    usable = gauge("kalshi_book_usable", "1 when the market's book can be trusted, 0 while it waits or resyncs.")
    why = gauge(
        "kalshi_book_unusable",
        "1 for each book that cannot be trusted now, labelled with why (no snapshot, connection lost, gap, ...).",
        ["reason"],
    )
    bid = gauge("kalshi_best_bid_dollars", "Best YES bid in dollars.")
    ask = gauge("kalshi_best_ask_dollars", "Best YES ask (1 - best NO bid) in dollars.")
    spread = gauge("kalshi_spread_dollars", "YES ask minus YES bid in dollars.")
    mid = gauge("kalshi_mid_dollars", "Mid of the YES bid and ask in dollars.")
    levels = gauge("kalshi_book_levels", "Price levels on each bid ladder.", ["side"])
    position = gauge("kalshi_position_contracts", "Your signed position in contracts (negative = NO).")
    age = gauge("kalshi_last_message_age_seconds", "Seconds since the last frame about the market.")
    trades = CounterMetricFamily("kalshi_trades", "Public trades recorded per market.", labels=["market"])
    fills = CounterMetricFamily("kalshi_fills", "Your fills recorded per market.", labels=["market"])
    for m in markets:
        t = [m.ticker]
        usable.add_metric(t, 1.0 if m.usable else 0.0)
        if not m.usable:
            why.add_metric([m.ticker, reason_kind(m.reason)], 1.0)
        for family, price in ((bid, m.best_bid), (ask, m.best_ask), (spread, m.spread), (mid, m.mid)):
            if price is not None:
                family.add_metric(t, price / PRICE_SCALE)
        levels.add_metric([m.ticker, "yes"], m.yes_levels)
        levels.add_metric([m.ticker, "no"], m.no_levels)
        if m.position is not None:
            position.add_metric(t, m.position / SIZE_SCALE)
        if m.age_s is not None:
            age.add_metric(t, m.age_s)
        trades.add_metric(t, m.trades)
        fills.add_metric(t, m.fills)
    yield from (usable, why, bid, ask, spread, mid, levels, position, age, trades, fills)


def reason_kind(reason: str | None) -> str:
    """A book's ``unusable_reason`` without its details (sids, seq numbers, what follows a colon), for a label with
    few values: ``"sequence gap on sid 3 (expected 8, got 9)"`` -> ``"sequence gap"``."""
    if not reason:
        return "unknown"
    text = reason.split(":", 1)[0]
    text = re.sub(r"\(.*?\)|\bsid\b|\d+", " ", text)
    text = re.sub(r"\s+on\s*$", "", " ".join(text.split()))
    return text or "unknown"


class MetricsServer:
    """Serves ``/metrics`` for ``core`` on ``host:port`` (port 0: a free port, see :attr:`port`) in a thread.

    Use :meth:`start` from the event loop that owns ``core`` (it also starts the once-a-second latency ingest
    task there), :meth:`close` to stop.
    """

    def __init__(self, core: Core, client: Any = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        loop: asyncio.AbstractEventLoop | None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self.collector = KalshiCollector(core, client, loop)
        self.registry.register(self.collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ingest: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> None:
        """Listen (raises ``OSError`` if the address is taken or not available)."""
        self._server, self._thread = start_http_server(self.requested_port, addr=self.host, registry=self.registry)
        self.port = int(self._server.server_port)
        if self.collector.loop is not None:
            self._ingest = self.collector.loop.create_task(self._ingest_forever())
        log.info("metrics: serving Prometheus metrics at %s", self.url)

    async def _ingest_forever(self) -> None:
        while True:
            await asyncio.sleep(INGEST_INTERVAL_S)
            self.collector.ingest()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop (the server's thread notices a shutdown within 0.5 s)."""
        if self._ingest is not None:
            self._ingest.cancel()
            self._ingest = None
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        if self._ingest is not None:
            self._ingest.cancel()
            self._ingest = None
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
