"""The sans-I/O protocol object (``FeedProtocol``) driven without a socket: frames in with their times, ``tick`` at
chosen times, commands out of ``data_to_send()`` and events out of the bus. Every recovery path the asyncio client
relies on is checked here, deterministically (a seeded rng, times given in ns)."""

from __future__ import annotations

import itertools
import json
import logging
import random
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import (
    ConnectionDown,
    ConnectionUp,
    Event,
    HandlerFailed,
    HealthReport,
    Notice,
    NoticeKind,
)
from market_making_bot.feed.health import Health, health_line
from market_making_bot.feed.protocol import ClientState, FeedProtocol
from market_making_bot.feed.session import ErrorCode, Session, SubStatus
from tests.test_recovery_units import ack, delta, frame, snap

A, B = "KXFP-26DEC31-A", "KXFP-26DEC31-B"
NS = 1_000_000_000
T0 = 1_767_000_000 * NS  # a realistic wall-clock time (the client stamps frames with time.time_ns())

_QUIET = logging.getLogger("tests.feed_protocol")
_QUIET.propagate = False
_QUIET.setLevel(logging.CRITICAL)


class Harness:
    """A protocol object with every event recorded, connected at ``T0``."""

    def __init__(self, tickers: list[str] | None = None, **session_kw: Any) -> None:
        session_kw.setdefault("rng", random.Random(0))
        self.core = Core()
        self.session = Session([A, B] if tickers is None else tickers, **session_kw)
        self.proto = FeedProtocol(self.core, self.session, url="ws://test/", health_interval=60.0)
        self.events: list[Event] = []
        self.proto.bus.subscribe(Event, self.events.append)
        self.proto.connection_opened(T0)
        self.ids = {json.loads(t)["params"]["channels"][0]: json.loads(t)["id"] for t in self.proto.data_to_send()}

    def feed(self, text: str | bytes, at: int) -> None:
        self.proto.receive_frame(text.encode() if isinstance(text, str) else text, at)

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(t) for t in self.proto.data_to_send()]

    def notices(self, kind: NoticeKind | None = None) -> list[Notice]:
        return [e for e in self.events if isinstance(e, Notice) and (kind is None or e.kind is kind)]

    def book_up(self, sid: int = 1, at: int = T0 + 1) -> None:
        self.feed(ack(sid, self.ids["orderbook_delta"]), at)
        self.feed(ack(10, self.ids["ticker"], "ticker"), at)
        self.feed(ack(11, self.ids["trade"], "trade"), at)
        self.feed(snap(sid, 1, A), at)
        self.feed(snap(sid, 2, B), at)
        assert self.core.state.markets[A].usable and self.core.state.markets[B].usable


def test_connect_queues_one_subscribe_per_channel_as_json_and_emits_connection_up() -> None:
    h = Harness()
    assert h.events[0] == ConnectionUp(T0, 1, "ws://test/")
    h2 = Harness()  # data_to_send was read in __init__: check the texts themselves on a fresh one
    h2.proto.connection_opened(T0 + 1)
    texts = h2.proto.data_to_send()
    assert all(isinstance(t, str) and " " not in t for t in texts)  # compact JSON, ready to send
    cmds = [json.loads(t) for t in texts]
    assert [c["params"]["channels"] for c in cmds] == [["orderbook_delta"], ["ticker"], ["trade"]]
    assert cmds[0]["params"] == {"channels": ["orderbook_delta"], "market_tickers": [A, B], "use_yes_price": False}
    assert h2.proto.data_to_send() == []  # taken once
    assert h.proto.state is ClientState.CONNECTED and str(h.proto.state) == "connected"


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_acks_in_any_order_make_every_subscription_active(order: tuple[int, ...]) -> None:
    h = Harness()
    replies = [
        ack(1, h.ids["orderbook_delta"]),
        frame("ok", 2, 1, id_=h.ids["ticker"]),  # the real server's answer to a repeated subscribe
        ack(3, h.ids["trade"], "trade"),
    ]
    for n, i in enumerate(order):
        h.feed(replies[i], T0 + n + 1)
    assert all(sub.status is SubStatus.ACTIVE for sub in h.session.subs.values())
    subscribed = h.notices(NoticeKind.SUBSCRIBED)
    assert len(subscribed) == 3 and {n.recv_ns for n in subscribed} == {T0 + 1, T0 + 2, T0 + 3}  # exact frame times
    assert h.sent() == []


def test_gap_requests_a_snapshot_and_the_snapshot_makes_the_book_usable() -> None:
    h = Harness()
    h.book_up()
    h.feed(delta(1, 3, A), T0 + 2)
    h.feed(delta(1, 5, A), T0 + 3)  # seq 4 lost
    assert not h.core.state.markets[A].usable and not h.core.state.markets[B].usable  # a gap hits the whole sid
    (cmd,) = h.sent()
    assert cmd["cmd"] == "update_subscription"
    assert cmd["params"] == {"sids": [1], "action": "get_snapshot", "market_tickers": [A, B]}
    assert [n.recv_ns for n in h.notices(NoticeKind.RESYNC)] == [T0 + 3]
    assert h.core.counters["resyncs"] == 1 and h.core.counters["gaps"] == 1
    for seq, m in ((6, A), (7, B)):
        h.feed(
            frame("orderbook_snapshot", 1, seq, id_=cmd["id"], market_ticker=m, yes_dollars_fp=[["0.41", "3"]]), T0 + 4
        )
    assert h.core.state.markets[A].usable and h.core.state.markets[B].usable
    assert h.session.pending == 0  # the get_snapshot is answered
    h.proto.tick(T0 + 60 * NS)  # no resync timeout fires for an answered request
    assert [c["cmd"] for c in h.sent()] == []


def test_resync_timeout_unsubscribes_then_subscribes_once_unsubscribed() -> None:
    h = Harness(resync_timeout=5.0)
    h.book_up()
    h.feed(delta(1, 9, A), T0 + 2)  # gap
    assert [c["cmd"] for c in h.sent()] == ["update_subscription"]
    h.proto.tick(T0 + 4_900_000_000)  # the Session's timers have sub-microsecond resolution
    assert h.sent() == []
    h.proto.tick(T0 + 5_100_000_000)
    (unsub,) = h.sent()
    assert unsub["cmd"] == "unsubscribe" and unsub["params"] == {"sids": [1]}
    assert h.notices(NoticeKind.RESUBSCRIBE)[-1].recv_ns == T0 + 5_100_000_000
    h.proto.tick(T0 + 8 * NS)
    assert h.sent() == []  # never unsubscribe and subscribe back to back
    h.feed(frame("unsubscribed", 1, 10, id_=unsub["id"]), T0 + 9 * NS)
    (sub,) = h.sent()
    assert sub["cmd"] == "subscribe" and sub["params"]["channels"] == ["orderbook_delta"]
    h.feed(ack(2, sub["id"]), T0 + 10 * NS)
    h.feed(snap(2, 1, A), T0 + 10 * NS)
    assert h.core.state.markets[A].usable and h.session.subs["orderbook_delta"].sid == 2
    assert h.core.counters["resyncs"] == 2  # the snapshot request and the resubscription


def test_errors_10_and_25_resubscribe_with_backoff_visible_at_tick_times() -> None:
    h = Harness(backoff_base=0.5, backoff_cap=10.0)
    h.book_up()
    t = T0 + NS
    h.feed(frame("error", 1, 3, code=ErrorCode.SUBSCRIPTION_BUFFER_OVERFLOW, msg="Subscription buffer overflow"), t)
    assert not h.core.state.markets[A].usable
    (first,) = h.sent()  # the first failure: at once, no unsubscribe (the server dropped it)
    assert first["cmd"] == "subscribe"
    h.feed(ack(2, first["id"]), t + NS // 10)
    h.feed(frame("error", 2, 1, code=ErrorCode.CHANNEL_ERROR, msg="Channel error"), t + NS // 5)
    assert h.sent() == []  # a repeated failure waits: d = 0.5 s, delay in [0.25, 0.5] s
    h.proto.tick(t + NS // 5 + NS // 4 - 1)
    assert h.sent() == []
    h.proto.tick(t + NS // 5 + NS // 2)
    (second,) = h.sent()
    assert second["cmd"] == "subscribe" and second["params"]["channels"] == ["orderbook_delta"]
    assert h.session.subs["orderbook_delta"].status is SubStatus.PENDING
    texts = [n.text for n in h.notices(NoticeKind.RESUBSCRIBE)]
    assert any("error 25" in x for x in texts) and any("error 10" in x and "resubscribing in" in x for x in texts)
    assert h.core.counters["resyncs"] == 2


def test_connection_lost_makes_every_book_unusable_and_emits_connection_down() -> None:
    h = Harness()
    h.book_up()
    assert h.proto.connection_lost("reset by peer", T0 + 5) is True
    assert h.proto.connection_lost("again", T0 + 6) is False  # only the first call after it went
    for m in (A, B):
        market = h.core.state.markets[m]
        assert not market.usable and market.unusable_reason == "connection lost: reset by peer"
    assert [e for e in h.events if isinstance(e, ConnectionDown)] == [ConnectionDown(T0 + 5, 1, "reset by peer")]
    assert h.proto.state is ClientState.DISCONNECTED
    assert h.proto.reconnecting(T0 + 7) == 1 and h.core.counters["reconnects"] == 1
    h.proto.connection_opened(T0 + 8)
    assert [e.connection for e in h.events if isinstance(e, ConnectionUp)] == [1, 2]
    assert len(h.sent()) == 3  # every subscription restored


def test_every_ticker_rejected_is_the_no_markets_outcome() -> None:
    h = Harness(tickers=[A])
    h.feed(
        frame("error", id_=h.ids["orderbook_delta"], code=ErrorCode.INVALID_PARAMETER, msg="bad", market_tickers=[A]),
        T0 + 1,
    )
    assert h.proto.fatal is not None and "no valid market left" in h.proto.fatal
    assert [n.kind for n in h.notices() if n.level == logging.ERROR] == [NoticeKind.BAD_TICKER, NoticeKind.NO_MARKETS]
    assert h.session.bad_tickers == {A}


def test_one_rejected_ticker_is_dropped_and_the_others_go_on() -> None:
    h = Harness()
    h.feed(frame("error", id_=h.ids["orderbook_delta"], code=11, msg="bad", market_tickers=[B]), T0 + 1)
    (again,) = h.sent()
    assert again["params"]["market_tickers"] == [A] and h.proto.fatal is None


def test_missing_snapshot_warning_once_after_the_grace() -> None:
    h = Harness()
    h.feed(ack(1, h.ids["orderbook_delta"]), T0 + 1)
    h.feed(snap(1, 1, A), T0 + 1)
    h.proto.tick(T0 + 5 * NS - 1)
    assert h.notices(NoticeKind.MISSING_BOOK) == []
    h.proto.tick(T0 + 5 * NS)
    h.proto.tick(T0 + 6 * NS)
    (warning,) = h.notices(NoticeKind.MISSING_BOOK)
    assert B in warning.text and A not in warning.text and warning.level == logging.WARNING


def test_health_is_one_value_and_the_report_comes_from_tick() -> None:
    h = Harness()
    h.book_up()
    h.feed(delta(1, 5, A), T0 + 2)  # gap
    h.feed(b"{not json", T0 + 3)
    health = h.proto.health(T0 + 30 * NS)
    assert isinstance(health, Health)
    assert (health.state, health.uptime_s, health.gaps, health.resyncs, health.malformed) == (
        "connected",
        30.0,
        1,
        1,
        1,
    )
    assert (health.books_usable, health.books_total) == (0, 2)
    assert [t for t, _ in health.unusable] == [A, B]
    assert health.summary_block() == h.core.health()  # the same figures as the summary's block
    h.proto.tick(T0 + 60 * NS - 1)
    assert not [e for e in h.events if isinstance(e, HealthReport)]
    h.proto.tick(T0 + 60 * NS)
    h.proto.tick(T0 + 61 * NS)
    (report,) = [e for e in h.events if isinstance(e, HealthReport)]
    assert report.recv_ns == T0 + 60 * NS and report.health.uptime_s == 60.0
    line = health_line(report.health)
    # resyncs 2: the snapshot request, then (no snapshot within 5 s) the resubscription, run by the same ticks
    assert line.startswith("[HEALTH] connected | up 60 s | frames 7 | reconnects 0 | gaps 1 | resyncs 2 | ")
    assert "| malformed 1 | handler errors 0 | latency p50 -- ms p99 -- ms |" in line
    assert f"books usable 0/2 | not usable: {A} (" in line and "None" not in line


def test_a_failing_timer_is_contained_counted_and_emitted() -> None:
    class Broken(Session):
        def tick(self, now: float, missing_books: Any = ()) -> list[Notice]:
            raise RuntimeError("bug in a timer")

    core = Core()
    proto = FeedProtocol(core, Broken([A]))
    failed: list[HandlerFailed] = []
    proto.bus.subscribe(HandlerFailed, failed.append)
    proto.connection_opened(T0)
    proto.tick(T0 + NS)
    assert core.counters["handler_errors"] == 1 and failed == [HandlerFailed(T0 + NS, "housekeeping")]
