from __future__ import annotations

import json
from typing import Any

import pytest

from market_making_bot.kalshi import (
    DecodeError,
    ErrorMsg,
    Fill,
    MarketPosition,
    Ok,
    OrderbookDelta,
    OrderbookSnapshot,
    Subscribed,
    Ticker,
    TickerV2,
    Trade,
    UnknownMessage,
    Unsubscribed,
    decode_frame,
)

from .paths import FIXTURES, SHARED


def frame(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


# -- control messages ------------------------------------------------------------------------------------------


def test_subscribed() -> None:
    msg = decode_frame('{"id":2,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":7}}')
    assert isinstance(msg, Subscribed)
    assert (msg.type, msg.id, msg.sid, msg.seq, msg.channel) == ("subscribed", 2, 7, None, "orderbook_delta")


def test_unsubscribed_requires_sid() -> None:
    msg = decode_frame('{"id":124,"sid":2,"seq":7,"type":"unsubscribed"}')
    assert isinstance(msg, Unsubscribed)
    assert (msg.sid, msg.seq, msg.id) == (2, 7, 124)
    with pytest.raises(DecodeError, match="sid"):
        decode_frame('{"id":124,"type":"unsubscribed"}')


@pytest.mark.parametrize(
    "raw",
    [
        {"id": 1, "sid": 4, "seq": 9, "type": "ok", "msg": {"market_tickers": ["A", "B"]}},
        {"id": 1, "sid": 4, "seq": 9, "type": "ok", "market_tickers": ["A", "B"]},  # Feb-2026 spec: top level
    ],
)
def test_ok_market_list_inside_msg_or_top_level(raw: dict[str, Any]) -> None:
    msg = decode_frame(frame(raw))
    assert isinstance(msg, Ok)
    assert (msg.sid, msg.seq, msg.id, msg.market_tickers, msg.subscriptions) == (4, 9, 1, ["A", "B"], None)


@pytest.mark.parametrize("key", ["msg", "subscriptions"])
def test_ok_list_subscriptions(key: str) -> None:
    subs = [{"channel": "orderbook_delta", "sid": 1}, {"channel": "ticker", "sid": 2}]
    msg = decode_frame(frame({"id": 3, "type": "ok", key: subs}))
    assert isinstance(msg, Ok)
    assert msg.subscriptions == subs and msg.market_tickers is None


def test_ok_without_body() -> None:
    msg = decode_frame('{"id":3,"type":"ok"}')
    assert isinstance(msg, Ok) and msg.market_tickers is None and msg.subscriptions is None


def test_error() -> None:
    msg = decode_frame(
        '{"id":123,"type":"error","sid":5,"seq":8,"msg":{"code":25,"msg":"Subscription buffer overflow",'
        '"market_ticker":"M"}}'
    )
    assert isinstance(msg, ErrorMsg)
    assert (msg.code, msg.message, msg.id, msg.sid, msg.seq, msg.market_ticker) == (
        25,
        "Subscription buffer overflow",
        123,
        5,
        8,
        "M",
    )


# -- order book -----------------------------------------------------------------------------------------------


SNAPSHOT_FP = {
    "type": "orderbook_snapshot",
    "sid": 2,
    "seq": 2,
    "sending_ts_ms": 1669149841234,
    "msg": {
        "market_ticker": "FED-23DEC-T3.00",
        "market_id": "9b0f6b43",
        "clock": 4182057,
        "yes_dollars_fp": [["0.0800", "300.00"], ["0.2200", "333.00"]],
        "no_dollars_fp": [["0.5400", "20.00"], ["0.5600", "146.00"]],
    },
}


def test_snapshot_fixed_point() -> None:
    msg = decode_frame(frame(SNAPSHOT_FP))
    assert isinstance(msg, OrderbookSnapshot)
    assert msg.type == "orderbook_snapshot"
    assert (msg.sid, msg.seq, msg.sending_ts_ms, msg.clock, msg.market_id) == (2, 2, 1669149841234, 4182057, "9b0f6b43")
    assert msg.yes == [(800, 30000), (2200, 33300)]
    assert msg.no == [(5400, 2000), (5600, 14600)]


def test_snapshot_legacy_and_intermediate_formats_equal_fixed_point() -> None:
    legacy = {"market_ticker": "FED-23DEC-T3.00", "yes": [[8, 300], [22, 333]], "no": [[54, 20], [56, 146]]}
    mixed = {
        "market_ticker": "FED-23DEC-T3.00",
        "yes_dollars": [["0.080", 300], ["0.220", 333]],
        "no_dollars": [["0.540", 20], ["0.560", 146]],
    }
    expected = decode_frame(frame(SNAPSHOT_FP))
    assert isinstance(expected, OrderbookSnapshot)
    for body in (legacy, mixed):
        msg = decode_frame(frame({"type": "orderbook_snapshot", "sid": 2, "seq": 2, "msg": body}))
        assert isinstance(msg, OrderbookSnapshot)
        assert (msg.yes, msg.no) == (expected.yes, expected.no)


def test_snapshot_prefers_fixed_point_when_both_present() -> None:
    body = {"market_ticker": "M", "yes": [[45, 1]], "yes_dollars_fp": [["0.4550", "1.50"]]}
    msg = decode_frame(frame({"type": "orderbook_snapshot", "msg": body}))
    assert isinstance(msg, OrderbookSnapshot)
    assert msg.yes == [(4550, 150)]


@pytest.mark.parametrize("no_side", [None, []])
def test_snapshot_missing_side_equals_empty_side(no_side: list[Any] | None) -> None:
    body: dict[str, Any] = {"market_ticker": "M", "yes_dollars_fp": [["0.4500", "1.00"]]}
    if no_side is not None:
        body["no_dollars_fp"] = no_side
    msg = decode_frame(frame({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": body}))
    assert isinstance(msg, OrderbookSnapshot)
    assert msg.no == []


def test_delta_fixed_point() -> None:
    msg = decode_frame(
        '{"type":"orderbook_delta","sending_ts_ms":1669149841123,"sid":2,"seq":3,"msg":{"market_ticker":"FED",'
        '"market_id":"x","clock":4182061,"price_dollars":"0.9600","delta_fp":"-54.00","side":"yes",'
        '"ts":"2022-11-22T20:44:01Z","ts_ms":1669149841000,"client_order_id":"me"}}'
    )
    assert isinstance(msg, OrderbookDelta)
    assert (msg.market_ticker, msg.side, msg.price, msg.delta) == ("FED", "yes", 9600, -5400)
    assert (msg.sid, msg.seq, msg.ts_ms, msg.clock, msg.client_order_id, msg.sending_ts_ms) == (
        2,
        3,
        1669149841000,
        4182061,
        "me",
        1669149841123,
    )


def test_delta_legacy_cents_and_subpenny_fractional() -> None:
    legacy = decode_frame(
        '{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"F","price":96,"delta":-54,"side":"no"}}'
    )
    assert isinstance(legacy, OrderbookDelta)
    assert (legacy.side, legacy.price, legacy.delta) == ("no", 9600, -5400)
    sub = decode_frame(
        '{"type":"orderbook_delta","msg":{"market_ticker":"F","price_dollars":"0.0015","delta_fp":"-3.13","side":"yes"}}'
    )
    assert isinstance(sub, OrderbookDelta)
    assert (sub.price, sub.delta, sub.sid, sub.seq) == (15, -313, None, None)


def test_delta_prefers_fixed_point_when_both_present() -> None:
    msg = decode_frame(
        '{"type":"orderbook_delta","msg":{"market_ticker":"F","price":45,"price_dollars":"0.4550",'
        '"delta":1,"delta_fp":"1.50","side":"yes"}}'
    )
    assert isinstance(msg, OrderbookDelta)
    assert (msg.price, msg.delta) == (4550, 150)


# -- ticker, trade ---------------------------------------------------------------------------------------------


def test_ticker_fixed_point() -> None:
    msg = decode_frame(
        '{"type":"ticker","sid":11,"msg":{"market_ticker":"FED","price_dollars":"0.4800","yes_bid_dollars":"0.4500",'
        '"yes_ask_dollars":"0.5300","volume_fp":"33896.00","open_interest_fp":"20422.00","dollar_volume":16948,'
        '"dollar_open_interest":10211,"yes_bid_size_fp":"300.00","yes_ask_size_fp":"150.00",'
        '"last_trade_size_fp":"25.00","ts":1669149841,"ts_ms":1669149841000,"time":"2022-11-22T20:44:01Z"}}'
    )
    assert isinstance(msg, Ticker)
    assert (msg.price, msg.yes_bid, msg.yes_ask) == (4800, 4500, 5300)
    assert (msg.volume, msg.open_interest) == (3389600, 2042200)
    assert (msg.dollar_volume, msg.dollar_open_interest) == (16948, 10211)
    assert (msg.yes_bid_size, msg.yes_ask_size, msg.last_trade_size) == (30000, 15000, 2500)
    assert (msg.ts_ms, msg.sid, msg.seq) == (1669149841000, 11, None)


def test_ticker_legacy_cents_matches_fixed_point() -> None:
    msg = decode_frame(
        '{"type":"ticker","sid":11,"msg":{"market_ticker":"FED","price":48,"yes_bid":45,"yes_ask":53,'
        '"volume":33896,"open_interest":20422,"dollar_volume":16948,"dollar_open_interest":10211,"ts":1669149841}}'
    )
    assert isinstance(msg, Ticker)
    assert (msg.price, msg.yes_bid, msg.yes_ask, msg.volume, msg.open_interest) == (4800, 4500, 5300, 3389600, 2042200)
    assert msg.ts_ms == 1669149841000  # seconds -> ms
    assert msg.yes_bid_size is None


def test_ticker_empty_price_dollars_falls_back_to_legacy() -> None:
    msg = decode_frame('{"type":"ticker","msg":{"market_ticker":"M","price":0,"price_dollars":""}}')
    assert isinstance(msg, Ticker) and msg.price == 0


def test_ticker_v2() -> None:
    msg = decode_frame(
        '{"type":"ticker_v2","sid":11,"msg":{"market_ticker":"M","price":48,"price_dollars":"0.4800",'
        '"volume_delta":3,"volume_delta_fp":"3.00","open_interest_delta":-1,"dollar_volume_delta":2,"ts":1770897976}}'
    )
    assert isinstance(msg, TickerV2)
    assert (msg.price, msg.volume_delta, msg.open_interest_delta, msg.dollar_volume_delta, msg.ts_ms) == (
        4800,
        300,
        -100,
        2,
        1770897976000,
    )


@pytest.mark.parametrize(
    ("sides", "expected"),
    [
        ({"taker_outcome_side": "no", "taker_side": "yes"}, "no"),  # the current field wins
        ({"taker_side": "yes"}, "yes"),
        ({"taker_book_side": "bid"}, "yes"),
        ({"taker_book_side": "ask"}, "no"),
        ({}, None),
    ],
)
def test_trade_taker_side(sides: dict[str, str], expected: str | None) -> None:
    body = {"market_ticker": "M", "yes_price_dollars": "0.3600", "count_fp": "136.00", **sides}
    msg = decode_frame(frame({"type": "trade", "sid": 11, "seq": 2, "msg": body}))
    assert isinstance(msg, Trade)
    assert msg.taker_side == expected
    assert (msg.yes_price, msg.no_price, msg.count, msg.seq) == (3600, 6400, 13600, 2)


def test_trade_legacy_and_fractional() -> None:
    legacy = decode_frame(
        '{"type":"trade","sid":11,"msg":{"market_ticker":"H","yes_price":36,"no_price":64,"count":136,'
        '"taker_side":"no","ts":1669149841}}'
    )
    assert isinstance(legacy, Trade)
    assert (legacy.yes_price, legacy.no_price, legacy.count, legacy.taker_side, legacy.ts_ms) == (
        3600,
        6400,
        13600,
        "no",
        1669149841000,
    )
    fractional = decode_frame(
        '{"type":"trade","msg":{"market_ticker":"H","trade_id":"t","no_price_dollars":"0.4000","count_fp":"5.10"}}'
    )
    assert isinstance(fractional, Trade)
    assert (fractional.yes_price, fractional.no_price, fractional.count, fractional.trade_id) == (6000, 4000, 510, "t")


# -- private ---------------------------------------------------------------------------------------------------


def test_fill_fixed_point() -> None:
    msg = decode_frame(
        '{"type":"fill","sid":13,"msg":{"trade_id":"t","order_id":"o","client_order_id":"c","market_ticker":"H",'
        '"exchange_index":2,"is_taker":true,"side":"yes","yes_price_dollars":"0.7500","count_fp":"278.00",'
        '"fee_cost":"0.010000","action":"buy","ts":1671899397,"ts_ms":1671899397000,"post_position_fp":"-500.00",'
        '"purchased_side":"yes","outcome_side":"yes","book_side":"bid","subaccount":3}}'
    )
    assert isinstance(msg, Fill)
    assert (msg.yes_price, msg.count, msg.fee, msg.post_position) == (7500, 27800, 10000, -50000)
    assert (msg.side, msg.action, msg.is_taker, msg.trade_id, msg.order_id, msg.client_order_id) == (
        "yes",
        "buy",
        True,
        "t",
        "o",
        "c",
    )


def test_fill_legacy_cents() -> None:
    msg = decode_frame(
        '{"type":"fill","msg":{"market_ticker":"H","side":"no","action":"sell","yes_price":45,"count":5,'
        '"post_position":-5,"ts":1671899397}}'
    )
    assert isinstance(msg, Fill)
    assert (msg.yes_price, msg.count, msg.post_position, msg.side, msg.action, msg.fee, msg.ts_ms) == (
        4500,
        500,
        -500,
        "no",
        "sell",
        None,
        1671899397000,
    )


def test_market_position_fixed_point_and_legacy_centicents() -> None:
    new = decode_frame(
        '{"type":"market_position","sid":14,"msg":{"user_id":"u","market_ticker":"F","position_fp":"100.00",'
        '"position_cost_dollars":"50.0000","realized_pnl_dollars":"-10.0000","fees_paid_dollars":"1.0000",'
        '"position_fee_cost_dollars":"0.5000","volume_fp":"15.00"}}'
    )
    old = decode_frame(
        '{"type":"market_position","sid":14,"msg":{"market_ticker":"F","position":100,"position_cost":500000,'
        '"realized_pnl":-100000,"fees_paid":10000,"position_fee_cost":5000,"volume":15}}'
    )
    for msg in (new, old):
        assert isinstance(msg, MarketPosition)
        assert (msg.position, msg.position_cost, msg.realized_pnl, msg.fees_paid, msg.position_fee_cost) == (
            10000,
            50_000_000,
            -10_000_000,
            1_000_000,
            500_000,
        )
        assert msg.volume == 1500


# -- seed README examples ---------------------------------------------------------------------------------------


def seed_frames() -> list[str]:
    return [chunk.strip() for chunk in (FIXTURES / "seed_readme_frames.txt").read_text().split("\n;;\n")]


def test_seed_readme_examples_decode() -> None:
    snapshot, delta, ticker, trade, fill = (decode_frame(f) for f in seed_frames())
    assert isinstance(snapshot, OrderbookSnapshot)
    assert snapshot.yes == [(800, 30000), (2200, 33300)] and snapshot.no == [(5400, 2000), (5600, 14600)]
    assert isinstance(delta, OrderbookDelta)
    assert (delta.price, delta.delta, delta.side) == (9600, -5400, "yes")
    assert isinstance(ticker, Ticker)
    assert (ticker.price, ticker.yes_bid, ticker.yes_ask, ticker.volume) == (4800, 4500, 5300, 3389600)
    assert isinstance(trade, Trade)
    assert (trade.yes_price, trade.no_price, trade.count, trade.taker_side) == (3600, 6400, 13600, "no")
    assert isinstance(fill, Fill)
    # The seed's hand-written fill: JSON-number dollars, and the action in "side".
    assert (fill.yes_price, fill.fee, fill.count, fill.post_position) == (4500, 45000, 10000, 10000)
    assert (fill.action, fill.side) == ("buy", None)


def test_seed_fixture_is_the_seed_readme_verbatim() -> None:
    readme = SHARED / "seed" / "README.md"
    if not readme.is_file():
        pytest.skip(f"{readme} is not available")
    blocks = readme.read_text().split("```json\n")[1:]
    examples = [json.loads(block.split("```")[0]) for block in blocks]
    assert [json.loads(f) for f in seed_frames()] == examples


# -- errors and unknown types -----------------------------------------------------------------------------------


def test_unknown_type_is_kept_raw() -> None:
    msg = decode_frame('{"type":"market_lifecycle_v2","sid":13,"seq":3,"id":4,"msg":{"event_type":"settled"}}')
    assert isinstance(msg, UnknownMessage)
    assert (msg.type, msg.sid, msg.seq, msg.id) == ("market_lifecycle_v2", 13, 3, 4)
    assert msg.raw["msg"] == {"event_type": "settled"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("this is not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "not an object"),
        ('"text"', "not an object"),
        ('{"sid": 1}', "type"),
        ('{"type": 5, "msg": {}}', "type"),
        ('{"type":"orderbook_delta","msg":{"market_ticker":"M","delta_fp":"1.00","side":"yes"}}', "price"),
        ('{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":"0.45","side":"yes"}}', "delta"),
        ('{"type":"orderbook_delta","msg":{"price_dollars":"0.45","delta_fp":"1.00","side":"yes"}}', "market_ticker"),
        ('{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":"0.45","delta_fp":"1.00"}}', "side"),
        (
            '{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":"0.45","delta_fp":"1","side":"up"}}',
            "side",
        ),
        ('{"type":"orderbook_delta","sid":1}', "msg"),
        # off-grid values: never rounded
        (
            '{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":"0.45001","delta_fp":"1","side":"yes"}}',
            "decimals",
        ),
        (
            '{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":"0.45","delta_fp":"1.001","side":"yes"}}',
            "decimals",
        ),
        # units decided by field name: an integer is never dollars, a dollar string is never cents
        (
            '{"type":"orderbook_delta","msg":{"market_ticker":"M","price_dollars":45,"delta_fp":"1","side":"yes"}}',
            "str",
        ),
        ('{"type":"orderbook_delta","msg":{"market_ticker":"M","price":"0.45","delta":1,"side":"yes"}}', "int"),
        ('{"type":"orderbook_delta","msg":{"market_ticker":"M","price":45.5,"delta":1,"side":"yes"}}', "int"),
        ('{"type":"ticker","msg":{"market_ticker":"M","yes_bid_dollars":45}}', "str"),
        ('{"type":"ticker","msg":{"market_ticker":"M","dollar_volume":"16948"}}', "int"),
        ('{"type":"ticker","msg":{"market_ticker":"M","yes_bid_dollars":"1.5000"}}', "outside"),
        ('{"type":"orderbook_snapshot","msg":{"market_ticker":"M","yes":[["0.45","1.00"]]}}', "int"),
        (
            '{"type":"orderbook_snapshot","msg":{"market_ticker":"M","yes_dollars_fp":[["0.45","-1.00"]]}}',
            "not positive",
        ),
        ('{"type":"orderbook_snapshot","msg":{"yes_dollars_fp":[]}}', "market_ticker"),
        ('{"type":"trade","msg":{"market_ticker":"M","count_fp":"1.00"}}', "price"),
        ('{"type":"trade","msg":{"market_ticker":"M","yes_price_dollars":"0.45"}}', "count"),
        ('{"type":"fill","msg":{"market_ticker":"M","yes_price_dollars":"0.45"}}', "count"),
        ('{"type":"market_position","msg":{"market_ticker":"M"}}', "position"),
        (
            '{"type":"market_position","msg":{"market_ticker":"M","position_fp":"1","fees_paid_dollars":"0.0000001"}}',
            "decimals",
        ),
        ('{"type":"error","msg":{"msg":"no code"}}', "code"),
        ('{"type":"subscribed","msg":{"channel":"ticker"}}', "sid"),
        ('{"type":"orderbook_delta","sid":"1","msg":{"market_ticker":"M","price":1,"delta":1,"side":"yes"}}', "int"),
    ],
)
def test_decode_errors(data: str | bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_frame(data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


def test_bytes_input() -> None:
    msg = decode_frame(b'{"type":"ok","id":1}')
    assert isinstance(msg, Ok)
