"""Issue 12, sans-I/O: Session and Core at every boundary (acks, repeated acks, early data, replies in any order,
errors before acks, backoff, bounded requests), without a socket."""

from __future__ import annotations

import itertools
import json
import logging
import random
from typing import Any

import pytest

import market_making_bot.feed.core as core_module
from market_making_bot.feed.core import Core, SequenceProblem
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.decode import decode_frame
from market_making_bot.views.output import LogOutput

A, B = "KXU-26DEC31-A", "KXU-26DEC31-B"


def frame(kind: str, sid: int | None = None, seq: int | None = None, id_: int | None = None, **msg: Any) -> str:
    body: dict[str, Any] = {"type": kind}
    if sid is not None:
        body["sid"] = sid
    if seq is not None:
        body["seq"] = seq
    if id_ is not None:
        body["id"] = id_
    if msg:
        body["msg"] = msg
    return json.dumps(body)


def snap(sid: int, seq: int, market: str = A, price: str = "0.4000", size: str = "10.00") -> str:
    return frame("orderbook_snapshot", sid, seq, market_ticker=market, yes_dollars_fp=[[price, size]])


def delta(sid: int, seq: int, market: str = A, price: str = "0.4000", change: str = "1.00") -> str:
    return frame("orderbook_delta", sid, seq, market_ticker=market, price_dollars=price, delta_fp=change, side="yes")


def ack(sid: int, id_: int = 1, channel: str = "orderbook_delta") -> str:
    return json.dumps({"type": "subscribed", "id": id_, "msg": {"channel": channel, "sid": sid}})


def live_core() -> tuple[Core, list[SequenceProblem]]:
    core = Core()
    LogOutput().attach(core.bus, every_kind=True)
    problems: list[SequenceProblem] = []
    core.on_sequence_problem.append(problems.append)
    core.connection_opened(0)
    return core, problems


# ------------------------------------------------------------------------------------------------------ Core


def test_gap_right_after_early_data_and_its_ack_is_seen() -> None:
    """``--fault early-data --fault gap:at=0`` used to end with a wrong book marked usable: the ack reset the sid."""
    core, problems = live_core()
    core.feed(snap(1, 1), 0)
    assert not core.state.markets[A].usable  # not acked yet
    core.feed(ack(1), 1)
    assert core.state.markets[A].usable
    core.feed(delta(1, 3), 2)  # seq 2 was dropped
    assert [p.kind for p in problems] == ["gap"]
    assert not core.state.markets[A].usable


def test_delta_on_another_sid_never_changes_a_usable_book() -> None:
    core, problems = live_core()
    core.feed(ack(1), 0)
    core.feed(snap(1, 1), 1)
    core.feed(delta(2, 1, change="1000.00"), 2)  # a sid never acked
    core.feed(ack(3, 2), 3)
    core.feed(delta(3, 1, change="1000.00"), 4)  # a live sid, but not the one of A's snapshot (PROTOCOL.md 5.2)
    market = core.state.markets[A]
    assert market.usable and market.book.yes == {4000: 1000}
    assert [p.kind for p in problems] == ["delta_without_snapshot", "delta_without_snapshot"]


def test_ended_sid_cannot_revive_a_book() -> None:
    core, _ = live_core()
    core.feed(ack(1), 0)
    core.feed(snap(1, 1), 1)
    core.feed(frame("error", 1, 2, code=25, msg="Subscription buffer overflow"), 2)
    market = core.state.markets[A]
    assert not market.usable and "error 25" in (market.unusable_reason or "")
    core.feed(ack(1), 3)  # a late ack of the dead subscription
    core.feed(snap(1, 3, size="99.00"), 4)
    assert not market.usable and core.counters["stale_frames"] == 1
    core.feed(ack(2, 2), 5)
    core.feed(snap(2, 1, size="5.00"), 6)
    assert market.usable and market.book.yes == {4000: 500}


def test_error_before_the_ack_is_honoured() -> None:
    core, _ = live_core()
    core.feed(snap(1, 1), 0)
    core.feed(frame("error", 1, 2, code=10, msg="Channel error"), 1)
    core.feed(ack(1), 2)
    assert not core.state.markets[A].usable


def test_ok_answering_a_repeated_subscribe_consumes_a_seq_and_acks() -> None:
    core, problems = live_core()
    core.feed(snap(1, 1), 0)
    core.feed(frame("ok", 1, 2, id_=7, market_tickers=[A, B]), 1)
    assert core.state.markets[A].usable
    core.feed(snap(1, 3, market=B), 2)
    core.feed(delta(1, 4), 3)
    assert problems == [] and core.state.markets[B].usable and core.state.markets[A].book.yes == {4000: 1100}


def test_connection_lost_makes_every_book_not_usable_until_its_new_snapshot() -> None:
    core, _ = live_core()
    core.feed(ack(1), 0)
    core.feed(snap(1, 1), 1)
    core.feed(snap(1, 2, market=B), 2)
    assert sorted(core.connection_lost("closed by the server")) == [A, B]
    assert all(m["usable"] is False for m in core.summary()["markets"].values())
    reasons = {m["unusable_reason"] for m in core.summary()["markets"].values()}
    assert reasons == {"connection lost: closed by the server"}
    assert core.state.markets[A].unusable_reason == "connection lost: closed by the server"
    core.connection_opened(3)
    core.feed(ack(1), 4)
    core.feed(snap(1, 1), 5)
    assert core.state.markets[A].usable and not core.state.markets[B].usable


def test_missing_clock_and_sending_ts_latency_from_ts_ms() -> None:
    core, _ = live_core()
    ts_ms = 1_780_000_000_000
    body = {"market_ticker": A, "price_dollars": "0.4000", "delta_fp": "1.00", "side": "yes", "ts_ms": ts_ms}
    core.feed(frame("orderbook_delta", 1, 1, **body), (ts_ms + 500) * 1_000_000)  # production: no clock, no sending_ts
    assert list(core.latencies_ms) == [500]


def test_absurd_stamps_and_any_decoder_exception_are_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    core, _ = live_core()
    huge = "9" * 400
    core.feed(f'{{"type":"subscribed","id":1,"sending_ts_ms":{huge},"msg":{{"channel":"ticker","sid":1}}}}', 0)
    core.feed(frame("orderbook_snapshot", 1, 1, market_ticker=A, ts_ms=10**300), 1)
    json.dumps(core.health())  # no OverflowError in the percentiles

    def boom(data: str | bytes) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(core_module, "decode_frame", boom)
    before = core.counters["decode_errors"]
    assert core.feed("[[[[[[[[", 2) is None
    assert core.counters["decode_errors"] == before + 1


def test_sequence_problem_lines_never_say_none(caplog: pytest.LogCaptureFixture) -> None:
    core, _ = live_core()
    core.feed(ack(1), 0)
    core.feed(snap(1, 1), 1)
    with caplog.at_level(logging.WARNING):
        core.feed(delta(1, 3), 2)
        core.feed(delta(1, 4, price="0.4100", change="-5.00"), 3)
        core.feed(snap(1, 5), 4)
        core.feed(delta(1, 6, price="0.4000", change="-50.00"), 5)
        core.feed(delta(9, 1), 6)
    assert "[SEQUENCE GAP]" in caplog.text and "[SEQUENCE NEGATIVE_LEVEL]" in caplog.text
    assert "None" not in caplog.text


# ---------------------------------------------------------------------------------------------------- Session


def _session(**kw: Any) -> tuple[Session, dict[str, int]]:
    s = Session([A, B], rng=random.Random(0), **kw)
    s.connected(0.0)
    ids = {c["params"]["channels"][0]: c["id"] for c in s.take_outbox()}
    return s, ids


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_replies_in_any_order_and_ok_as_the_answer_to_a_subscribe(order: tuple[int, ...]) -> None:
    s, ids = _session()
    replies = [
        decode_frame(ack(1, ids["orderbook_delta"])),
        decode_frame(frame("ok", 2, 1, id_=ids["ticker"], market_tickers=[A, B])),  # the real server's habit
        decode_frame(ack(3, ids["trade"], "trade")),
    ]
    for i in order:
        s.handle(replies[i], 1.0)
    assert {c: sub.status for c, sub in s.subs.items()} == dict.fromkeys(
        ("orderbook_delta", "ticker", "trade"), "active"
    )
    assert s.subs["ticker"].sid == 2 and s.pending == 0


@pytest.mark.parametrize("reply", ["subscribed", "ok"])
def test_resubscribe_waits_for_unsubscribed_and_accepts_either_reply(reply: str) -> None:
    s, ids = _session()
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 1, 0.0)
    s.resubscribe("orderbook_delta", 1.0)
    out = s.take_outbox()
    assert [c["cmd"] for c in out] == ["unsubscribe"]
    assert s.tick(2.0) == [] and s.take_outbox() == []  # nothing more until the unsubscribed
    s.handle(decode_frame(frame("unsubscribed", 1, 5, id_=out[0]["id"])), 2.5)
    sub_cmd = s.take_outbox()
    assert [c["cmd"] for c in sub_cmd] == ["subscribe"]
    answer = ack(4, sub_cmd[0]["id"]) if reply == "subscribed" else frame("ok", 4, 1, id_=sub_cmd[0]["id"])
    s.handle(decode_frame(answer), 3.0)
    assert s.subs["orderbook_delta"].status == "active" and s.subs["orderbook_delta"].sid == 4


def test_unsubscribe_without_reply_subscribes_after_the_reply_timeout() -> None:
    s, ids = _session(reply_timeout=2.0)
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 1, 0.0)
    s.resubscribe("orderbook_delta", 1.0)
    s.take_outbox()
    s.on_subscribed(ids["ticker"], "ticker", 2, 0.0)
    s.on_subscribed(ids["trade"], "trade", 3, 0.0)
    s.tick(2.5)
    assert s.take_outbox() == []
    s.tick(3.5)
    out = s.take_outbox()
    assert [c["cmd"] for c in out] == ["subscribe"] and out[0]["params"]["channels"] == ["orderbook_delta"]


def test_terminal_error_before_the_ack_resubscribes_when_the_ack_comes() -> None:
    s, ids = _session()
    s.handle(decode_frame(frame("error", 1, 30, code=25, msg="Subscription buffer overflow")), 0.5)
    assert s.take_outbox() == []
    s.handle(decode_frame(ack(1, ids["orderbook_delta"])), 0.6)
    assert s.subs["orderbook_delta"].status != "active"
    assert [c["cmd"] for c in s.take_outbox()] == ["subscribe"]


def test_resubscribing_after_repeated_errors_backs_off() -> None:
    """A server answering every subscribe with error 25 used to get ~1,950 commands a second."""
    s, ids = _session(backoff_base=0.5, backoff_cap=10.0)
    sent = 0
    sid = itertools.count(1)
    now = 0.0
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", next(sid), now)
    while now < 60.0:  # one minute of a server that kills every subscription at once
        sub = s.subs["orderbook_delta"]
        if sub.status == "pending":
            s.on_subscribed(sub.cmd_id, "orderbook_delta", next(sid), now)
        if s.subs["orderbook_delta"].status == "active":
            s.on_error(None, 25, "Subscription buffer overflow", s.subs["orderbook_delta"].sid, None, now)
        s.tick(now)
        sent += sum(1 for c in s.take_outbox() if c["params"].get("channels") == ["orderbook_delta"])
        now += 0.01
    assert 5 <= sent <= 20  # capped at 10 s: about 6 a minute once the cap is reached


def test_answered_get_snapshot_leaves_nothing_pending() -> None:
    s, ids = _session()
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 1, 0.0)
    s.on_subscribed(ids["ticker"], "ticker", 2, 0.0)
    s.on_subscribed(ids["trade"], "trade", 3, 0.0)
    for i in range(100_000):
        cmd = s.request_snapshot(1, [A, B])
        assert cmd is not None
        s.handle(decode_frame(frame("orderbook_snapshot", 1, 2 * i + 1, id_=cmd["id"], market_ticker=A)), 1.0)
        s.handle(decode_frame(frame("orderbook_snapshot", 1, 2 * i + 2, id_=cmd["id"], market_ticker=B)), 1.0)
        s.take_outbox()
    assert s.pending == 0
    s.request_snapshot(1, [A])  # never answered: forgotten after pending_ttl
    s.tick(1.0 + s.pending_ttl + 1)
    assert s.pending == 0


def test_market_without_a_book_is_rechecked_then_resubscribed() -> None:
    s, ids = _session(missing_book_timeout=3.0, resync_timeout=2.0)
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 1, 0.0)
    s.tick(0.5, [B])
    assert s.take_outbox() == []
    notes = s.tick(3.6, [B])
    out = s.take_outbox()
    assert [c["params"].get("action") for c in out] == ["get_snapshot"] and out[0]["params"]["market_tickers"] == [B]
    assert "no usable book" in notes[0].text
    s.tick(6.0, [B])  # the snapshot never came: resubscribe (unsubscribe first)
    assert [c["cmd"] for c in s.take_outbox()] == ["unsubscribe"]


def test_every_ticker_rejected_is_fatal() -> None:
    s, ids = _session()
    s.on_error(ids["orderbook_delta"], 11, "Invalid parameter", None, [A, B], 0.0)
    assert s.fatal is not None and "no valid market left" in s.fatal


@pytest.mark.parametrize("connected", [False, True], ids=["raw capture", "live connection"])
def test_a_new_subscription_on_the_same_sid_restarts_its_numbering_without_a_problem(connected: bool) -> None:
    """Raw captures of several connections with no marker between them (``prod-2025-05-legacy-cents-book.jsonl``):
    each connection opens with ``subscribed`` for sid 1 and numbers from 1 again. That is a restart, not a regression;
    the book waits for its new snapshot."""
    core = Core()
    problems: list[SequenceProblem] = []
    core.on_sequence_problem.append(problems.append)
    if connected:
        core.connection_opened(0)
    for text in (ack(1), snap(1, 1), delta(1, 2), delta(1, 3), ack(1), snap(1, 1, price="0.5000", size="7.00")):
        core.feed(text, 1)
    assert problems == [] and core.counters["regressions"] == 0
    market = core.state.markets[A]
    assert market.usable and market.book.levels("yes") == [(5000, 700)]
    # seq 1 again right after an ack on a stream of one frame is a duplicate, not a restart: the book is not usable
    core.feed(ack(1), 2)
    core.feed(delta(1, 1), 2)
    assert not core.state.markets[A].usable


def test_a_repeated_ack_followed_by_a_gap_still_reports_the_gap() -> None:
    core, problems = live_core()
    for text in (ack(1), snap(1, 1), delta(1, 2), ack(1), delta(1, 4)):
        core.feed(text, 1)
    assert [p.kind for p in problems] == ["gap"]
    assert not core.state.markets[A].usable
