"""``KalshiAPIClient``: Kalshi's REST API v2, async, on aiohttp (the asyncio shell around ``kalshi.rest``).

::

    async with KalshiAPIClient.from_config(Config.load()) as api:
        await api.load_limits()                       # optional: the live budget from /account/limits
        async for market in api.markets(event_ticker="KXHIGHNY-26DEC31"):
            print(market.ticker, market.yes_bid_dollars)
        book = await api.orderbook("KXHIGHNY-26DEC31-B45")

* **One session**: one ``aiohttp.ClientSession`` per client, whose connector keeps connections to the host alive and
  reuses them (no TLS handshake per request). Enter it with ``async with``; leaving closes it.
* **Signed** with the WebSocket's ``Signer`` (``market_making_bot.kalshi.auth``): ``timestamp + METHOD + path``, the
  path including ``/trade-api/v2`` and never the query (``kalshi.rest.signing_path``), a fresh timestamp per attempt.
  Without a signer only the public market-data reads work.
* **Typed**: every reply is decoded by ``kalshi.rest.decode`` into integer units; a reply that is not JSON, has the
  wrong shape or holds a value out of range raises ``KalshiResponseError`` naming the request and the field; an error
  status raises ``KalshiAPIError`` (``RateLimited`` for 429) with Kalshi's code, message and details.
* **Paginated** reads are async iterators that follow the cursor to the last page, dropping an item a shifted page
  repeats (by its id) and refusing a cursor that comes back (a server bug would otherwise loop for ever).
* **Rate budget**: local token buckets (``kalshi.rest.TokenBucket``) for Read and Write, tier ``basic`` by default
  (200 reads/s, burst 400; 100 writes/s), and the balance endpoint's own 1 call/s; each request reserves its cost (10
  tokens, 2 for ``GET /portfolio/orders/{id}``) and waits its turn. ``await load_limits()`` replaces the tier's
  numbers with the live ones from ``/account/limits``. After a 429 the bucket is emptied (the server's was).
* **Retries, for reads only**: a GET that gets 429 or 503, or whose connection fails (refused, reset, dropped in the
  middle of the reply, timed out), is sent again after a capped full-jitter backoff (``kalshi.rest.Backoff``: the n-th
  retry waits ``uniform(0, min(cap, base * 2**n))``), at most ``Backoff.retries`` times. **A write is never retried**:
  its outcome after a failure is unknown (it may have been applied), and resolving that belongs to the caller, by
  its ``client_order_id`` (REST.md 4.8). ``_request`` enforces it: only ``CallKind.READ`` is retried.
* **Writes** (V2 order entry, REST.md 4; V1 is never used): ``create_order``, ``batch_create_orders``,
  ``cancel_order``, ``batch_cancel_orders``, ``cancel_all_orders``, ``amend_order``, ``decrease_order`` and the
  order-group calls take the request models of ``kalshi.orders`` and return its reply models, in integer units. Each
  reserves its cost on the Write bucket (create, amend, decrease, order groups 10; cancel 2; batches 10 or 2 per
  order; cancel-all 2). A 429 on a write was not processed (REST.md 5), so it alone is sent again, with the same
  body, after the backoff, at most ``Backoff.retries`` times (then ``RateLimited``). A timeout, a connection lost
  after the request may have left, or a 5xx raise :class:`WriteOutcomeUnknown`: the write may or may not have been
  applied, and only a read can tell (``runtime.orders`` does that). A connection that could not even be opened
  raises ``KalshiConnectionError``: nothing was sent.
* **Nothing secret in a log**: log lines name the method, path, query and status; never a header, a signature or
  the key (the ``Signer`` has no repr of the key).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote

import aiohttp
import msgspec

from market_making_bot.kalshi.auth import Signer
from market_making_bot.kalshi.orders import (
    WRITE_COSTS,
    AmendOrderReply,
    AmendOrderRequest,
    BatchCancelReply,
    BatchCreateReply,
    CancelOrderReply,
    CancelRef,
    CreateOrderGroupReply,
    CreateOrderGroupRequest,
    CreateOrderReply,
    CreateOrderRequest,
    DecreaseOrderReply,
    DecreaseOrderRequest,
    EmptyReply,
    OrderGroup,
    OrderGroupLimitRequest,
    OrderGroupReply,
    OrderGroupsReply,
    batch_cancel_body,
    batch_create_body,
)
from market_making_bot.kalshi.rest import (
    DEFAULT_COST,
    RATE_TIERS,
    AccountLimits,
    Backoff,
    Balance,
    Event,
    EventPosition,
    EventReply,
    ExchangeStatus,
    Fill,
    FillsPage,
    KalshiAPIError,
    KalshiResponseError,
    Market,
    MarketPosition,
    MarketReply,
    MarketsPage,
    Order,
    OrderBook,
    OrderBookReply,
    OrderReply,
    OrdersPage,
    Params,
    PositionsPage,
    QueuePosition,
    QueuePositionReply,
    QueuePositionsReply,
    RateLimited,
    RateTier,
    Series,
    SeriesReply,
    Settlement,
    SettlementsPage,
    TokenBucket,
    Trade,
    TradesPage,
    decode,
    next_cursor,
    parse_error,
    request_url,
    signing_path,
)
from market_making_bot.marker import SIMULATOR_HEADER
from market_making_bot.runtime.config import Config

__all__ = [
    "KalshiAPIClient",
    "KalshiConnectionError",
    "WriteOutcomeUnknown",
    "KalshiAPIError",
    "KalshiResponseError",
    "RateLimited",
    "CallKind",
    "RETRIED_STATUSES",
]

log = logging.getLogger("market_making_bot.rest")

RETRIED_STATUSES = frozenset({429, 503})
"""Statuses after which a read is sent again (with backoff)."""
_WRITE_RETRIED = frozenset({429})
"""The one status after which a write is sent again: 429, not processed (REST.md 5)."""

_CONNECTION_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)
"""Refused, reset, dropped mid-reply (payload), timed out (``asyncio.TimeoutError`` is not the builtin on 3.10)."""

_BALANCE_RATE = 1.0  # the balance endpoint's own bucket: 1 call/s on Basic and Advanced, no burst (REST.md 3.4)

T = TypeVar("T")
P = TypeVar("P")


class KalshiConnectionError(Exception):
    """The request could not be completed (connection refused, reset, dropped, timed out), after the retries a
    read gets, or at once for a write. The message names the request; never a header."""


class WriteOutcomeUnknown(Exception):
    """A write whose outcome is unknown: timed out, the connection dropped after the request may have left, or a
    5xx (``status``). It may have been applied: never send it blindly again; read (REST.md 4.8)."""

    def __init__(self, request: str, reason: str, status: int | None = None) -> None:
        self.request = request
        self.reason = reason
        self.status = status
        super().__init__(f"{request}: {reason}: the outcome is unknown (a write is never retried blindly)")


class CallKind(enum.Enum):
    """Which budget a request draws on, and whether it may be retried: reads are, writes never."""

    READ = "read"
    WRITE = "write"
    BALANCE = "balance"  # a read with its own bucket


def _csv(values: str | Sequence[str] | None) -> str | None:
    if values is None or isinstance(values, str):
        return values
    return ",".join(values)


class KalshiAPIClient:
    """Async client of Kalshi's REST API v2 (see the module docstring). ``base_url`` includes ``/trade-api/v2``."""

    def __init__(
        self,
        base_url: str,
        signer: Signer | None = None,
        *,
        tier: str | RateTier = "basic",
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"REST base URL {base_url!r} must start with http:// or https://")
        if isinstance(tier, str):
            if tier.lower() not in RATE_TIERS:
                raise ValueError(f"unknown rate tier {tier!r}: one of {', '.join(RATE_TIERS)}")
            tier = RATE_TIERS[tier.lower()]
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.tier = tier
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._timeout = timeout
        self._clock = clock
        now = clock()
        self._buckets = {
            CallKind.READ: TokenBucket(tier.read_rate, tier.read_capacity, now),
            CallKind.WRITE: TokenBucket(tier.write_rate, tier.write_capacity, now),
            CallKind.BALANCE: TokenBucket(_BALANCE_RATE, 1, now),
        }
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        """Requests sent, retries included."""
        self.retries = 0

    @classmethod
    def from_config(cls, cfg: Config, **kwargs: object) -> KalshiAPIClient:
        """A client for ``cfg.api_url`` signed with ``cfg``'s key (``PrivateKeyError`` if it cannot be loaded)."""
        return cls(cfg.api_url, cfg.signer(), **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"KalshiAPIClient({self.base_url!r}, signer={self.signer!r}, tier={self.tier.name!r})"

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> KalshiAPIClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"Accept": "application/json"},
                connector=aiohttp.TCPConnector(keepalive_timeout=30.0),
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- the rate budget ---------------------------------------------------------------------------------------------

    def bucket(self, kind: CallKind) -> TokenBucket:
        return self._buckets[kind]

    async def load_limits(self) -> AccountLimits:
        """Read ``/account/limits`` and use its Read and Write budgets from now on (no fresh burst)."""
        limits = await self.account_limits()
        now = self._clock()
        self._buckets[CallKind.READ].reconfigure(limits.read.refill_rate, limits.read.bucket_capacity, now)
        self._buckets[CallKind.WRITE].reconfigure(limits.write.refill_rate, limits.write.bucket_capacity, now)
        log.info(
            "REST budget from /account/limits: tier %s, read %d/s (burst %d), write %d/s (burst %d)",
            limits.usage_tier,
            limits.read.refill_rate,
            limits.read.bucket_capacity,
            limits.write.refill_rate,
            limits.write.bucket_capacity,
        )
        return limits

    # --- transport ---------------------------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        endpoint: str,
        params: Params | None = None,
        *,
        kind: CallKind,
        cost: int = DEFAULT_COST,
        body: bytes | None = None,
    ) -> bytes:
        """Send one request and return the body of its 2xx reply.

        Retry rule (the only place it is decided): a READ or BALANCE call is sent again on 429, 503 or a connection
        error, after ``backoff``; a WRITE is sent again only after a 429 (Kalshi did not process it), with the same
        body; after a timeout, a dropped connection or a 5xx it raises ``WriteOutcomeUnknown``, because the write may
        have been applied and sending it again blindly could trade twice. ``body``: JSON, sent with its content
        type."""
        session = self._session
        if session is None:
            raise RuntimeError("KalshiAPIClient is not open: use `async with KalshiAPIClient(...) as api:`")
        write = kind is CallKind.WRITE
        retry = not write
        url = request_url(self.base_url, endpoint, params)
        path = signing_path(self.base_url, endpoint)
        shown = f"{method} {path}" + (url[url.index("?") :] if "?" in url else "")
        bucket = self._buckets[kind]
        cost = 1 if kind is CallKind.BALANCE else cost
        attempt = 0
        while True:
            wait = bucket.reserve(cost, self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            headers = self.signer.headers(path, method) if self.signer is not None else {}
            if body is not None:
                headers = {**headers, "Content-Type": "application/json"}
            self.requests += 1
            try:
                async with session.request(method, url, headers=headers, data=body, allow_redirects=False) as resp:
                    status = resp.status
                    reply = await resp.read()
            except _CONNECTION_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if write and not isinstance(exc, aiohttp.ClientConnectorError):
                    # Not "could not connect": the request may have reached Kalshi.
                    log.warning("%s: %s: outcome unknown (a write is never retried blindly)", shown, reason)
                    raise WriteOutcomeUnknown(shown, reason) from None
                if not retry or attempt >= self.backoff.retries:
                    tried = f" after {attempt + 1} attempts" if retry else " (a write is never retried)"
                    raise KalshiConnectionError(f"{shown}: {reason}{tried}") from None
                delay = self.backoff.delay(attempt, self._rng)
                log.warning("%s: %s; retry %d of %d in %.3f s", shown, reason, attempt + 1, self.backoff.retries, delay)
            else:
                if 200 <= status < 300:
                    log.debug("%s -> %d (%d bytes)", shown, status, len(reply))
                    return reply
                error = parse_error(status, reply)
                if status == 429:
                    bucket.drain(self._clock())
                if write and status >= 500:
                    log.warning("%s -> %s: outcome unknown; body %s", shown, error, error.raw)
                    raise WriteOutcomeUnknown(shown, str(error), status)
                retried = RETRIED_STATUSES if retry else _WRITE_RETRIED
                if status not in retried or attempt >= self.backoff.retries:
                    log.debug("%s -> %s; body %s", shown, error, error.raw)
                    raise error
                delay = self.backoff.delay(attempt, self._rng)
                log.warning(
                    "%s -> %s; retry %d of %d in %.3f s", shown, error, attempt + 1, self.backoff.retries, delay
                )
            attempt += 1
            self.retries += 1
            await asyncio.sleep(delay)

    async def _get(self, kind_of_reply: type[T], endpoint: str, params: Params | None = None, **kw: object) -> T:
        body = await self._request("GET", endpoint, params, kind=CallKind.READ, **kw)  # type: ignore[arg-type]
        return decode(kind_of_reply, body, f"GET {endpoint}")

    async def _pages(
        self,
        page_type: type[P],
        endpoint: str,
        params: Params,
        items: Callable[[P], Sequence[T] | None],
        key: Callable[[T], Hashable],
    ) -> AsyncIterator[T]:
        cursor: str | None = None
        cursors: set[str] = set()
        seen: set[Hashable] = set()
        while True:
            page = await self._get(page_type, endpoint, {**params, "cursor": cursor})
            for item in items(page) or ():
                k = key(item)
                if k not in seen:  # pages can shift between requests (REST.md 1.5): an item once
                    seen.add(k)
                    yield item
            cursor = next_cursor(getattr(page, "cursor", None))
            if cursor is None:
                return
            if cursor in cursors:
                raise KalshiResponseError(f"GET {endpoint}: the server sent cursor {cursor[:40]!r} twice")
            cursors.add(cursor)

    # --- market data (public) ----------------------------------------------------------------------------------------

    async def exchange_status(self) -> ExchangeStatus:
        return await self._get(ExchangeStatus, "/exchange/status")

    async def simulator_mark(self) -> str | None:
        """The project's simulator's mark on this server's replies (``market_making_bot.marker``), ``None`` if absent
        (Kalshi, or anything else). One unsigned ``GET /exchange/status`` on the Read bucket, not retried: a server
        that cannot answer it is not one to send orders to. Raises ``KalshiConnectionError`` if it cannot be reached.
        """
        session = self._session
        if session is None:
            raise RuntimeError("KalshiAPIClient is not open: use `async with KalshiAPIClient(...) as api:`")
        wait = self._buckets[CallKind.READ].reserve(DEFAULT_COST, self._clock())
        if wait > 0:
            await asyncio.sleep(wait)
        url = request_url(self.base_url, "/exchange/status", None)
        try:
            async with session.get(url) as response:
                await response.read()
                return response.headers.get(SIMULATOR_HEADER)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise KalshiConnectionError(f"GET {signing_path(self.base_url, '/exchange/status')}: {exc}") from None

    def markets(
        self,
        *,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        status: str | None = None,
        tickers: str | Sequence[str] | None = None,
        mve_filter: str | None = None,
        min_created_ts: int | None = None,
        max_created_ts: int | None = None,
        min_close_ts: int | None = None,
        max_close_ts: int | None = None,
        min_settled_ts: int | None = None,
        max_settled_ts: int | None = None,
        min_updated_ts: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Market]:
        """Every market matching the filters (REST.md 2.1: ``status`` one of ``unopened|open|paused|closed|settled``;
        ``tickers`` a list or a comma list; times in Unix seconds), all pages."""
        params: Params = {
            "event_ticker": event_ticker,
            "series_ticker": series_ticker,
            "status": status,
            "tickers": _csv(tickers),
            "mve_filter": mve_filter,
            "min_created_ts": min_created_ts,
            "max_created_ts": max_created_ts,
            "min_close_ts": min_close_ts,
            "max_close_ts": max_close_ts,
            "min_settled_ts": min_settled_ts,
            "max_settled_ts": max_settled_ts,
            "min_updated_ts": min_updated_ts,
            "limit": limit,
        }
        return self._pages(MarketsPage, "/markets", params, lambda p: p.markets, lambda m: m.ticker)

    async def market(self, ticker: str) -> Market:
        return (await self._get(MarketReply, f"/markets/{ticker}")).market

    async def event(self, event_ticker: str, *, with_nested_markets: bool = True) -> Event:
        """The event, with its markets in ``event.markets`` (from the deprecated top level when not nested)."""
        reply = await self._get(EventReply, f"/events/{event_ticker}", {"with_nested_markets": with_nested_markets})
        if not reply.event.markets and reply.markets:
            return msgspec.structs.replace(reply.event, markets=reply.markets)
        return reply.event

    async def series(self, series_ticker: str) -> Series:
        return (await self._get(SeriesReply, f"/series/{series_ticker}")).series

    async def orderbook(self, ticker: str, *, depth: int | None = None) -> OrderBook:
        """The REST book (bids of both legs, REST.md 2.3): never splice it into a WebSocket stream."""
        return (await self._get(OrderBookReply, f"/markets/{ticker}/orderbook", {"depth": depth})).orderbook_fp

    def trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        is_block_trade: bool | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Trade]:
        """The public trades (REST.md 2.4), newest first, all pages; ``min_ts``/``max_ts`` in Unix seconds."""
        params: Params = {
            "ticker": ticker,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "is_block_trade": is_block_trade,
            "limit": limit,
        }
        return self._pages(TradesPage, "/markets/trades", params, lambda p: p.trades, lambda t: t.trade_id)

    # --- portfolio (signed) ------------------------------------------------------------------------------------------

    def positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        count_filter: str | None = None,
        settlement_status: str | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[MarketPosition]:
        """Market positions (REST.md 3.3), all pages; ``position_fp`` signed (+ YES, - NO)."""
        params = self._position_params(
            ticker, event_ticker, count_filter, settlement_status, subaccount, exchange_index, limit
        )
        return self._pages(
            PositionsPage, "/portfolio/positions", params, lambda p: p.market_positions, lambda m: m.ticker
        )

    def event_positions(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        count_filter: str | None = None,
        settlement_status: str | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[EventPosition]:
        """Event positions from the same endpoint as :meth:`positions`, all pages."""
        params = self._position_params(
            ticker, event_ticker, count_filter, settlement_status, subaccount, exchange_index, limit
        )
        return self._pages(
            PositionsPage, "/portfolio/positions", params, lambda p: p.event_positions, lambda e: e.event_ticker
        )

    @staticmethod
    def _position_params(
        ticker: str | None,
        event_ticker: str | None,
        count_filter: str | None,
        settlement_status: str | None,
        subaccount: int | None,
        exchange_index: int | None,
        limit: int | None,
    ) -> Params:
        return {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "count_filter": count_filter,
            "settlement_status": settlement_status,
            "subaccount": subaccount,
            "exchange_index": exchange_index,
            "limit": limit,
        }

    def fills(
        self,
        *,
        ticker: str | Sequence[str] | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Fill]:
        """The user's fills (REST.md 3.2), all pages; ``min_ts`` (Unix seconds) makes it the backfill after a
        disconnect (the WebSocket does not replay fills)."""
        params: Params = {
            "ticker": _csv(ticker),
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "subaccount": subaccount,
            "exchange_index": exchange_index,
            "limit": limit,
        }
        return self._pages(FillsPage, "/portfolio/fills", params, lambda p: p.fills, lambda f: f.fill_id)

    def orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | Sequence[str] | None = None,
        status: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Order]:
        """The user's orders (REST.md 3.1; ``status`` one of ``resting|canceled|executed``), all pages."""
        params: Params = {
            "ticker": ticker,
            "event_ticker": _csv(event_ticker),
            "status": status,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "subaccount": subaccount,
            "exchange_index": exchange_index,
            "limit": limit,
        }
        return self._pages(OrdersPage, "/portfolio/orders", params, lambda p: p.orders, lambda o: o.order_id)

    async def order(self, order_id: str) -> Order:
        return (await self._get(OrderReply, f"/portfolio/orders/{order_id}", cost=2)).order

    async def balance(self, *, subaccount: int | None = None, exchange_index: int | None = None) -> Balance:
        """The balance (REST.md 3.4), on its own budget of 1 call/s."""
        body = await self._request(
            "GET",
            "/portfolio/balance",
            {"subaccount": subaccount, "exchange_index": exchange_index},
            kind=CallKind.BALANCE,
        )
        return decode(Balance, body, "GET /portfolio/balance")

    def settlements(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        subaccount: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Settlement]:
        params: Params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "subaccount": subaccount,
            "limit": limit,
        }
        return self._pages(
            SettlementsPage, "/portfolio/settlements", params, lambda p: p.settlements, lambda s: s.ticker
        )

    async def queue_positions(
        self,
        *,
        market_tickers: str | Sequence[str] | None = None,
        event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> list[QueuePosition]:
        params: Params = {
            "market_tickers": _csv(market_tickers),
            "event_ticker": event_ticker,
            "subaccount": subaccount,
        }
        reply = await self._get(QueuePositionsReply, "/portfolio/orders/queue_positions", params)
        return list(reply.queue_positions or ())

    async def queue_position(self, order_id: str) -> int:
        """Contracts ahead of the order (size units, 1/100 contract)."""
        reply = await self._get(QueuePositionReply, f"/portfolio/orders/{order_id}/queue_position")
        try:
            return reply.size
        except ValueError as exc:
            raise KalshiResponseError(f"GET /portfolio/orders/{order_id}/queue_position: {exc}") from None

    async def account_limits(self) -> AccountLimits:
        return await self._get(AccountLimits, "/account/limits")

    # --- order entry, V2 (signed writes; REST.md 4) ------------------------------------------------------------------

    async def _write(
        self,
        reply_type: type[T],
        method: str,
        endpoint: str,
        cost: int,
        body: bytes | None = None,
        params: Params | None = None,
    ) -> T:
        raw = await self._request(method, endpoint, params, kind=CallKind.WRITE, cost=cost, body=body)
        return decode(reply_type, raw or b"{}", f"{method} {endpoint}")

    async def create_order(self, order: CreateOrderRequest) -> CreateOrderReply:
        """``POST /portfolio/events/orders`` (10 write tokens). ``WriteOutcomeUnknown`` if the outcome is unknown."""
        return await self._write(
            CreateOrderReply, "POST", "/portfolio/events/orders", WRITE_COSTS["create"], order.body()
        )

    async def batch_create_orders(self, orders: Sequence[CreateOrderRequest]) -> BatchCreateReply:
        """``POST /portfolio/events/orders/batched`` (10 tokens per order): ``orders[i]`` answers item *i*."""
        body = batch_create_body(list(orders))
        cost = WRITE_COSTS["batch_create_per_order"] * len(orders)
        reply = await self._write(BatchCreateReply, "POST", "/portfolio/events/orders/batched", cost, body)
        if len(reply.orders) != len(orders):
            raise KalshiResponseError(
                f"POST /portfolio/events/orders/batched: {len(reply.orders)} answers for {len(orders)} orders"
            )
        return reply

    async def cancel_order(
        self,
        order_id: str,
        *,
        market_ticker: str | None = None,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> CancelOrderReply:
        """``DELETE /portfolio/events/orders/{id}`` (2 tokens); ``market_ticker`` routes it off shard 0. 404: it is
        already filled or canceled."""
        params: Params = {"market_ticker": market_ticker, "subaccount": subaccount, "exchange_index": exchange_index}
        endpoint = f"/portfolio/events/orders/{quote(order_id, safe='')}"
        return await self._write(CancelOrderReply, "DELETE", endpoint, WRITE_COSTS["cancel"], params=params)

    async def batch_cancel_orders(self, orders: Sequence[CancelRef]) -> BatchCancelReply:
        """``DELETE /portfolio/events/orders/batched`` with a JSON body (2 tokens per order)."""
        body = batch_cancel_body(list(orders))
        cost = WRITE_COSTS["batch_cancel_per_order"] * len(orders)
        return await self._write(BatchCancelReply, "DELETE", "/portfolio/events/orders/batched", cost, body)

    async def cancel_all_orders(self, *, subaccount: int | None = None) -> None:
        """``DELETE /portfolio/events/orders``: **every** resting order of the account (or of ``subaccount``), on
        every shard, also those other programs placed. A kill switch; ``runtime.orders`` cancels only its own."""
        await self._request(
            "DELETE",
            "/portfolio/events/orders",
            {"subaccount": subaccount},
            kind=CallKind.WRITE,
            cost=WRITE_COSTS["cancel_all"],
        )

    async def amend_order(
        self, order_id: str, amend: AmendOrderRequest, *, subaccount: int | None = None
    ) -> AmendOrderReply:
        """``POST /portfolio/events/orders/{id}/amend`` (10 tokens); ``amend.count`` is the new total."""
        endpoint = f"/portfolio/events/orders/{quote(order_id, safe='')}/amend"
        return await self._write(
            AmendOrderReply, "POST", endpoint, WRITE_COSTS["amend"], amend.body(), {"subaccount": subaccount}
        )

    async def decrease_order(
        self, order_id: str, decrease: DecreaseOrderRequest, *, subaccount: int | None = None
    ) -> DecreaseOrderReply:
        """``POST /portfolio/events/orders/{id}/decrease`` (10 tokens)."""
        endpoint = f"/portfolio/events/orders/{quote(order_id, safe='')}/decrease"
        return await self._write(
            DecreaseOrderReply, "POST", endpoint, WRITE_COSTS["decrease"], decrease.body(), {"subaccount": subaccount}
        )

    # --- order groups (REST.md 4.7): reads on the Read bucket, writes 10 tokens -------------------------------------

    async def order_groups(self, *, subaccount: int | None = None) -> list[OrderGroup]:
        reply = await self._get(OrderGroupsReply, "/portfolio/order_groups", {"subaccount": subaccount})
        return list(reply.order_groups or ())

    async def order_group(self, group_id: str, *, subaccount: int | None = None) -> OrderGroupReply:
        endpoint = f"/portfolio/order_groups/{quote(group_id, safe='')}"
        return await self._get(OrderGroupReply, endpoint, {"subaccount": subaccount})

    async def create_order_group(self, group: CreateOrderGroupRequest) -> CreateOrderGroupReply:
        return await self._write(
            CreateOrderGroupReply, "POST", "/portfolio/order_groups/create", WRITE_COSTS["order_group"], group.body()
        )

    async def _group_write(
        self,
        method: str,
        group_id: str,
        action: str,
        body: bytes | None,
        subaccount: int | None,
        exchange_index: int | None,
    ) -> None:
        endpoint = f"/portfolio/order_groups/{quote(group_id, safe='')}{action}"
        params: Params = {"subaccount": subaccount, "exchange_index": exchange_index}
        await self._write(EmptyReply, method, endpoint, WRITE_COSTS["order_group"], body, params)

    async def delete_order_group(
        self, group_id: str, *, subaccount: int | None = None, exchange_index: int | None = None
    ) -> None:
        """Cancels the group's orders and removes it. Pass the group's shard (no ticker to route by)."""
        await self._group_write("DELETE", group_id, "", None, subaccount, exchange_index)

    async def reset_order_group(
        self, group_id: str, *, subaccount: int | None = None, exchange_index: int | None = None
    ) -> None:
        await self._group_write("PUT", group_id, "/reset", b"{}", subaccount, exchange_index)

    async def trigger_order_group(
        self, group_id: str, *, subaccount: int | None = None, exchange_index: int | None = None
    ) -> None:
        await self._group_write("PUT", group_id, "/trigger", b"{}", subaccount, exchange_index)

    async def set_order_group_limit(
        self,
        group_id: str,
        limit: OrderGroupLimitRequest,
        *,
        subaccount: int | None = None,
        exchange_index: int | None = None,
    ) -> None:
        await self._group_write("PUT", group_id, "/limit", limit.body(), subaccount, exchange_index)
