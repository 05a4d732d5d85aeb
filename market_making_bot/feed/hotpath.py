"""Which hot path ``Core.feed`` runs: the compiled one (``feed/_hotpath.c``: deltas, tickers, trades, fills,
positions) when it was built, else pure Python.

The C extension is built by ``pip install -e .`` wherever a C compiler is present (``setup.py``, an optional
extension: without a compiler the install goes on without it). ``MARKET_MAKING_BOT_PURE=1`` (any value but empty or
``0``) forces the pure-Python path, which stays the reference implementation: the compiled path must match it exactly,
frame by frame (tests/test_hotpath_twin.py), and hands every frame it does not know exactly back to it.

``frame`` is the compiled function ``Core.feed`` calls (deltas, tickers, trades, fills and positions; see the C
source for its contract), ``delta`` the delta-only one (kept for the tests), ``feeder`` the maker of a ``Core``'s
``feed`` (its simple case in C); all ``None`` on the pure path; ``COMPILED`` tells which.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from market_making_bot.kalshi.messages import Fill, MarketPosition, OrderbookDelta, Ticker, Trade
from market_making_bot.marketdata.orderbook import OrderBook, _Ladder
from market_making_bot.marketdata.state import MarketState, RecentIds, SpreadStats

__all__ = ["COMPILED", "PURE_ENV", "delta", "feeder", "frame", "path_name"]

PURE_ENV = "MARKET_MAKING_BOT_PURE"

delta: Callable[[str | bytes, int, dict[int, int], dict[str, Any], bool], Any] | None = None
frame: Callable[..., Any] | None = None
feeder: Callable[..., Any] | None = None

if os.environ.get(PURE_ENV, "") in ("", "0"):
    try:
        from market_making_bot.feed import _hotpath
    except ImportError:  # not built (no compiler): the pure path
        pass
    else:
        try:  # the classes whose slots the C code reads and writes (it checks each is a plain writable slot)
            _hotpath.setup(
                OrderbookDelta,
                MarketState,
                OrderBook,
                _Ladder,
                SpreadStats,
                Ticker,
                Trade,
                Fill,
                MarketPosition,
                RecentIds,
            )
        except TypeError:  # a class changed shape: the pure path (tests/test_hotpath_twin.py fails loudly then)
            pass
        else:
            delta = _hotpath.delta
            frame = _hotpath.frame
            feeder = _hotpath.feeder

COMPILED = delta is not None


def path_name() -> str:
    """``"compiled"`` or ``"pure"``, for the benchmarks and the logs."""
    return "compiled" if COMPILED else "pure"
