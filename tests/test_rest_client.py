"""``KalshiAPIClient`` over real HTTP on loopback: retries, pagination, signatures, the rate budget, the write rule.

The server here is a deliberately tiny ``aiohttp.web`` fake (one handler per behaviour, no exchange logic), used
only until the simulator serves REST (the "simrest" work of issue 14): the simulator-based integration tests replace
these fakes then. Keys are generated in the test; the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.rest import Backoff, KalshiAPIError, KalshiResponseError, RateLimited, RateTier
from market_making_bot.runtime.config import Config
from market_making_bot.runtime.rest import CallKind, KalshiAPIClient, KalshiConnectionError

from .keys import write_key
from .test_rest_models import market

FAST = Backoff(base=0.001, cap=0.004, retries=3)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Fake:
    """A loopback HTTP server with one route table; records every request it saw."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.seen: list[web.Request] = []
        self.peers: list[object] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        async def recording(request: web.Request) -> web.StreamResponse:
            self.seen.append(request)
            self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
            return await handler(request)

        self.app.router.add_route(method, "/trade-api/v2" + path, recording)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/trade-api/v2"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    server = Fake()
    yield server
    await server.stop()


def text(status: int, body: str, content_type: str = "text/html") -> Handler:
    """A handler that answers ``status`` with ``body`` (a fresh response each time: one cannot be sent twice)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, content_type=content_type)

    return handler


def reply(doc: object, status: int = 200) -> Handler:
    return text(status, json.dumps(doc), "application/json")


def sequence(*handlers: Handler) -> Handler:
    """A handler that hands the n-th request to the n-th handler (the last one for any later request)."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        h = handlers[min(calls, len(handlers) - 1)]
        calls += 1
        return await h(request)

    return handler


async def drop_mid_reply(request: web.Request) -> web.StreamResponse:
    """Promise 1,000 bytes, send 10, close the connection."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"markets"')
    assert request.transport is not None
    request.transport.close()
    return response


def status_body() -> dict[str, Any]:
    return {"exchange_active": True, "trading_active": True}


def signer_with_public(tmp_path: Path, kind: str = "rsa") -> tuple[Signer, bytes]:
    public = write_key(tmp_path / "k.pem", kind)
    return Signer("test-key-id-0123456789", load_private_key(tmp_path / "k.pem", variable="K")), public


def verify(public_pem: bytes, request: web.Request) -> None:
    h = request.headers
    message = (h["KALSHI-ACCESS-TIMESTAMP"] + request.method + request.path).encode()
    sig = base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"], validate=True)
    pub = serialization.load_pem_public_key(public_pem)
    if isinstance(pub, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        pub.verify(sig, message, pss, hashes.SHA256())
    else:
        assert isinstance(pub, ed25519.Ed25519PublicKey)
        pub.verify(sig, message)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_pagination_two_pages_signed_over_one_connection(
    fake: Fake, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def markets(request: web.Request) -> web.Response:
        if "cursor" not in request.query:
            return web.json_response({"markets": [market(ticker="A"), market(ticker="B")], "cursor": "page 2/+="})
        assert request.query["cursor"] == "page 2/+="  # opaque: sent back exactly
        # A shifted page repeats B: it is given once.
        return web.json_response({"markets": [market(ticker="B"), market(ticker="C")], "cursor": ""})

    fake.route("GET", "/markets", markets)
    await fake.start()
    signer, public = signer_with_public(tmp_path, kind)
    caplog.set_level(logging.DEBUG)
    async with KalshiAPIClient(fake.url, signer, backoff=FAST) as api:
        got = [m async for m in api.markets(event_ticker="KXHIGHNY-26DEC31", tickers=["A", "B", "C"])]
    assert [m.ticker for m in got] == ["A", "B", "C"] and got[0].yes_bid_dollars == 4500
    assert len(fake.seen) == 2
    for request in fake.seen:
        assert request.query["event_ticker"] == "KXHIGHNY-26DEC31" and request.query["tickers"] == "A,B,C"
        assert request.path == "/trade-api/v2/markets"
        verify(public, request)  # signed over /trade-api/v2/markets: the query is not signed
    assert len(set(fake.peers)) == 1  # one pooled keep-alive connection served both pages
    signatures = [r.headers["KALSHI-ACCESS-SIGNATURE"] for r in fake.seen]
    assert "GET /trade-api/v2/markets?event_ticker=" in caplog.text
    assert not any(s in caplog.text for s in signatures) and "test-key-id-0123456789" not in caplog.text


async def test_429_then_success_and_503_retried(fake: Fake) -> None:
    fake.route("GET", "/exchange/status", sequence(reply({"error": "too many requests"}, 429), reply(status_body())))
    fake.route(
        "GET",
        "/markets/{ticker}",
        sequence(reply({}, 503), reply({"error": {"code": "unavailable"}}, 503), reply({"market": market()})),
    )
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        status = await api.exchange_status()
        assert status.trading_active and api.retries == 1
        assert api.bucket(CallKind.READ).tokens(time.monotonic()) < 400  # emptied by the 429, refilling since
        m = await api.market("KXHIGHNY-26DEC31-B45")
        assert m.ticker == "KXHIGHNY-26DEC31-B45" and api.retries == 3 and api.requests == 5
    assert [r.path for r in fake.seen[2:]] == ["/trade-api/v2/markets/KXHIGHNY-26DEC31-B45"] * 3


async def test_connection_dropped_mid_reply_is_retried_for_a_read(fake: Fake) -> None:
    fake.route("GET", "/markets", sequence(drop_mid_reply, reply({"markets": [market()], "cursor": None})))
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        got = [m.ticker async for m in api.markets()]
    assert got == ["KXHIGHNY-26DEC31-B45"] and len(fake.seen) == 2


async def test_retries_are_capped_then_the_error_is_raised(fake: Fake) -> None:
    fake.route("GET", "/exchange/status", sequence(reply({"error": "too many requests"}, 429)))
    fake.route("GET", "/markets", sequence(drop_mid_reply))
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        with pytest.raises(RateLimited, match="HTTP 429: too many requests"):
            await api.exchange_status()
        assert len(fake.seen) == FAST.retries + 1
        with pytest.raises(KalshiConnectionError, match=r"^GET /trade-api/v2/markets: .* after 4 attempts$"):
            [m async for m in api.markets()]


async def test_a_write_is_never_retried(fake: Fake) -> None:
    fake.route("POST", "/portfolio/events/orders", sequence(reply({}, 503), reply({"order_id": "o"}, 201)))
    fake.route("DELETE", "/portfolio/events/orders/{id}", sequence(drop_mid_reply))
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError, match="HTTP 503"):
            await api._request("POST", "/portfolio/events/orders", kind=CallKind.WRITE)
        with pytest.raises(KalshiConnectionError, match=r"\(a write is never retried\)$"):
            await api._request("DELETE", "/portfolio/events/orders/o1", kind=CallKind.WRITE, cost=2)
        assert api.retries == 0
    assert [r.method for r in fake.seen] == ["POST", "DELETE"]


async def test_error_bodies_and_bad_replies(fake: Fake) -> None:
    fake.route("GET", "/markets/{ticker}", sequence(reply({"error": {"code": "not_found", "message": "no"}}, 404)))
    fake.route("GET", "/series/{s}", text(502, "<html>Bad Gateway</html>"))
    fake.route("GET", "/exchange/status", text(200, "<html>maintenance</html>"))
    fake.route("GET", "/portfolio/balance", sequence(reply({"balance": 1.5, "portfolio_value": 0, "updated_ts": 1})))
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError) as info:
            await api.market("NOPE")
        assert (info.value.status, info.value.code, info.value.message) == (404, "not_found", "no")
        with pytest.raises(KalshiAPIError, match=r"^HTTP 502: <html>Bad Gateway</html>$"):
            await api.series("KX")
        with pytest.raises(KalshiResponseError, match=r"^GET /exchange/status: the reply is not JSON"):
            await api.exchange_status()
        with pytest.raises(KalshiResponseError, match=r"cents, got float 1.5 - at `\$\.balance`"):
            await api.balance()
    assert len(fake.seen) == 4  # 404 and 502 are not retried


async def test_connection_refused_is_retried_then_reported() -> None:
    server = Fake()
    await server.start()
    url = server.url
    await server.stop()  # nothing listens there any more
    async with KalshiAPIClient(url, backoff=FAST) as api:
        with pytest.raises(KalshiConnectionError, match=r"^GET /trade-api/v2/exchange/status: .* after 4 attempts$"):
            await api.exchange_status()
        assert api.requests == 4


async def test_the_bucket_paces_requests(fake: Fake) -> None:
    fake.route("GET", "/exchange/status", sequence(reply(status_body())))
    await fake.start()
    tiny = RateTier("tiny", read_rate=200, read_capacity=20, write_rate=1, write_capacity=1)
    async with KalshiAPIClient(fake.url, tier=tiny, backoff=FAST) as api:
        start = time.monotonic()
        await asyncio.gather(*(api.exchange_status() for _ in range(6)))  # 60 tokens: 20 at once, 40 at 200/s
        assert time.monotonic() - start >= 0.19
    with pytest.raises(ValueError, match="unknown rate tier 'gold'"):
        KalshiAPIClient(fake.url, tier="gold")


async def test_load_limits_and_from_config(fake: Fake, tmp_path: Path) -> None:
    limits = {
        "usage_tier": "advanced",
        "read": {"refill_rate": 300, "bucket_capacity": 900},
        "write": {"refill_rate": 300, "bucket_capacity": 900},
        "grants": [{"exchange_instance": "event_contract", "level": "advanced", "source": "manual"}],
    }
    fake.route("GET", "/account/limits", sequence(reply(limits)))
    fake.route("GET", "/portfolio/orders/{id}", sequence(reply({"error": {"code": "not_found"}}, 404)))
    await fake.start()
    public = write_key(tmp_path / "k.pem")
    cfg = Config.load(
        None,
        environ={
            "KALSHI_API_KEY_ID": "kid",
            "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "k.pem"),
            "KALSHI_API_URL": fake.url,
        },
    )
    async with KalshiAPIClient.from_config(cfg, backoff=FAST) as api:
        got = await api.load_limits()
        assert got.usage_tier == "advanced"
        read = api.bucket(CallKind.READ)
        assert (read.rate, read.capacity) == (300, 900) and api.bucket(CallKind.WRITE).capacity == 900
        with pytest.raises(KalshiAPIError, match="not_found"):
            await api.order("o1")
    for request in fake.seen:
        verify(public, request)
        assert request.headers["KALSHI-ACCESS-KEY"] == "kid"


async def test_client_must_be_entered() -> None:
    api = KalshiAPIClient("http://127.0.0.1:9/trade-api/v2")
    with pytest.raises(RuntimeError, match="use `async with KalshiAPIClient"):
        await api.exchange_status()
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        KalshiAPIClient("ws://127.0.0.1:9/trade-api/v2")


def test_public_api_exports_the_client_and_the_type_checking_block_agrees() -> None:
    import ast

    import market_making_bot as mmb

    assert mmb.KalshiAPIClient is KalshiAPIClient and mmb.KalshiAPIError is KalshiAPIError
    tree = ast.parse(Path(mmb.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    imported = {
        alias.name: node.module.removeprefix("market_making_bot.")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert imported == mmb._EXPORTS


async def test_every_read_sends_its_path_and_filters(fake: Fake, tmp_path: Path) -> None:
    from .test_rest_models import fill_body, order_body

    event = {
        "event_ticker": "E",
        "series_ticker": "S",
        "title": "t",
        "sub_title": "",
        "collateral_return_type": "",
        "mutually_exclusive": False,
        "settlement_sources": [],
    }
    position = {
        "ticker": "M",
        "position_fp": "-2.00",
        "market_exposure_dollars": "1.1",
        "total_traded_dollars": "2",
        "realized_pnl_dollars": "0",
        "fees_paid_dollars": "0.02",
        "last_updated_ts": "2026-10-26T12:00:00Z",
    }
    fake.route("GET", "/events/{e}", reply({"event": event, "markets": [market()]}))  # deprecated top level only
    fake.route("GET", "/markets/{t}/orderbook", reply({"orderbook_fp": {"yes_dollars": [["0.41", "1"]]}}))
    fake.route(
        "GET", "/portfolio/positions", reply({"market_positions": [position], "event_positions": [], "cursor": ""})
    )
    fake.route("GET", "/portfolio/fills", reply({"fills": [fill_body()], "cursor": ""}))
    fake.route("GET", "/portfolio/orders", reply({"orders": [order_body()], "cursor": ""}))
    fake.route("GET", "/portfolio/balance", reply({"balance": 100, "portfolio_value": 250, "updated_ts": 1}))
    fake.route("GET", "/portfolio/settlements", reply({"settlements": []}))
    fake.route("GET", "/portfolio/orders/queue_positions", reply({"queue_positions": None}))
    fake.route("GET", "/portfolio/orders/{id}/queue_position", reply({"queue_position_fp": "3.00"}))
    await fake.start()
    signer, public = signer_with_public(tmp_path)
    async with KalshiAPIClient(fake.url, signer, backoff=FAST) as api:
        e = await api.event("E")
        assert [m.ticker for m in e.markets] == ["KXHIGHNY-26DEC31-B45"]
        assert (await api.orderbook("M", depth=5)).yes_bids() == [(4100, 100)]
        assert [p.position_fp async for p in api.positions(settlement_status="all")] == [-200]
        assert [f.fill_id async for f in api.fills(ticker=["M", "N"], min_ts=1792929600)] == ["t1"]
        assert [o.order_id async for o in api.orders(status="resting", event_ticker=["E1", "E2"])] == ["o1"]
        balance = await api.balance()
        assert (balance.balance, balance.portfolio_value) == (1_000_000, 2_500_000)
        assert [s async for s in api.settlements(ticker="M")] == []
        assert await api.queue_positions(market_tickers=["M"]) == []
        assert await api.queue_position("o1") == 300
    queries = [(r.path.removeprefix("/trade-api/v2"), dict(r.query)) for r in fake.seen]
    assert queries == [
        ("/events/E", {"with_nested_markets": "true"}),
        ("/markets/M/orderbook", {"depth": "5"}),
        ("/portfolio/positions", {"settlement_status": "all"}),
        ("/portfolio/fills", {"ticker": "M,N", "min_ts": "1792929600"}),
        ("/portfolio/orders", {"event_ticker": "E1,E2", "status": "resting"}),
        ("/portfolio/balance", {}),
        ("/portfolio/settlements", {"ticker": "M"}),
        ("/portfolio/orders/queue_positions", {"market_tickers": "M"}),
        ("/portfolio/orders/o1/queue_position", {}),
    ]
    for request in fake.seen:
        verify(public, request)
