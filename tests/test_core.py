from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from market_making_bot.feed.core import Core, SequenceProblem
from market_making_bot.feed.events import BookChanged, SequenceProblemSeen, TickerSeen
from market_making_bot.kalshi import OrderbookDelta, Ticker
from market_making_bot.storage.replay import run_replay
from market_making_bot.views.output import LogOutput

from .paths import FIXTURES

A, B = "KXTEST-26DEC31-A", "KXTEST-26DEC31-B"


def delta(seq: int, price: str, change: str, side: str = "yes", market: str = A, sid: int = 1) -> str:
    return json.dumps(
        {
            "type": "orderbook_delta",
            "sid": sid,
            "seq": seq,
            "msg": {"market_ticker": market, "price_dollars": price, "delta_fp": change, "side": side},
        }
    )


def snapshot(seq: int, market: str = A, sid: int = 1, yes: list[list[str]] | None = None) -> str:
    body: dict[str, Any] = {"market_ticker": market, "yes_dollars_fp": yes or [["0.4000", "10.00"]]}
    return json.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": body})


def subscribed(sid: int) -> str:
    return json.dumps({"type": "subscribed", "id": sid, "msg": {"channel": "orderbook_delta", "sid": sid}})


@pytest.fixture
def problems() -> list[SequenceProblem]:
    return []


@pytest.fixture
def core(problems: list[SequenceProblem]) -> Core:
    c = Core()
    LogOutput().attach(c.bus, every_kind=True)
    c.on_sequence_problem.append(problems.append)
    return c


def test_fixed_point_session_summary() -> None:
    core = Core()
    assert run_replay([FIXTURES / "fixed_point_session.jsonl"], core) == 19
    summary = core.summary()
    assert summary["markets"] == {
        A: {
            "yes": [["0.4450", "99.50"], ["0.4500", "12.50"], ["0.4520", "3.00"]],
            "no": [["0.5300", "40.00"]],
            "best_yes_bid": "0.4520",
            "best_yes_ask": "0.4700",
            "spread": "0.0180",
            "trades": 1,
            "fills": 1,
            "position": "2.50",
            "usable": False,  # the session ends with the order book sid unsubscribed
            "unusable_reason": "subscription sid 1 ended",
        },
        B: {
            "yes": [],
            "no": [],
            "best_yes_bid": None,
            "best_yes_ask": None,
            "spread": None,
            "trades": 0,
            "fills": 0,
            "position": None,
            "usable": False,  # the session ends with the order book sid unsubscribed
            "unusable_reason": "subscription sid 1 ended",
        },
    }
    counters = summary["counters"]
    assert counters["frames"] == 19 and counters["decode_errors"] == 0 and counters["gaps"] == 0
    assert counters["unknown"] == 1 and counters["handler_errors"] == 0
    assert counters["by_type"] == {
        "error": 1,
        "fill": 1,
        "market_lifecycle_v2": 1,
        "market_position": 1,
        "ok": 1,
        "orderbook_delta": 4,
        "orderbook_snapshot": 2,
        "subscribed": 5,
        "ticker": 1,
        "trade": 1,
        "unsubscribed": 1,
    }
    market = core.state.markets[A]
    assert market.last_ticker is not None and market.last_ticker.yes_ask == 4700
    assert market.last_position is not None and market.last_position.position_cost == 1_130_000
    assert market.volume.total.yes_contracts == 250
    json.dumps(summary)  # serialisable as is


def test_legacy_cents_session_equals_its_fixed_point_twin() -> None:
    legacy, twin = Core(), Core()
    run_replay([FIXTURES / "legacy_cents_session.jsonl"], legacy)
    run_replay([FIXTURES / "legacy_cents_session_fixed_point_twin.jsonl"], twin)
    assert legacy.summary() == twin.summary()
    market = legacy.summary()["markets"]["KXLEGACY-25MAY23-X"]
    assert market["yes"] == [["0.4000", "70.00"], ["0.4400", "25.00"], ["0.4500", "5.00"]]
    assert market["no"] == [["0.5000", "10.00"]]
    assert (market["best_yes_bid"], market["best_yes_ask"], market["spread"]) == ("0.4500", "0.5000", "0.0500")
    assert market["position"] == "-5.00"
    lm = legacy.state.markets["KXLEGACY-25MAY23-X"].last_position
    tm = twin.state.markets["KXLEGACY-25MAY23-X"].last_position
    assert lm == tm and lm is not None and lm.realized_pnl == -120_000


def test_gap_is_reported_and_applied(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(subscribed(1), 0)
    core.feed(snapshot(1), 1)
    core.feed(delta(2, "0.4100", "1.00"), 2)
    core.feed(delta(5, "0.4200", "1.00"), 3)
    assert problems == [SequenceProblem("gap", 1, 3, 5, A)]
    assert core.counters["gaps"] == 1
    assert core.state.markets[A].book.yes == {4000: 1000, 4100: 100, 4200: 100}


def test_duplicate_is_reported_and_dropped(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(snapshot(1), 0)
    core.feed(delta(2, "0.4100", "1.00"), 1)
    core.feed(delta(2, "0.4100", "1.00"), 2)
    assert problems == [SequenceProblem("duplicate", 1, 3, 2, A)]
    assert core.counters["duplicates"] == 1
    assert core.state.markets[A].book.yes[4100] == 100  # applied once


def test_regression_is_reported(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(snapshot(7), 0)
    core.feed(snapshot(1), 1)
    assert problems == [SequenceProblem("regression", 1, 8, 1, A)]
    assert core.counters["regressions"] == 1


def test_a_new_connection_restarts_its_sids(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(subscribed(1), 0)
    core.feed(snapshot(1), 1)
    core.feed(delta(2, "0.4100", "1.00"), 2)
    core.connection_opened(3)  # a new connection (recorded as such in a journal) reuses sid 1
    core.feed(subscribed(1), 3)
    core.feed(snapshot(1), 4)
    assert problems == [] and core.state.markets[A].usable


def test_a_repeated_ack_does_not_reset_the_baseline(core: Core, problems: list[SequenceProblem]) -> None:
    """Issue 12 item 9: an ack used to reset its sid, so a repeated ack hid the next gap (this replaced a test
    that pinned that reset)."""
    core.feed(subscribed(1), 0)
    core.feed(snapshot(1), 1)
    core.feed(delta(2, "0.4100", "1.00"), 2)
    core.feed(subscribed(1), 3)  # repeated ack of the same subscription
    core.feed(delta(4, "0.4200", "1.00"), 4)  # seq 3 was lost
    assert [p.kind for p in problems] == ["gap"]
    assert not core.state.markets[A].usable


def test_ok_error_and_unsubscribed_take_seq_numbers(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(snapshot(1), 0)
    core.feed('{"type":"ok","id":4,"sid":1,"seq":2,"msg":{"market_tickers":["A"]}}', 1)
    core.feed(delta(3, "0.4100", "1.00"), 2)
    core.feed('{"type":"error","id":5,"sid":1,"seq":4,"msg":{"code":13,"msg":"Unsupported action"}}', 3)
    core.feed('{"type":"unsubscribed","id":6,"sid":1,"seq":5}', 4)
    assert problems == []
    core.feed('{"type":"unsubscribed","id":6,"sid":1,"seq":7}', 5)
    assert problems == [SequenceProblem("gap", 1, 6, 7, None)]


def test_gaps_are_per_sid(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(snapshot(1, market=A, sid=1), 0)
    core.feed(snapshot(1, market=B, sid=2), 1)
    core.feed(delta(2, "0.4100", "1.00", market=A, sid=1), 2)
    core.feed(delta(2, "0.4100", "1.00", market=B, sid=2), 3)
    core.feed(
        '{"type":"trade","sid":3,"seq":9,"msg":{"market_ticker":"X","yes_price_dollars":"0.5","count_fp":"1"}}', 4
    )
    assert problems == []


def test_delta_without_snapshot_is_reported_and_not_applied(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(delta(1, "0.4100", "1.00"), 0)
    assert problems == [SequenceProblem("delta_without_snapshot", 1, None, 1, A)]
    assert core.counters["deltas_without_snapshot"] == 1
    assert A not in core.state.markets


def test_connection_opened_requires_fresh_snapshots(core: Core, problems: list[SequenceProblem]) -> None:
    core.feed(snapshot(1), 0)
    core.feed(delta(2, "0.4100", "1.00"), 1)
    core.connection_opened(2)
    core.feed(delta(1, "0.4200", "1.00"), 3)  # new connection: seq restarts, but no snapshot yet
    assert [p.kind for p in problems] == ["delta_without_snapshot"]
    assert 4200 not in core.state.markets[A].book.yes
    core.feed(snapshot(2, yes=[["0.3000", "1.00"]]), 4)
    core.feed(delta(3, "0.3100", "1.00"), 5)
    assert core.state.markets[A].book.yes == {3000: 100, 3100: 100}


def test_negative_level_is_counted_and_removed(core: Core, caplog: pytest.LogCaptureFixture) -> None:
    core.feed(snapshot(1), 0)
    with caplog.at_level(logging.WARNING):
        core.feed(delta(2, "0.4000", "-12.00"), 1)
    assert core.counters["negative_levels"] == 1
    assert core.state.markets[A].book.yes == {}
    assert "[BOOK OUT OF SYNC]" in caplog.text


def test_negative_level_after_a_gap_is_the_gaps_consequence_not_a_new_problem(
    core: Core, problems: list[SequenceProblem]
) -> None:
    core.feed(snapshot(1), 0)
    core.feed(delta(3, "0.4000", "-12.00"), 1)  # seq 2 (which added the level) was lost
    assert [p.kind for p in problems] == ["gap"]
    assert core.counters["negative_levels"] == 0
    market = core.state.markets[A]
    assert not market.usable and market.book.yes == {}
    core.feed(snapshot(4, yes=[["0.4000", "1.00"]]), 2)  # the resync
    assert market.usable
    core.feed(delta(5, "0.4000", "-2.00"), 3)  # and now the book is believed in sync again
    assert core.counters["negative_levels"] == 1 and not market.usable


def test_ticker_filter_keeps_only_requested_markets(problems: list[SequenceProblem]) -> None:
    core = Core(tickers=[A])
    core.on_sequence_problem.append(problems.append)
    run_replay([FIXTURES / "fixed_point_session.jsonl"], core)
    assert list(core.summary()["markets"]) == [A]
    assert problems == []  # B's delta is ignored, not reported


def test_decode_error_is_counted_logged_and_returns_none(core: Core, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert core.feed("x" * 1000, 0) is None
    assert core.counters["decode_errors"] == 1 and core.counters["frames"] == 1
    record = caplog.records[-1]
    assert record.levelno == logging.WARNING and "[DECODE ERROR]" in record.getMessage()
    assert len(record.getMessage()) < 400  # the frame is truncated


def test_bad_frames_fixture_never_raises() -> None:
    core = Core()
    run_replay([FIXTURES / "bad_frames.jsonl"], core)
    counters = core.counters
    assert counters["frames"] == 16 and counters["decode_errors"] == 14
    assert counters["deltas_without_snapshot"] == 1 and counters["handler_errors"] == 0


def test_handler_exception_is_logged_counted_and_contained(core: Core, caplog: pytest.LogCaptureFixture) -> None:
    def boom(event: TickerSeen) -> None:
        raise RuntimeError("handler bug")

    core.bus.subscribe(TickerSeen, boom)
    with caplog.at_level(logging.ERROR):
        msg = core.feed('{"type":"ticker","msg":{"market_ticker":"M","price_dollars":"0.5"}}', 0)
    assert isinstance(msg, Ticker)
    assert core.counters["handler_errors"] == 1
    assert "handler bug" in caplog.text and "Traceback" in caplog.text
    core.feed(snapshot(1), 1)  # the core keeps working
    assert core.state.markets[A].has_snapshot


def test_failing_problem_hook_is_contained(core: Core, problems: list[SequenceProblem]) -> None:
    def bad_hook(problem: SequenceProblem) -> None:
        raise RuntimeError("hook bug")

    core.on_sequence_problem.insert(0, bad_hook)
    core.feed(snapshot(1), 0)
    core.feed(delta(3, "0.4100", "1.00"), 1)  # gap
    assert core.counters["handler_errors"] == 1 and core.counters["gaps"] == 1
    assert core.state.markets[A].book.yes[4100] == 100  # the frame is still applied
    assert [p.kind for p in problems] == ["gap"]  # and the other hooks still run


def test_process_accepts_messages_built_directly(core: Core) -> None:
    core.feed(snapshot(1), 0)
    core.process(OrderbookDelta(market_ticker=A, side="no", price=5500, delta=250, sid=1, seq=2), 1)
    assert core.state.markets[A].book.no == {5500: 250}
    assert core.by_type["orderbook_delta"] == 1


def test_delta_lines_follow_the_log_level_at_attach_time(caplog: pytest.LogCaptureFixture) -> None:
    """At WARNING nobody listens to the book events (nothing is built per delta); attached again at INFO, the
    delta lines come back."""
    core = Core()
    log = logging.getLogger("market_making_bot")
    old = log.level
    try:
        log.setLevel(logging.WARNING)
        out = LogOutput().attach(core.bus)
        assert not core.bus.listeners(BookChanged) and not core.bus.listeners(TickerSeen)
        assert core.bus.listeners(SequenceProblemSeen)  # warnings still reach the log
        core.feed(snapshot(1), 0)
        core.feed(delta(2, "0.4100", "1.00"), 1)
        core.feed(delta(3, "0.4100", "1.00"), 2)  # the in-sync fast path
        assert "[ORDERBOOK DELTA]" not in caplog.text
        log.setLevel(logging.INFO)
        out.attach(core.bus)
        assert len(core.bus.listeners(BookChanged)) == 1  # the earlier attach was undone first
        with caplog.at_level(logging.INFO, logger="market_making_bot"):
            core.feed(delta(4, "0.4200", "1.00"), 3)
            core.feed(delta(5, "0.4300", "1.00"), 4)
        assert caplog.text.count("[ORDERBOOK DELTA]") == 2
    finally:
        log.setLevel(old)
