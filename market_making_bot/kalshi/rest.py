"""Kalshi's REST API v2, pure: response models, error bodies, the signed path, the rate budget. No I/O.

The asyncio client that sends the requests is ``market_making_bot.runtime.rest.KalshiAPIClient``; everything it needs
to know about Kalshi's wire format lives here, so that it can be tested without a socket (``../shared/kalshi/REST.md``
is the reference, section numbers below are its own).

Models (msgspec ``Struct``\\ s, decoded by :func:`decode`): every quantity is an exact integer in the project's units
(``market_making_bot.units``), never a float:

* prices (``*_dollars`` fields that are prices, book levels): 1/10,000 dollar, from ``"0.45"``, ``"0.4500"``,
  ``"1"``, ``"1.00"``: any plain decimal on the grid (an integer on a dollar field is refused: integers are cents);
* sizes (``*_fp``): 1/100 contract, from ``"10"``, ``"10.00"``, signed where Kalshi signs them (positions);
* money (costs, fees, P&L, balances in dollars): 1/1,000,000 dollar, from up to 6 decimals;
* the legacy integer-cent fields that REST still sends (REST.md 1.6: ``balance``, ``portfolio_value``,
  ``Settlement.revenue`` / ``value``) are converted to money units; the older integer ``queue_position`` to a size;
* times: RFC 3339 strings become Unix milliseconds (``created_time`` etc. are ``int`` ms); ``*_ts`` integers are
  Unix seconds as Kalshi sends them;
* JSON numbers that are neither (``fee_multiplier``, strikes) are ``decimal.Decimal``, exact.

Unknown fields are ignored (Kalshi adds fields often); a missing required field, a wrong type, a value off its grid
or out of range raises :class:`KalshiResponseError` naming the field (``$.markets[3].yes_bid_dollars``), never a
traceback from inside msgspec. Only the fields the spec requires are required here (checked by a test against
``openapi.yaml``), so that a valid reply always decodes.

Errors: :func:`parse_error` turns any error reply into a :class:`KalshiAPIError` (status, code, message, details,
the raw body): nested ``{"error": {...}}``, flat ``{"code", "message", "details"}``, ``{"error": "too many
requests"}``, ``{"msg": ...}``, and bodies that are not JSON at all (a proxy's HTML page).

Signing: :func:`signing_path` is what the ``Signer`` signs for a request: ``/trade-api/v2/...``, never the query.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import urlencode, urlsplit

import msgspec

from market_making_bot.units import (
    MONEY_SCALE,
    count_to_size,
    parse_money_dollars,
    parse_price_dollars,
    parse_size_fp,
    parse_total_fp,
    rfc3339_to_ms,
    show,
)

__all__ = [
    "API_PATH",
    "PROD_API_URL",
    "DEMO_API_URL",
    "Price",
    "Size",
    "Total",
    "Count",
    "Money",
    "Cents",
    "TimeMs",
    "KalshiAPIError",
    "KalshiResponseError",
    "RateLimited",
    "parse_error",
    "signing_path",
    "request_url",
    "decode",
    "ExchangeStatus",
    "ExchangeIndexStatus",
    "PriceRange",
    "Market",
    "MarketsPage",
    "MarketReply",
    "Event",
    "EventReply",
    "Series",
    "SeriesReply",
    "OrderBook",
    "OrderBookReply",
    "Trade",
    "TradesPage",
    "MarketPosition",
    "EventPosition",
    "PositionsPage",
    "Fill",
    "FillsPage",
    "Order",
    "OrdersPage",
    "OrderReply",
    "IndexedBalance",
    "Balance",
    "Settlement",
    "SettlementsPage",
    "QueuePosition",
    "QueuePositionsReply",
    "QueuePositionReply",
    "BucketLimit",
    "UsageGrant",
    "AccountLimits",
    "RateTier",
    "RATE_TIERS",
    "DEFAULT_COST",
    "TokenBucket",
    "Backoff",
    "next_cursor",
]

API_PATH: Final = "/trade-api/v2"
PROD_API_URL: Final = "https://external-api.kalshi.com" + API_PATH
"""Production REST base URL (REST.md 1.1); ``https://api.elections.kalshi.com/trade-api/v2`` serves the same."""
DEMO_API_URL: Final = "https://external-api.demo.kalshi.co" + API_PATH
"""Demo REST base URL (REST.md 1.1)."""


# --- units: int subclasses that msgspec hands to ``_dec_hook`` with the raw JSON value -----------------------------


class Price(int):
    """A price in 1/10,000 dollar ($0..$1 inclusive), from a dollar string."""


class Size(int):
    """A signed size in 1/100 contract, from a ``*_fp`` string (or the legacy integer count, where noted)."""


class Total(int):
    """A running total (volume, open interest) in 1/100 contract, never negative."""


class Count(int):
    """A contract count of an order (filled, remaining, reduced by) in 1/100 contract, never negative; from a
    ``FixedPointCount`` string."""


class Money(int):
    """Signed money in 1/1,000,000 dollar, from a dollar string of up to 6 decimals."""


class Cents(int):
    """Money in 1/1,000,000 dollar, from one of the legacy integer-cent fields (``balance``, ``revenue``)."""


class TimeMs(int):
    """Unix milliseconds, from an RFC 3339 date-time string."""


_CENT: Final = MONEY_SCALE // 100
_MAX_CENTS: Final = 10**14  # a trillion dollars


def _cents(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer number of cents, got {type(value).__name__} {show(value)}")
    if not -_MAX_CENTS <= value <= _MAX_CENTS:
        raise ValueError(f"cents {show(value)} are out of range")
    return value * _CENT


def _size(value: object) -> int:
    # *_fp are strings; the older integer fields (queue_position) are whole contracts.
    if type(value) is int:
        return count_to_size(value)
    if isinstance(value, str):
        return parse_size_fp(value)
    raise ValueError(f"expected a contract count string, got {type(value).__name__} {show(value)}")


def _string(parse: Callable[[str], int], what: str) -> Callable[[object], int]:
    def convert(value: object) -> int:
        if not isinstance(value, str):
            raise ValueError(f"expected a {what} string, got {type(value).__name__} {show(value)}")
        return parse(value)

    return convert


_CONVERTERS: dict[type, Callable[[object], int]] = {
    Price: _string(parse_price_dollars, "dollar"),
    Size: _size,
    Total: _string(parse_total_fp, "contract count"),
    Count: _string(parse_total_fp, "contract count"),
    Money: _string(parse_money_dollars, "dollar"),
    Cents: _cents,
    TimeMs: _string(rfc3339_to_ms, "RFC 3339 date-time"),
}


def _dec_hook(kind: type, value: object) -> Any:
    convert = _CONVERTERS.get(kind)
    if convert is None:  # pragma: no cover - every custom type of the models is in _CONVERTERS
        raise NotImplementedError(f"no decoder for {kind!r}")
    return kind(convert(value))


# --- errors ---------------------------------------------------------------------------------------------------------

_RAW_LIMIT: Final = 2_000


class KalshiAPIError(Exception):
    """Kalshi answered with an error status. ``code`` is Kalshi's (``"not_found"``, ``"invalid_order"``, or ``""``
    when the body had none), ``raw`` the body as received (cut to 2,000 characters) for the log; no secret is ever in
    it (request headers are not)."""

    def __init__(self, status: int, code: str, message: str, details: str = "", raw: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.raw = raw
        text = f"HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if details:
            text += f" ({details})"
        super().__init__(text)

    def has_code(self, prefix: str) -> bool:
        """Prefix match on the code: Kalshi embeds ids in some (``user_not_found:_<uuid>``, REST.md 1.4)."""
        return self.code.startswith(prefix)


class RateLimited(KalshiAPIError):
    """HTTP 429: the request was not processed (REST.md 5); Kalshi sends no ``Retry-After``."""


class KalshiResponseError(Exception):
    """A successful reply could not be read: not JSON, the wrong shape, or a value out of range. The message names the
    request and the field; it quotes at most the first 40 characters of a bad value."""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def parse_error(status: int, body: bytes) -> KalshiAPIError:
    """The exception for an error reply ``status`` with ``body``, whatever shape the body has (REST.md 1.4)."""
    raw = body[:_RAW_LIMIT].decode("utf-8", "replace")
    code = message = details = ""
    try:
        doc: object = msgspec.json.decode(body) if body.strip() else None
    except msgspec.DecodeError:
        doc = None
        message = " ".join(raw.split())[:200]  # an HTML page or plain text: its text, on one line
    if isinstance(doc, dict):
        inner = doc.get("error", doc)
        if isinstance(inner, dict):
            code = _text(inner.get("code"))
            message = _text(inner.get("message", inner.get("msg", inner.get("error"))))
            details = _text(inner.get("details"))
        else:  # {"error": "too many requests"}
            message = _text(inner)
    elif doc is not None:
        message = _text(doc)
    cls = RateLimited if status == 429 else KalshiAPIError
    return cls(status, code, message, details, raw)


# --- the request line and what is signed -----------------------------------------------------------------------------

Params = Mapping[str, str | int | bool | None]


def signing_path(base_url: str, endpoint: str) -> str:
    """The path the signature covers: the base URL's path (``/trade-api/v2``) and the endpoint, never the query.

    ``signing_path("https://h/trade-api/v2", "/portfolio/orders?status=resting")`` is
    ``"/trade-api/v2/portfolio/orders"``; the signed message is ``timestamp + METHOD + path`` (REST.md 1.2)."""
    path = urlsplit(base_url).path.rstrip("/") + "/" + endpoint.lstrip("/")
    return path.split("?", 1)[0]


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def request_url(base_url: str, endpoint: str, params: Params | None = None) -> str:
    """The full URL: base URL, endpoint, and the query from ``params`` (``None`` values left out, booleans as
    ``true``/``false``, values URL-encoded: cursors are opaque)."""
    url = base_url.rstrip("/") + "/" + endpoint.lstrip("/")
    query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
    return url + "?" + urlencode(query) if query else url


# --- models ---------------------------------------------------------------------------------------------------------


class _Model(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ExchangeIndexStatus(_Model, frozen=True, kw_only=True):
    exchange_index: int
    description: str = ""
    exchange_active: bool
    trading_active: bool
    intra_exchange_transfers_active: bool | None = None


class ExchangeStatus(_Model, frozen=True, kw_only=True):
    """``GET /exchange/status`` (REST.md 2.4): the top level is shard 0."""

    exchange_active: bool
    trading_active: bool
    intra_exchange_transfers_active: bool | None = None
    exchange_estimated_resume_time: TimeMs | None = None
    exchange_index_statuses: list[ExchangeIndexStatus] = []


class PriceRange(_Model, frozen=True, kw_only=True):
    start: Price
    end: Price
    step: Price


class Market(_Model, frozen=True, kw_only=True):
    """A market (REST.md 2.1). ``status`` is the market's own vocabulary (``active``, ``closed``, ``determined``,
    ...), not the filter's. Prices in 1/10,000 $, sizes and totals in 1/100 contract, times in Unix ms."""

    ticker: str
    event_ticker: str
    market_type: str
    status: str
    yes_sub_title: str = ""
    no_sub_title: str = ""
    title: str = ""
    created_time: TimeMs | None = None
    updated_time: TimeMs | None = None
    open_time: TimeMs
    close_time: TimeMs
    latest_expiration_time: TimeMs
    expected_expiration_time: TimeMs | None = None
    settlement_timer_seconds: int
    can_close_early: bool
    notional_value_dollars: Price
    yes_bid_dollars: Price
    yes_ask_dollars: Price
    no_bid_dollars: Price
    no_ask_dollars: Price
    yes_bid_size_fp: Total
    yes_ask_size_fp: Total
    last_price_dollars: Price
    previous_yes_bid_dollars: Price
    previous_yes_ask_dollars: Price
    previous_price_dollars: Price
    volume_fp: Total
    volume_24h_fp: Total
    open_interest_fp: Total
    result: str
    settlement_value_dollars: Price | None = None
    settlement_ts: TimeMs | None = None
    settlement_bounds_type: str = "default"
    settlement_floor_dollars: Price | None = None
    expiration_value: str = ""
    strike_type: str = ""
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    rules_primary: str = ""
    rules_secondary: str = ""
    price_level_structure: str
    price_ranges: list[PriceRange]
    fee_waiver_expiration_time: TimeMs | None = None
    exchange_index: int = 0


class MarketsPage(_Model, frozen=True, kw_only=True):
    markets: list[Market]
    cursor: str | None = None


class MarketReply(_Model, frozen=True, kw_only=True):
    market: Market


class Event(_Model, frozen=True, kw_only=True):
    """An event (REST.md 2.2), with its markets when asked with ``with_nested_markets``."""

    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    collateral_return_type: str
    mutually_exclusive: bool
    category: str = ""
    strike_date: TimeMs | None = None
    strike_period: str | None = None
    markets: list[Market] = []
    last_updated_ts: TimeMs | None = None
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None
    exchange_index: int = 0


class EventReply(_Model, frozen=True, kw_only=True):
    event: Event
    markets: list[Market] = []  # deprecated top-level copy (REST.md 2.2)


class Series(_Model, frozen=True, kw_only=True):
    """A series (REST.md 2.2): ``fee_multiplier`` is a JSON number, kept exact as a ``Decimal``."""

    ticker: str
    frequency: str
    title: str
    category: str
    categories: list[str] = []
    tags: list[str] | None = None
    contract_url: str = ""
    contract_terms_url: str = ""
    fee_type: str
    fee_multiplier: Decimal
    additional_prohibitions: list[str] | None = None
    volume_fp: Total | None = None
    last_updated_ts: TimeMs | None = None
    exchange_index: int = 0


class SeriesReply(_Model, frozen=True, kw_only=True):
    series: Series


Level = tuple[Price, Total]


class OrderBook(_Model, frozen=True, kw_only=True):
    """``GET /markets/{ticker}/orderbook``: bids only, both legs (REST.md 2.3). ``yes_dollars`` are YES bids,
    ``no_dollars`` NO bids (a NO bid at q is a YES ask at 1 - q), each ``(price, size)`` as Kalshi sent them,
    ascending (best last). ``[]``, ``null`` or an absent side are all an empty side."""

    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None

    def yes_bids(self) -> list[Level]:
        """YES bids, best (highest) first."""
        return sorted(self.yes_dollars or (), reverse=True)

    def no_bids(self) -> list[Level]:
        """NO bids, best (highest) first."""
        return sorted(self.no_dollars or (), reverse=True)


class OrderBookReply(_Model, frozen=True, kw_only=True):
    orderbook_fp: OrderBook


class Trade(_Model, frozen=True, kw_only=True):
    """A public trade (``GET /markets/trades``, REST.md 2.4). ``taker_outcome_side`` is the outcome the taker is
    positioned for (``yes``/``no``), ``taker_book_side`` the same bit as ``bid``/``ask``; ``created_time`` Unix ms."""

    trade_id: str
    ticker: str
    count_fp: Size
    yes_price_dollars: Price
    no_price_dollars: Price
    taker_outcome_side: str
    taker_book_side: str
    taker_side: str = ""  # deprecated
    created_time: TimeMs
    is_block_trade: bool


class TradesPage(_Model, frozen=True, kw_only=True):
    trades: list[Trade]
    cursor: str | None = None


class MarketPosition(_Model, frozen=True, kw_only=True):
    """A market position (REST.md 3.3): ``position_fp`` signed, + YES / - NO; ``market_exposure_dollars`` is the
    WebSocket's ``position_cost_dollars``."""

    ticker: str
    exchange_index: int = 0
    position_fp: Size
    market_exposure_dollars: Money
    total_traded_dollars: Money
    realized_pnl_dollars: Money
    fees_paid_dollars: Money
    last_updated_ts: TimeMs | None = None


class EventPosition(_Model, frozen=True, kw_only=True):
    event_ticker: str
    total_cost_dollars: Money
    total_cost_shares_fp: Size
    event_exposure_dollars: Money
    realized_pnl_dollars: Money
    fees_paid_dollars: Money


class PositionsPage(_Model, frozen=True, kw_only=True):
    market_positions: list[MarketPosition] | None = None
    event_positions: list[EventPosition] | None = None
    cursor: str | None = None


class Fill(_Model, frozen=True, kw_only=True):
    """One of the user's fills (REST.md 3.2). ``fill_id`` is the trade id; no ``client_order_id`` (join by
    ``order_id``). ``ts`` is the legacy Unix-seconds time, ``created_time`` Unix ms."""

    fill_id: str
    trade_id: str = ""
    order_id: str
    ticker: str
    outcome_side: str
    book_side: str
    count_fp: Size
    yes_price_dollars: Price
    no_price_dollars: Price
    is_taker: bool
    fee_cost: Money
    created_time: TimeMs | None = None
    ts: int | None = None
    exchange_index: int = 0
    subaccount_number: int | None = None


class FillsPage(_Model, frozen=True, kw_only=True):
    fills: list[Fill]
    cursor: str | None = None


class Order(_Model, frozen=True, kw_only=True):
    """An order (REST.md 3.1). ``status``: ``resting`` / ``canceled`` / ``executed``; fill + remaining <= initial."""

    order_id: str
    user_id: str = ""
    client_order_id: str = ""
    ticker: str
    outcome_side: str
    book_side: str
    type: str = "limit"
    status: str
    yes_price_dollars: Price
    no_price_dollars: Price
    fill_count_fp: Size
    remaining_count_fp: Size
    initial_count_fp: Size
    taker_fill_cost_dollars: Money
    maker_fill_cost_dollars: Money
    taker_fees_dollars: Money
    maker_fees_dollars: Money
    expiration_time: TimeMs | None = None
    created_time: TimeMs | None = None
    last_update_time: TimeMs | None = None
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool = False
    subaccount_number: int | None = None
    exchange_index: int = 0


class OrdersPage(_Model, frozen=True, kw_only=True):
    orders: list[Order]
    cursor: str | None = None


class OrderReply(_Model, frozen=True, kw_only=True):
    order: Order


class IndexedBalance(_Model, frozen=True, kw_only=True):
    exchange_index: int
    balance: Money


class Balance(_Model, frozen=True, kw_only=True):
    """``GET /portfolio/balance`` (REST.md 3.4): ``balance`` (available) and ``portfolio_value`` come as integer
    cents and are money units here; ``updated_ts`` Unix seconds."""

    balance: Cents
    balance_dollars: Money | None = None
    portfolio_value: Cents
    updated_ts: int
    balance_breakdown: list[IndexedBalance] = []


class Settlement(_Model, frozen=True, kw_only=True):
    """A settlement row (REST.md 3.5): ``revenue`` and ``value`` come as integer cents, money units here."""

    ticker: str
    event_ticker: str
    exchange_index: int = 0
    market_result: str
    yes_count_fp: Size
    yes_total_cost_dollars: Money
    no_count_fp: Size
    no_total_cost_dollars: Money
    revenue: Cents
    settled_time: TimeMs
    fee_cost: Money
    value: Cents | None = None


class SettlementsPage(_Model, frozen=True, kw_only=True):
    settlements: list[Settlement]
    cursor: str | None = None


class QueuePosition(_Model, frozen=True, kw_only=True):
    """Contracts ahead of a resting order at its price (REST.md 3.6); 0 = first in line."""

    order_id: str
    market_ticker: str
    queue_position_fp: Size


class QueuePositionsReply(_Model, frozen=True, kw_only=True):
    queue_positions: list[QueuePosition] | None = None


class QueuePositionReply(_Model, frozen=True, kw_only=True):
    queue_position_fp: Size | None = None
    queue_position: Size | None = None  # older specs: an integer count

    @property
    def size(self) -> int:
        value = self.queue_position_fp if self.queue_position_fp is not None else self.queue_position
        if value is None:
            raise ValueError("the reply has neither queue_position_fp nor queue_position")
        return value


class BucketLimit(_Model, frozen=True, kw_only=True):
    refill_rate: int
    bucket_capacity: int


class UsageGrant(_Model, frozen=True, kw_only=True):
    exchange_instance: str
    level: str
    source: str
    expires_ts: int | None = None


class AccountLimits(_Model, frozen=True, kw_only=True):
    """``GET /account/limits`` (REST.md 3.7): the live budget, in tokens per second and tokens."""

    usage_tier: str
    read: BucketLimit
    write: BucketLimit
    grants: list[UsageGrant] = []


M = TypeVar("M")

_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def decode(kind: type[M], body: bytes, what: str = "reply") -> M:
    """Decode ``body`` as ``kind``; :class:`KalshiResponseError` naming ``what`` (e.g. ``"GET /markets"``) and the
    field when it is not JSON, has the wrong shape or holds a value off its grid or out of range."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind, dec_hook=_dec_hook)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise KalshiResponseError(f"{what}: unexpected reply: {exc}") from None
    except msgspec.DecodeError:
        start = " ".join(body[:60].decode("utf-8", "replace").split())
        raise KalshiResponseError(f"{what}: the reply is not JSON ({len(body)} bytes: {start!r})") from None


# --- the rate budget (REST.md 5) -------------------------------------------------------------------------------------

DEFAULT_COST: Final = 10
"""Tokens a request costs unless ``/account/endpoint_costs`` says otherwise (``GET /portfolio/orders/{id}``: 2)."""


@dataclass(frozen=True)
class RateTier:
    """A usage tier's budget: tokens per second and bucket capacity, for reads and writes."""

    name: str
    read_rate: int
    read_capacity: int
    write_rate: int
    write_capacity: int


RATE_TIERS: Final[dict[str, RateTier]] = {
    t.name: t
    for t in (
        RateTier("basic", 200, 400, 100, 100),
        RateTier("advanced", 300, 600, 300, 600),
        RateTier("expert", 600, 600, 600, 1200),
        RateTier("premier", 1000, 1000, 1000, 2000),
        RateTier("paragon", 2000, 2000, 2000, 4000),
        RateTier("prime", 4000, 4000, 4000, 8000),
        RateTier("prestige", 10000, 10000, 8000, 16000),
    )
}
"""REST.md 5's table (capacity = rate x the documented seconds). Always prefer the live ``/account/limits``."""


class TokenBucket:
    """A local token bucket: ``rate`` tokens per second up to ``capacity``; pure, the caller passes the time.

    ``reserve(cost, now)`` takes ``cost`` tokens and returns how many seconds to wait before sending (0.0 when they
    are there). The balance may go negative: a reservation is a place in line, so concurrent callers are served in
    order and the long-run rate never exceeds ``rate``. ``drain(now)`` empties it (after a 429: the server's bucket
    is empty, ours was wrong). A cost above the capacity is allowed (it waits for a full bucket and then some)."""

    __slots__ = ("rate", "capacity", "_tokens", "_at")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"token bucket rate {rate!r} and capacity {capacity!r} must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def reserve(self, cost: float, now: float) -> float:
        self._refill(now)
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def drain(self, now: float) -> None:
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)

    def reconfigure(self, rate: float, capacity: float, now: float) -> None:
        """New limits (from ``/account/limits``) without a fresh burst: the balance is kept, capped at the new
        capacity."""
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"token bucket rate {rate!r} and capacity {capacity!r} must be positive")
        self._refill(now)
        self.rate, self.capacity = float(rate), float(capacity)
        self._tokens = min(self._tokens, self.capacity)


@dataclass(frozen=True)
class Backoff:
    """Capped full-jitter backoff: the n-th retry (n = 0, 1, ...) waits ``uniform(0, min(cap, base * 2**n))``
    seconds, at most ``retries`` times (REST.md 5's recipe)."""

    base: float = 0.1
    cap: float = 5.0
    retries: int = 5

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * math.ldexp(1.0, min(attempt, 60))))


def next_cursor(cursor: str | None) -> str | None:
    """The cursor for the next page, ``None`` on the last page (empty string, null or absent: REST.md 1.5)."""
    return cursor or None
