"""``KalshiAPIClient`` over real HTTP on loopback, against a tiny fake server: only what the simulator cannot produce.

The client's behaviour against the exchange (every read, pages, errors, 429/503/dropped replies and their retries,
the write rule, the bucket, timeouts, refused connections) is tested against the simulator in
``test_rest_client_sim.py``. What stays here needs a server that misbehaves or answers in a way the simulator never
does: an opaque cursor with characters that need quoting, both key types' signatures checked independently with the
``cryptography`` public key, one pooled keep-alive connection seen from the server side; a non-JSON error page
(a 502 from a proxy), a 200 that is not JSON, a value of the wrong type; ``/account/limits`` and the queue-position
endpoints (not served by the simulator); the deprecated top-level ``markets`` of an event reply and a position filter
the simulator ignores. Keys are generated in the test; the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.rest import Backoff, KalshiAPIError, KalshiResponseError
from market_making_bot.runtime.config import Config
from market_making_bot.runtime.rest import CallKind, KalshiAPIClient

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


async def test_error_bodies_and_bad_replies(fake: Fake) -> None:
    fake.route("GET", "/series/{s}", text(502, "<html>Bad Gateway</html>"))
    fake.route("GET", "/exchange/status", text(200, "<html>maintenance</html>"))
    fake.route("GET", "/portfolio/balance", sequence(reply({"balance": 1.5, "portfolio_value": 0, "updated_ts": 1})))
    await fake.start()
    async with KalshiAPIClient(fake.url, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError, match=r"^HTTP 502: <html>Bad Gateway</html>$"):
            await api.series("KX")
        with pytest.raises(KalshiResponseError, match=r"^GET /exchange/status: the reply is not JSON"):
            await api.exchange_status()
        with pytest.raises(KalshiResponseError, match=r"cents, got float 1.5 - at `\$\.balance`"):
            await api.balance()
    assert len(fake.seen) == 3  # a 502 is not retried


async def test_load_limits_and_from_config(fake: Fake, tmp_path: Path) -> None:
    limits = {
        "usage_tier": "advanced",
        "read": {"refill_rate": 300, "bucket_capacity": 900},
        "write": {"refill_rate": 300, "bucket_capacity": 900},
        "grants": [{"exchange_instance": "event_contract", "level": "advanced", "source": "manual"}],
    }
    fake.route("GET", "/account/limits", sequence(reply(limits)))
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
    for request in fake.seen:
        verify(public, request)
        assert request.headers["KALSHI-ACCESS-KEY"] == "kid"


async def test_client_must_be_entered() -> None:
    api = KalshiAPIClient("http://127.0.0.1:9/trade-api/v2")
    with pytest.raises(RuntimeError, match="use `async with KalshiAPIClient"):
        await api.exchange_status()
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        KalshiAPIClient("ws://127.0.0.1:9/trade-api/v2")
    with pytest.raises(ValueError, match="unknown rate tier 'gold'"):
        KalshiAPIClient("http://127.0.0.1:9/trade-api/v2", tier="gold")


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


async def test_what_the_simulator_does_not_serve_sends_its_path_and_filters(fake: Fake, tmp_path: Path) -> None:
    """The deprecated top-level ``markets`` of an event reply, the queue-position endpoints, and a position filter
    (``settlement_status``) the simulator ignores: the path, the query and the signature, as the server saw them."""
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
    fake.route(
        "GET", "/portfolio/positions", reply({"market_positions": [position], "event_positions": [], "cursor": ""})
    )
    fake.route("GET", "/portfolio/orders/queue_positions", reply({"queue_positions": None}))
    fake.route("GET", "/portfolio/orders/{id}/queue_position", reply({"queue_position_fp": "3.00"}))
    await fake.start()
    signer, public = signer_with_public(tmp_path)
    async with KalshiAPIClient(fake.url, signer, backoff=FAST) as api:
        e = await api.event("E")
        assert [m.ticker for m in e.markets] == ["KXHIGHNY-26DEC31-B45"]
        assert [p.position_fp async for p in api.positions(settlement_status="all")] == [-200]
        assert await api.queue_positions(market_tickers=["M"]) == []
        assert await api.queue_position("o1") == 300
    queries = [(r.path.removeprefix("/trade-api/v2"), dict(r.query)) for r in fake.seen]
    assert queries == [
        ("/events/E", {"with_nested_markets": "true"}),
        ("/portfolio/positions", {"settlement_status": "all"}),
        ("/portfolio/orders/queue_positions", {"market_tickers": "M"}),
        ("/portfolio/orders/o1/queue_position", {}),
    ]
    for request in fake.seen:
        verify(public, request)
