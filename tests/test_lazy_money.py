"""Fills and positions keep their money fields lazy (issue 17 item 1): checked when the frame arrives, converted on
first read, equal in every way to the eager conversion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from market_making_bot.feed.backfill import RestUpdate, decode_update, encode_update
from market_making_bot.feed.core import Core
from market_making_bot.kalshi import DecodeError, decode_frame
from market_making_bot.kalshi.decode import _fill_now, _frame_decoder, _position_now
from market_making_bot.kalshi.messages import Fill, MarketPosition
from market_making_bot.units import _money_cache, _size_cache

FILL_MSG: dict[str, Any] = {
    "trade_id": "c0961224-6ff5-42d6-b389-edf86a617bd0",
    "order_id": "2c6dc93a-050c-466c-a3fe-c5fd013655a1",
    "client_order_id": "sim-take-6974",
    "market_ticker": "KXSIM-M48",
    "is_taker": True,
    "side": "yes",
    "yes_price_dollars": "0.5700",
    "count_fp": "4.00",
    "fee_cost": "0.068700",
    "action": "buy",
    "ts": 1796173115,
    "ts_ms": 1796173115504,
    "post_position_fp": "4.00",
    "purchased_side": "yes",
}
POSITION_MSG: dict[str, Any] = {
    "market_ticker": "KXSIM-M48",
    "position_fp": "-4.00",
    "position_cost_dollars": "2.280000",
    "realized_pnl_dollars": "-0.010000",
    "fees_paid_dollars": "0.068700",
    "position_fee_cost_dollars": "0.068700",
    "volume_fp": "4.00",
}


def fill_frame(**changes: Any) -> str:
    msg = {**FILL_MSG, **changes}
    return json.dumps({"type": "fill", "sid": 4, "seq": 9, "msg": {k: v for k, v in msg.items() if v is not None}})


def position_frame(**changes: Any) -> str:
    msg = {**POSITION_MSG, **changes}
    body = {k: v for k, v in msg.items() if v is not None}
    return json.dumps({"type": "market_position", "sid": 5, "msg": body, "sending_ts_ms": 1796173115504})


EAGER_FILL = Fill(
    sid=4,
    seq=9,
    market_ticker="KXSIM-M48",
    yes_price=5700,
    count=400,
    side="yes",
    action="buy",
    fee=68700,
    is_taker=True,
    post_position=400,
    trade_id="c0961224-6ff5-42d6-b389-edf86a617bd0",
    order_id="2c6dc93a-050c-466c-a3fe-c5fd013655a1",
    client_order_id="sim-take-6974",
    ts_ms=1796173115504,
)
EAGER_POSITION = MarketPosition(
    sid=5,
    sending_ts_ms=1796173115504,
    market_ticker="KXSIM-M48",
    position=-400,
    position_cost=2280000,
    realized_pnl=-10000,
    fees_paid=68700,
    position_fee_cost=68700,
    volume=400,
)


def test_a_fill_is_converted_on_first_read_of_a_lazy_field() -> None:
    msg = decode_frame(fill_frame())
    assert isinstance(msg, Fill) and msg._wire is not None
    # What the hot consumers read per fill is there without converting the rest.
    assert (msg.yes_price, msg.count, msg.side, msg.action, msg.post_position) == (5700, 400, "yes", "buy", 400)
    assert (msg.trade_id, msg.order_id, msg.sid, msg.seq) == (EAGER_FILL.trade_id, EAGER_FILL.order_id, 4, 9)
    assert msg._wire is not None
    assert msg.fee == 68700 and msg._wire is None
    assert (msg.is_taker, msg.client_order_id, msg.ts_ms) == (True, "sim-take-6974", 1796173115504)
    assert msg == EAGER_FILL


def test_a_position_is_converted_on_first_read_of_a_lazy_field() -> None:
    msg = decode_frame(position_frame())
    assert isinstance(msg, MarketPosition) and msg._wire is not None
    assert (msg.position, msg.market_ticker, msg.sending_ts_ms) == (-400, "KXSIM-M48", 1796173115504)
    assert msg._wire is not None
    assert msg.realized_pnl == -10000 and msg._wire is None
    assert (msg.position_cost, msg.fees_paid, msg.position_fee_cost, msg.volume) == (2280000, 68700, 68700, 400)
    assert msg == EAGER_POSITION


def test_lazy_messages_compare_and_print_as_the_structs_did() -> None:
    fill, position = decode_frame(fill_frame()), decode_frame(position_frame())
    assert fill == EAGER_FILL and position == EAGER_POSITION  # == converts what it compares
    assert decode_frame(fill_frame()) != Fill(**{**_fields(EAGER_FILL), "fee": 1})
    assert decode_frame(position_frame()) != MarketPosition(**{**_fields(EAGER_POSITION), "volume": 1})
    assert fill != position and fill != "Fill"
    # repr: every field in the order of the msgspec struct it was.
    assert repr(decode_frame(fill_frame())) == (
        "Fill(sid=4, seq=9, id=None, sending_ts_ms=None, market_ticker='KXSIM-M48', yes_price=5700, count=400, "
        "side='yes', action='buy', fee=68700, is_taker=True, post_position=400, "
        "trade_id='c0961224-6ff5-42d6-b389-edf86a617bd0', order_id='2c6dc93a-050c-466c-a3fe-c5fd013655a1', "
        "client_order_id='sim-take-6974', ts_ms=1796173115504)"
    )
    assert repr(decode_frame(position_frame())) == (
        "MarketPosition(sid=5, seq=None, id=None, sending_ts_ms=1796173115504, market_ticker='KXSIM-M48', "
        "position=-400, position_cost=2280000, realized_pnl=-10000, fees_paid=68700, position_fee_cost=68700, "
        "volume=400)"
    )
    assert repr(EAGER_FILL) == repr(decode_frame(fill_frame()))
    with pytest.raises(TypeError):
        hash(EAGER_FILL)


def _fields(msg: Fill | MarketPosition) -> dict[str, Any]:
    return {name: getattr(msg, name) for name in msg._fields}


def test_a_lazy_field_can_be_set_before_and_after_the_first_read() -> None:
    fill = decode_frame(fill_frame())
    assert isinstance(fill, Fill)
    fill.fee = 5  # before: the others are still converted from the wire
    assert (fill.fee, fill.is_taker, fill.ts_ms, fill.client_order_id) == (5, True, 1796173115504, "sim-take-6974")
    fill.ts_ms = 7  # after
    assert (fill.fee, fill.ts_ms) == (5, 7)
    position = decode_frame(position_frame())
    assert isinstance(position, MarketPosition)
    position.volume = 1
    assert (position.volume, position.position_cost) == (1, 2280000)
    position.realized_pnl = None
    assert position.realized_pnl is None and position.fees_paid == 68700
    position.position = 3  # an eager field, a plain attribute
    assert position.position == 3 and position.position_fee_cost == 68700


BAD_MONEY = ["0.0687001", "1e-3", "0x10", "\u0663.000000", "1000000000000.000001", "", " 0.068700", "0.068700\n"]


@pytest.mark.parametrize("fee", BAD_MONEY)
def test_a_malformed_fee_is_refused_when_the_fill_arrives(fee: str) -> None:
    with pytest.raises(DecodeError, match="^fill: "):
        decode_frame(fill_frame(fee_cost=fee))


@pytest.mark.parametrize("name", ["position_cost_dollars", "realized_pnl_dollars", "fees_paid_dollars",
                                  "position_fee_cost_dollars"])  # fmt: skip
@pytest.mark.parametrize("value", BAD_MONEY)
def test_a_malformed_position_amount_is_refused_when_it_arrives(name: str, value: str) -> None:
    with pytest.raises(DecodeError, match="^market_position: "):
        decode_frame(position_frame(**{name: value}))


@pytest.mark.parametrize("volume", ["-1.00", "1.001", "1e3", "\u0663.00", "", "1000000000001.00"])
def test_a_malformed_position_volume_is_refused_when_it_arrives(volume: str) -> None:
    with pytest.raises(DecodeError, match="^market_position: "):
        decode_frame(position_frame(volume_fp=volume))


def test_fields_cannot_shift_through_the_joined_shape_check() -> None:
    # The five are checked in one match over their space-joined text: a space inside one is refused, whatever the
    # others hold.
    frame = position_frame(position_cost_dollars="1.000000 2.000000", realized_pnl_dollars="3.000000")
    with pytest.raises(DecodeError):
        decode_frame(frame)
    with pytest.raises(DecodeError):
        decode_frame(position_frame(volume_fp="1.000000 2.00"))


def test_a_malformed_fill_is_counted_by_the_core_as_a_decode_error() -> None:
    core = Core()
    assert core.feed(fill_frame(fee_cost="0.06870x"), 1) is None
    assert core.feed(position_frame(fees_paid_dollars="-"), 2) is None
    assert core.counters["decode_errors"] == 2
    assert core.feed(fill_frame(), 3) is not None and core.counters["decode_errors"] == 2


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"fee_cost": None},
        {"fee_cost": "0.0687"},  # another notation: converted at once
        {"fee_cost": None, "fee_dollars": 0.0687},
        {"fee_cost": "-0.010000"},
        {"ts_ms": None},
        {"ts_ms": None, "ts": "2026-12-01T10:00:00.5Z"},
        {"post_position_fp": None, "post_position": -3},
        {"post_position_fp": "-12345.67"},
        {"post_position_fp": "12"},
        {"count_fp": None, "count": 7},
        {"yes_price_dollars": None, "yes_price": 57},
        {"yes_price_dollars": "", "price_dollars": 0.57},
        {"outcome_side": None, "purchased_side": None, "side": "sell", "action": None},
        {"client_order_id": None, "is_taker": None, "trade_id": None},
    ],
)
def test_the_lazy_fill_equals_the_eager_conversion(changes: dict[str, Any]) -> None:
    frame = fill_frame(**changes)
    assert decode_frame(frame) == _fill_now(_frame_decoder.decode(frame))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"position_fp": "0.00", "realized_pnl_dollars": "-0.000000"},
        {"position_fp": "123456789012.34", "volume_fp": "999999999999.99"},
        {"position_cost_dollars": "999999999999.999999", "realized_pnl_dollars": "-999999999999.999999"},
        {"position_cost_dollars": "2.28"},  # another notation: converted at once
        {"volume_fp": "4"},
        {"fees_paid_dollars": None},
        {"volume_fp": None, "volume": 4},
        {"position_cost_dollars": None, "position_cost": 22800},
        {"position_fp": None, "position": -4},
    ],
)
def test_the_lazy_position_equals_the_eager_conversion(changes: dict[str, Any]) -> None:
    frame = position_frame(**changes)
    assert decode_frame(frame) == _position_now(_frame_decoder.decode(frame))  # type: ignore[arg-type]


def test_positions_and_money_that_seldom_repeat_stay_out_of_the_parse_caches() -> None:
    decode_frame(fill_frame(post_position_fp="98765.43", fee_cost="0.076543"))
    decode_frame(position_frame(position_fp="-8765.43", position_cost_dollars="765.432100", volume_fp="8765.43"))
    assert not {"98765.43", "-8765.43", "8765.43"} & _size_cache.keys()
    assert not {"0.076543", "765.432100"} & _money_cache.keys()


JOURNALED = (
    '{"why":"start","fills":[{"sid":4,"seq":7,"id":null,"sending_ts_ms":null,"market_ticker":"M","yes_price":5700,'
    '"count":400,"side":"yes","action":"buy","fee":68700,"is_taker":true,"post_position":null,"trade_id":"t1",'
    '"order_id":"o1","client_order_id":null,"ts_ms":1796173115504},{"sid":null,"seq":null,"id":null,'
    '"sending_ts_ms":null,"market_ticker":"M","yes_price":1,"count":1,"side":null,"action":null,"fee":null,'
    '"is_taker":null,"post_position":null,"trade_id":null,"order_id":null,"client_order_id":null,"ts_ms":null}],'
    '"positions":[{"sid":null,"seq":null,"id":null,"sending_ts_ms":null,"market_ticker":"M","position":-400,'
    '"position_cost":2280000,"realized_pnl":-5,"fees_paid":68700,"position_fee_cost":null,"volume":400}],'
    '"audits":[]}'
)
"""``encode_update``'s text when ``Fill`` and ``MarketPosition`` were msgspec structs (before issue 17)."""


def test_journals_keep_their_bytes_both_ways() -> None:
    update = RestUpdate(
        why="start",
        fills=[
            Fill(market_ticker="M", yes_price=5700, count=400, side="yes", action="buy", fee=68700, is_taker=True,
                 trade_id="t1", order_id="o1", ts_ms=1796173115504, sid=4, seq=7),
            Fill(market_ticker="M", yes_price=1, count=1),
        ],
        positions=[MarketPosition(market_ticker="M", position=-400, position_cost=2280000, realized_pnl=-5,
                                  fees_paid=68700, volume=400)],
    )  # fmt: skip
    assert encode_update(update) == JOURNALED
    back = decode_update(JOURNALED)
    assert back == update and type(back.fills[0]) is Fill and type(back.positions[0]) is MarketPosition
    # A decoded (lazy) message journals as its eager twin.
    lazy = RestUpdate(why="x", fills=[decode_frame(fill_frame())], positions=[decode_frame(position_frame())])  # type: ignore[list-item]
    assert encode_update(lazy) == encode_update(RestUpdate(why="x", fills=[EAGER_FILL], positions=[EAGER_POSITION]))


@pytest.mark.parametrize(
    "damage",
    [
        ('"count":400', '"count":"400"'),
        ('"position":-400,', ""),
        ('"fee":68700', '"fee":0.5'),
        ('"sid":4', '"sid":"4"'),
    ],
)
def test_a_damaged_journal_record_is_still_refused(damage: tuple[str, str]) -> None:
    import msgspec

    with pytest.raises(msgspec.DecodeError):
        decode_update(JOURNALED.replace(*damage, 1))
