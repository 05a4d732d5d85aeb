"""The pure half of the REST client (``market_making_bot.kalshi.rest``): models, error bodies, the signed path, the
token bucket and the backoff schedule. No socket, no clock: the transport is in ``test_rest_client.py``."""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.rest import (
    RATE_TIERS,
    AccountLimits,
    Backoff,
    Balance,
    EventReply,
    ExchangeStatus,
    FillsPage,
    KalshiAPIError,
    KalshiResponseError,
    MarketReply,
    MarketsPage,
    OrderBookReply,
    OrderReply,
    OrdersPage,
    PositionsPage,
    QueuePositionReply,
    QueuePositionsReply,
    RateLimited,
    SeriesReply,
    SettlementsPage,
    TokenBucket,
    TradesPage,
    decode,
    next_cursor,
    parse_error,
    request_url,
    signing_path,
)

from .keys import write_key

TS = "2026-10-26T12:00:00.123456Z"
TS_MS = 1793016000123  # 2026-10-26T12:00:00.123Z


def market(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticker": "KXHIGHNY-26DEC31-B45",
        "event_ticker": "KXHIGHNY-26DEC31",
        "market_type": "binary",
        "yes_sub_title": "45 to 46",
        "no_sub_title": "45 to 46",
        "created_time": TS,
        "updated_time": TS,
        "open_time": TS,
        "close_time": "2026-12-31T23:59:59Z",
        "latest_expiration_time": "2027-01-07T15:00:00Z",
        "settlement_timer_seconds": 3600,
        "status": "active",
        "notional_value_dollars": "1",
        "yes_bid_dollars": "0.45",
        "yes_ask_dollars": "0.4700",
        "no_bid_dollars": "0.53",
        "no_ask_dollars": "0.5500",
        "yes_bid_size_fp": "10",
        "yes_ask_size_fp": "12.50",
        "last_price_dollars": "0.46",
        "previous_yes_bid_dollars": "0.00",
        "previous_yes_ask_dollars": "1.00",
        "previous_price_dollars": "0",
        "volume_fp": "1000.00",
        "volume_24h_fp": "0.00",
        "open_interest_fp": "250.5",
        "result": "",
        "can_close_early": True,
        "expiration_value": "",
        "rules_primary": "...",
        "rules_secondary": "",
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.01", "end": "0.99", "step": "0.01"}],
        "settlement_bounds_type": "default",
        "floor_strike": 45.1,
        "some_new_field_kalshi_added": {"x": 1},
    }
    body.update(over)
    return body


def fill_body() -> dict[str, Any]:
    return {
        "fill_id": "t1",
        "trade_id": "t1",
        "order_id": "o1",
        "ticker": "M",
        "market_ticker": "M",
        "outcome_side": "no",
        "book_side": "ask",
        "count_fp": "3",
        "yes_price_dollars": "0.4400",
        "no_price_dollars": "0.56",
        "is_taker": True,
        "fee_cost": "0.054600",
        "created_time": TS,
        "ts": 1792929600,
        "exchange_index": 0,
    }


def order_body() -> dict[str, Any]:
    return {
        "order_id": "o1",
        "user_id": "u",
        "client_order_id": "c",
        "ticker": "M",
        "outcome_side": "yes",
        "book_side": "bid",
        "type": "limit",
        "status": "resting",
        "yes_price_dollars": "0.45",
        "no_price_dollars": "0.55",
        "fill_count_fp": "1.00",
        "remaining_count_fp": "9.00",
        "initial_count_fp": "10",
        "taker_fill_cost_dollars": "0.450000",
        "maker_fill_cost_dollars": "0",
        "taker_fees_dollars": "0.02",
        "maker_fees_dollars": "0.00",
        "expiration_time": None,
    }


def enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --- models ---------------------------------------------------------------------------------------------------------


def test_market_every_dollar_and_count_form() -> None:
    m = decode(MarketReply, enc({"market": market()})).market
    assert (m.yes_bid_dollars, m.yes_ask_dollars, m.no_bid_dollars, m.no_ask_dollars) == (4500, 4700, 5300, 5500)
    assert (m.notional_value_dollars, m.previous_yes_ask_dollars, m.previous_price_dollars) == (10000, 10000, 0)
    assert (m.yes_bid_size_fp, m.yes_ask_size_fp, m.volume_fp, m.open_interest_fp) == (1000, 1250, 100000, 25050)
    assert m.open_time == TS_MS and m.close_time == 1798761599000
    assert m.floor_strike == Decimal("45.1") and type(m.floor_strike) is Decimal  # exact, no float
    assert m.price_ranges[0].step == 100
    assert all(type(v) is not float for v in (m.yes_bid_dollars, m.volume_fp))


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("yes_bid_dollars", 45, "expected a dollar string, got int"),  # an integer on a dollar field is cents
        ("yes_bid_dollars", "1.5", "outside $0..$1"),
        ("yes_bid_dollars", "0.45001", "more than 4 decimals"),
        ("yes_bid_dollars", "abc", "not a plain decimal"),
        ("yes_bid_dollars", None, "yes_bid_dollars"),
        ("volume_fp", "-1.00", "out of range"),
        ("open_time", "yesterday", "not an RFC 3339"),
        ("ticker", 7, "Expected `str`"),
    ],
)
def test_market_bad_values_name_the_field(field: str, value: object, needle: str) -> None:
    with pytest.raises(KalshiResponseError) as info:
        decode(MarketsPage, enc({"markets": [market(), market(**{field: value})], "cursor": ""}), "GET /markets")
    text = str(info.value)
    assert needle in text and f"$.markets[1].{field}" in text and text.startswith("GET /markets: ")


def test_missing_required_field_and_not_json() -> None:
    body = market()
    del body["yes_bid_dollars"]
    with pytest.raises(KalshiResponseError, match=r"missing required field `yes_bid_dollars`"):
        decode(MarketReply, enc({"market": body}))
    with pytest.raises(
        KalshiResponseError, match=r"GET /markets: the reply is not JSON \(21 bytes: '<html>bad gateway"
    ):
        decode(MarketsPage, b"<html>bad gateway</a>", "GET /markets")
    with pytest.raises(KalshiResponseError, match="Expected `object`, got `array`"):
        decode(MarketsPage, b"[]")


def test_event_with_nested_markets_and_series() -> None:
    event = {
        "event_ticker": "KXHIGHNY-26DEC31",
        "series_ticker": "KXHIGHNY",
        "title": "Highest temperature in NYC",
        "sub_title": "On Dec 31",
        "collateral_return_type": "MECNET",
        "mutually_exclusive": True,
        "settlement_sources": None,
        "markets": [market(), market(ticker="KXHIGHNY-26DEC31-B47")],
        "fee_multiplier_override": 0.5,
    }
    reply = decode(EventReply, enc({"event": event, "markets": []}))
    assert [m.ticker for m in reply.event.markets] == ["KXHIGHNY-26DEC31-B45", "KXHIGHNY-26DEC31-B47"]
    assert reply.event.fee_multiplier_override == Decimal("0.5")
    series = {
        "ticker": "KXHIGHNY",
        "frequency": "daily",
        "title": "NYC high",
        "category": "Climate",
        "categories": ["Climate"],
        "tags": None,
        "settlement_sources": [],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": "quadratic",
        "fee_multiplier": 1,
        "additional_prohibitions": [],
        "volume_fp": "12.00",
    }
    s = decode(SeriesReply, enc({"series": series})).series
    assert (s.fee_type, s.fee_multiplier, s.volume_fp) == ("quadratic", Decimal(1), 1200)


def test_orderbook_sides_any_order_empty_null_or_absent() -> None:
    book = decode(
        OrderBookReply,
        enc({"orderbook_fp": {"yes_dollars": [["0.4100", "10.00"], ["0.42", "13"]], "no_dollars": []}}),
    ).orderbook_fp
    assert book.yes_bids() == [(4200, 1300), (4100, 1000)] and book.no_bids() == []
    for sides in ({"yes_dollars": None, "no_dollars": None}, {}):
        empty = decode(OrderBookReply, enc({"orderbook_fp": sides})).orderbook_fp
        assert empty.yes_bids() == [] and empty.no_bids() == []
    with pytest.raises(KalshiResponseError, match=r"\$\.orderbook_fp\.yes_dollars\[0\]"):
        decode(OrderBookReply, enc({"orderbook_fp": {"yes_dollars": [["0.41"]], "no_dollars": []}}))


def test_portfolio_models() -> None:
    fill = fill_body()
    (f,) = decode(FillsPage, enc({"fills": [fill], "cursor": ""})).fills
    assert (f.count_fp, f.yes_price_dollars, f.no_price_dollars, f.fee_cost, f.created_time) == (
        300,
        4400,
        5600,
        54600,
        TS_MS,
    )
    order = order_body()
    assert decode(OrderReply, enc({"order": order})).order.taker_fill_cost_dollars == 450000
    assert decode(OrdersPage, enc({"orders": [order], "cursor": "abc"})).cursor == "abc"
    positions = {
        "market_positions": [
            {
                "ticker": "M",
                "exchange_index": 0,
                "position_fp": "-12.50",  # signed: NO
                "market_exposure_dollars": "6.875000",
                "total_traded_dollars": "10.00",
                "realized_pnl_dollars": "-0.25",
                "fees_paid_dollars": "0.120000",
                "last_updated_ts": TS,
            }
        ],
        "event_positions": None,
        "cursor": None,
    }
    page = decode(PositionsPage, enc(positions))
    assert page.market_positions is not None and page.market_positions[0].position_fp == -1250
    assert page.market_positions[0].realized_pnl_dollars == -250000 and page.event_positions is None
    balance = decode(
        Balance,
        enc(
            {
                "balance": 12345,
                "balance_dollars": "123.45",
                "portfolio_value": 0,
                "updated_ts": 1792929600,
                "balance_breakdown": [{"exchange_index": 2, "balance": "1.5"}],
            }
        ),
    )
    assert (balance.balance, balance.balance_dollars, balance.balance_breakdown[0].balance) == (
        123450000,
        123450000,
        1500000,
    )
    with pytest.raises(KalshiResponseError, match="expected an integer number of cents, got str"):
        decode(Balance, enc({"balance": "123.45", "portfolio_value": 0, "updated_ts": 1}))
    settlement = {
        "ticker": "M",
        "event_ticker": "E",
        "exchange_index": 0,
        "market_result": "yes",
        "yes_count_fp": "10.60",
        "yes_total_cost_dollars": "5.970000",
        "no_count_fp": "0.00",
        "no_total_cost_dollars": "0",
        "revenue": 632,
        "settled_time": TS,
        "fee_cost": "0.3400",
        "value": 100,
    }
    (st,) = decode(SettlementsPage, enc({"settlements": [settlement]})).settlements
    assert (st.revenue, st.value, st.yes_count_fp) == (6320000, 1000000, 1060)
    qs = decode(
        QueuePositionsReply,
        enc({"queue_positions": [{"order_id": "o", "market_ticker": "M", "queue_position_fp": "25.00"}]}),
    )
    assert qs.queue_positions is not None and qs.queue_positions[0].queue_position_fp == 2500
    assert decode(QueuePositionReply, enc({"queue_position_fp": "0.00"})).size == 0
    assert decode(QueuePositionReply, enc({"queue_position": 7})).size == 700  # older specs: whole contracts
    limits = decode(
        AccountLimits,
        enc(
            {
                "usage_tier": "basic",
                "read": {"refill_rate": 200, "bucket_capacity": 400},
                "write": {"refill_rate": 100, "bucket_capacity": 100},
                "grants": [],
            }
        ),
    )
    assert (limits.read.refill_rate, limits.write.bucket_capacity) == (200, 100)
    status = decode(
        ExchangeStatus, enc({"exchange_active": True, "trading_active": False, "exchange_estimated_resume_time": None})
    )
    assert status.trading_active is False and status.exchange_index_statuses == []


# --- the spec: every model decodes a minimal and a full body built from openapi.yaml --------------------------------

_SPEC_REPLIES = {
    "ExchangeStatus": ExchangeStatus,
    "GetMarketsResponse": MarketsPage,
    "GetMarketResponse": MarketReply,
    "GetEventResponse": EventReply,
    "GetSeriesResponse": SeriesReply,
    "GetMarketOrderbookResponse": OrderBookReply,
    "GetPositionsResponse": PositionsPage,
    "GetFillsResponse": FillsPage,
    "GetTradesResponse": TradesPage,
    "GetOrdersResponse": OrdersPage,
    "GetOrderResponse": OrderReply,
    "GetBalanceResponse": Balance,
    "GetSettlementsResponse": SettlementsPage,
    "GetOrderQueuePositionsResponse": QueuePositionsReply,
    "GetOrderQueuePositionResponse": QueuePositionReply,
    "GetAccountApiLimitsResponse": AccountLimits,
}
_BY_REF = {"FixedPointDollars": "0.5600", "FixedPointCount": "10.00", "ExchangeIndex": 0}
_BY_NAME = {"start": "0.0100", "end": "0.9900", "step": "0.0100", "balance_dollars": "12.34"}


def _instance(spec: dict[str, Any], schema: dict[str, Any], full: bool, name: str = "") -> Any:
    """A value valid under ``schema``: only the required properties (``full=False``) or all of them."""
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    if ref:
        ref_name = ref.rsplit("/", 1)[1]
        if ref_name in _BY_REF:
            return _BY_REF[ref_name]
        return _instance(spec, spec["components"]["schemas"][ref_name], full, name)
    if name in _BY_NAME:
        return _BY_NAME[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        wanted = props if full else schema.get("required", [])
        return {k: _instance(spec, props[k], full, k) for k in wanted if k in props}
    if kind == "array":
        item = _instance(spec, schema.get("items", {}), full, name)
        return [item, item] if "minItems" in schema else [item]
    if kind == "string":
        if schema.get("format") == "date-time":
            return TS
        return schema.get("example", "x") if not isinstance(schema.get("example"), list) else "x"
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.25
    if kind == "boolean":
        return True
    raise AssertionError(f"schema type {kind!r}")


@pytest.mark.parametrize("full", [False, True], ids=["required-only", "all-properties"])
def test_every_model_reads_bodies_built_from_openapi(shared_kalshi: Path, full: bool) -> None:
    import yaml

    spec = yaml.safe_load((shared_kalshi / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    for name, model in _SPEC_REPLIES.items():
        body = _instance(spec, schemas[name], full)
        if name == "GetMarketOrderbookResponse":
            body = {"orderbook_fp": {"yes_dollars": [["0.1500", "100.00"]], "no_dollars": []}}
        decoded = decode(model, enc(body), name)  # raises if the model wants a field the spec does not require
        assert decoded is not None


# --- errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "message", "details"),
    [
        (
            400,
            {"error": {"code": "invalid_order", "message": "invalid order", "details": "post only cross"}},
            "invalid_order",
            "invalid order",
            "post only cross",
        ),
        (404, {"code": "not_found", "message": "market not found"}, "not_found", "market not found", ""),
        (429, {"error": "too many requests"}, "", "too many requests", ""),
        (400, {"msg": "bad margin request"}, "", "bad margin request", ""),
        (
            401,
            {"error": {"code": "authentication_error", "details": "INCORRECT_API_KEY_SIGNATURE"}},
            "authentication_error",
            "",
            "INCORRECT_API_KEY_SIGNATURE",
        ),
        (500, {}, "", "", ""),
        (502, ["odd"], "", '["odd"]', ""),
        (400, {"error": {"code": 12, "message": None, "details": {"field": "count"}}}, "12", "", '{"field":"count"}'),
    ],
)
def test_every_error_shape(status: int, body: object, code: str, message: str, details: str) -> None:
    err = parse_error(status, enc(body))
    assert (err.status, err.code, err.message, err.details) == (status, code, message, details)
    assert isinstance(err, RateLimited) == (status == 429) and isinstance(err, KalshiAPIError)
    assert err.raw == json.dumps(body) and str(err).startswith(f"HTTP {status}")


def test_error_bodies_that_are_not_json() -> None:
    html = b"<html>\n<body><h1>502 Bad Gateway</h1>\n</body></html>"
    err = parse_error(502, html)
    assert err.code == "" and err.message == "<html> <body><h1>502 Bad Gateway</h1> </body></html>"
    assert str(parse_error(503, b"")) == "HTTP 503"
    assert parse_error(500, b"\xff\xfe garbage").message.endswith("garbage")
    big = parse_error(500, b"x" * 10_000)
    assert len(big.raw) == 2_000 and len(big.message) == 200
    nested = parse_error(404, enc({"error": {"code": "user_not_found:_1234", "message": "no such user"}}))
    assert nested.has_code("user_not_found") and not nested.has_code("not_found")
    assert str(nested) == "HTTP 404 user_not_found:_1234: no such user"


# --- the signed path and the URL --------------------------------------------------------------------------------------


def test_signing_path_keeps_the_prefix_and_drops_the_query(tmp_path: Path) -> None:
    base = "https://external-api.kalshi.com/trade-api/v2"
    assert signing_path(base, "/portfolio/orders?status=resting") == "/trade-api/v2/portfolio/orders"
    assert signing_path(base + "/", "portfolio/orders") == "/trade-api/v2/portfolio/orders"
    url = request_url(
        base,
        "/portfolio/orders",
        {"status": "resting", "cursor": "a b/c=", "ticker": None, "with_nested_markets": True},
    )
    assert url == base + "/portfolio/orders?status=resting&cursor=a+b%2Fc%3D&with_nested_markets=true"
    assert request_url(base, "/markets", {"cursor": None}) == base + "/markets"
    # The message the Signer signs for that request: timestamp + GET + /trade-api/v2/portfolio/orders, no query.
    write_key(tmp_path / "k.pem")
    key = load_private_key(tmp_path / "k.pem", variable="K")
    assert isinstance(key, rsa.RSAPrivateKey)
    headers = Signer("key-id", key).headers(
        signing_path(base, "/portfolio/orders?status=resting"), "GET", 1703123456789
    )
    public = serialization.load_pem_public_key(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert isinstance(public, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    public.verify(
        base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"]),
        b"1703123456789GET/trade-api/v2/portfolio/orders",
        pss,
        hashes.SHA256(),
    )
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789" and headers["KALSHI-ACCESS-KEY"] == "key-id"


def test_next_cursor() -> None:
    assert next_cursor("") is None and next_cursor(None) is None and next_cursor("c2") == "c2"


# --- the token bucket (injected clock) and the backoff (seeded RNG) ------------------------------------------------


def test_token_bucket_with_an_injected_clock() -> None:
    basic = RATE_TIERS["basic"]
    bucket = TokenBucket(basic.read_rate, basic.read_capacity, now=100.0)
    # A full bucket (2 s of reads = 400 tokens) lets 40 requests of 10 tokens go at once, then each waits 50 ms.
    assert [bucket.reserve(10, 100.0) for _ in range(40)] == [0.0] * 40
    assert bucket.reserve(10, 100.0) == pytest.approx(0.05)
    assert bucket.reserve(10, 100.0) == pytest.approx(0.10)  # in line behind the previous one
    assert bucket.tokens(100.1) == pytest.approx(0.0, abs=1e-9)  # 100 ms later: both served, none left
    assert bucket.tokens(200.0) == 400  # refills to the capacity, never above
    # 1,000 requests as fast as they come: the last one goes out no earlier than the rate allows.
    waits = [bucket.reserve(10, 200.0) for _ in range(1000)]
    assert max(waits) == pytest.approx((1000 * 10 - 400) / 200)
    bucket = TokenBucket(200, 400, now=0.0)
    bucket.drain(0.0)  # after a 429
    assert bucket.reserve(10, 0.0) == pytest.approx(0.05)
    bucket.reconfigure(1000, 1000, now=1.0)  # from /account/limits: no fresh burst
    assert bucket.tokens(1.0) == pytest.approx(190.0) and bucket.tokens(2.0) == 1000
    with pytest.raises(ValueError, match="must be positive"):
        TokenBucket(0, 10, now=0.0)


def test_backoff_schedule_capped_full_jitter() -> None:
    backoff = Backoff(base=0.1, cap=2.0, retries=8)
    rng = random.Random(42)
    delays = [backoff.delay(n, rng) for n in range(8)]
    ref = random.Random(42)
    assert delays == [ref.uniform(0, min(2.0, 0.1 * 2**n)) for n in range(8)]  # same seed, same schedule
    for n, d in enumerate(delays):
        assert 0 <= d <= min(2.0, 0.1 * 2**n)
    many = [backoff.delay(20, rng) for _ in range(2000)]
    assert max(many) <= 2.0 and max(many) > 1.9 and min(many) < 0.1  # full jitter over [0, cap]
    assert backoff.delay(10_000, rng) <= 2.0  # no overflow for a huge attempt number
