"""The simulator's REST API (issue 14 item 3) over real loopback HTTP: signatures, endpoints, filters, pages, faults,
the order book equal to the WebSocket truth, and every reply validated against Kalshi's ``openapi.yaml``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from market_making_bot.simulator import ExchangeSimulator
from market_making_bot.simulator.auth import auth_headers, generate_private_key
from market_making_bot.simulator.units import now_ms

Get = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def _traded_sim(make_sim: Callable[..., Awaitable[ExchangeSimulator]], **kwargs: Any) -> ExchangeSimulator:
    """A simulator whose user has traded: the flow runs (fast) until a few fills exist, then stops."""
    sim = await make_sim(rate=20_000, markets=3, start_paused=True, **kwargs)
    sim.model.activate_user()
    for _ in range(200_000):  # deterministic: step the model directly, no waiting
        sim.fanout.dispatch(sim.model.step())
        if len(sim.model.fill_log) >= 12 and any(m.user and m.user.resting for m in sim.model.market_list):
            break
    assert len(sim.model.fill_log) >= 12
    return sim


def _getter(session: aiohttp.ClientSession, sim: ExchangeSimulator) -> Get:
    async def get(path: str, *, signed: bool = False, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        h = dict(headers or {})
        if signed:
            assert sim.private_key is not None
            h.update(auth_headers("rest-key", sim.private_key, now_ms(), "/trade-api/v2" + path))
        async with session.get(sim.api_url + path, headers=h) as r:
            text = await r.text()
            return r.status, json.loads(text) if text else None

    return get


# ---- schema validation against openapi.yaml --------------------------------------------------------------------


class Spec:
    def __init__(self, path: Path) -> None:
        import yaml
        from openapi_schema_validator import OAS30Validator

        self.doc = yaml.safe_load(path.read_text())
        self._validator = OAS30Validator
        self.checked: set[str] = set()

    def _schema_of(self, path: str, status: int) -> dict[str, Any]:
        op = self.doc["paths"][path]["get"]
        resp = op["responses"][str(status)]
        if "$ref" in resp:
            resp = self._resolve(resp["$ref"])
        return resp["content"]["application/json"]["schema"]  # type: ignore[no-any-return]

    def _resolve(self, ref: str) -> Any:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def validate(self, path: str, body: Any, status: int = 200) -> None:
        schema = dict(self._schema_of(path, status))
        schema["components"] = self.doc["components"]
        self._validator(schema).validate(body)
        self.checked.add(path)


@pytest.fixture
def spec(shared_kalshi: Path) -> Spec:
    pytest.importorskip("openapi_schema_validator")
    return Spec(shared_kalshi / "openapi.yaml")


async def test_every_endpoint_validates_against_openapi(make_sim, session, spec: Spec) -> None:
    sim = await _traded_sim(make_sim)
    get = _getter(session, sim)
    ticker = sim.model.market_list[0].ticker
    event = ticker.rpartition("-")[0]
    order_id = next(o.order_id for m in sim.model.market_list if m.user for _p, o in m.user.resting.values())
    cases = [
        ("/exchange/status", "/exchange/status", False),
        ("/markets", "/markets", False),
        ("/markets/{ticker}", f"/markets/{ticker}", False),
        ("/markets/trades", f"/markets/trades?ticker={ticker}&limit=5", False),
        ("/markets/{ticker}/orderbook", f"/markets/{ticker}/orderbook?depth=3", False),
        ("/events", "/events?with_nested_markets=true", False),
        ("/events/{event_ticker}", f"/events/{event}?with_nested_markets=true", False),
        ("/series/{series_ticker}", "/series/KXSIM", False),
        ("/portfolio/positions", "/portfolio/positions", True),
        ("/portfolio/fills", "/portfolio/fills", True),
        ("/portfolio/orders", "/portfolio/orders?status=resting", True),
        ("/portfolio/orders/{order_id}", f"/portfolio/orders/{order_id}", True),
        ("/portfolio/balance", "/portfolio/balance", True),
        ("/portfolio/settlements", "/portfolio/settlements", True),
    ]
    for spec_path, path, signed in cases:
        status, body = await get(path, signed=signed)
        assert status == 200, (path, body)
        spec.validate(spec_path, body)
    assert len(spec.checked) == len(cases)


async def test_a_schema_violation_is_caught(spec: Spec) -> None:
    """The control: the validator does reject a reply missing a required field."""
    from jsonschema.exceptions import ValidationError

    with pytest.raises(ValidationError):
        spec.validate("/portfolio/balance", {"balance": 1, "balance_dollars": "0.01", "portfolio_value": 1})


# ---- signatures -------------------------------------------------------------------------------------------------


async def test_portfolio_needs_a_signature_market_data_does_not(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True)
    get = _getter(session, sim)
    assert (await get("/markets"))[0] == 200
    assert (await get("/markets/KXSIM-26DEC31-M1/orderbook"))[0] == 200
    status, body = await get("/portfolio/balance")
    assert status == 401 and body["error"]["code"] == "authentication_error"
    assert (await get("/portfolio/balance", signed=True))[0] == 200
    # signed by a key the simulator lacks
    other = generate_private_key("ed25519")
    bad = auth_headers("k", other, now_ms(), "/trade-api/v2/portfolio/balance")
    status, body = await get("/portfolio/balance", headers=bad)
    assert status == 401 and body["error"] == {
        "code": "authentication_error",
        "message": "signature does not verify",
        "details": "INCORRECT_API_KEY_SIGNATURE",
    }
    # the short path, the query signed, the wrong method: all refused
    assert sim.private_key is not None
    for headers in (
        auth_headers("k", sim.private_key, now_ms(), "/portfolio/balance"),
        {**auth_headers("k", sim.private_key, now_ms()), "x": "1"},  # the WebSocket's message
    ):
        assert (await get("/portfolio/balance", headers=headers))[0] == 401
    signed_query = auth_headers("k", sim.private_key, now_ms(), "/trade-api/v2/portfolio/orders")
    assert (await get("/portfolio/orders?status=resting", headers=signed_query))[0] == 200  # query not signed
    post = auth_headers("k", sim.private_key, now_ms(), "/trade-api/v2/portfolio/balance", method="POST")
    assert (await get("/portfolio/balance", headers=post))[0] == 401
    stale = auth_headers("k", sim.private_key, now_ms() - 60_000, "/trade-api/v2/portfolio/balance")
    status, body = await get("/portfolio/balance", headers=stale)
    assert status == 401 and body["error"]["code"] == "header_timestamp_expired"
    assert sim.gate.rest_rejected == 6


# ---- endpoints, filters, pages ----------------------------------------------------------------------------------


async def test_market_filters_and_errors(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, tickers=["KXA-26JAN01-X", "KXA-26JAN01-Y", "KXB-26FEB02-Z"])
    get = _getter(session, sim)

    async def tickers(path: str) -> list[str]:
        status, body = await get(path)
        assert status == 200, body
        return [m["ticker"] for m in body["markets"]]

    assert await tickers("/markets") == ["KXA-26JAN01-X", "KXA-26JAN01-Y", "KXB-26FEB02-Z"]
    assert await tickers("/markets?event_ticker=KXA-26JAN01") == ["KXA-26JAN01-X", "KXA-26JAN01-Y"]
    assert await tickers("/markets?series_ticker=KXB") == ["KXB-26FEB02-Z"]
    assert await tickers("/markets?tickers=KXB-26FEB02-Z,KXA-26JAN01-X") == ["KXA-26JAN01-X", "KXB-26FEB02-Z"]
    assert await tickers("/markets?status=open") == ["KXA-26JAN01-X", "KXA-26JAN01-Y", "KXB-26FEB02-Z"]
    assert await tickers("/markets?status=settled") == []
    status, body = await get("/markets?status=bogus")
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await get("/markets/NOPE")
    assert status == 404 and body["error"]["code"] == "market_not_found"
    assert (await get("/markets?limit=1001"))[0] == 400
    assert (await get("/markets?cursor=garbage"))[0] == 400
    status, body = await get("/events/KXA-26JAN01?with_nested_markets=true")
    assert [m["ticker"] for m in body["event"]["markets"]] == ["KXA-26JAN01-X", "KXA-26JAN01-Y"]
    status, body = await get("/events?series_ticker=KXB")
    assert [e["event_ticker"] for e in body["events"]] == ["KXB-26FEB02"]
    assert (await get("/series/KXA"))[1]["series"]["ticker"] == "KXA"
    assert (await get("/series/NOPE"))[0] == 404
    assert (await get("/no/such/route"))[1]["error"]["code"] == "not_found"


async def test_cursor_pagination_visits_every_item_once(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, markets=7)
    get = _getter(session, sim)
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        status, body = await get(f"/markets?limit=3&cursor={cursor}")
        assert status == 200 and len(body["markets"]) <= 3
        seen += [m["ticker"] for m in body["markets"]]
        pages += 1
        cursor = body["cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == [m.ticker for m in sim.model.market_list]


async def test_portfolio_reads_match_the_model(make_sim, session) -> None:
    sim = await _traded_sim(make_sim)
    get = _getter(session, sim)
    log = sim.model.fill_log
    # fills: newest first, every one, across pages
    got: list[dict[str, Any]] = []
    cursor = ""
    while True:
        _s, body = await get(f"/portfolio/fills?limit=5&cursor={cursor}", signed=True)
        got += body["fills"]
        cursor = body["cursor"]
        if not cursor:
            break
    assert [f["trade_id"] for f in got] == [f.trade_id for f in reversed(log)]
    first = log[0]
    _s, body = await get(f"/portfolio/fills?order_id={first.order_id}", signed=True)
    assert {f["order_id"] for f in body["fills"]} == {first.order_id}
    _s, body = await get(f"/portfolio/fills?ticker={first.market.ticker}&limit=1000", signed=True)
    assert len(body["fills"]) == sum(f.market.ticker == first.market.ticker for f in log)
    now_s = now_ms() // 1000
    assert (await get(f"/portfolio/fills?min_ts={now_s + 10}", signed=True))[1]["fills"] == []
    assert len((await get(f"/portfolio/fills?max_ts={now_s + 10}&limit=1000", signed=True))[1]["fills"]) == len(log)
    # positions: signed, equal to the truth
    _s, body = await get("/portfolio/positions", signed=True)
    truth = sim.truth()["markets"]
    positions = {p["ticker"]: p["position_fp"] for p in body["market_positions"]}
    assert positions == {t: v["position"] for t, v in truth.items() if v["position"] is not None}
    # orders: the resting ones
    _s, body = await get("/portfolio/orders?status=resting", signed=True)
    resting = {o.order_id for m in sim.model.market_list if m.user for _p, o in m.user.resting.values()}
    assert {o["order_id"] for o in body["orders"]} == resting and resting
    assert (await get("/portfolio/orders?status=executed", signed=True))[1]["orders"] == []
    assert (await get("/portfolio/orders/unknown-id", signed=True))[0] == 404
    # balance: integer cents, the dollars string agreeing
    _s, body = await get("/portfolio/balance", signed=True)
    assert isinstance(body["balance"], int) and body["balance_dollars"] == f"{body['balance'] / 100:.6f}"
    assert body["balance"] < sim.config.starting_balance_cents  # the fills cost money


async def test_orderbook_equals_the_websocket_truth(make_sim, session, open_client) -> None:
    sim = await make_sim(rate=1, start_paused=True, markets=2)
    for _ in range(500):  # move the books away from their seed
        sim.fanout.dispatch(sim.model.step())
    get = _getter(session, sim)
    c = await open_client(sim)
    ticker = sim.model.market_list[1].ticker
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [ticker]})
    snap = (await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot"))[-1]["msg"]
    status, body = await get(f"/markets/{ticker}/orderbook")
    assert status == 200
    book = body["orderbook_fp"]
    assert book["yes_dollars"] == snap.get("yes_dollars_fp", [])
    assert book["no_dollars"] == snap.get("no_dollars_fp", [])
    _s, top = await get(f"/markets/{ticker}/orderbook?depth=2")
    assert top["orderbook_fp"]["yes_dollars"] == book["yes_dollars"][-2:]
    assert top["orderbook_fp"]["no_dollars"] == book["no_dollars"][-2:]
    assert (await get(f"/markets/{ticker}/orderbook?depth=101"))[0] == 400


# ---- faults -------------------------------------------------------------------------------------------------------


async def test_rest_429_count_then_recovers(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, faults=["rest-429:count=2"])  # type: ignore[list-item]
    get = _getter(session, sim)
    assert await get("/markets") == (429, {"error": "too many requests"})
    assert (await get("/markets"))[0] == 429
    assert (await get("/markets"))[0] == 200
    assert sim.faults.counts["rest-429"] == 2


async def test_rest_503_every_n_and_injected(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, faults=["rest-503:every=3"])  # type: ignore[list-item]
    get = _getter(session, sim)
    statuses = [(await get("/exchange/status"))[0] for _ in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]
    status, body = await get("/exchange/status")
    sim.faults.inject("rest-429")
    assert (await get("/markets"))[0] == 429
    assert sim.faults.counts["rest-503"] == 2


async def test_rest_429_rate_is_seeded(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, faults=["rest-429:rate=0.5"])  # type: ignore[list-item]
    get = _getter(session, sim)
    statuses = [(await get("/exchange/status"))[0] for _ in range(40)]
    assert 5 < statuses.count(429) < 35 and set(statuses) == {200, 429}


async def test_rest_slow_delays_the_reply(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, faults=["rest-slow:ms=300"])  # type: ignore[list-item]
    get = _getter(session, sim)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert (await get("/exchange/status"))[0] == 200
    assert loop.time() - t0 >= 0.29
    assert sim.faults.counts["rest-slow"] == 1


async def test_rest_drop_closes_mid_reply(make_sim, session) -> None:
    sim = await make_sim(rate=1, start_paused=True, faults=["rest-drop"])  # type: ignore[list-item]
    get = _getter(session, sim)
    with pytest.raises(aiohttp.ClientPayloadError):
        await get("/markets")
    assert (await get("/markets"))[0] == 200  # only the first one
    assert sim.faults.counts["rest-drop"] == 1


async def test_write_credentials_has_the_api_url(make_sim, tmp_path: Path) -> None:
    sim = await make_sim(rate=1, start_paused=True)
    sim.write_credentials(tmp_path / "sim.env")
    lines = dict(line.split("=", 1) for line in (tmp_path / "sim.env").read_text().splitlines() if "=" in line)
    assert lines["KALSHI_API_URL"] == f"http://127.0.0.1:{sim.port}/trade-api/v2" == sim.api_url
    assert lines["KALSHI_WS_URL"] == sim.url


def test_rest_fault_syntax() -> None:
    from market_making_bot.simulator.faults import FaultSpec

    assert str(FaultSpec.parse("rest-slow:ms=200")) == "rest-slow:at=0:ms=200"
    assert str(FaultSpec.parse("rest-429:count=5")) == "rest-429:at=0:count=5"
    assert str(FaultSpec.parse("rest-503:rate=0.25")) == "rest-503:rate=0.25"
    for bad in ("gap:ms=3", "rest-429:rate=2", "rest-429:rate=0.1:every=3", "rest-slow:ms=x", "gap:rate=0.5"):
        with pytest.raises(ValueError, match="bad fault spec"):
            FaultSpec.parse(bad)
