"""The book audit's rule (feed/audit.py), pure: which levels are compared, which differences are flagged, how a
result changes the Core's state (and replays from its journal text)."""

from __future__ import annotations

import json

import pytest

from market_making_bot.feed.audit import (
    AuditResult,
    AuditWindow,
    AuditWindows,
    Difference,
    Level,
    differences,
    mismatch_reason,
    persisting,
)
from market_making_bot.feed.backfill import RestUpdate, decode_update, encode_update
from market_making_bot.feed.core import Core
from market_making_bot.feed.events import BookUnusable
from market_making_bot.feed.health import health_line
from market_making_bot.kalshi import rest
from market_making_bot.marketdata.orderbook import OrderBook

from .market_frames import delta, frame

A = "KXAUDIT-26DEC31-A"
T0 = 1_786_085_188_000_000_000
Diffs = dict[Level, Difference]


def rest_book(yes: list[tuple[str, str]], no: list[tuple[str, str]] | None = None) -> rest.OrderBook:
    body = {"orderbook_fp": {"yes_dollars": [list(lv) for lv in yes], "no_dollars": [list(lv) for lv in no or []]}}
    return rest.decode(rest.OrderBookReply, json.dumps(body).encode()).orderbook_fp


def book(yes: list[tuple[int, int]], no: list[tuple[int, int]] | None = None) -> OrderBook:
    b = OrderBook()
    b.apply_snapshot(yes, no or [])
    return b


def snapshot_core() -> Core:
    core = Core([A])
    msg = {"market_ticker": A, "yes_dollars_fp": [["0.4400", "10.00"], ["0.4500", "12.00"]]}
    core.feed(frame("orderbook_snapshot", {**msg, "no_dollars_fp": [["0.5000", "3.00"]]}, 1, 1), T0)
    assert core.state.markets[A].usable
    return core


def read(windows: AuditWindows, core: Core, w: AuditWindow, yes_4400: str, yes_4500: str) -> Diffs | None:
    """Close the window ``w`` with REST's book: YES 0.4400 and 0.4500 of these sizes, NO 0.5000 3.00."""
    market = core.state.markets[A]
    theirs = rest_book([("0.4400", yes_4400), ("0.4500", yes_4500)], [("0.5000", "3.00")])
    return windows.close(A, w, market.book, market.usable, theirs)


def test_equal_books_have_no_difference() -> None:
    stream = book([(4400, 1000), (4500, 1200)], [(5000, 300)])
    assert differences(stream, rest_book([("0.4400", "10.00"), ("0.4500", "12.00")], [("0.5000", "3.00")])) == {}


def test_differences_name_every_level_in_integers_with_a_missing_level_as_zero() -> None:
    stream = book([(4400, 1000), (4500, 1200)], [(5000, 300)])
    theirs = rest_book([("0.4500", "12.50"), ("0.4600", "1.00")], [("0.5000", "3.00")])
    assert differences(stream, theirs) == {
        ("yes", 4400): (1000, 0),
        ("yes", 4500): (1200, 1250),
        ("yes", 4600): (0, 100),
    }
    # the NO leg is compared on the NO leg (REST.md 2.3), not as YES asks
    assert differences(book([], [(5000, 300)]), rest_book([], [("0.5000", "3.00")])) == {}
    assert differences(book([], [(5000, 300)]), rest_book([("0.5000", "3.00")])) == {
        ("no", 5000): (300, 0),
        ("yes", 5000): (0, 300),
    }


def test_levels_touched_on_the_stream_are_not_compared() -> None:
    stream = book([(4400, 1000), (4500, 1200)])
    theirs = rest_book([("0.4400", "11.00"), ("0.4500", "12.50")])
    assert differences(stream, theirs, {("yes", 4400)}) == {("yes", 4500): (1200, 1250)}
    assert differences(stream, theirs, {("yes", 4400), ("yes", 4500)}) == {}


def test_only_the_same_difference_on_both_reads_persists() -> None:
    first = {("yes", 4500): (1200, 1100), ("no", 5000): (300, 0)}
    # the YES level moved by the same +1.00 again (a corrupted level that also traded); the NO level now agrees
    second = {("yes", 4500): (1500, 1400), ("yes", 4400): (10, 0)}
    assert persisting(first, second) == {("yes", 4500): (1500, 1400)}
    assert persisting(first, {("yes", 4500): (1200, 1000)}) == {}  # another amount: the book was moving
    assert persisting({}, second) == {}


def test_the_reason_names_the_best_level_in_dollars_and_contracts() -> None:
    flagged = {("no", 5000): (300, 0), ("yes", 4500): (1000, 1200), ("yes", 4400): (1, 0)}
    assert mismatch_reason(flagged) == (
        "audit: REST book differs at yes 0.4500 (stream 10.00, REST 12.00) and at 2 more levels"
    )
    assert mismatch_reason({("no", 5000): (300, 0)}) == "audit: REST book differs at no 0.5000 (stream 3.00, REST 0.00)"


def test_a_busy_book_whose_two_reads_differ_stays_quiet() -> None:
    """The stream moves during both reads and between them; REST answers with the exchange's book of another
    instant each time: no read flags a level, the audit is ok."""
    core = snapshot_core()
    windows = AuditWindows(core.bus)
    # read 1: the stream changes 0.4400 during the window, REST answered before the change reached the stream
    w1 = windows.open(A)
    core.feed(delta(A, "0.4400", "5.00", 1, 2), T0 + 1)
    assert read(windows, core, w1, "10.00", "12.00") == {}
    # a delta later than the grace (a lag beyond it): read 1 sees 0.4500 differ by -2.00 ...
    w1 = windows.open(A)
    first = read(windows, core, w1, "15.00", "14.00")
    assert first == {("yes", 4500): (1200, 1400)}
    core.feed(delta(A, "0.4500", "2.00", 1, 3), T0 + 2)  # ... which arrives between the reads
    # read 2: REST has moved on again at 0.4500 (+1.00), the stream is still behind by that: -1.00, not -2.00
    w2 = windows.open(A)
    second = read(windows, core, w2, "15.00", "15.00")
    assert second == {("yes", 4500): (1400, 1500)}
    assert first is not None and second is not None and persisting(first, second) == {}


def test_a_corrupted_level_that_persists_is_flagged() -> None:
    core = snapshot_core()
    windows = AuditWindows(core.bus)
    core.feed(delta(A, "0.4500", "3.00", 1, 2), T0 + 1)  # the exchange's change was +2.00: the stream is +1.00 off
    w1 = windows.open(A)
    core.feed(delta(A, "0.4400", "1.00", 1, 3), T0 + 2)  # busy elsewhere: 0.4400 is not compared on read 1
    first = read(windows, core, w1, "10.00", "14.00")
    assert first == {("yes", 4500): (1500, 1400)}
    second = read(windows, core, windows.open(A), "11.00", "14.00")
    assert second is not None
    flagged = persisting(first, second)
    assert flagged == {("yes", 4500): (1500, 1400)}
    assert mismatch_reason(flagged) == "audit: REST book differs at yes 0.4500 (stream 15.00, REST 14.00)"


def test_a_read_whose_book_was_replaced_or_not_usable_does_not_count() -> None:
    core = snapshot_core()
    windows = AuditWindows(core.bus)
    market = core.state.markets[A]
    wrong = rest_book([("0.4400", "99.00")])
    w = windows.open(A)
    msg = {"market_ticker": A, "yes_dollars_fp": [["0.4400", "10.00"]]}
    core.feed(frame("orderbook_snapshot", msg, 1, 2), T0 + 1)
    assert windows.close(A, w, market.book, market.usable, wrong) is None  # a snapshot came during the window
    w = windows.open(A)
    core.feed(delta(A, "0.4400", "1.00", 1, 9), T0 + 2)  # a gap: not usable
    assert windows.close(A, w, market.book, market.usable, wrong) is None
    assert windows.close(A, windows.open(A), market.book, True, None) is None  # no answer


def test_the_delta_listener_is_on_only_while_a_window_is_open() -> None:
    core = snapshot_core()
    windows = AuditWindows(core.bus)
    assert core._l_changed == []  # the hot path builds no BookChanged event
    w1, w2 = windows.open(A), windows.open("OTHER")
    assert len(core._l_changed) == 1
    windows.close(A, w1, None, False, None)
    assert len(core._l_changed) == 1
    windows.close("OTHER", w2, None, False, None)
    assert core._l_changed == []


def test_audit_results_change_the_core_the_same_from_the_journal_text() -> None:
    live, replayed = snapshot_core(), snapshot_core()
    events: list[BookUnusable] = []
    live.bus.subscribe(BookUnusable, events.append)
    reason = "audit: REST book differs at yes 0.4500 (stream 15.00, REST 14.00)"
    updates = [
        RestUpdate(why="audit", audits=[AuditResult(market_ticker=A, result="ok")]),
        RestUpdate(why="audit", audits=[AuditResult(market_ticker=A, result="failed")]),
        RestUpdate(why="audit", audits=[AuditResult(market_ticker=A, result="mismatch", reason=reason)]),
    ]
    for i, update in enumerate(updates):
        live.apply_rest(update, T0 + i)
        replayed.apply_rest(decode_update(encode_update(update)), T0 + i)
    market = live.state.markets[A]
    assert not market.usable and market.unusable_reason == reason
    assert [(e.ticker, e.reason) for e in events] == [(A, reason)]
    c = live.counters
    assert (c["audits_ok"], c["audit_mismatches"], c["audit_failures"]) == (1, 1, 1)
    assert live.audits == {A: {"ok": 1, "failed": 1, "mismatch": 1}}
    assert replayed.summary() == live.summary()
    assert "| audits ok 1 mismatch 1 failed 1" in health_line(live.health_value())
    # a second mismatch on a book already not usable keeps the first reason; the snapshot of the resync restores it
    live.apply_rest(RestUpdate(why="audit", audits=[AuditResult(market_ticker=A, result="mismatch", reason="x")]), T0)
    assert market.unusable_reason == reason and live.counters["audit_mismatches"] == 2
    live.feed(frame("orderbook_snapshot", {"market_ticker": A, "yes_dollars_fp": [["0.4500", "14.00"]]}, 1, 2), T0)
    assert market.usable


def test_a_journal_record_written_before_audits_still_reads() -> None:
    old = '{"why":"timer","fills":[],"positions":[{"market_ticker":"X","position":0}]}'
    assert decode_update(old).audits == []
    assert "audits" not in health_line(Core().health_value())


@pytest.mark.parametrize("result", ["ok", "mismatch", "failed"])
def test_every_result_round_trips(result: str) -> None:
    update = RestUpdate(why="audit", audits=[AuditResult(market_ticker=A, result=result, reason="r")])  # type: ignore[arg-type]
    assert decode_update(encode_update(update)) == update
