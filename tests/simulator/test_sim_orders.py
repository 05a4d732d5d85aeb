"""Orders over the simulator's REST (issue 15 item 1), over real loopback HTTP and WebSocket with signed requests.

A client written from Kalshi's documentation alone (REST.md 4, the V2 endpoints) places, amends and
cancels orders and sees Kalshi's semantics: post-only refused when crossing, IOC leaves nothing
resting, 409 on a duplicate ``client_order_id``, 404 on cancelling a canceled order, 410 on a V1 write,
the taker fee of REST.md 6.8 on its fills; the frames of REST.md 6.10 on the private channels; the
truth's ``user`` block equal to what REST and the frames reported; every reply valid against
``openapi.yaml``, every frame against ``asyncapi.yaml``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from market_making_bot.simulator import ExchangeSimulator
from market_making_bot.simulator.__main__ import build_parser, config_from_args
from market_making_bot.simulator.auth import auth_headers
from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.simulator.units import now_ms

from .helpers import Client

M1 = "KXSIM-26DEC31-M1"
Api = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


def api_of(session: aiohttp.ClientSession, sim: ExchangeSimulator, validate: OpenApi | None = None) -> Api:
    async def call(
        method: str, path: str, body: Any = None, *, signed: bool = True, spec_path: str | None = None
    ) -> tuple[int, Any]:
        headers: dict[str, str] = {}
        if signed:
            assert sim.private_key is not None
            headers = auth_headers("orders-key", sim.private_key, now_ms(), "/trade-api/v2" + path, method)
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with session.request(method, sim.api_url + path, data=data, headers=headers) as r:
            text = await r.text()
            reply = json.loads(text) if text else None
        if validate is not None and spec_path is not None:
            validate.validate(spec_path, method, r.status, reply)
        return r.status, reply

    return call


class OpenApi:
    """Replies validated against ``openapi.yaml`` by path, method and status."""

    def __init__(self, path: Path) -> None:
        import yaml
        from openapi_schema_validator import OAS30Validator

        self.doc = yaml.safe_load(path.read_text())
        self._validator = OAS30Validator
        self.checked: set[tuple[str, str]] = set()

    def _resolve(self, ref: str) -> Any:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def validate(self, path: str, method: str, status: int, body: Any) -> None:
        op = self.doc["paths"][path][method.lower()]
        resp = op["responses"][str(status)]
        if "$ref" in resp:
            resp = self._resolve(resp["$ref"])
        content = resp.get("content")
        if content is None:
            assert body is None, (path, status, body)
        else:
            schema = dict(content["application/json"]["schema"])
            schema["components"] = self.doc["components"]
            self._validator(schema).validate(body)
        self.checked.add((method, path))


@pytest.fixture
def openapi(shared_kalshi: Path) -> OpenApi:
    pytest.importorskip("openapi_schema_validator")
    return OpenApi(shared_kalshi / "openapi.yaml")


@pytest.fixture
def asyncapi(shared_kalshi: Path) -> Callable[[dict[str, Any]], None]:
    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((shared_kalshi / "asyncapi.yaml").read_text())
    cls = jsonschema.Draft202012Validator
    names = {
        "user_order": "userOrderPayload",
        "order_group_updates": "orderGroupUpdatesPayload",
        "fill": "fillPayload",
        "market_position": "marketPositionPayload",
        "orderbook_delta": "orderbookDeltaPayload",
    }
    validators = {
        t: cls(
            {"$ref": f"#/components/schemas/{n}", "components": doc["components"]}, format_checker=cls.FORMAT_CHECKER
        )
        for t, n in names.items()
    }

    def check(frame: dict[str, Any]) -> None:
        v = validators.get(frame["type"])
        if v is not None:
            v.validate(frame)
            known = set(doc["components"]["schemas"][names[frame["type"]]]["properties"]["msg"]["properties"])
            assert set(frame["msg"]) <= known, set(frame["msg"]) - known

    return check


def order(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ticker": M1,
        "side": "bid",
        "count": "1",
        "price": "0.50",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "client_order_id": str(uuid.uuid4()),
    }
    out.update(kw)
    return out


def price(units: int) -> str:
    return f"{Decimal(units) / 10_000:.4f}"


def taker_fee(count: str, p: str) -> str:
    raw = Decimal("0.07") * Decimal(count) * Decimal(p) * (1 - Decimal(p))
    return f"{raw.quantize(Decimal('0.0001'), rounding=ROUND_CEILING):.6f}"


async def private_client(sim: ExchangeSimulator, open_client: Callable[..., Awaitable[Client]]) -> Client:
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["user_orders", "fill", "market_positions", "order_group_updates"]})
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_ticker": M1})
    await c.recv_until(lambda f: f["type"] == "orderbook_snapshot")
    return c


async def test_a_documented_client_places_amends_and_cancels_orders(
    make_sim, session, open_client, openapi: OpenApi, asyncapi
) -> None:
    sim = await make_sim(start_paused=True, markets=2)
    api = api_of(session, sim, openapi)
    c = await private_client(sim, open_client)
    status, book = await api("GET", f"/markets/{M1}/orderbook", signed=False)
    best_no = Decimal(book["orderbook_fp"]["no_dollars"][-1][0])
    best_yes = Decimal(book["orderbook_fp"]["yes_dollars"][-1][0])
    ask = f"{1 - best_no:.4f}"

    # IOC at the best ask: fills at the resting price, nothing rests, the taker fee of REST.md 6.8
    status, reply = await api(
        "POST",
        "/portfolio/events/orders",
        order(price=ask, count="2", time_in_force="immediate_or_cancel", client_order_id="ioc-1"),
        spec_path="/portfolio/events/orders",
    )
    assert status == 201 and (reply["fill_count"], reply["remaining_count"]) == ("2.00", "0.00"), reply
    frames = await c.recv_until(lambda f: f["type"] == "user_order" and f["msg"]["client_order_id"] == "ioc-1")
    fills = [f["msg"] for f in frames if f["type"] == "fill"]
    assert fills and all(f["is_taker"] and f["client_order_id"] == "ioc-1" for f in fills)
    assert sum(Decimal(f["count_fp"]) for f in fills) == 2
    for f in fills:
        assert f["yes_price_dollars"] == ask and f["fee_cost"] == taker_fee(f["count_fp"], ask)
    assert fills[-1]["post_position_fp"] == "2.00"
    assert any(f["type"] == "market_position" for f in frames)
    assert frames[-1]["msg"]["status"] == "executed" and frames[-1]["msg"]["last_update_reason"] == "Trade"
    status, got = await api("GET", f"/portfolio/orders/{reply['order_id']}", spec_path="/portfolio/orders/{order_id}")
    assert got["order"]["status"] == "executed" and got["order"]["remaining_count_fp"] == "0.00"

    # a resting GTC: at the back of its level, its delta carries the coid
    bid = f"{best_yes:.4f}"
    status, rest = await api(
        "POST",
        "/portfolio/events/orders",
        order(price=bid, count="3", client_order_id="gtc-1"),
        spec_path="/portfolio/events/orders",
    )
    assert status == 201 and rest["remaining_count"] == "3.00"
    frames = await c.recv_until(lambda f: f["type"] == "user_order" and f["msg"]["client_order_id"] == "gtc-1")
    (delta,) = [f["msg"] for f in frames if f["type"] == "orderbook_delta"]
    assert (delta["price_dollars"], delta["delta_fp"], delta["client_order_id"]) == (bid, "3.00", "gtc-1")
    oid = rest["order_id"]
    status, q = await api(
        "GET", f"/portfolio/orders/{oid}/queue_position", spec_path="/portfolio/orders/{order_id}/queue_position"
    )
    level = dict(book["orderbook_fp"]["yes_dollars"])[bid]
    assert status == 200 and q["queue_position_fp"] == level  # everything before it at that price
    status, qs = await api(
        "GET", f"/portfolio/orders/queue_positions?market_tickers={M1}", spec_path="/portfolio/orders/queue_positions"
    )
    assert qs["queue_positions"] == [{"order_id": oid, "market_ticker": M1, "queue_position_fp": level}]

    # 409 on a duplicate client_order_id; post-only crossing refused
    status, err = await api("POST", "/portfolio/events/orders", order(price="0.01", client_order_id="gtc-1"))
    assert status == 409, err
    status, err = await api("POST", "/portfolio/events/orders", order(price=ask, post_only=True))
    assert (status, err["error"]["code"], err["error"]["details"]) == (400, "invalid_order", "post only cross")

    # amend (count = new total) and decrease
    status, amended = await api(
        "POST",
        f"/portfolio/events/orders/{oid}/amend",
        {"ticker": M1, "side": "bid", "price": bid, "count": "2", "client_order_id": "gtc-1"},
        spec_path="/portfolio/events/orders/{order_id}/amend",
    )
    assert status == 200 and amended["remaining_count"] == "2.00"
    status, dec = await api(
        "POST",
        f"/portfolio/events/orders/{oid}/decrease",
        {"reduce_by": "0.5"},
        spec_path="/portfolio/events/orders/{order_id}/decrease",
    )
    assert status == 200 and dec["remaining_count"] == "1.50"
    frames = await c.recv_until(
        lambda f: f["type"] == "user_order" and f["msg"].get("last_update_reason") == "Decrease"
    )

    # cancel, then cancel again: 404
    status, canceled = await api(
        "DELETE", f"/portfolio/events/orders/{oid}", spec_path="/portfolio/events/orders/{order_id}"
    )
    assert status == 200 and canceled["reduced_by"] == "1.50" and canceled["client_order_id"] == "gtc-1"
    status, err = await api("DELETE", f"/portfolio/events/orders/{oid}")
    assert status == 404 and err["error"]["code"] == "not_found"
    frames = await c.recv_until(lambda f: f["type"] == "user_order" and f["msg"]["status"] == "canceled")
    assert [f["msg"]["delta_fp"] for f in frames if f["type"] == "orderbook_delta"][-1] == "-1.50"

    # batches, cancel all
    status, batch = await api(
        "POST",
        "/portfolio/events/orders/batched",
        {"orders": [order(price="0.02", count="1"), order(price="0.021"), order(price="0.03")]},
        spec_path="/portfolio/events/orders/batched",
    )
    assert status == 201 and [("error" in a) for a in batch["orders"]] == [False, True, False]
    status, cb = await api(
        "DELETE",
        "/portfolio/events/orders/batched",
        {"orders": [{"order_id": batch["orders"][0]["order_id"]}, {"order_id": oid}]},
    )
    openapi.validate("/portfolio/events/orders/batched", "DELETE", status, cb)
    assert status == 200 and cb["orders"][0]["reduced_by"] == "1.00" and cb["orders"][1]["error"]["code"] == "not_found"
    status, none = await api("DELETE", "/portfolio/events/orders", spec_path="/portfolio/events/orders")
    assert status == 204 and none is None
    status, left = await api("GET", "/portfolio/orders?status=resting", spec_path="/portfolio/orders")
    assert left["orders"] == []
    status, everything = await api("GET", "/portfolio/orders", spec_path="/portfolio/orders")
    assert {o["status"] for o in everything["orders"]} == {"executed", "canceled"}

    # order groups
    status, g = await api(
        "POST", "/portfolio/order_groups/create", {"contracts_limit": 10}, spec_path="/portfolio/order_groups/create"
    )
    assert status == 201
    gid = g["order_group_id"]
    await api("POST", "/portfolio/events/orders", order(price="0.02", order_group_id=gid))
    status, one = await api(
        "GET", f"/portfolio/order_groups/{gid}", spec_path="/portfolio/order_groups/{order_group_id}"
    )
    assert len(one["orders"]) == 1 and one["contracts_limit_fp"] == "10.00"
    status, groups = await api("GET", "/portfolio/order_groups", spec_path="/portfolio/order_groups")
    assert [x["id"] for x in groups["order_groups"]] == [gid]
    for action in ("trigger", "reset", "limit"):
        status, empty = await api(
            "PUT",
            f"/portfolio/order_groups/{gid}/{action}",
            {"contracts_limit": 5} if action == "limit" else {},
            spec_path=f"/portfolio/order_groups/{{order_group_id}}/{action}",
        )
        assert status == 200 and empty == {}
    status, empty = await api(
        "DELETE", f"/portfolio/order_groups/{gid}", spec_path="/portfolio/order_groups/{order_group_id}"
    )
    assert status == 200
    frames = await c.recv_until(lambda f: f["type"] == "order_group_updates" and f["msg"]["event_type"] == "deleted")

    # the fills and the balance over REST
    status, rf = await api("GET", "/portfolio/fills", spec_path="/portfolio/fills")
    assert sum(Decimal(f["count_fp"]) for f in rf["fills"]) == 2
    status, bal = await api("GET", "/portfolio/balance", spec_path="/portfolio/balance")
    spent = sum(Decimal(f["count_fp"]) * Decimal(f["yes_price_dollars"]) + Decimal(f["fee_cost"]) for f in rf["fills"])
    assert Decimal(bal["balance_dollars"]) == (Decimal(10_000) - spent).quantize(
        Decimal("0.01"), rounding="ROUND_FLOOR"
    )
    for f in c.frames:
        asyncapi(f)
    group_seqs = [f["seq"] for f in c.frames if f["type"] == "order_group_updates"]
    assert group_seqs == list(range(group_seqs[0], group_seqs[0] + len(group_seqs)))


async def test_v1_writes_are_gone_and_writes_need_a_signature(make_sim, session) -> None:
    sim = await make_sim(start_paused=True)
    api = api_of(session, sim)
    for method, path in (
        ("POST", "/portfolio/orders"),
        ("POST", "/portfolio/orders/batched"),
        ("DELETE", "/portfolio/orders/batched"),
        ("DELETE", "/portfolio/orders/abc"),
        ("POST", "/portfolio/orders/abc/amend"),
        ("POST", "/portfolio/orders/abc/decrease"),
    ):
        status, body = await api(method, path, {"ticker": M1})
        assert status == 410 and body["error"]["code"] == "deprecated_v1_order_endpoint", (method, path, body)
    status, body = await api("GET", "/portfolio/orders")  # the read on the V1 path lives
    assert status == 200
    status, body = await api("POST", "/portfolio/events/orders", order(), signed=False)
    assert status == 401 and body["error"]["code"] == "authentication_error"
    assert not sim.entry.orders
    status, body = await api("POST", "/portfolio/events/orders", None)
    assert status == 400 and body["error"]["code"] == "bad_request"


async def test_the_truth_user_block_equals_rest_and_the_frames(make_sim, session, open_client, tmp_path) -> None:
    truth_path = tmp_path / "truth.json"
    sim = await make_sim(start_paused=True, seed=7, truth_json=truth_path, auto_user=False)
    api = api_of(session, sim)
    c = await private_client(sim, open_client)
    m = sim.model.markets[M1]
    best_yes, best_no = m.yes.best(), m.no.best()
    assert best_yes is not None and best_no is not None
    await api(
        "POST",
        "/portfolio/events/orders",
        order(price=price(10_000 - best_no), count="1.5", time_in_force="immediate_or_cancel"),
    )
    status, resting = await api("POST", "/portfolio/events/orders", order(price=price(best_yes), count="4"))
    await api("POST", "/portfolio/events/orders", order(side="ask", price="0.99", count="2", client_order_id="far"))
    # the flow trades until our bid has a maker fill (the model's own steps, deterministic by seed)
    for _ in range(50_000):
        sim._dispatch(sim.model.step())
        if any(not f.is_taker for f in sim.model.fill_log):
            break
    assert any(not f.is_taker for f in sim.model.fill_log)
    await c.recv_until(lambda f: f["type"] == "fill" and not f["msg"]["is_taker"])
    sim.stop_flow()
    await sim.wait_quiet(5)
    truth = json.loads(truth_path.read_text())["user"]
    status, rf = await api("GET", "/portfolio/fills?limit=1000")
    rest_fills = [
        {
            "market": f["ticker"],
            "order_id": f["order_id"],
            "side": f["book_side"],
            "price": f["yes_price_dollars"],
            "count": f["count_fp"],
            "fee": f["fee_cost"],
            "is_taker": f["is_taker"],
        }
        for f in reversed(rf["fills"])
    ]
    ws_fills = [
        {
            "market": f["msg"]["market_ticker"],
            "order_id": f["msg"]["order_id"],
            "side": f["msg"]["book_side"],
            "price": f["msg"]["yes_price_dollars"],
            "count": f["msg"]["count_fp"],
            "fee": f["msg"]["fee_cost"],
            "is_taker": f["msg"]["is_taker"],
        }
        for f in c.frames
        if f["type"] == "fill"
    ]
    assert truth["fills"] == rest_fills == ws_fills[: len(truth["fills"])] and len(truth["fills"]) >= 2
    status, ro = await api("GET", "/portfolio/orders?status=resting")
    assert sorted((o["order_id"], o["remaining_count_fp"]) for o in ro["orders"]) == sorted(
        (o["order_id"], o["remaining_count"]) for o in truth["resting_orders"]
    )
    assert "far" in {o["client_order_id"] for o in truth["resting_orders"]}


async def test_the_built_in_user_stops_at_the_first_rest_order(make_sim, session, open_client) -> None:
    sim = await make_sim(start_paused=True, seed=3)
    api = api_of(session, sim)
    c = await private_client(sim, open_client)  # a private subscription: the built-in user starts
    assert sim.model.user_active
    for _ in range(50_000):
        sim._dispatch(sim.model.step())
        if any(m.user and m.user.resting for m in sim.model.market_list if m.ticker == M1):
            break
    m1 = sim.model.markets[M1]
    assert m1.user is not None and m1.user.resting
    auto = {o.client_order_id: o.size for _p, o in m1.user.resting.values()}
    status, _ = await api("POST", "/portfolio/events/orders", order(price="0.01"))
    assert status == 201 and not sim.model.user_active
    frames = await c.recv_until(lambda f: f["type"] == "user_order")
    gone = {
        f["msg"]["client_order_id"]: f["msg"]["delta_fp"]
        for f in frames
        if f["type"] == "orderbook_delta" and f["msg"].get("client_order_id", "").startswith("sim-")
    }
    assert gone == {coid: f"-{Decimal(size) / 100:.2f}" for coid, size in auto.items()}
    fills = len(sim.model.fill_log)
    for _ in range(3_000):
        sim._dispatch(sim.model.step())
    assert all(f.order_id in sim.entry.orders for f in sim.model.fill_log[fills:])


async def test_no_auto_user_means_no_fills_but_the_accounts_own(make_sim, open_client) -> None:
    sim = await make_sim(start_paused=True, auto_user=False)
    await private_client(sim, open_client)
    for _ in range(5_000):
        sim._dispatch(sim.model.step())
    assert not sim.model.user_active and not sim.model.fill_log
    args = build_parser().parse_args(["--no-auto-user", "--fee-type", "quadratic"])
    config = config_from_args(args)
    assert (config.auto_user, config.fee_type) == (False, "quadratic")


async def test_the_series_reports_its_fee_type_and_makers_pay_by_it(make_sim, session) -> None:
    sim = await make_sim(start_paused=True, fee_type="quadratic", auto_user=False)
    status, series = await api_of(session, sim)("GET", "/series/KXSIM", signed=False)
    assert series["series"]["fee_type"] == "quadratic"
    assert sim.model.maker_fee_rate == 0


async def test_an_order_expires_on_the_simulators_clock(make_sim, session, open_client) -> None:
    sim = await make_sim(start_paused=True, auto_user=False)
    api = api_of(session, sim)
    c = await private_client(sim, open_client)
    status, reply = await api(
        "POST",
        "/portfolio/events/orders",
        order(price="0.01", expiration_time=now_ms() // 1000 + 1, client_order_id="exp"),
    )
    assert status == 201
    frames = await c.recv_until(
        lambda f: f["type"] == "user_order" and f["msg"].get("last_update_reason") == "ExpiryCancel", timeout=5
    )
    assert frames[-1]["msg"]["status"] == "canceled"
    assert [f["msg"]["delta_fp"] for f in frames if f["type"] == "orderbook_delta"][-1] == "-1.00"
    status, got = await api("GET", f"/portfolio/orders/{reply['order_id']}")
    assert got["order"]["status"] == "canceled"


async def test_order_faults(make_sim, session) -> None:
    faults = [FaultSpec.parse(f) for f in ("order-429:at=0", "order-reject:at=1", "order-timeout:at=2")]
    sim = await make_sim(start_paused=True, auto_user=False, faults=faults)
    api = api_of(session, sim)
    body = order(price="0.01", client_order_id="retry-me")
    status, reply = await api("POST", "/portfolio/events/orders", body)
    assert (status, reply) == (429, {"error": "too many requests"}) and not sim.entry.orders  # not processed
    status, reply = await api("POST", "/portfolio/events/orders", body)
    assert status == 503 and reply["error"]["code"] == "service_unavailable" and not sim.entry.orders
    with pytest.raises(aiohttp.ClientError):  # processed, but no reply
        await api("POST", "/portfolio/events/orders", body)
    assert [o.client_order_id for o in sim.entry.orders.values()] == ["retry-me"]
    status, reply = await api("POST", "/portfolio/events/orders", body)  # the retry: it had landed
    assert status == 409
    assert sim.truth()["faults"] == {"order-429": 1, "order-reject": 1, "order-timeout": 1}


def test_order_fault_specs_parse_and_count_order_writes_only() -> None:
    from market_making_bot.simulator.faults import FaultController

    assert str(FaultSpec.parse("order-429:every=5")) == "order-429:every=5"
    assert str(FaultSpec.parse("order-timeout:at=2:for=1.5")) == "order-timeout:at=2:for=1.5"
    assert FaultSpec.parse("order-reject:rate=0.5").rate == 0.5
    assert FaultSpec.parse("order-429").count == 1
    with pytest.raises(ValueError, match="ms=N is only for rest-slow"):
        FaultSpec.parse("order-429:ms=3")
    faults = FaultController(["order-429:every=2"], seed=1)  # type: ignore[list-item]
    assert [bool(faults.rest_faults()) for _ in range(4)] == [False] * 4  # reads do not count
    assert [bool(faults.order_faults()) for _ in range(4)] == [False, True, False, True]
    faults.inject("order-reject")
    assert [s.kind for s in faults.order_faults()] == ["order-reject"]  # the next write, once
    assert [s.kind for s in faults.order_faults()] == ["order-429"]
