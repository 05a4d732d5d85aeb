"""Kalshi's V2 order entry, pure: the requests (built from integer units), the replies (decoded to integer units).

Reference: ``../shared/kalshi/REST.md`` section 4 and ``openapi.yaml`` (``CreateOrderV2Request`` and the schemas
after it). V1 order writes are gone (HTTP 410): nothing here speaks V1.

**Requests** are frozen msgspec structs holding the project's units (``market_making_bot.units``): ``price`` in
1/10,000 dollar (on the YES leg: ``side`` ``bid`` buys YES, ``ask`` sells YES, i.e. buys NO at 1 - price), counts in
1/100 contract. They check their values when built (``ValueError`` naming the field: a price outside
$0.0001..$0.9999, a count that is not positive, ``reduce_only`` without ``immediate_or_cancel``, an expiry with
``immediate_or_cancel``, a subaccount outside 0..63, a ``client_order_id`` longer than 64 characters or with a
character outside ``[-\\w:+=/]``), and ``body()`` gives the JSON Kalshi expects: prices as 4-decimal strings
(``"0.5600"``), counts as 2-decimal strings (``"10.00"``), absent options left out.

**Replies** decode with :func:`market_making_bot.kalshi.rest.decode` (so a bad reply is one
``KalshiResponseError`` naming the field): counts become non-negative sizes, ``ts_ms`` must be a time between 2000
and 2100, ``average_fill_price`` and ``average_fee_paid`` are *money* units (1/1,000,000 dollar): a volume-weighted
average need not sit on the 1/10,000 price grid.

A create reply has no status (REST.md 4.3): :meth:`CreateOrderReply.status` derives it (``remaining > 0`` resting;
``remaining == 0`` and everything filled: executed; otherwise canceled: the IOC/FOK remainder, STP, reduce-only cap).

Write costs (tokens of the Write bucket, REST.md 5) are in :data:`WRITE_COSTS`.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Final

import msgspec

from market_making_bot.kalshi.rest import Count, Money
from market_making_bot.units import MAX_SIZE, PRICE_SCALE, TS_MS_MAX, TS_MS_MIN, price_str, size_str

__all__ = [
    "BookSide",
    "TimeInForce",
    "SelfTradePrevention",
    "OrderStatus",
    "WRITE_COSTS",
    "MAX_CLIENT_ORDER_ID",
    "check_client_order_id",
    "CreateOrderRequest",
    "CreateOrderReply",
    "BatchCreateReply",
    "BatchCreateItem",
    "ErrorBody",
    "CancelRef",
    "CancelOrderReply",
    "BatchCancelReply",
    "BatchCancelItem",
    "AmendOrderRequest",
    "AmendOrderReply",
    "DecreaseOrderRequest",
    "DecreaseOrderReply",
    "CreateOrderGroupRequest",
    "CreateOrderGroupReply",
    "OrderGroupLimitRequest",
    "OrderGroup",
    "OrderGroupsReply",
    "OrderGroupReply",
    "EmptyReply",
    "batch_create_body",
    "batch_cancel_body",
]


class BookSide(enum.Enum):
    """The side on the YES leg: ``BID`` buys YES, ``ASK`` sells YES (= buys NO at 1 - price)."""

    BID = "bid"
    ASK = "ask"


class TimeInForce(enum.Enum):
    GOOD_TILL_CANCELED = "good_till_canceled"
    """Rests until filled or canceled; with ``expiration_time``, until then (good-till-time)."""
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    FILL_OR_KILL = "fill_or_kill"


class SelfTradePrevention(enum.Enum):
    TAKER_AT_CROSS = "taker_at_cross"
    """Cancel the incoming order where it would trade with one's own resting order (earlier fills stand)."""
    MAKER = "maker"
    """Cancel one's own resting order and keep matching the incoming one."""


class OrderStatus(enum.Enum):
    """Kalshi's order status (REST ``Order.status``, WebSocket ``user_order.status``; ``unknown`` is WS only)."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"
    UNKNOWN = "unknown"


WRITE_COSTS: Final[dict[str, int]] = {
    "create": 10,
    "batch_create_per_order": 10,
    "cancel": 2,
    "batch_cancel_per_order": 2,
    "cancel_all": 2,
    "amend": 10,
    "decrease": 10,
    "order_group": 10,
}
"""Write-bucket tokens per call (REST.md 4.1 and 5); order-group GETs are reads (10 read tokens)."""

MAX_CLIENT_ORDER_ID: Final = 64
_COID = re.compile(r"[-\w:+=/]+", re.ASCII)
_MAX_SUBACCOUNT: Final = 63

_TsMs = Annotated[int, msgspec.Meta(ge=TS_MS_MIN, le=TS_MS_MAX)]


def check_client_order_id(coid: str, what: str = "client_order_id") -> str:
    """``coid`` if Kalshi accepts it (1..64 characters of ``[-\\w:+=/]``, PROTOCOL.md 5.5), else ``ValueError``."""
    if not isinstance(coid, str) or not 0 < len(coid) <= MAX_CLIENT_ORDER_ID or _COID.fullmatch(coid) is None:
        shown = repr(coid[:40]) if isinstance(coid, str) else type(coid).__name__
        raise ValueError(f"{what} {shown} must be 1 to 64 characters of letters, digits and -_:+=/")
    return coid


def _check_price(price: int, what: str = "price") -> None:
    if type(price) is not int or not 0 < price < PRICE_SCALE:
        raise ValueError(f"{what} {price!r} must be an integer in 1..9999 (1/10,000 dollar, $0.0001..$0.9999)")


def _check_count(count: int, what: str, *, zero: bool = False) -> None:
    low = 0 if zero else 1
    if type(count) is not int or not low <= count <= MAX_SIZE:
        kind = "not negative" if zero else "positive"
        raise ValueError(f"{what} {count!r} must be a {kind} integer number of 1/100 contracts")


def _check_subaccount(subaccount: int | None) -> None:
    if subaccount is not None and (type(subaccount) is not int or not 0 <= subaccount <= _MAX_SUBACCOUNT):
        raise ValueError(f"subaccount {subaccount!r} must be an integer in 0..63")


def _check_exchange_index(index: int | None) -> None:
    if index is not None and (type(index) is not int or index < -1):
        raise ValueError(f"exchange_index {index!r} must be -1 (auto-route) or a shard number")


def _check_ticker(ticker: str, what: str = "ticker") -> None:
    if not isinstance(ticker, str) or not ticker or len(ticker) > 200 or ticker.strip() != ticker:
        raise ValueError(f"{what} {ticker!r} must be a non-empty market ticker")


def _encode(body: dict[str, Any]) -> bytes:
    return msgspec.json.encode({k: v for k, v in body.items() if v is not None})


# --- requests --------------------------------------------------------------------------------------------------------


class CreateOrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders`` (``CreateOrderV2Request``). ``price`` 1/10,000 $ on the YES leg, ``count``
    1/100 contract, ``expiration_time`` Unix seconds (with ``GOOD_TILL_CANCELED`` only)."""

    ticker: str
    side: BookSide
    price: int
    count: int
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    self_trade_prevention_type: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    expiration_time: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = False
    order_group_id: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        _check_ticker(self.ticker)
        if not isinstance(self.side, BookSide):
            raise ValueError(f"side {self.side!r} must be BookSide.BID or BookSide.ASK")
        if not isinstance(self.time_in_force, TimeInForce):
            raise ValueError(f"time_in_force {self.time_in_force!r} must be a TimeInForce")
        if not isinstance(self.self_trade_prevention_type, SelfTradePrevention):
            stp = self.self_trade_prevention_type
            raise ValueError(f"self_trade_prevention_type {stp!r} must be a SelfTradePrevention")
        _check_price(self.price)
        _check_count(self.count, "count")
        check_client_order_id(self.client_order_id)
        ioc = self.time_in_force is TimeInForce.IMMEDIATE_OR_CANCEL
        if self.expiration_time is not None:
            if type(self.expiration_time) is not int or not 0 < self.expiration_time <= TS_MS_MAX // 1000:
                raise ValueError(f"expiration_time {self.expiration_time!r} must be Unix seconds")
            if self.time_in_force is not TimeInForce.GOOD_TILL_CANCELED:
                raise ValueError("expiration_time needs time_in_force good_till_canceled")
        if self.reduce_only and not ioc:
            raise ValueError("reduce_only needs time_in_force immediate_or_cancel (Kalshi rejects it otherwise)")
        if self.post_only and self.time_in_force is not TimeInForce.GOOD_TILL_CANCELED:
            raise ValueError("post_only needs time_in_force good_till_canceled")
        if self.order_group_id is not None and not self.order_group_id:
            raise ValueError("order_group_id must not be empty")
        _check_subaccount(self.subaccount)
        _check_exchange_index(self.exchange_index)

    def wire(self) -> dict[str, Any]:
        """The JSON object (dollar and count strings; options left out when not set)."""
        return {
            k: v
            for k, v in {
                "ticker": self.ticker,
                "client_order_id": self.client_order_id,
                "side": self.side.value,
                "count": size_str(self.count),
                "price": price_str(self.price),
                "time_in_force": self.time_in_force.value,
                "self_trade_prevention_type": self.self_trade_prevention_type.value,
                "expiration_time": self.expiration_time,
                "post_only": self.post_only or None,
                "reduce_only": self.reduce_only or None,
                "cancel_order_on_pause": self.cancel_order_on_pause or None,
                "order_group_id": self.order_group_id,
                "subaccount": self.subaccount,
                "exchange_index": self.exchange_index,
            }.items()
            if v is not None
        }

    def body(self) -> bytes:
        return _encode(self.wire())


def batch_create_body(orders: list[CreateOrderRequest]) -> bytes:
    """``POST /portfolio/events/orders/batched``: ``{"orders": [...]}``; at least one order, client order ids
    unique within the batch."""
    if not orders:
        raise ValueError("a batch create needs at least one order")
    coids = [o.client_order_id for o in orders]
    if len(set(coids)) != len(coids):
        raise ValueError("client_order_id values in a batch must be unique")
    return msgspec.json.encode({"orders": [o.wire() for o in orders]})


class CancelRef(msgspec.Struct, frozen=True, kw_only=True):
    """One order of a batch cancel; ``market_ticker`` routes it to its shard (REST.md 1.7)."""

    order_id: str
    market_ticker: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.order_id, str) or not self.order_id:
            raise ValueError("order_id must not be empty")
        if self.market_ticker is not None:
            _check_ticker(self.market_ticker, "market_ticker")
        _check_subaccount(self.subaccount)
        _check_exchange_index(self.exchange_index)

    def wire(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "order_id": self.order_id,
                "subaccount": self.subaccount,
                "exchange_index": self.exchange_index,
                "market_ticker": self.market_ticker,
            }.items()
            if v is not None
        }


def batch_cancel_body(refs: list[CancelRef]) -> bytes:
    """``DELETE /portfolio/events/orders/batched`` (a DELETE with a JSON body)."""
    if not refs:
        raise ValueError("a batch cancel needs at least one order")
    return msgspec.json.encode({"orders": [r.wire() for r in refs]})


class AmendOrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders/{id}/amend``. ``count`` is the **new total** (already filled + desired
    remaining, REST.md 4.5), not the remaining. ``expiration_time``: ``None`` keeps it, 0 removes it."""

    ticker: str
    side: BookSide
    price: int
    count: int
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_time: int | None = None
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        _check_ticker(self.ticker)
        if not isinstance(self.side, BookSide):
            raise ValueError(f"side {self.side!r} must be BookSide.BID or BookSide.ASK")
        _check_price(self.price)
        _check_count(self.count, "count")
        if self.client_order_id is not None:
            check_client_order_id(self.client_order_id)
        if self.updated_client_order_id is not None:
            check_client_order_id(self.updated_client_order_id, "updated_client_order_id")
        if self.expiration_time is not None and (
            type(self.expiration_time) is not int or not 0 <= self.expiration_time <= TS_MS_MAX // 1000
        ):
            raise ValueError(f"expiration_time {self.expiration_time!r} must be Unix seconds (0: remove)")
        _check_exchange_index(self.exchange_index)

    def body(self) -> bytes:
        return _encode(
            {
                "ticker": self.ticker,
                "side": self.side.value,
                "price": price_str(self.price),
                "count": size_str(self.count),
                "client_order_id": self.client_order_id,
                "updated_client_order_id": self.updated_client_order_id,
                "expiration_time": self.expiration_time,
                "exchange_index": self.exchange_index,
            }
        )


class DecreaseOrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders/{id}/decrease``: exactly one of ``reduce_by`` / ``reduce_to`` (1/100
    contract); ``market_ticker`` routes it (REST.md 4.6). Keeps queue priority."""

    reduce_by: int | None = None
    reduce_to: int | None = None
    market_ticker: str | None = None
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        if (self.reduce_by is None) == (self.reduce_to is None):
            raise ValueError("give exactly one of reduce_by and reduce_to")
        if self.reduce_by is not None:
            _check_count(self.reduce_by, "reduce_by")
        if self.reduce_to is not None:
            _check_count(self.reduce_to, "reduce_to", zero=True)
        if self.market_ticker is not None:
            _check_ticker(self.market_ticker, "market_ticker")
        _check_exchange_index(self.exchange_index)

    def body(self) -> bytes:
        return _encode(
            {
                "reduce_by": None if self.reduce_by is None else size_str(self.reduce_by),
                "reduce_to": None if self.reduce_to is None else size_str(self.reduce_to),
                "market_ticker": self.market_ticker,
                "exchange_index": self.exchange_index,
            }
        )


class CreateOrderGroupRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /portfolio/order_groups/create``: at most ``contracts_limit`` (1/100 contract) matched in a rolling
    15 s window (REST.md 4.7)."""

    contracts_limit: int
    subaccount: int | None = None
    exchange_index: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.contracts_limit, "contracts_limit")
        _check_subaccount(self.subaccount)
        _check_exchange_index(self.exchange_index)

    def body(self) -> bytes:
        return _encode(
            {
                "contracts_limit_fp": size_str(self.contracts_limit),
                "subaccount": self.subaccount,
                "exchange_index": self.exchange_index,
            }
        )


class OrderGroupLimitRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``PUT /portfolio/order_groups/{id}/limit``."""

    contracts_limit: int

    def __post_init__(self) -> None:
        _check_count(self.contracts_limit, "contracts_limit")

    def body(self) -> bytes:
        return _encode({"contracts_limit_fp": size_str(self.contracts_limit)})


# --- replies ---------------------------------------------------------------------------------------------------------


class _Reply(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ErrorBody(_Reply, frozen=True, kw_only=True):
    """The error of one item of a batch (``ErrorResponse``)."""

    code: str = ""
    message: str = ""
    details: str = ""


class CreateOrderReply(_Reply, frozen=True, kw_only=True):
    """The create reply (``CreateOrderV2Response``): the immediate fills, the resting remainder, engine time."""

    order_id: str
    client_order_id: str = ""
    fill_count: Count
    remaining_count: Count
    average_fill_price: Money | None = None
    average_fee_paid: Money | None = None
    ts_ms: _TsMs

    def status(self, count: int) -> OrderStatus:
        """The status this reply means for an order of ``count`` (REST.md 4.3)."""
        if self.remaining_count > 0:
            return OrderStatus.RESTING
        return OrderStatus.EXECUTED if self.fill_count >= count else OrderStatus.CANCELED


class BatchCreateItem(_Reply, frozen=True, kw_only=True):
    """Item *i* of a batch create reply: the order's answer, or ``error`` (then no ``ts_ms``)."""

    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: Count | None = None
    remaining_count: Count | None = None
    average_fill_price: Money | None = None
    average_fee_paid: Money | None = None
    ts_ms: _TsMs | None = None
    error: ErrorBody | None = None

    def reply(self) -> CreateOrderReply | None:
        """The item as a create reply, ``None`` if it is an error (or lacks what a reply needs)."""
        if (
            self.error is not None
            or self.order_id is None
            or self.fill_count is None
            or self.remaining_count is None
            or self.ts_ms is None
        ):
            return None
        return CreateOrderReply(
            order_id=self.order_id,
            client_order_id=self.client_order_id or "",
            fill_count=self.fill_count,
            remaining_count=self.remaining_count,
            average_fill_price=self.average_fill_price,
            average_fee_paid=self.average_fee_paid,
            ts_ms=self.ts_ms,
        )


class BatchCreateReply(_Reply, frozen=True, kw_only=True):
    orders: list[BatchCreateItem]


class CancelOrderReply(_Reply, frozen=True, kw_only=True):
    """``CancelOrderV2Response``: ``reduced_by`` = the remaining size at cancel time."""

    order_id: str
    client_order_id: str = ""
    reduced_by: Count
    ts_ms: _TsMs


class BatchCancelItem(_Reply, frozen=True, kw_only=True):
    order_id: str
    client_order_id: str | None = None
    reduced_by: Count
    ts_ms: _TsMs | None = None
    error: ErrorBody | None = None


class BatchCancelReply(_Reply, frozen=True, kw_only=True):
    orders: list[BatchCancelItem]


class AmendOrderReply(_Reply, frozen=True, kw_only=True):
    """``AmendOrderV2Response``: counts only when something filled or the resting size changed."""

    order_id: str
    client_order_id: str = ""
    remaining_count: Count | None = None
    fill_count: Count | None = None
    average_fill_price: Money | None = None
    average_fee_paid: Money | None = None
    ts_ms: _TsMs


class DecreaseOrderReply(_Reply, frozen=True, kw_only=True):
    order_id: str
    client_order_id: str = ""
    remaining_count: Count
    ts_ms: _TsMs


class CreateOrderGroupReply(_Reply, frozen=True, kw_only=True):
    order_group_id: str
    subaccount: int = 0
    exchange_index: int = 0


class OrderGroup(_Reply, frozen=True, kw_only=True):
    id: str
    contracts_limit_fp: Count | None = None
    is_auto_cancel_enabled: bool
    exchange_index: int = 0


class OrderGroupsReply(_Reply, frozen=True, kw_only=True):
    order_groups: list[OrderGroup] | None = None


class OrderGroupReply(_Reply, frozen=True, kw_only=True):
    is_auto_cancel_enabled: bool
    contracts_limit_fp: Count | None = None
    orders: list[str] | None = None
    exchange_index: int = 0


class EmptyReply(_Reply, frozen=True, kw_only=True):
    """``{}`` (order-group delete, reset, trigger, limit); any fields are ignored."""
