"""The events one exchange action causes, in the order a client must see them (see :mod:`.model`).

Plain slotted objects, built once per action and read by the fan-out (:mod:`.fanout`) and the wire
encoder (:mod:`.wire`), which caches each event's encoded message in ``cache``.
"""

from __future__ import annotations

from typing import Any

from market_making_bot.simulator.book import Market, Side
from market_making_bot.simulator.units import CONTRACT, ONE


class BookDelta:
    """A signed change of the resting size at (side, price); price on that side's own scale."""

    __slots__ = ("market", "side", "price", "delta", "clock", "ts_ms", "client_order_id", "cache", "wire_ts")

    def __init__(
        self,
        market: Market,
        side: Side,
        price: int,
        delta: int,
        clock: int,
        ts_ms: int,
        client_order_id: str | None,
    ) -> None:
        self.market = market
        self.side = side
        self.price = price
        self.delta = delta
        self.clock = clock
        self.ts_ms = ts_ms
        self.client_order_id = client_order_id
        self.cache: dict[Any, bytes] = {}
        self.wire_ts: tuple[str, int] | None = None  # (ts, ts_ms) as sent, when not derived from ts_ms


class Trade:
    """A public trade. ``yes_price`` in price units; ``taker_side`` is the outcome the taker bought."""

    __slots__ = ("market", "trade_id", "yes_price", "count", "taker_side", "clock", "ts_ms", "cache")

    def __init__(
        self,
        market: Market,
        trade_id: str,
        yes_price: int,
        count: int,
        taker_side: Side,
        clock: int,
        ts_ms: int,
    ) -> None:
        self.market = market
        self.trade_id = trade_id
        self.yes_price = yes_price
        self.count = count
        self.taker_side = taker_side
        self.clock = clock
        self.ts_ms = ts_ms
        self.cache: dict[Any, bytes] = {}


class Fill:
    """A fill of the simulated user. ``side`` is the outcome the user bought."""

    __slots__ = (
        "market",
        "trade_id",
        "order_id",
        "client_order_id",
        "is_taker",
        "side",
        "yes_price",
        "count",
        "fee",
        "post_position",
        "ts_ms",
        "cache",
    )

    def __init__(
        self,
        market: Market,
        trade_id: str,
        order_id: str,
        client_order_id: str | None,
        is_taker: bool,
        side: Side,
        yes_price: int,
        count: int,
        fee: int,
        post_position: int,
        ts_ms: int,
    ) -> None:
        self.market = market
        self.trade_id = trade_id
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.is_taker = is_taker
        self.side = side
        self.yes_price = yes_price
        self.count = count
        self.fee = fee
        self.post_position = post_position
        self.ts_ms = ts_ms
        self.cache: dict[Any, bytes] = {}


class Position:
    """The simulated user's position in one market after a fill (money in micro-dollars)."""

    __slots__ = (
        "market",
        "position",
        "cost",
        "realized_pnl",
        "fees_paid",
        "position_fee_cost",
        "volume",
        "ts_ms",
        "cache",
    )

    def __init__(
        self,
        market: Market,
        position: int,
        cost: int,
        realized_pnl: int,
        fees_paid: int,
        position_fee_cost: int,
        volume: int,
        ts_ms: int,
    ) -> None:
        self.market = market
        self.position = position
        self.cost = cost
        self.realized_pnl = realized_pnl
        self.fees_paid = fees_paid
        self.position_fee_cost = position_fee_cost
        self.volume = volume
        self.ts_ms = ts_ms
        self.cache: dict[Any, bytes] = {}


class Ticker:
    """The market's ticker values at the moment of the action that produced it."""

    __slots__ = (
        "market",
        "last_price",
        "yes_bid",
        "yes_ask",
        "yes_bid_size",
        "yes_ask_size",
        "volume",
        "open_interest",
        "dollar_volume",
        "dollar_open_interest",
        "last_trade_size",
        "ts_ms",
        "cache",
    )

    def __init__(self, market: Market, ts_ms: int) -> None:
        yes_best = market.yes.best()
        no_best = market.no.best()
        self.market = market
        self.last_price = market.last_price
        self.yes_bid = yes_best if yes_best is not None else 0
        self.yes_bid_size = market.yes.totals[yes_best] if yes_best is not None else 0
        self.yes_ask = ONE - no_best if no_best is not None else ONE
        self.yes_ask_size = market.no.totals[no_best] if no_best is not None else 0
        self.volume = market.volume
        self.open_interest = market.open_interest
        self.dollar_volume = market.dollar_volume_micro // 1_000_000
        self.dollar_open_interest = market.open_interest * market.last_price // (CONTRACT * ONE)
        self.last_trade_size = market.last_trade_size
        self.ts_ms = ts_ms
        self.cache: dict[Any, bytes] = {}


class OrderUpdate:
    """A ``user_order`` snapshot of one of the account's orders (built by :mod:`.matching` when it changed)."""

    __slots__ = ("market", "body", "cache")

    def __init__(self, market: Market, body: dict[str, Any]) -> None:
        self.market = market
        self.body = body  # the frame's ``msg``, already in wire spelling (a copy: later changes do not leak in)
        self.cache: dict[Any, bytes] = {}


class GroupUpdate:
    """An ``order_group_updates`` event (``created|triggered|reset|deleted|limit_updated``); no market."""

    __slots__ = ("market", "body", "cache")

    def __init__(self, body: dict[str, Any]) -> None:
        self.market = None
        self.body = body
        self.cache: dict[Any, bytes] = {}


Event = BookDelta | Trade | Fill | Position | Ticker | OrderUpdate | GroupUpdate
