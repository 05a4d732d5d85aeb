from __future__ import annotations

import logging
from typing import Any

from market_making_bot.feed.session import Session


def _connect(s: Session) -> list[dict[str, Any]]:
    s.connected()
    return s.take_outbox()


def test_one_subscribe_per_channel_with_pinned_price_convention() -> None:
    s = Session(["A-1", "B-2", "A-1"], with_private=True)
    s.connected()
    cmds = s.take_outbox()
    assert [c["params"]["channels"] for c in cmds] == [
        ["orderbook_delta"], ["ticker"], ["trade"], ["fill"], ["market_positions"]
    ]
    assert len({c["id"] for c in cmds}) == 5 and all(c["cmd"] == "subscribe" for c in cmds)
    assert all(c["params"]["market_tickers"] == ["A-1", "B-2"] for c in cmds)
    assert cmds[0]["params"]["use_yes_price"] is False
    assert "use_yes_price" not in cmds[1]["params"]
    assert s.outbox == []


def test_acks_errors_and_refused_private_channel() -> None:
    s = Session(["A"], with_private=True)
    cmds = {c["params"]["channels"][0]: c["id"] for c in _connect(s)}
    s.on_subscribed(cmds["orderbook_delta"], "orderbook_delta", 1)
    assert s.channel_of(1) == "orderbook_delta" and s.markets_of(1) == ["A"]
    notes = s.on_error(cmds["fill"], 9, "Authentication required", None)
    assert notes[0].level == logging.ERROR and "fill refused" in notes[0].text and "permission" in notes[0].text
    assert s.subs["fill"].status == "refused" and s.subs["orderbook_delta"].status == "active"
    # a reconnect does not ask again for a channel the key may not use
    again = [c["params"]["channels"][0] for c in _connect(s)]
    assert "fill" not in again and "orderbook_delta" in again


def test_get_snapshot_and_fallback_resubscribe() -> None:
    s = Session(["A", "B"])
    ids = {c["params"]["channels"][0]: c["id"] for c in _connect(s)}
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 7)
    cmd = s.request_snapshot(7)
    assert cmd == {"id": cmd["id"] if cmd else 0, "cmd": "update_subscription",
                   "params": {"sids": [7], "market_tickers": ["A", "B"], "action": "get_snapshot"}}
    s.take_outbox()
    s.on_error(cmd["id"] if cmd else 0, 13, "Unsupported action", 7)
    out = s.take_outbox()
    # Issue 12 item 7: never unsubscribe + subscribe back to back (this used to pin both at once); the subscribe
    # goes once the unsubscribed has come.
    assert [c["cmd"] for c in out] == ["unsubscribe"] and out[0]["params"] == {"sids": [7]}
    s.on_unsubscribed(out[0]["id"], 7)
    assert [c["cmd"] for c in s.take_outbox()] == ["subscribe"]
    assert s.request_snapshot(99) is None  # unknown sid


def test_terminal_error_resubscribes_without_unsubscribe() -> None:
    s = Session(["A"])
    ids = {c["params"]["channels"][0]: c["id"] for c in _connect(s)}
    s.on_subscribed(ids["orderbook_delta"], "orderbook_delta", 3)
    notes = s.on_error(None, 25, "Subscription buffer overflow", 3)
    assert "resubscribing" in notes[0].text
    out = s.take_outbox()
    assert [c["cmd"] for c in out] == ["subscribe"] and out[0]["params"]["channels"] == ["orderbook_delta"]
    # an unsolicited unsubscribed also heals
    s.on_subscribed(out[0]["id"], "orderbook_delta", 4, now=0.0)
    s.on_unsubscribed(None, 4, now=100.0)  # after a stable subscription: at once, no backoff
    assert [c["cmd"] for c in s.take_outbox()] == ["subscribe"]


def test_rejected_ticker_is_dropped_and_each_channel_resubscribes_without_it() -> None:
    s = Session(["GOOD", "BAD"], with_private=False)
    ids = {c["params"]["channels"][0]: c["id"] for c in _connect(s)}
    notes = s.on_error(ids["orderbook_delta"], 11, "Invalid parameter", None, ["BAD"])
    assert notes[0].level == logging.ERROR and "market BAD rejected" in notes[0].text
    assert s.on_error(ids["ticker"], 11, "Invalid parameter", None, ["BAD"]) == []  # said once
    out = s.take_outbox()
    assert [c["params"]["channels"] for c in out] == [["orderbook_delta"], ["ticker"]]
    assert all(c["params"]["market_tickers"] == ["GOOD"] for c in out)
    assert s.bad_tickers == {"BAD"} and s.tickers == ["GOOD"]
