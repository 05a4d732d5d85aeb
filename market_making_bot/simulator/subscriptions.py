"""A connection's subscriptions and what a command asks the connection to do (the vocabulary of :mod:`.commands`).

:class:`Subscription` is one live sid: its channel, market filter and ``seq`` (the fan-out numbers
data frames with it, the command protocol its acks and snapshots). The actions are what
:meth:`~.commands.CommandProtocol.receive` returns, in the order the connection carries them out.
:class:`Outbox`, :class:`CommandFaults` and :class:`MarketDirectory` are what the protocol is given:
where a subscription's frames go, the faults it consults, the markets it knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CHANNELS",
    "MARKET_FILTER_CHANNELS",
    "PRIVATE_CHANNELS",
    "Action",
    "Added",
    "CommandFaults",
    "MarketDirectory",
    "NoFaults",
    "Outbox",
    "Removed",
    "Reply",
    "SendSnapshot",
    "SendTicker",
    "Subscription",
    "UserWanted",
]

CHANNELS = (
    "orderbook_delta",
    "ticker",
    "trade",
    "fill",
    "market_positions",
    "market_lifecycle_v2",
    "multivariate_market_lifecycle",
    "communications",
    "order_group_updates",
    "user_orders",
    "cfbenchmarks_value",
    "cfbenchmarks_value_5hz",
    "pyth_value",
)
PRIVATE_CHANNELS = frozenset({"fill", "market_positions", "user_orders", "order_group_updates", "communications"})
MARKET_FILTER_CHANNELS = frozenset({"orderbook_delta", "ticker", "trade", "fill", "market_positions", "user_orders"})


class Outbox(Protocol):
    """Where a subscription's data frames go (the connection's outbound queue)."""

    def push(self, flags: int, sid: int, seq: int, frame: bytes) -> None: ...


class CommandFaults(Protocol):
    """The faults a command consults; each ``take_`` uses up one firing (see :mod:`.faults`)."""

    def take_deny_private(self) -> bool: ...

    def take_early_data(self) -> bool: ...


class NoFaults:
    def take_deny_private(self) -> bool:
        return False

    def take_early_data(self) -> bool:
        return False


@dataclass(frozen=True)
class MarketDirectory:
    """The markets a server lists: tickers in listing order and their ``market_id``."""

    tickers: Sequence[str]
    ids: Mapping[str, str]  # ticker -> market_id
    by_id: Mapping[str, str] = field(init=False)  # market_id -> ticker

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {i: t for t, i in self.ids.items()})


class Subscription:
    __slots__ = ("sid", "channel", "conn", "markets", "by_ids", "seq", "use_yes_price", "skip_ack")

    def __init__(
        self,
        sid: int,
        channel: str,
        conn: Outbox,
        markets: set[str] | None,
        *,
        by_ids: bool = False,
        use_yes_price: bool = False,
        skip_ack: bool = False,
    ) -> None:
        self.sid = sid
        self.channel = channel
        self.conn = conn
        self.markets = markets  # None: every market
        self.by_ids = by_ids
        self.seq = 0  # the seq of the last frame numbered on this sid
        self.use_yes_price = use_yes_price
        self.skip_ack = skip_ack


@dataclass(frozen=True)
class Reply:
    frame: bytes
    sid: int = 0  # with seq: the sid's numbered frame (the writer remembers the last seq sent)
    seq: int = 0


@dataclass(frozen=True)
class SendSnapshot:
    sub: Subscription
    ticker: str
    id_: int | None
    seq: int


@dataclass(frozen=True)
class SendTicker:
    sub: Subscription
    ticker: str


@dataclass(frozen=True)
class Added:
    sub: Subscription


@dataclass(frozen=True)
class Removed:
    sub: Subscription


@dataclass(frozen=True)
class UserWanted:
    channel: str


Action = Reply | SendSnapshot | SendTicker | Added | Removed | UserWanted
