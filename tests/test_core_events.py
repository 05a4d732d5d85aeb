"""Core's events (issue 13 item 1): what it emits, when it builds nothing, and a callback that raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed import events as ev
from market_making_bot.feed.core import Core
from market_making_bot.storage.replay import run_replay

from .paths import FIXTURES

A = "KXTEST-26DEC31-A"


def frame(kind: str, sid: int | None, seq: int | None, **body: Any) -> str:
    out: dict[str, Any] = {"type": kind, "msg": body}
    if sid is not None:
        out["sid"] = sid
    if seq is not None:
        out["seq"] = seq
    return json.dumps(out)


def snap(seq: int, yes: list[list[str]] | None = None, no: list[list[str]] | None = None, sid: int = 1) -> str:
    return frame(
        "orderbook_snapshot", sid, seq, market_ticker=A, yes_dollars_fp=yes or [["0.4000", "10.00"]],
        no_dollars_fp=no or [["0.5000", "10.00"]],
    )  # fmt: skip


def delta(seq: int, price: str, change: str, side: str = "yes", sid: int = 1) -> str:
    return frame("orderbook_delta", sid, seq, market_ticker=A, price_dollars=price, delta_fp=change, side=side)


def ack(sid: int) -> str:
    return json.dumps({"type": "subscribed", "id": sid, "msg": {"channel": "orderbook_delta", "sid": sid}})


def recorded(core: Core) -> list[ev.Event]:
    seen: list[ev.Event] = []
    core.bus.subscribe(ev.Event, seen.append)
    return seen


class Flips:
    """The usable state of each market as the events tell it."""

    def __init__(self, core: Core) -> None:
        self.told: dict[str, bool] = {}
        self.reasons: list[str] = []
        core.bus.subscribe(ev.BookUsable, self._usable)
        core.bus.subscribe(ev.BookUnusable, self._unusable)
        self.core = core

    def _usable(self, e: ev.BookUsable) -> None:
        assert not self.told.get(e.ticker, False), f"{e.ticker}: BookUsable while usable"
        self.told[e.ticker] = True

    def _unusable(self, e: ev.BookUnusable) -> None:
        assert self.told.get(e.ticker, False), f"{e.ticker}: BookUnusable while not usable"
        self.told[e.ticker] = False
        self.reasons.append(e.reason)

    def check(self, where: object) -> None:
        actual = {t: m.usable for t, m in self.core.state.markets.items()}
        assert {t: self.told.get(t, False) for t in actual} == actual, where


def test_nothing_is_built_for_kinds_nobody_listens_to(monkeypatch: pytest.MonkeyPatch) -> None:
    core = Core()  # made first: it asks the bus for the real event types' lists
    built: list[str] = []
    for name in ("BookChanged", "BookSnapshot", "TickerSeen", "TradeSeen", "BookUsable"):
        real = getattr(ev, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            built.append(_name)
            return _real(*args)

        monkeypatch.setattr(f"market_making_bot.feed.core.{name}", spy)
    for i, text in enumerate([snap(1), delta(2, "0.4100", "1.00"), delta(3, "0.4200", "1.00")]):
        core.feed(text, i)
    core.feed(frame("trade", 2, None, market_ticker=A, yes_price_dollars="0.4", count_fp="1.00", trade_id="t"), 9)
    assert built == [] and core.state.markets[A].book.yes[4200] == 100
    core.bus.subscribe(ev.BookChanged, lambda e: None)
    core.feed(delta(4, "0.4300", "1.00"), 10)
    assert built == ["BookChanged"]


def test_book_events_say_whether_the_top_moved() -> None:
    core = Core()
    seen = recorded(core)
    core.feed(snap(1), 1)
    core.feed(delta(2, "0.3000", "5.00"), 2)  # below the best bid
    core.feed(delta(3, "0.4500", "5.00"), 3)  # a new best bid
    core.feed(delta(4, "0.4500", "1.00"), 4)  # size at the best: the price did not move
    core.feed(delta(5, "0.5000", "-10.00", side="no"), 5)  # the NO ladder empties: no YES ask
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["BookSnapshot", "BookUsable"] + ["BookChanged"] * 4
    changed = [e for e in seen if isinstance(e, ev.BookChanged)]
    assert [e.top_changed for e in changed] == [False, True, False, True]
    assert [e.size for e in changed] == [500, 500, 600, 0] and [e.recv_ns for e in changed] == [2, 3, 4, 5]
    assert all(e.ticker == A and e.market is core.state.markets[A] for e in changed)


def test_trades_and_fills_are_told_once() -> None:
    core = Core()
    seen = recorded(core)
    trade = frame("trade", 2, None, market_ticker=A, yes_price_dollars="0.4", count_fp="1.00", trade_id="t1")
    fill = frame(
        "fill", 3, None, market_ticker=A, trade_id="t1", order_id="o1", side="yes", action="buy",
        yes_price_dollars="0.4", count_fp="1.00",
    )  # fmt: skip
    for i, text in enumerate([trade, trade, fill, fill]):
        core.feed(text, i)
    assert [type(e).__name__ for e in seen] == ["TradeSeen", "FillSeen"]
    assert core.counters["trade_duplicates"] == 2


def test_problems_replies_and_rejects_are_events() -> None:
    core = Core()
    seen = recorded(core)
    core.feed("{not json", 1)
    core.feed(ack(1), 2)
    core.feed(snap(1), 3)
    core.feed(delta(5, "0.4100", "1.00"), 4)  # a gap
    core.feed(frame("market_lifecycle_v2", 9, None, market_ticker=A), 5)
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "FrameRejected", "ControlReply", "BookSnapshot", "BookUsable", "BookUnusable", "SequenceProblemSeen",
        "BookChanged", "UnknownFrame",
    ]  # fmt: skip
    problem = next(e for e in seen if isinstance(e, ev.SequenceProblemSeen)).problem
    assert (problem.kind, problem.expected, problem.got) == ("gap", 2, 5)
    unusable = next(e for e in seen if isinstance(e, ev.BookUnusable))
    assert unusable.reason == "sequence gap on sid 1 (expected 2, got 5)"


def test_a_raising_callback_is_counted_and_costs_nothing_else() -> None:
    core = Core()
    after: list[ev.Event] = []
    failed: list[ev.HandlerFailed] = []

    def boom(e: ev.Event) -> None:
        raise RuntimeError("consumer bug")

    core.bus.subscribe(ev.BookChanged, boom)
    core.bus.subscribe(ev.BookChanged, after.append)
    core.bus.subscribe(ev.BookSnapshot, boom)
    core.bus.subscribe(ev.HandlerFailed, failed.append)
    core.feed(snap(1), 1)
    core.feed(delta(2, "0.4100", "1.00"), 2)  # the fast path
    core.feed(delta(3, "0.4200", "1.00"), 3)
    assert core.counters["handler_errors"] == 3 and len(failed) == 3
    assert len(after) == 2  # the other callbacks still run
    assert core.state.markets[A].book.yes == {4000: 1000, 4100: 100, 4200: 100} and core.state.markets[A].usable


def test_usable_flips_in_every_path() -> None:
    """Snapshot, ack, crossed snapshot, gap, negative level, ended sid, connection lost and opened, restart: the
    flips told as events equal ``usable`` after every step, with no event when nothing flipped."""
    core = Core()
    flips = Flips(core)
    steps: list[Any] = [
        ack(1), snap(1), delta(2, "0.4100", "1.00"),
        snap(3, yes=[["0.6000", "1.00"]]),  # crossed (0.60 + 0.50 >= $1): not usable
        snap(4), delta(6, "0.4100", "1.00"),  # usable again, then a gap
        snap(7), delta(8, "0.3000", "-5.00"),  # usable, then a negative level
        snap(9), ("lost",), ("opened",), snap(1, sid=2), ack(2),  # early data waits for its ack
        frame("error", 2, 2, code=25, msg="ended"),  # error 25 ends sid 2
        ("opened",), ack(1), snap(1), frame("unsubscribed", 1, 2),
    ]  # fmt: skip
    for i, step in enumerate(steps):
        if step == ("lost",):
            core.connection_lost("test", i)
        elif step == ("opened",):
            core.connection_opened(i)
        else:
            core.feed(step, i)
        flips.check((i, step))
    assert flips.reasons == [
        "crossed book",
        "sequence gap on sid 1 (expected 5, got 6)",
        "negative level",
        "connection lost: test",
        "subscription sid 2 ended by error 25",
        "subscription sid 1 ended",
    ]


CAPTURES = sorted(p.name for p in FIXTURES.glob("*.jsonl")) + ["frames_array.json", "frames_separated.txt"]


@pytest.mark.parametrize("name", CAPTURES)
def test_usable_flips_equal_usable_after_each_frame_of_a_recording(name: str) -> None:
    core = Core()
    flips = Flips(core)
    run_replay([FIXTURES / name], core, after=lambda msg, recv_ns: flips.check((name, recv_ns, msg)))


def test_usable_flips_on_the_shared_captures(shared_kalshi: Path) -> None:
    paths = sorted(p for p in (shared_kalshi / "captures").iterdir() if p.suffix in (".json", ".jsonl", ".txt"))
    assert paths
    for path in paths:
        core = Core()
        flips = Flips(core)
        try:
            run_replay([path], core, after=lambda msg, recv_ns, f=flips, n=path.name: f.check((n, recv_ns)))
        except Exception as exc:  # a capture the replay refuses is not this test's subject
            if type(exc).__name__ != "RecordingError":
                raise
