"""The simulator's REST API under ``/trade-api/v2``: market data, the simulated user's portfolio, and order entry.

Served by the same aiohttp server as the WebSocket (:mod:`.server`), from the same model, so the
order book of ``GET /markets/{ticker}/orderbook`` is the WebSocket truth at that moment. Shapes
follow Kalshi's OpenAPI spec and ``REST.md`` (8, the simulator checklist):

* market data (``/exchange/status``, ``/markets``, ``/markets/trades``, ``/markets/{ticker}``,
  ``/markets/{ticker}/orderbook``, ``/events``, ``/events/{event_ticker}``, ``/series/{series_ticker}``) needs no
  signature, as on Kalshi; ``/markets/trades`` lists the last ``model.TRADE_LOG_SIZE`` public trades, newest first;
* ``/portfolio/*`` (positions, fills, orders, ``orders/{id}``, queue positions, order groups, balance,
  settlements, and the V2 order writes) needs the three
  ``KALSHI-ACCESS-*`` headers over ``timestamp + METHOD + path`` (path with ``/trade-api/v2``, no query):
  401 ``authentication_error`` / ``INCORRECT_API_KEY_SIGNATURE``, or ``header_timestamp_expired``;
* errors are ``{"error": {"code", "message", "details"}}``; 429 is ``{"error": "too many requests"}``;
* lists are paged by ``limit`` and an opaque ``cursor`` (empty: the last page);
* amounts are Kalshi's fixed-point strings (prices 4 dp, counts 2 dp, money 6 dp) and integer cents
  where Kalshi sends cents (``balance``, ``portfolio_value``, ``revenue``).

Markets, events and series: ``KXSIM-26DEC31-M1`` is a market of event ``KXSIM-26DEC31`` in series
``KXSIM`` (the parts before the last and the first ``-``). Every market is ``active``, but for one that opens
later (``SimulatorConfig.opens_after``): ``initialized`` until then, listed by ``status=unopened`` and not by
``status=open``, its ``open_time`` in the future. Nothing settles,
so settlements are always empty. The built-in user's canceled and executed orders are not kept; the
account's REST orders are, in every status. The balance starts at ``SimulatorConfig.starting_balance_cents``,
moves with the user's fills and is net of what resting orders reserve.

Order entry (:mod:`.matching` does the matching; this module parses, authenticates and fans out):
``POST /portfolio/events/orders`` (201), ``.../batched`` (POST 201, DELETE 200), ``DELETE .../{id}``,
``DELETE /portfolio/events/orders`` (204), ``POST .../{id}/amend`` and ``.../{id}/decrease``, the order groups
(``/portfolio/order_groups``...); the events of a write are dispatched before its reply is sent (the frames
may beat the reply, as on Kalshi). V1 order writes (``POST /portfolio/orders``, ``DELETE
/portfolio/orders/{id}``, batched, amend, decrease) are answered 410 ``deprecated_v1_order_endpoint``.

Faults (:mod:`.faults`, ``rest-*``) are applied by a middleware before the route runs; the ``order-*``
faults by the order writes themselves (``order-timeout`` after the write is processed).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from market_making_bot.simulator.book import Market, Order, UserOrder
from market_making_bot.simulator.events import Event, Fill
from market_making_bot.simulator.faults import DEFAULT_REST_SLOW_MS
from market_making_bot.simulator.handshake import REST_PREFIX, Refused
from market_making_bot.simulator.matching import OrderError
from market_making_bot.simulator.model import TradeRecord
from market_making_bot.simulator.units import ONE, fmt_money, fmt_price, fmt_size, now_ms, rfc3339_ms

if TYPE_CHECKING:
    from market_making_bot.simulator.matching import OrderEntry
    from market_making_bot.simulator.server import ExchangeSimulator

log = logging.getLogger("market_making_bot.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = dict[str, Any]

MARKET_STATUS_FILTERS = ("unopened", "open", "paused", "closed", "settled")
ORDER_STATUSES = ("resting", "canceled", "executed")
V1_GONE = {
    "code": "deprecated_v1_order_endpoint",
    "message": "Please switch to the V2 endpoints",
    "details": "https://docs.kalshi.com/api-reference/orders/create-order-v2",
}
WriteAction = Callable[[web.Request, Any], tuple["JSON | None", list[Event]]]
PRICE_LEVEL_STRUCTURE = {100: "linear_cent", 10: "deci_cent"}
YEAR_MS = 365 * 24 * 3600 * 1000


class ApiError(Exception):
    """An error reply in Kalshi's nested shape."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        return _json({"error": {"code": self.code, "message": self.message, "details": self.details}}, self.status)


def _json(body: JSON, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def bad_request(details: str) -> ApiError:
    return ApiError(400, "bad_request", "bad request", details)


def series_of(ticker: str) -> str:
    return ticker.partition("-")[0]


def event_of(ticker: str) -> str:
    return ticker.rpartition("-")[0] if ticker.count("-") >= 2 else ticker


def _book_side(side: str) -> str:
    """The outcome bought -> the YES-leg book side (buying NO is selling YES)."""
    return "bid" if side == "yes" else "ask"


class RestApi:
    """The REST routes of one :class:`~.server.ExchangeSimulator`."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        self.sim = sim
        self.requests = 0
        self.started_ms = now_ms()
        self.opened_ms: dict[str, int] = {}  # markets of ``opens_after`` that have opened: when

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        # before /portfolio/orders/{order_id} (aiohttp matches in the order of registration)
        app.router.add_get(REST_PREFIX + "/portfolio/orders/queue_positions", self.queue_positions, allow_head=False)
        app.router.add_get(
            REST_PREFIX + "/portfolio/orders/{order_id}/queue_position", self.queue_position, allow_head=False
        )
        app.router.add_get(REST_PREFIX + "/portfolio/order_groups", self.order_groups, allow_head=False)
        app.router.add_get(REST_PREFIX + "/portfolio/order_groups/{group_id}", self.order_group, allow_head=False)
        writes: list[tuple[str, str, WriteAction, int]] = [
            ("POST", "/portfolio/events/orders/batched", lambda r, b: self.entry.create_batch(b), 201),
            ("DELETE", "/portfolio/events/orders/batched", lambda r, b: self.entry.cancel_batch(b), 200),
            ("POST", "/portfolio/events/orders", lambda r, b: self.entry.create(b), 201),
            ("DELETE", "/portfolio/events/orders", lambda r, b: (None, self.entry.cancel_all()), 204),
            ("DELETE", "/portfolio/events/orders/{order_id}", lambda r, b: self.entry.cancel(_oid(r)), 200),
            ("POST", "/portfolio/events/orders/{order_id}/amend", lambda r, b: self.entry.amend(_oid(r), b), 200),
            (
                "POST",
                "/portfolio/events/orders/{order_id}/decrease",
                lambda r, b: self.entry.decrease(_oid(r), b),
                200,
            ),
            ("POST", "/portfolio/order_groups/create", lambda r, b: self.entry.group_create(b), 201),
            ("DELETE", "/portfolio/order_groups/{group_id}", lambda r, b: ({}, self.entry.group_delete(_gid(r))), 200),
            (
                "PUT",
                "/portfolio/order_groups/{group_id}/reset",
                lambda r, b: ({}, self.entry.group_reset(_gid(r))),
                200,
            ),
            (
                "PUT",
                "/portfolio/order_groups/{group_id}/trigger",
                lambda r, b: ({}, self.entry.group_trigger(_gid(r))),
                200,
            ),
            (
                "PUT",
                "/portfolio/order_groups/{group_id}/limit",
                lambda r, b: ({}, self.entry.group_set_limit(_gid(r), b)),
                200,
            ),
        ]
        for method, path, action, status in writes:
            app.router.add_route(method, REST_PREFIX + path, self._write_handler(action, status))
        # V1 order writes: gone (410), as on Kalshi since 2026-06 (REST.md 4); GET /portfolio/orders lives
        for method, path in (
            ("POST", "/portfolio/orders"),
            ("POST", "/portfolio/orders/batched"),
            ("DELETE", "/portfolio/orders/batched"),
            ("DELETE", "/portfolio/orders/{order_id}"),
            ("POST", "/portfolio/orders/{order_id}/amend"),
            ("POST", "/portfolio/orders/{order_id}/decrease"),
        ):
            app.router.add_route(method, REST_PREFIX + path, self.v1_write)
        routes: list[tuple[str, Handler]] = [
            ("/exchange/status", self.exchange_status),
            ("/markets", self.markets),
            ("/markets/trades", self.trades),  # before /markets/{ticker}: routes match in this order
            ("/markets/{ticker}", self.market),
            ("/markets/{ticker}/orderbook", self.orderbook),
            ("/events", self.events),
            ("/events/{event_ticker}", self.event),
            ("/series/{series_ticker}", self.series),
            ("/portfolio/positions", self.positions),
            ("/portfolio/fills", self.fills),
            ("/portfolio/orders", self.orders),
            ("/portfolio/orders/{order_id}", self.order),
            ("/portfolio/balance", self.balance),
            ("/portfolio/settlements", self.settlements),
        ]
        for path, handler in routes:
            app.router.add_get(REST_PREFIX + path, handler, allow_head=False)

    # ---- middleware: faults, errors ----------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(REST_PREFIX + "/"):
            return await handler(request)
        self.requests += 1
        faults = self.sim.faults
        drop = False
        for spec in faults.rest_faults() if faults.specs else ():
            kind = spec.kind
            if kind == "rest-slow":
                ms = spec.ms if spec.ms is not None else DEFAULT_REST_SLOW_MS
                faults.record(kind, f"{request.method} {request.path} answered {ms} ms late")
                await asyncio.sleep(ms / 1000)
            elif kind == "rest-429":
                faults.record(kind, f"{request.method} {request.path}")
                return _json({"error": "too many requests"}, 429)
            elif kind == "rest-503":
                faults.record(kind, f"{request.method} {request.path}")
                return ApiError(
                    503, "service_unavailable", "service unavailable", "simulator fault rest-503"
                ).response()
            elif kind == "rest-drop":
                drop = True
            elif kind == "rest-401" and request.path.startswith(REST_PREFIX + "/portfolio/"):
                faults.record(kind, f"{request.method} {request.path}: signature refused")
                self.sim.gate.rest_rejected += 1
                return ApiError(
                    401, "authentication_error", "signature does not verify", "INCORRECT_API_KEY_SIGNATURE"
                ).response()
        try:
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPNotFound:
            response = ApiError(404, "not_found", "not found", f"no route {request.path}").response()
        except web.HTTPMethodNotAllowed:
            response = ApiError(405, "method_not_allowed", "method not allowed", request.method).response()
        if drop and isinstance(response, web.Response):
            faults.record("rest-drop", f"{request.method} {request.path}: connection closed mid-reply")
            return await _drop_mid_reply(request, response)
        return response

    @property
    def entry(self) -> OrderEntry:
        return self.sim.entry

    # ---- order writes (V2) ------------------------------------------------------------------------

    def _write_handler(self, action: WriteAction, status: int) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._write(request, action, status)

        return handler

    async def _write(self, request: web.Request, action: WriteAction, status: int) -> web.StreamResponse:
        """A signed order write: the order faults, the JSON body, the action; its events go out before the reply."""
        self._authenticate(request)
        faults = self.sim.faults
        timeout = None
        for spec in faults.order_faults() if faults.specs else ():
            if spec.kind == "order-429":
                faults.record(spec.kind, f"{request.method} {request.path} not processed")
                return _json({"error": "too many requests"}, 429)
            if spec.kind == "order-reject":
                faults.record(spec.kind, f"{request.method} {request.path} not processed")
                return ApiError(
                    503, "service_unavailable", "service unavailable", "simulator fault order-reject"
                ).response()
            if spec.kind == "order-timeout":
                timeout = spec
        raw = await request.read()
        body: Any = {}
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("the body is not valid JSON") from None
        try:
            reply, events = action(request, body)
        except OrderError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
        self.sim.order_events(events)
        if timeout is not None:
            faults.record(timeout.kind, f"{request.method} {request.path} processed, no reply")
            if timeout.seconds:
                await asyncio.sleep(timeout.seconds)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing is sent on an aborted connection
        if reply is None:
            return web.Response(status=status)
        return _json(reply, status)

    async def v1_write(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        return _json({"error": V1_GONE}, 410)

    # ---- queue positions, order groups (reads) ---------------------------------------------------

    async def queue_positions(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        q = request.query
        tickers = set(_comma_list(q.getall("market_tickers", [])))
        event_ticker = q.get("event_ticker")
        out: list[JSON] = []
        for o in self.entry.resting():
            m = o.market
            if (tickers and m.ticker not in tickers) or (event_ticker and event_of(m.ticker) != event_ticker):
                continue
            out.append(
                {
                    "order_id": o.order_id,
                    "market_ticker": m.ticker,
                    "queue_position_fp": fmt_size(self.entry.queue_position(o)),
                }
            )
        return _json({"queue_positions": out})

    async def queue_position(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        order = self.entry.orders.get(_oid(request))
        if order is None or not order.rested:
            raise ApiError(404, "not_found", "order not found", _oid(request))
        return _json({"queue_position_fp": fmt_size(self.entry.queue_position(order))})

    async def order_groups(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        groups = [self.entry.group_json(g, with_orders=False) for g in self.entry.groups.values()]
        return _json({"order_groups": groups})

    async def order_group(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        try:
            group = self.entry.group(_gid(request))
        except OrderError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
        return _json(self.entry.group_json(group, with_orders=True))

    def _authenticate(self, request: web.Request) -> str:
        try:
            return self.sim.gate.check_request(request.method, request.path, request.headers)
        except Refused as exc:
            raise ApiError(401, exc.code, str(exc), exc.details) from None

    # ---- market data (public) -------------------------------------------------------------------

    async def exchange_status(self, request: web.Request) -> web.StreamResponse:
        trading = not self.sim.flow_done
        return _json(
            {
                "exchange_active": True,
                "trading_active": trading,
                "intra_exchange_transfers_active": True,
                "exchange_index_statuses": [
                    {
                        "exchange_index": 0,
                        "description": "Default",
                        "exchange_active": True,
                        "trading_active": trading,
                        "intra_exchange_transfers_active": True,
                    }
                ],
            }
        )

    async def markets(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        chosen = self._market_list()
        event_ticker = q.get("event_ticker")
        if event_ticker:
            chosen = [m for m in chosen if event_of(m.ticker) == event_ticker]
        series_ticker = q.get("series_ticker")
        if series_ticker:
            chosen = [m for m in chosen if series_of(m.ticker) == series_ticker]
        tickers = _comma_list(q.getall("tickers", []))
        if tickers:
            wanted = set(tickers)
            chosen = [m for m in chosen if m.ticker in wanted]
        status = q.get("status")
        if status:
            if status not in MARKET_STATUS_FILTERS:
                raise bad_request(f"status must be one of {', '.join(MARKET_STATUS_FILTERS)}")
            unopened = self.sim.model.unopened
            if status == "open":
                chosen = [m for m in chosen if m.ticker not in unopened]
            elif status == "unopened":
                chosen = [m for m in chosen if m.ticker in unopened]
            else:  # nothing closes or settles
                chosen = []
        page, cursor = _page(q, chosen, max_limit=1000, default=100, min_limit=0)
        return _json({"markets": [self._market_json(m) for m in page], "cursor": cursor})

    async def trades(self, request: web.Request) -> web.StreamResponse:
        """``GET /markets/trades`` (REST.md 2.4): the public trades, newest first; ``ticker``, ``min_ts``/``max_ts``
        (Unix seconds, inclusive), ``is_block_trade`` (the simulator makes none), ``limit`` 1-1000 (default 100)."""
        q = request.query
        chosen: list[TradeRecord] = list(reversed(self.sim.model.trade_log))  # newest first, as Kalshi
        ticker = q.get("ticker")
        if ticker:
            chosen = [t for t in chosen if t[1] == ticker]
        min_ts = _int_param(q, "min_ts", None, 0, None)
        if min_ts is not None:
            chosen = [t for t in chosen if t[5] // 1000 >= min_ts]
        max_ts = _int_param(q, "max_ts", None, 0, None)
        if max_ts is not None:
            chosen = [t for t in chosen if t[5] // 1000 <= max_ts]
        block = q.get("is_block_trade")
        if block:
            if block not in ("true", "false"):
                raise bad_request(f"is_block_trade must be true or false, not {block!r}")
            if block == "true":
                chosen = []
        page, cursor = _page(q, chosen, max_limit=1000, default=100)
        return _json({"trades": [_trade_json(t) for t in page], "cursor": cursor})

    async def market(self, request: web.Request) -> web.StreamResponse:
        return _json({"market": self._market_json(self._market(request.match_info["ticker"]))})

    async def orderbook(self, request: web.Request) -> web.StreamResponse:
        m = self._market(request.match_info["ticker"])
        depth = _int_param(request.query, "depth", 0, 0, 100)
        yes, no, _clock = self.sim.model.book_levels(m.ticker)
        if depth:  # the best N per side: the last N of the ascending levels
            yes, no = yes[-depth:], no[-depth:]
        return _json(
            {
                "orderbook_fp": {
                    "yes_dollars": [[fmt_price(p), fmt_size(s)] for p, s in yes],
                    "no_dollars": [[fmt_price(p), fmt_size(s)] for p, s in no],
                }
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        nested = q.get("with_nested_markets", "false").lower() == "true"
        by_event = self._events()
        names = list(by_event)
        series_ticker = q.get("series_ticker")
        if series_ticker:
            names = [e for e in names if series_of(e) == series_ticker]
        status = q.get("status")
        if status:
            if status not in ("unopened", "open", "closed", "settled"):
                raise bad_request("status must be one of unopened, open, closed, settled")
            if status != "open":
                names = []
        page, cursor = _page(q, names, max_limit=200, default=200)
        return _json({"events": [self._event_json(e, by_event[e], nested) for e in page], "cursor": cursor})

    async def event(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["event_ticker"]
        markets = self._events().get(name)
        if markets is None:
            raise ApiError(404, "not_found", "event not found", name)
        nested = request.query.get("with_nested_markets", "false").lower() == "true"
        exclude = request.query.get("exclude_markets", "false").lower() == "true"
        body = self._event_json(name, markets, nested and not exclude)
        return _json({"event": body, "markets": [] if exclude else [self._market_json(m) for m in markets]})

    async def series(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["series_ticker"]
        markets = [m for m in self._market_list() if series_of(m.ticker) == name]
        if not markets:
            raise ApiError(404, "not_found", "series not found", name)
        volume = sum(m.volume for m in markets)
        return _json(
            {
                "series": {
                    "ticker": name,
                    "frequency": "custom",
                    "title": f"Simulated series {name}",
                    "category": "Simulated",
                    "categories": ["Simulated"],
                    "tags": [],
                    "settlement_sources": [],
                    "contract_url": "",
                    "contract_terms_url": "",
                    "fee_type": self.sim.config.fee_type,
                    "fee_multiplier": 1.0,
                    "additional_prohibitions": [],
                    "volume_fp": fmt_size(volume),
                    "last_updated_ts": rfc3339_ms(self.started_ms),
                    "exchange_index": 0,
                }
            }
        )

    # ---- portfolio (signed) ---------------------------------------------------------------------

    async def positions(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        q = request.query
        held = [m for m in self._market_list() if m.user is not None and m.user.fills]
        tickers = _comma_list(q.getall("ticker", []))
        if tickers:
            held = [m for m in held if m.ticker in set(tickers)]
        event_ticker = q.get("event_ticker")
        if event_ticker:
            wanted = set(_comma_list([event_ticker]))
            held = [m for m in held if event_of(m.ticker) in wanted]
        if q.get("count_filter"):
            keep = set(_comma_list([q["count_filter"]]))
            held = [
                m
                for m in held
                if m.user is not None and (("position" in keep and m.user.position) or ("total_traded" in keep))
            ]
        traded = self._traded_micro()
        page, cursor = _page(q, held, max_limit=1000, default=100)
        market_positions = [self._position_json(m, traded.get(m.ticker, 0)) for m in page]
        events: dict[str, list[Market]] = {}
        for m in page:
            events.setdefault(event_of(m.ticker), []).append(m)
        event_positions = []
        for name, ms in events.items():
            users = [m.user for m in ms if m.user is not None]
            cost = sum(u.cost for u in users)
            event_positions.append(
                {
                    "event_ticker": name,
                    "total_cost_dollars": fmt_money(cost),
                    "total_cost_shares_fp": fmt_size(sum(abs(u.position) for u in users)),
                    "event_exposure_dollars": fmt_money(cost),
                    "realized_pnl_dollars": fmt_money(sum(u.realized_pnl for u in users)),
                    "fees_paid_dollars": fmt_money(sum(u.fees_paid for u in users)),
                }
            )
        return _json({"market_positions": market_positions, "event_positions": event_positions, "cursor": cursor})

    async def fills(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        q = request.query
        chosen: Sequence[Fill] = list(reversed(self.sim.model.fill_log))  # newest first, as Kalshi
        tickers = _comma_list(q.getall("ticker", []))
        if tickers:
            wanted = set(tickers)
            chosen = [f for f in chosen if f.market.ticker in wanted]
        order_id = q.get("order_id")
        if order_id:
            chosen = [f for f in chosen if f.order_id == order_id]
        min_ts = _int_param(q, "min_ts", None, 0, None)
        if min_ts is not None:
            chosen = [f for f in chosen if f.ts_ms // 1000 >= min_ts]
        max_ts = _int_param(q, "max_ts", None, 0, None)
        if max_ts is not None:
            chosen = [f for f in chosen if f.ts_ms // 1000 <= max_ts]
        page, cursor = _page(q, list(chosen), max_limit=1000, default=100)
        return _json({"fills": [_fill_json(f) for f in page], "cursor": cursor})

    async def orders(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        q = request.query
        status = q.get("status")
        if status and status not in ORDER_STATUSES:
            raise bad_request(f"status must be one of {', '.join(ORDER_STATUSES)}")
        chosen = self._all_orders()
        if status:
            chosen = [o for o in chosen if o[4] == status]
        tickers = _comma_list(q.getall("ticker", []))
        if tickers:
            chosen = [o for o in chosen if o[0].ticker in set(tickers)]
        event_ticker = q.get("event_ticker")
        if event_ticker:
            wanted = set(_comma_list([event_ticker]))
            chosen = [o for o in chosen if event_of(o[0].ticker) in wanted]
        min_ts = _int_param(q, "min_ts", None, 0, None)
        max_ts = _int_param(q, "max_ts", None, 0, None)
        if min_ts is not None or max_ts is not None:
            lo = (min_ts or 0) * 1000
            hi = (max_ts + 1) * 1000 if max_ts is not None else None
            chosen = [
                o
                for o in chosen
                if not isinstance(o[3], UserOrder) or (o[3].updated_ms >= lo and (hi is None or o[3].created_ms < hi))
            ]
        page, cursor = _page(q, chosen, max_limit=1000, default=100)
        per_order = self._order_fills()
        orders = [self._any_order_json(m, side, price, o, per_order) for m, side, price, o, _st in page]
        return _json({"orders": orders, "cursor": cursor})

    async def order(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        order_id = request.match_info["order_id"]
        for m, side, price, o, _st in self._all_orders():
            if o.order_id == order_id:
                return _json({"order": self._any_order_json(m, side, price, o, self._order_fills())})
        raise ApiError(404, "not_found", "order not found", order_id)

    async def balance(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        cash = self.entry.cash()  # micro-dollars
        exposure = sum(m.user.cost for m in self._market_list() if m.user is not None)
        available = cash - self.entry.reserved()  # what resting orders hold back is not available
        balance_cents = available // 10_000
        return _json(
            {
                "balance": balance_cents,
                "balance_dollars": fmt_money(balance_cents * 10_000),
                "portfolio_value": (cash + exposure) // 10_000,
                "updated_ts": now_ms() // 1000,
                "balance_breakdown": [{"exchange_index": 0, "balance": fmt_money(balance_cents * 10_000)}],
            }
        )

    async def settlements(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        _page(request.query, [], max_limit=1000, default=100)  # the parameters are still checked
        return _json({"settlements": [], "cursor": ""})

    # ---- building blocks ------------------------------------------------------------------------

    def _market_list(self) -> list[Market]:
        return self.sim.model.market_list

    def _market(self, ticker: str) -> Market:
        m = self.sim.model.markets.get(ticker)
        if m is None:
            raise ApiError(404, "market_not_found", "market not found", ticker)
        return m

    def _events(self) -> dict[str, list[Market]]:
        out: dict[str, list[Market]] = {}
        for m in self._market_list():
            out.setdefault(event_of(m.ticker), []).append(m)
        return out

    def _resting(self) -> list[tuple[Market, str, int, Order]]:
        out: list[tuple[Market, str, int, Order]] = []
        for m in self._market_list():
            if m.user is not None:
                for side, (price, order) in m.user.resting.items():
                    out.append((m, side, price, order))
        return out

    def _all_orders(self) -> list[tuple[Market, str, int, Order, str]]:
        """(market, side, price, order, status) of every order the account placed over REST, newest first, and
        the built-in user's resting ones (its canceled and executed orders are not kept)."""
        out: list[tuple[Market, str, int, Order, str]] = [
            (o.market, o.side, o.price, o, o.status) for o in reversed(self.entry.order_list)
        ]
        out.extend((m, side, price, o, "resting") for m, side, price, o in self._resting())
        return out

    def _any_order_json(
        self, m: Market, side: str, price: int, order: Order, per_order: dict[str, tuple[int, int, int]]
    ) -> JSON:
        if isinstance(order, UserOrder):
            return self.entry.order_json(order)
        return self._order_json(m, side, price, order, per_order)

    def _order_fills(self) -> dict[str, tuple[int, int, int]]:
        """order id -> (count filled, cost in micro-dollars, fees in micro-dollars)."""
        out: dict[str, tuple[int, int, int]] = {}
        for f in self.sim.model.fill_log:
            own_price = f.yes_price if f.side == "yes" else ONE - f.yes_price
            n, cost, fee = out.get(f.order_id, (0, 0, 0))
            out[f.order_id] = (n + f.count, cost + f.count * own_price, fee + f.fee)
        return out

    def _traded_micro(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.sim.model.fill_log:
            own_price = f.yes_price if f.side == "yes" else ONE - f.yes_price
            out[f.market.ticker] = out.get(f.market.ticker, 0) + f.count * own_price
        return out

    def _market_json(self, m: Market) -> JSON:
        y = m.yes.best()
        n = m.no.best()
        yes_bid = y if y is not None else 0
        yes_ask = ONE - n if n is not None else ONE
        created = rfc3339_ms(self.started_ms)
        close = rfc3339_ms(self.started_ms + YEAR_MS)
        tick = m.tick
        unopened = m.ticker in self.sim.model.unopened
        later = self.sim.config.opens_after.get(m.ticker)
        opened = self.opened_ms.get(m.ticker)
        if opened is None and later is not None:
            opened = self.started_ms + round(later * 1000)  # when it is due to open
        return {
            "ticker": m.ticker,
            "event_ticker": event_of(m.ticker),
            "market_type": "binary",
            "title": f"Simulated market {m.ticker}",
            "subtitle": "",
            "yes_sub_title": "Yes",
            "no_sub_title": "No",
            "created_time": created,
            "updated_time": rfc3339_ms(now_ms()),
            "open_time": created if opened is None else rfc3339_ms(opened),
            "close_time": close,
            "expiration_time": close,
            "latest_expiration_time": close,
            "settlement_timer_seconds": 0,
            "status": "initialized" if unopened else "active",
            "yes_bid_dollars": fmt_price(yes_bid),
            "yes_ask_dollars": fmt_price(yes_ask),
            "no_bid_dollars": fmt_price(ONE - yes_ask),
            "no_ask_dollars": fmt_price(ONE - yes_bid),
            "yes_bid_size_fp": fmt_size(m.yes.totals[y] if y is not None else 0),
            "yes_ask_size_fp": fmt_size(m.no.totals[n] if n is not None else 0),
            "last_price_dollars": fmt_price(m.last_price),
            "previous_yes_bid_dollars": fmt_price(0),
            "previous_yes_ask_dollars": fmt_price(0),
            "previous_price_dollars": fmt_price(0),
            "volume_fp": fmt_size(m.volume),
            "volume_24h_fp": fmt_size(m.volume),
            "open_interest_fp": fmt_size(m.open_interest),
            "notional_value_dollars": fmt_price(ONE),
            "liquidity_dollars": fmt_price(0),  # deprecated, not in openapi.yaml, but kalshi-sdk 22.4.0 requires it
            "result": "",
            "can_close_early": False,
            "expiration_value": "",
            "settlement_bounds_type": "default",
            "strike_type": "custom",
            "rules_primary": "A simulated market: it never settles.",
            "rules_secondary": "",
            "price_level_structure": PRICE_LEVEL_STRUCTURE.get(tick, "linear_cent"),
            "price_ranges": [{"start": fmt_price(0), "end": fmt_price(ONE), "step": fmt_price(tick)}],
            "exchange_index": 0,
        }

    def _event_json(self, name: str, markets: list[Market], nested: bool) -> JSON:
        body: JSON = {
            "event_ticker": name,
            "series_ticker": series_of(name),
            "title": f"Simulated event {name}",
            "sub_title": "",
            "collateral_return_type": "",
            "mutually_exclusive": False,
            "category": "Simulated",
            "settlement_sources": [],
            "last_updated_ts": rfc3339_ms(self.started_ms),
            "exchange_index": 0,
        }
        if nested:
            body["markets"] = [self._market_json(m) for m in markets]
        return body

    def _position_json(self, m: Market, traded: int) -> JSON:
        user = m.user
        assert user is not None
        return {
            "ticker": m.ticker,
            "exchange_index": 0,
            "total_traded_dollars": fmt_money(traded),
            "position_fp": fmt_size(user.position),
            "market_exposure_dollars": fmt_money(user.cost),
            "realized_pnl_dollars": fmt_money(user.realized_pnl),
            "fees_paid_dollars": fmt_money(user.fees_paid),
            "last_updated_ts": rfc3339_ms(now_ms()),
        }

    def _order_json(
        self, m: Market, side: str, price: int, order: Order, per_order: dict[str, tuple[int, int, int]]
    ) -> JSON:
        filled, cost, fees = per_order.get(order.order_id, (0, 0, 0))
        yes_price = price if side == "yes" else ONE - price
        return {
            "order_id": order.order_id,
            "user_id": self.sim.model.user_id,
            "client_order_id": order.client_order_id or "",
            "ticker": m.ticker,
            "outcome_side": side,
            "book_side": _book_side(side),
            "side": side,  # the legacy pair, as on fills
            "action": "buy",
            "type": "limit",
            "status": "resting",
            "yes_price_dollars": fmt_price(yes_price),
            "no_price_dollars": fmt_price(ONE - yes_price),
            "fill_count_fp": fmt_size(filled),
            "remaining_count_fp": fmt_size(order.size),
            "initial_count_fp": fmt_size(filled + order.size),
            "taker_fill_cost_dollars": fmt_money(0),
            "maker_fill_cost_dollars": fmt_money(cost),
            "taker_fees_dollars": fmt_money(0),
            "maker_fees_dollars": fmt_money(fees),
            "self_trade_prevention_type": "taker_at_cross",
            "cancel_order_on_pause": False,
            "subaccount_number": 0,
            "exchange_index": 0,
        }


def _oid(request: web.Request) -> str:
    return request.match_info["order_id"]


def _gid(request: web.Request) -> str:
    return request.match_info["group_id"]


def _fill_json(f: Fill) -> JSON:
    return {
        "fill_id": f.trade_id,
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "ticker": f.market.ticker,
        "market_ticker": f.market.ticker,
        "outcome_side": f.side,
        "book_side": _book_side(f.side),
        "side": f.side,  # the legacy pair (the user bought the outcome): not in openapi.yaml, kalshi-sdk requires it
        "action": "buy",
        "count_fp": fmt_size(f.count),
        "yes_price_dollars": fmt_price(f.yes_price),
        "no_price_dollars": fmt_price(ONE - f.yes_price),
        "is_taker": f.is_taker,
        "fee_cost": fmt_money(f.fee),
        "created_time": rfc3339_ms(f.ts_ms),
        "ts": f.ts_ms // 1000,
        "exchange_index": 0,
        "subaccount_number": 0,
    }


def _trade_json(t: TradeRecord) -> JSON:
    trade_id, ticker, yes_price, count, taker, ts_ms = t
    return {
        "trade_id": trade_id,
        "ticker": ticker,
        "count_fp": fmt_size(count),
        "yes_price_dollars": fmt_price(yes_price),
        "no_price_dollars": fmt_price(ONE - yes_price),
        "taker_side": taker,  # deprecated, still sent
        "taker_outcome_side": taker,
        "taker_book_side": _book_side(taker),
        "created_time": rfc3339_ms(ts_ms),
        "is_block_trade": False,
    }


def _comma_list(values: list[str]) -> list[str]:
    """``tickers=A,B`` and ``tickers=A&tickers=B`` alike."""
    return [t for v in values for t in (p.strip() for p in v.split(",")) if t]


def _int_param(q: Any, name: str, default: int | None, lo: int, hi: int | None) -> int | None:
    text = q.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"{name} must be an integer, not {text!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise bad_request(f"{name} must be in [{lo}, {hi if hi is not None else 'inf'}], not {value}")
    return value


def _page(q: Any, items: list[Any], *, max_limit: int, default: int, min_limit: int = 1) -> tuple[list[Any], str]:
    """One page of ``items`` and the cursor of the next (``""``: this was the last)."""
    limit = _int_param(q, "limit", default, min_limit, max_limit)
    assert limit is not None
    if limit == 0:
        limit = default
    cursor = q.get("cursor") or ""
    start = 0
    if cursor:
        if not (cursor.startswith("p") and cursor[1:].isdigit()):
            raise bad_request(f"invalid cursor {cursor!r}")
        start = int(cursor[1:])
    end = start + limit
    return items[start:end], (f"p{end}" if end < len(items) else "")


async def _drop_mid_reply(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers and half the body of ``response``, then abort the connection (``rest-drop``)."""
    body = response.body
    assert isinstance(body, bytes)
    stream = web.StreamResponse(status=response.status)
    stream.content_type = response.content_type
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.abort()
    return stream
