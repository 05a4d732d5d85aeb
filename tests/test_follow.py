"""The pure parts of ``--event``/``--series``: the Follower's plans, and Session.add_markets' commands and replies."""

from __future__ import annotations

import pytest

from market_making_bot.feed.follow import Follower, FollowPlan, source_name
from market_making_bot.feed.session import Session, SubStatus
from market_making_bot.kalshi.messages import ErrorMsg, Ok, Subscribed

E = source_name("event", "KXE-26")
S = source_name("series", "KXS")


def test_first_listing_adds_every_open_market_not_followed_yet() -> None:
    f = Follower((E,))
    plan = f.update(E, ["KXE-26-A", "KXE-26-B", "KXE-26-A"], current=["KXE-26-B"])
    assert plan == FollowPlan(E, add=("KXE-26-A",), closed=())


def test_a_market_that_opens_later_is_added_and_one_that_closes_is_reported_once() -> None:
    f = Follower((E,))
    f.update(E, ["A", "B"], current=[])
    plan = f.update(E, ["A", "B", "C"], current=["A", "B"])
    assert plan.add == ("C",) and plan.closed == ()
    plan = f.update(E, ["A", "C"], current=["A", "B", "C"])
    assert plan.add == () and plan.closed == ("B",)
    assert not f.update(E, ["A", "C"], current=["A", "B", "C"])  # nothing new: an empty plan, B not reported again
    assert f.closed == {"B"}


def test_a_market_still_open_in_another_source_is_not_closed() -> None:
    f = Follower((E, S))
    f.update(E, ["A", "B"], current=[])
    f.update(S, ["B", "X"], current=["A", "B"])
    assert f.update(E, ["A"], current=["A", "B", "X"]).closed == ()
    assert f.update(S, ["X"], current=["A", "B", "X"]).closed == ("B",)
    assert f.open_markets() == ["A", "X"]


def test_a_reopened_market_is_reported_again_when_it_closes_again() -> None:
    f = Follower((E,))
    f.update(E, ["A"], current=[])
    assert f.update(E, [], current=["A"]).closed == ("A",)
    assert f.update(E, ["A"], current=["A"]).add == ()  # still subscribed: nothing to add
    assert f.update(E, [], current=["A"]).closed == ("A",)


def test_unknown_source_and_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="not followed"):
        Follower((E,)).update(S, [], current=[])
    with pytest.raises(ValueError, match="event or a series"):
        source_name("market", "X")


# ------------------------------------------------------------------------------------------------- Session


def _live(session: Session) -> dict[str, int]:
    """Connect and ack every subscribe; returns channel -> sid."""
    session.connected(0.0)
    sids = {}
    for i, cmd in enumerate(session.take_outbox(), start=1):
        ch = cmd["params"]["channels"][0]
        session.handle(Subscribed(id=cmd["id"], channel=ch, sid=i), 0.1)
        sids[ch] = i
    return sids


def test_add_markets_sends_a_repeated_subscribe_with_only_the_new_markets_per_live_channel() -> None:
    s = Session(["A"], with_private=True)
    sids = _live(s)
    assert s.add_markets(["A", "B", "B"], 1.0) == ["B"]
    cmds = s.take_outbox()
    assert sorted(c["params"]["channels"][0] for c in cmds) == sorted(s.channels)
    assert all(c["cmd"] == "subscribe" and c["params"]["market_tickers"] == ["B"] for c in cmds)
    assert s.tickers == ["A", "B"]
    # the real server's answer: ok with the existing sid and the full list (PROTOCOL.md 10b.1)
    for c in cmds:
        ch = c["params"]["channels"][0]
        notes = s.handle(Ok(id=c["id"], sid=sids[ch], market_tickers=["A", "B"]), 1.1)
        assert "added B" in notes[0].text
        assert s.subs[ch].markets == ["A", "B"] and s.subs[ch].status == SubStatus.ACTIVE
        assert s.subs[ch].sid == sids[ch]
    assert s.pending == 0
    assert s.add_markets(["B"], 2.0) == [] and s.take_outbox() == []


def test_add_markets_accepts_subscribed_with_the_existing_sid_as_the_ack() -> None:
    s = Session(["A"])
    sids = _live(s)
    s.add_markets(["B"], 1.0)
    for c in s.take_outbox():
        ch = c["params"]["channels"][0]
        s.handle(Subscribed(id=c["id"], channel=ch, sid=sids[ch]), 1.1)
        assert s.subs[ch].markets == ["A", "B"]


def test_markets_added_while_a_subscribe_is_pending_are_added_after_its_ack() -> None:
    s = Session(["A"])
    s.connected(0.0)
    first = s.take_outbox()
    s.add_markets(["B"], 0.05)
    assert s.take_outbox() == []  # nothing live yet
    s.handle(Subscribed(id=first[0]["id"], channel=first[0]["params"]["channels"][0], sid=1), 0.1)
    top_up = s.take_outbox()
    assert len(top_up) == 1 and top_up[0]["params"]["market_tickers"] == ["B"]


def test_after_a_reconnect_every_channel_subscribes_with_the_added_markets() -> None:
    s = Session(["A"])
    _live(s)
    s.add_markets(["B"], 1.0)
    s.take_outbox()
    s.connected(2.0)
    assert all(c["params"]["market_tickers"] == ["A", "B"] for c in s.take_outbox())


def test_an_add_without_reply_is_sent_again_after_the_reply_timeout() -> None:
    s = Session(["A"], reply_timeout=1.0)
    _live(s)
    s.add_markets(["B"], 1.0)
    n = len(s.take_outbox())
    s.tick(1.5)
    assert s.take_outbox() == []
    s.tick(2.5)
    again = s.take_outbox()
    assert len(again) == n and all(c["params"]["market_tickers"] == ["B"] for c in again)


def test_a_market_the_server_rejects_on_add_is_dropped_and_reported_never_fatal() -> None:
    s = Session(["A"])
    sids = _live(s)
    s.add_markets(["B"], 1.0)
    cmds = s.take_outbox()
    notes = s.handle(ErrorMsg(id=cmds[0]["id"], code=11, message="Invalid parameter", market_tickers=["B"]), 1.1)
    assert notes and notes[0].kind.value == "bad_ticker" and "B" in notes[0].text
    assert s.tickers == ["A"] and "B" in s.bad_tickers and s.fatal is None
    ch = cmds[0]["params"]["channels"][0]
    assert s.subs[ch].status == SubStatus.ACTIVE and s.subs[ch].sid == sids[ch]
    assert s.add_markets(["B"], 2.0) == []  # not asked for again


def test_an_add_failing_otherwise_resubscribes_the_channel() -> None:
    s = Session(["A"])
    _live(s)
    s.add_markets(["B"], 1.0)
    cmd = s.take_outbox()[0]
    notes = s.handle(ErrorMsg(id=cmd["id"], code=1, message="Unable to process"), 1.1)
    assert "resubscribing" in notes[0].text
    unsub = s.take_outbox()
    assert unsub[0]["cmd"] == "unsubscribe"
