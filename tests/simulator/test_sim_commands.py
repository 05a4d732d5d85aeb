"""The simulator's command protocol without a socket: text in, replies and actions out (sans-I/O).

Every command, every error code the protocol can answer (checked against the codes its source raises),
repeated subscribes, unknown sids and the actions of ``update_subscription``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.simulator import commands
from market_making_bot.simulator.commands import CommandProtocol
from market_making_bot.simulator.subscriptions import (
    Action,
    Added,
    MarketDirectory,
    Removed,
    Reply,
    SendSnapshot,
    SendTicker,
    Subscription,
    UserWanted,
)
from market_making_bot.simulator.wire import ErrorCode

MARKETS = MarketDirectory(("A", "B", "C"), {"A": "id-a", "B": "id-b", "C": "id-c"})
TS = 1_780_000_000_123


class NoIO:
    """The connection a subscription belongs to: the protocol itself never sends anything."""

    def push(self, flags: int, sid: int, seq: int, frame: bytes) -> None:
        raise AssertionError("the command protocol pushed a frame itself")


class Faults:
    def __init__(self, deny_private: int = 0, early_data: int = 0) -> None:
        self.deny_private = deny_private
        self.early_data = early_data

    def take_deny_private(self) -> bool:
        self.deny_private -= 1
        return self.deny_private >= 0

    def take_early_data(self) -> bool:
        self.early_data -= 1
        return self.early_data >= 0


def protocol(*, authenticated: bool = True, repeat: str = "ok", faults: Faults | None = None) -> CommandProtocol:
    return CommandProtocol(MARKETS, NoIO(), authenticated=authenticated, repeat_subscribe=repeat, faults=faults)


def send(p: CommandProtocol, cmd: object) -> list[Action]:
    return p.receive(cmd if isinstance(cmd, str) else json.dumps(cmd), TS)


def replies(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Reply)]


def shape(actions: list[Action]) -> list[tuple[Any, ...]]:
    """The actions as comparable tuples: ("reply", type, sid, seq) / ("snapshot", ticker, id, seq) / ..."""
    out: list[tuple[Any, ...]] = []
    for a in actions:
        if isinstance(a, Reply):
            f = json.loads(a.frame)
            out.append(("reply", f["type"], f.get("sid"), f.get("seq")))
            assert (a.sid, a.seq) == ((f["sid"], f["seq"]) if "seq" in f else (0, 0))
        elif isinstance(a, SendSnapshot):
            out.append(("snapshot", a.sub.sid, a.ticker, a.id_, a.seq))
        elif isinstance(a, SendTicker):
            out.append(("ticker", a.sub.sid, a.ticker))
        elif isinstance(a, Added):
            out.append(("added", a.sub.sid, a.sub.channel))
        elif isinstance(a, Removed):
            out.append(("removed", a.sub.sid))
        else:
            assert isinstance(a, UserWanted)
            out.append(("user", a.channel))
    return out


def subscribe(p: CommandProtocol, channel: str = "orderbook_delta", id_: int = 1, **params: Any) -> list[Action]:
    return send(p, {"id": id_, "cmd": "subscribe", "params": {"channels": [channel], **params}})


def error_of(actions: list[Action]) -> dict[str, Any]:
    (frame,) = [f for f in replies(actions) if f["type"] == "error"]
    msg: dict[str, Any] = frame["msg"]
    return {"code": msg["code"], "id": frame.get("id"), "sid": frame.get("sid"), **msg}


# ---- subscribe ---------------------------------------------------------------------------------------


def test_subscribe_orderbook_acks_then_one_numbered_snapshot_per_market() -> None:
    p = protocol()
    actions = subscribe(p, market_tickers=["B", "A", "B"])
    assert shape(actions) == [
        ("added", 1, "orderbook_delta"),
        ("reply", "subscribed", None, None),
        ("snapshot", 1, "B", None, 1),
        ("snapshot", 1, "A", None, 2),
    ]
    (ack,) = replies(actions)
    assert ack == {"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}, "sending_ts_ms": TS}
    assert p.subs[1].markets == {"A", "B"} and p.subs[1].seq == 2


def test_no_sending_ts_when_the_caller_gives_none() -> None:
    p = protocol()
    (frame,) = replies(p.receive(json.dumps({"id": 4, "cmd": "list_subscriptions"})))
    assert frame == {"type": "ok", "id": 4, "msg": []}


def test_repeated_subscribe_answers_ok_on_the_same_sid_taking_its_next_seq() -> None:
    p = protocol()
    subscribe(p, market_tickers=["A", "B"])
    actions = subscribe(p, id_=2, market_tickers=["C", "A"])
    assert shape(actions) == [("reply", "ok", 1, 3), ("snapshot", 1, "C", None, 4)]
    assert replies(actions)[0]["msg"] == {"market_tickers": ["A", "B", "C"]}
    # the same markets again: an ok and nothing else; skip_ticker_ack leaves the list off
    assert shape(subscribe(p, id_=3, market_tickers=["A"])) == [("reply", "ok", 1, 5)]
    assert "msg" not in replies(subscribe(p, id_=4, market_tickers=["A"], skip_ticker_ack=True))[0]
    assert list(p.subs) == [1]


def test_repeated_subscribe_in_the_older_style_answers_subscribed_without_a_seq() -> None:
    p = protocol(repeat="subscribed")
    subscribe(p, market_tickers=["A"])
    assert shape(subscribe(p, id_=2, market_tickers=["B"])) == [
        ("reply", "subscribed", None, None),
        ("snapshot", 1, "B", None, 2),
    ]


def test_repeated_subscribe_without_markets_widens_a_filtered_channel_to_every_market() -> None:
    p = protocol()
    subscribe(p, "trade", market_tickers=["A"])
    actions = subscribe(p, "trade", id_=2)
    assert shape(actions) == [("reply", "ok", 1, 1)] and p.subs[1].markets is None
    assert replies(actions)[0]["msg"] == {"market_tickers": []}


def test_subscribe_several_channels_refuses_one_and_keeps_the_others() -> None:
    p = protocol(authenticated=False)
    actions = send(p, {"id": 7, "cmd": "subscribe", "params": {"channels": ["trade", "fill", "trade", "ticker"]}})
    assert shape(actions) == [
        ("added", 1, "trade"),
        ("reply", "subscribed", None, None),
        ("reply", "error", None, None),
        ("added", 2, "ticker"),
        ("reply", "subscribed", None, None),
    ]
    assert error_of(actions)["code"] == 9 and error_of(actions)["id"] == 7


def test_private_channel_asks_for_the_simulated_user_after_its_ack() -> None:
    p = protocol()
    assert shape(subscribe(p, "fill")) == [("added", 1, "fill"), ("reply", "subscribed", None, None), ("user", "fill")]


def test_early_data_fault_sends_the_snapshots_before_the_ack() -> None:
    p = protocol(faults=Faults(early_data=1))
    assert shape(subscribe(p, market_ticker="A")) == [
        ("added", 1, "orderbook_delta"),
        ("snapshot", 1, "A", None, 1),
        ("reply", "subscribed", None, None),
    ]
    assert shape(subscribe(p, "orderbook_delta", id_=2, market_ticker="B"))[0] == ("reply", "ok", 1, 2)


def test_ticker_initial_snapshot_covers_every_market_without_a_filter() -> None:
    p = protocol()
    actions = subscribe(p, "ticker", send_initial_snapshot=True)
    assert shape(actions)[2:] == [("ticker", 1, "A"), ("ticker", 1, "B"), ("ticker", 1, "C")]
    assert shape(subscribe(protocol(), "ticker"))[2:] == []  # no initial ticker unless asked


def test_subscribe_by_market_ids_on_ticker() -> None:
    p = protocol()
    subscribe(p, "ticker", market_ids=["id-b"])
    assert p.subs[1].markets == {"B"} and p.subs[1].by_ids
    actions = send(
        p,
        {"id": 2, "cmd": "update_subscription", "params": {"sid": 1, "action": "add_markets", "market_ids": ["id-a"]}},
    )
    assert replies(actions)[0]["msg"] == {"market_ids": ["id-a", "id-b"]}


# ---- list, unsubscribe -----------------------------------------------------------------------------


def test_list_subscriptions_sorted_by_sid() -> None:
    p = protocol()
    subscribe(p, "trade")
    subscribe(p, "orderbook_delta", market_ticker="A")
    (frame,) = replies(send(p, {"id": 3, "cmd": "list_subscriptions"}))
    assert frame["msg"] == [{"channel": "trade", "sid": 1}, {"channel": "orderbook_delta", "sid": 2}]


def test_unsubscribe_removes_acks_with_the_next_seq_and_names_each_unknown_sid() -> None:
    p = protocol()
    subscribe(p, market_tickers=["A", "B"])
    actions = send(p, {"id": 5, "cmd": "unsubscribe", "params": {"sids": [1, 9, 1]}})
    assert shape(actions) == [("removed", 1), ("reply", "unsubscribed", 1, 3), ("reply", "error", 9, None)]
    assert error_of(actions)["code"] == ErrorCode.UNKNOWN_SID and error_of(actions)["id"] == 5
    assert p.subs == {}
    # the sid is gone: unsubscribing it again is an unknown sid too
    assert error_of(send(p, {"id": 6, "cmd": "unsubscribe", "params": {"sids": [1]}}))["sid"] == 1


# ---- update_subscription ----------------------------------------------------------------------------


def update(p: CommandProtocol, id_: int = 9, **params: Any) -> list[Action]:
    return send(p, {"id": id_, "cmd": "update_subscription", "params": params})


def test_add_and_delete_markets() -> None:
    p = protocol()
    subscribe(p, market_ticker="A")  # seq 1: the snapshot of A
    actions = update(p, sids=[1], action="add_markets", market_tickers=["B", "A", "C"])
    assert shape(actions) == [("reply", "ok", 1, 2), ("snapshot", 1, "B", None, 3), ("snapshot", 1, "C", None, 4)]
    assert replies(actions)[0]["msg"] == {"market_tickers": ["A", "B", "C"]}
    actions = update(p, sid=1, action="delete_markets", market_tickers=["A", "B"])
    assert shape(actions) == [("reply", "ok", 1, 5)] and replies(actions)[0]["msg"] == {"market_tickers": ["C"]}
    assert p.subs[1].markets == {"C"}


def test_get_snapshot_answers_each_subscribed_market_with_the_command_id() -> None:
    p = protocol()
    subscribe(p, market_tickers=["A", "B"])
    assert shape(update(p, id_=12, sid=1, action="get_snapshot", market_tickers=["B"])) == [("snapshot", 1, "B", 12, 3)]
    actions = update(p, id_=13, sid=1, action="get_snapshot", market_tickers=["C", "A"])
    assert shape(actions) == [("reply", "error", 1, None), ("snapshot", 1, "A", 13, 4)]
    err = error_of(actions)
    assert err["code"] == 11 and err["market_tickers"] == ["C"] and err["id"] == 13


def test_an_ended_sid_is_unknown() -> None:
    p = protocol()
    subscribe(p, market_ticker="A")
    assert p.end(1) is not None and p.end(1) is None
    err = error_of(update(p, sid=1, action="get_snapshot", market_tickers=["A"]))
    assert err["code"] == ErrorCode.UNKNOWN_SID and err["sid"] == 1


def test_close_ends_every_subscription() -> None:
    p = protocol()
    subscribe(p, "trade")
    subscribe(p, "ticker")
    assert [s.channel for s in p.close()] == ["trade", "ticker"] and p.subs == {}


# ---- every error code --------------------------------------------------------------------------------

OB = {"channels": ["orderbook_delta"]}
ERRORS: list[tuple[str, object, int]] = [
    ("not JSON", "{not json", 1),
    ("not an object", "[1]", 1),
    ("negative id", {"id": -1, "cmd": "list_subscriptions"}, 1),
    ("unknown command", {"id": 1, "cmd": "order"}, 5),
    ("no params", {"id": 1, "cmd": "subscribe"}, 2),
    ("params not an object", {"id": 1, "cmd": "subscribe", "params": []}, 1),
    ("no channels", {"id": 1, "cmd": "subscribe", "params": {}}, 3),
    ("empty channels", {"id": 1, "cmd": "subscribe", "params": {"channels": []}}, 3),
    ("channels not a list", {"id": 1, "cmd": "subscribe", "params": {"channels": "trade"}}, 1),
    ("unknown channel", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trades"]}}, 8),
    ("flag not a boolean", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "use_yes_price": 1}}, 1),
    ("shard_factor not int", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "shard_factor": "2"}}, 1),
    ("shard_key alone", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "shard_key": 0}}, 20),
    ("shard_factor 0", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "shard_factor": 0}}, 19),
    ("shard_factor 101", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "shard_factor": 101}}, 22),
    (
        "shard_key out of range",
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "shard_factor": 2, "shard_key": 2}},
        21,
    ),
    ("private, anonymous", {"id": 1, "cmd": "subscribe", "params": {"channels": ["market_positions"]}}, 9),
    ("orderbook without markets", {"id": 1, "cmd": "subscribe", "params": OB}, 14),
    ("orderbook by ids", {"id": 1, "cmd": "subscribe", "params": {**OB, "market_ids": ["id-a"]}}, 14),
    ("trade by ids", {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "market_ids": ["id-a"]}}, 11),
    ("unknown ticker", {"id": 1, "cmd": "subscribe", "params": {**OB, "market_tickers": ["A", "Z"]}}, 11),
    ("unknown id", {"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker"], "market_ids": ["id-z"]}}, 11),
    (
        "both filters",
        {"id": 1, "cmd": "subscribe", "params": {**OB, "market_ticker": "A", "market_tickers": ["B"]}},
        11,
    ),
    ("ticker not a string", {"id": 1, "cmd": "subscribe", "params": {**OB, "market_ticker": 5}}, 1),
    ("tickers not strings", {"id": 1, "cmd": "subscribe", "params": {**OB, "market_tickers": [5]}}, 1),
    ("no sids", {"id": 1, "cmd": "unsubscribe", "params": {}}, 4),
    ("sids not ints", {"id": 1, "cmd": "unsubscribe", "params": {"sids": ["1"]}}, 1),
    ("unknown sid", {"id": 1, "cmd": "unsubscribe", "params": {"sids": [42]}}, 7),
    ("no action", {"id": 1, "cmd": "update_subscription", "params": {"sid": 1}}, 15),
    ("action not a string", {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "action": 3}}, 1),
    ("no sid", {"id": 1, "cmd": "update_subscription", "params": {"action": "add_markets"}}, 12),
    ("two sids", {"id": 1, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}}, 12),
    ("sid and sids", {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "sids": [1], "action": "x"}}, 12),
    ("sid not an int", {"id": 1, "cmd": "update_subscription", "params": {"sid": "1", "action": "add_markets"}}, 1),
    ("update unknown sid", {"id": 1, "cmd": "update_subscription", "params": {"sid": 42, "action": "add_markets"}}, 7),
    ("unknown action", {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "action": "replace"}}, 13),
    ("snapshot of trades", {"id": 1, "cmd": "update_subscription", "params": {"sid": 2, "action": "get_snapshot"}}, 13),
    ("no market filter", {"id": 1, "cmd": "update_subscription", "params": {"sid": 3, "action": "add_markets"}}, 13),
    ("add nothing", {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "action": "add_markets"}}, 14),
    (
        "single ticker snapshot",
        {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "action": "get_snapshot", "market_ticker": "A"}},
        14,
    ),
    (
        "ids on orderbook",
        {"id": 1, "cmd": "update_subscription", "params": {"sid": 1, "action": "add_markets", "market_ids": ["id-a"]}},
        14,
    ),
]


@pytest.mark.parametrize(("case", "command", "code"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_codes(case: str, command: object, code: int) -> None:
    # an anonymous connection with sid 1 orderbook_delta on A, sid 2 trade, sid 3 communications (no market filter)
    p = protocol(authenticated=False)
    subscribe(p, market_ticker="A")
    subscribe(p, "trade")
    p.subs[3] = Subscription(3, "communications", NoIO(), None)
    before = {sid: (s.seq, None if s.markets is None else set(s.markets)) for sid, s in p.subs.items()}
    actions = send(p, command)
    assert len(actions) == 1, shape(actions)  # the error alone: nothing added, removed or sent
    err = error_of(actions)
    assert err["code"] == code
    assert err["id"] == (None if code == 1 and not isinstance(command, dict) or case == "negative id" else 1)
    assert {sid: (s.seq, None if s.markets is None else set(s.markets)) for sid, s in p.subs.items()} == before


def test_deny_private_fault_refuses_an_authenticated_private_subscribe() -> None:
    p = protocol(faults=Faults(deny_private=1))
    assert error_of(subscribe(p, "fill"))["code"] == ErrorCode.AUTH_REQUIRED
    assert shape(subscribe(p, "fill", id_=2))[0] == ("added", 1, "fill")  # the fault fired once


def test_undecodable_binary_message_is_error_1_without_id() -> None:
    (frame,) = replies(protocol().undecodable(TS))
    assert frame == {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}, "sending_ts_ms": TS}


def test_id_zero_is_no_id() -> None:
    (frame,) = replies(send(protocol(), {"id": 0, "cmd": "list_subscriptions"}))
    assert "id" not in frame


def test_every_error_code_the_protocol_answers_is_tested() -> None:
    source = Path(commands.__file__).read_text()
    answered = {ErrorCode[name] for name in re.findall(r"\b_E\.([A-Z_]+)", source)}
    tested = {ErrorCode(code) for _, _, code in ERRORS}
    assert answered and answered == tested
