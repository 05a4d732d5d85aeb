"""The V2 order models (``kalshi.orders``) and the ``user_order`` / ``order_group_updates`` frames: encodings from
integer units, every number form Kalshi sends, bad values named, and Kalshi's own examples (openapi.yaml,
asyncapi-examples.jsonl) read back."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import OrderFrameSeen
from market_making_bot.kalshi.decode import DecodeError, decode_frame
from market_making_bot.kalshi.messages import OrderGroupUpdate, UserOrder
from market_making_bot.kalshi.orders import (
    AmendOrderReply,
    AmendOrderRequest,
    BatchCancelReply,
    BatchCreateReply,
    BookSide,
    CancelOrderReply,
    CancelRef,
    CreateOrderGroupReply,
    CreateOrderGroupRequest,
    CreateOrderReply,
    CreateOrderRequest,
    DecreaseOrderReply,
    DecreaseOrderRequest,
    OrderGroupLimitRequest,
    OrderGroupReply,
    OrderGroupsReply,
    OrderStatus,
    SelfTradePrevention,
    TimeInForce,
    batch_cancel_body,
    batch_create_body,
)
from market_making_bot.kalshi.rest import KalshiResponseError, decode

from .test_rest_models import _instance

TS_MS = 1_780_000_000_123


def create(**over: Any) -> CreateOrderRequest:
    fields: dict[str, Any] = {
        "ticker": "HIGHNY-24JAN01-T60",
        "side": BookSide.BID,
        "price": 5600,
        "count": 1000,
        "client_order_id": "8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
    }
    fields.update(over)
    return CreateOrderRequest(**fields)


def test_create_body_is_kalshis_fixed_point_strings() -> None:
    body = json.loads(create(count=1, price=1, expiration_time=1_800_000_000, order_group_id="og").body())
    assert body == {
        "ticker": "HIGHNY-24JAN01-T60",
        "client_order_id": "8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
        "side": "bid",
        "count": "0.01",
        "price": "0.0001",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "expiration_time": 1_800_000_000,
        "order_group_id": "og",
    }
    ioc = json.loads(
        create(
            side=BookSide.ASK,
            price=9999,
            count=123_456,
            time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
            self_trade_prevention_type=SelfTradePrevention.MAKER,
            reduce_only=True,
            subaccount=0,
            exchange_index=-1,
        ).body()
    )
    assert (ioc["side"], ioc["price"], ioc["count"], ioc["reduce_only"]) == ("ask", "0.9999", "1234.56", True)
    assert (ioc["subaccount"], ioc["exchange_index"], ioc["self_trade_prevention_type"]) == (0, -1, "maker")


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"price": 0}, "price"),
        ({"price": 10_000}, "price"),
        ({"price": 56.0}, "price"),
        ({"count": 0}, "count"),
        ({"count": -100}, "count"),
        ({"count": True}, "count"),
        ({"ticker": ""}, "ticker"),
        ({"client_order_id": "a" * 65}, "client_order_id"),
        ({"client_order_id": "has space"}, "client_order_id"),
        ({"reduce_only": True}, "reduce_only"),
        ({"expiration_time": 1_800_000_000, "time_in_force": TimeInForce.IMMEDIATE_OR_CANCEL}, "expiration_time"),
        ({"post_only": True, "time_in_force": TimeInForce.FILL_OR_KILL}, "post_only"),
        ({"subaccount": 64}, "subaccount"),
        ({"exchange_index": -2}, "exchange_index"),
        ({"side": "bid"}, "side"),
    ],
)
def test_bad_requests_name_the_field(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        create(**over)


def test_other_request_bodies() -> None:
    amend = AmendOrderRequest(ticker="T", side=BookSide.ASK, price=5700, count=800, updated_client_order_id="n-1")
    assert json.loads(amend.body()) == {
        "ticker": "T",
        "side": "ask",
        "price": "0.5700",
        "count": "8.00",
        "updated_client_order_id": "n-1",
    }
    assert (
        json.loads(AmendOrderRequest(ticker="T", side=BookSide.BID, price=1, count=1, expiration_time=0).body())[
            "expiration_time"
        ]
        == 0
    )
    assert json.loads(DecreaseOrderRequest(reduce_by=200, market_ticker="T").body()) == {
        "reduce_by": "2.00",
        "market_ticker": "T",
    }
    assert json.loads(DecreaseOrderRequest(reduce_to=0).body()) == {"reduce_to": "0.00"}
    for bad in ({}, {"reduce_by": 1, "reduce_to": 1}, {"reduce_by": 0}, {"reduce_to": -1}):
        with pytest.raises(ValueError, match="reduce"):
            DecreaseOrderRequest(**bad)
    assert json.loads(CreateOrderGroupRequest(contracts_limit=15000, exchange_index=2).body()) == {
        "contracts_limit_fp": "150.00",
        "exchange_index": 2,
    }
    assert json.loads(OrderGroupLimitRequest(contracts_limit=1).body()) == {"contracts_limit_fp": "0.01"}
    assert json.loads(batch_cancel_body([CancelRef(order_id="o1", market_ticker="T"), CancelRef(order_id="o2")])) == {
        "orders": [{"order_id": "o1", "market_ticker": "T"}, {"order_id": "o2"}]
    }
    with pytest.raises(ValueError, match="unique"):
        batch_create_body([create(), create()])
    with pytest.raises(ValueError, match="at least one"):
        batch_cancel_body([])


@pytest.mark.parametrize(
    ("fill", "remaining", "want_fill", "want_remaining"),
    [("0", "10", 0, 1000), ("0.00", "10.00", 0, 1000), ("2.5", "7.50", 250, 750), ("0.010", "9.990000", 1, 999)],
)
def test_create_reply_every_number_form(fill: str, remaining: str, want_fill: int, want_remaining: int) -> None:
    body = {"order_id": "o", "fill_count": fill, "remaining_count": remaining, "ts_ms": TS_MS}
    reply = decode(CreateOrderReply, msgspec.json.encode(body))
    assert (reply.fill_count, reply.remaining_count, reply.client_order_id) == (want_fill, want_remaining, "")


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"fill_count": "-1.00"}, "fill_count"),
        ({"remaining_count": "1.001"}, "remaining_count"),
        ({"remaining_count": 10.0}, "remaining_count"),
        ({"ts_ms": 1}, "ts_ms"),
        ({"average_fill_price": "0.5600001"}, "average_fill_price"),
        ({"order_id": None}, "order_id"),
    ],
)
def test_bad_replies_name_the_field(over: dict[str, Any], needle: str) -> None:
    body = {"order_id": "o", "fill_count": "1.00", "remaining_count": "9.00", "ts_ms": TS_MS, **over}
    with pytest.raises(KalshiResponseError, match=needle):
        decode(CreateOrderReply, msgspec.json.encode(body), "POST /portfolio/events/orders")


def test_create_reply_status_is_derived() -> None:
    def status(fill: int, remaining: int, count: int = 1000) -> OrderStatus:
        return CreateOrderReply(order_id="o", fill_count=fill, remaining_count=remaining, ts_ms=TS_MS).status(count)  # type: ignore[arg-type]

    assert status(0, 1000) is OrderStatus.RESTING
    assert status(400, 600) is OrderStatus.RESTING
    assert status(1000, 0) is OrderStatus.EXECUTED
    assert status(400, 0) is OrderStatus.CANCELED  # IOC remainder, STP, reduce-only cap
    assert status(0, 0) is OrderStatus.CANCELED


_REPLIES: dict[str, type] = {
    "CreateOrderV2Response": CreateOrderReply,
    "BatchCreateOrdersV2Response": BatchCreateReply,
    "CancelOrderV2Response": CancelOrderReply,
    "BatchCancelOrdersV2Response": BatchCancelReply,
    "AmendOrderV2Response": AmendOrderReply,
    "DecreaseOrderV2Response": DecreaseOrderReply,
    "CreateOrderGroupResponse": CreateOrderGroupReply,
    "GetOrderGroupResponse": OrderGroupReply,
    "GetOrderGroupsResponse": OrderGroupsReply,
}


@functools.cache
def _spec(shared_kalshi: Path) -> dict[str, Any]:
    import yaml

    try:  # the C loader when there is one: the spec is 10,000 lines
        loader: Any = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover
        loader = yaml.SafeLoader
    spec: dict[str, Any] = yaml.load((shared_kalshi / "openapi.yaml").read_text(), Loader=loader)
    return spec


def _fix_times(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: (TS_MS if k == "ts_ms" else _fix_times(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_fix_times(v) for v in doc]
    return doc


@pytest.mark.parametrize("full", [False, True], ids=["required-only", "all-properties"])
def test_replies_read_bodies_built_from_openapi(shared_kalshi: Path, full: bool) -> None:
    spec = _spec(shared_kalshi)
    schemas = spec["components"]["schemas"]
    for name, model in _REPLIES.items():
        body = _fix_times(_instance(spec, schemas[name], full))
        if name == "BatchCreateOrdersV2Response" and full:
            body["orders"][0]["error"] = None
        assert decode(model, msgspec.json.encode(body), name) is not None, name


def test_openapi_examples_decode_and_our_requests_match_them(shared_kalshi: Path) -> None:
    schemas = _spec(shared_kalshi)["components"]["schemas"]
    for name, model in _REPLIES.items():
        example = schemas[name].get("example")
        if example is not None:
            assert decode(model, msgspec.json.encode(example), name) is not None
    created = decode(CreateOrderReply, msgspec.json.encode(schemas["CreateOrderV2Response"]["example"]))
    assert (created.fill_count, created.remaining_count) == (0, 1000)
    batch = decode(BatchCreateReply, msgspec.json.encode(schemas["BatchCreateOrdersV2Response"]["example"]))
    assert batch.orders[1].average_fill_price == 580_000 and batch.orders[1].average_fee_paid == 1_200
    # our create request for the example's values is the example (false flags and defaults left out)
    example = schemas["CreateOrderV2Request"]["example"]
    ours = json.loads(
        create(
            ticker=example["ticker"], client_order_id=example["client_order_id"], subaccount=0, exchange_index=0
        ).body()
    )
    assert ours == {k: v for k, v in example.items() if v is not False}
    # every field we may send is a property of its schema, with an allowed enum value
    request_schemas = {
        "CreateOrderV2Request": json.loads(
            create(
                expiration_time=1_800_000_000,
                post_only=True,
                cancel_order_on_pause=True,
                order_group_id="g",
                subaccount=1,
                exchange_index=0,
            ).body()
        ),
        "AmendOrderV2Request": json.loads(
            AmendOrderRequest(
                ticker="T",
                side=BookSide.BID,
                price=1,
                count=1,
                client_order_id="a",
                updated_client_order_id="b",
                expiration_time=0,
                exchange_index=0,
            ).body()
        ),
        "DecreaseOrderV2Request": json.loads(DecreaseOrderRequest(reduce_by=1, market_ticker="T").body()),
        "CreateOrderGroupRequest": json.loads(CreateOrderGroupRequest(contracts_limit=100, subaccount=0).body()),
        "UpdateOrderGroupLimitRequest": json.loads(OrderGroupLimitRequest(contracts_limit=100).body()),
    }
    for name, body in request_schemas.items():
        schema = schemas[name]
        assert set(schema.get("required", [])) <= set(body), name
        assert set(body) <= set(schema["properties"]), (name, set(body) - set(schema["properties"]))
        for key, value in body.items():
            enum = schema["properties"][key].get("enum")
            assert enum is None or value in enum, (name, key, value)
    assert {t.value for t in TimeInForce} == set(schemas["CreateOrderV2Request"]["properties"]["time_in_force"]["enum"])
    assert {s.value for s in SelfTradePrevention} == set(schemas["SelfTradePreventionType"]["enum"])
    assert {s.value for s in BookSide} == set(schemas["BookSide"]["enum"])


# --- the WebSocket frames ---------------------------------------------------------------------------------------------


def test_asyncapi_examples_of_user_order_and_order_group_updates_decode(shared_kalshi: Path) -> None:
    kinds: dict[str, Any] = {}
    for line in (shared_kalshi / "asyncapi-examples.jsonl").read_text().splitlines():
        frame = json.loads(line)
        if frame.get("type") in ("user_order", "order_group_updates"):
            kinds[frame["type"]] = decode_frame(line)
    order, group = kinds["user_order"], kinds["order_group_updates"]
    assert isinstance(order, UserOrder) and isinstance(group, OrderGroupUpdate)
    assert (order.book_side, order.yes_price, order.fill_count, order.remaining_count) == ("bid", 3500, 0, 1000)
    assert (order.client_order_id, order.status, order.exchange_index, order.subaccount) == (
        "my-order-1",
        "resting",
        2,
        0,
    )
    assert (group.event_type, group.contracts_limit, group.seq) == ("limit_updated", 15000, 7)


def user_order(**over: Any) -> str:
    msg: dict[str, Any] = {
        "order_id": "o1",
        "user_id": "u",
        "ticker": "T",
        "status": "resting",
        "outcome_side": "yes",
        "book_side": "bid",
        "yes_price_dollars": "0.35",
        "fill_count_fp": "2",
        "remaining_count_fp": "8.00",
        "initial_count_fp": "10.00",
        "taker_fill_cost_dollars": "0.700000",
        "maker_fill_cost_dollars": "0.000000",
        "taker_fees_dollars": "0.010000",
        "maker_fees_dollars": "0.000000",
        "client_order_id": "c1",
        "created_ts_ms": TS_MS,
        "last_updated_ts_ms": TS_MS,
        "last_update_reason": "Trade",
    }
    msg.update(over)
    return json.dumps({"type": "user_order", "sid": 22, "msg": {k: v for k, v in msg.items() if v is not None}})


def test_user_order_fields_and_side_fallbacks() -> None:
    m = decode_frame(user_order())
    assert isinstance(m, UserOrder)
    assert (m.yes_price, m.fill_count, m.remaining_count, m.taker_fill_cost, m.taker_fees) == (
        3500,
        200,
        800,
        700_000,
        10_000,
    )
    assert (m.last_updated_ts_ms, m.last_update_reason) == (TS_MS, "Trade")
    no_book_side = decode_frame(user_order(book_side=None, outcome_side="no"))
    assert isinstance(no_book_side, UserOrder) and no_book_side.book_side == "ask"
    legacy = decode_frame(user_order(book_side=None, outcome_side=None, is_yes=True))
    assert isinstance(legacy, UserOrder) and legacy.book_side == "bid"


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"status": "open"}, "status"),
        ({"yes_price_dollars": "1.0000"}, "price"),
        ({"yes_price_dollars": "0.00001"}, "price"),
        ({"fill_count_fp": "-1.00"}, "negative"),
        ({"remaining_count_fp": 8}, "remaining_count_fp"),
        ({"last_updated_ts_ms": 1}, "last_updated_ts_ms"),
        ({"subaccount_number": 64}, "subaccount_number"),
        ({"book_side": None, "outcome_side": None}, "book_side"),
        ({"book_side": "buy"}, "book_side"),
        ({"taker_fees_dollars": "0.0000001"}, "money"),
        ({"order_id": None}, "order_id"),
    ],
)
def test_bad_user_order_is_a_decode_error(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(DecodeError, match=needle):
        decode_frame(user_order(**over))


def test_bad_order_group_update_is_a_decode_error() -> None:
    base = {"event_type": "created", "order_group_id": "g", "contracts_limit_fp": "5.00", "ts_ms": TS_MS}
    ok = decode_frame(json.dumps({"type": "order_group_updates", "sid": 1, "seq": 1, "msg": base}))
    assert isinstance(ok, OrderGroupUpdate) and ok.contracts_limit == 500
    for over in ({"event_type": "exploded"}, {"contracts_limit_fp": "-5.00"}, {"ts_ms": -1}):
        with pytest.raises(DecodeError, match="order_group_updates"):
            decode_frame(json.dumps({"type": "order_group_updates", "sid": 1, "seq": 1, "msg": {**base, **over}}))


def test_the_feed_hands_order_frames_on_and_counts_none_unknown() -> None:
    core = Core()
    seen: list[OrderFrameSeen] = []
    core.bus.subscribe(OrderFrameSeen, seen.append)
    core.feed(user_order(), 1)
    core.feed(json.dumps({"type": "user_order", "sid": 22, "msg": {"order_id": "o"}}), 2)  # malformed: counted
    assert [type(e.msg) for e in seen] == [UserOrder]
    assert core.counters["unknown"] == 0 and core.counters["decode_errors"] == 1
    assert core.counters["handler_errors"] == 0
