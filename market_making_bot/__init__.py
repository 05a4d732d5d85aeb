"""Kalshi market-data foundation for market makers: order books, the trade tape, your fills and positions, as one
stream of typed events, live, from recordings, or from the built-in exchange simulator.

The public API, in a few lines (see the README, "Library")::

    import market_making_bot as mmb

    for event in mmb.replay(["session.jsonl.gz"], kinds=[mmb.BookChanged]):
        ...
    async with mmb.simulate(markets=3) as feed:
        async for event in feed.events(mmb.TradeSeen):
            ...

Names are loaded on first use, so ``import market_making_bot`` stays cheap (the simulator and the command-line
programs import only what they use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # entry points
    "replay": "api",
    "connect": "api",
    "simulate": "api",
    "LiveFeed": "api",
    "Config": "config",
    "ConnectionPolicy": "client",
    "RecordingError": "recorder",
    # the feed and its state
    "Core": "core",
    "FeedProtocol": "feed_protocol",
    "Session": "session",
    "Health": "health",
    "MarketState": "state",
    "MarketDataState": "state",
    "OrderBook": "orderbook",
    # events
    "Event": "events",
    "EventBus": "events",
    "BookSnapshot": "events",
    "BookChanged": "events",
    "BookUsable": "events",
    "BookUnusable": "events",
    "TradeSeen": "events",
    "FillSeen": "events",
    "PositionChanged": "events",
    "TickerSeen": "events",
    "SequenceProblemSeen": "events",
    "FrameRejected": "events",
    "HandlerFailed": "events",
    "ControlReply": "events",
    "UnknownFrame": "events",
    "ConnectionUp": "events",
    "ConnectionDown": "events",
    "Notice": "events",
    "NoticeKind": "events",
    "HealthReport": "events",
    # units: integer prices (1/10,000 $), sizes (1/100 contract), money (1/1,000,000 $)
    "PRICE_SCALE": "units",
    "SIZE_SCALE": "units",
    "price_str": "units",
    "size_str": "units",
}

__all__ = [
    "__version__",
    "replay",
    "connect",
    "simulate",
    "LiveFeed",
    "Config",
    "ConnectionPolicy",
    "RecordingError",
    "Core",
    "FeedProtocol",
    "Session",
    "Health",
    "MarketState",
    "MarketDataState",
    "OrderBook",
    "Event",
    "EventBus",
    "BookSnapshot",
    "BookChanged",
    "BookUsable",
    "BookUnusable",
    "TradeSeen",
    "FillSeen",
    "PositionChanged",
    "TickerSeen",
    "SequenceProblemSeen",
    "FrameRejected",
    "HandlerFailed",
    "ControlReply",
    "UnknownFrame",
    "ConnectionUp",
    "ConnectionDown",
    "Notice",
    "NoticeKind",
    "HealthReport",
    "PRICE_SCALE",
    "SIZE_SCALE",
    "price_str",
    "size_str",
]  # the names of _EXPORTS (a test checks)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'market_making_bot' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .api import LiveFeed, connect, replay, simulate
    from .client import ConnectionPolicy
    from .config import Config
    from .core import Core
    from .events import (
        BookChanged,
        BookSnapshot,
        BookUnusable,
        BookUsable,
        ConnectionDown,
        ConnectionUp,
        ControlReply,
        Event,
        EventBus,
        FillSeen,
        FrameRejected,
        HandlerFailed,
        HealthReport,
        Notice,
        NoticeKind,
        PositionChanged,
        SequenceProblemSeen,
        TickerSeen,
        TradeSeen,
        UnknownFrame,
    )
    from .feed_protocol import FeedProtocol
    from .health import Health
    from .orderbook import OrderBook
    from .recorder import RecordingError
    from .session import Session
    from .state import MarketDataState, MarketState
    from .units import PRICE_SCALE, SIZE_SCALE, price_str, size_str
