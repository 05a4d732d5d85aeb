"""The mark by which the project's simulator tells itself apart from Kalshi (a leaf module: imports nothing).

Every HTTP reply of the simulator (REST and the WebSocket handshake) carries the header :data:`SIMULATOR_HEADER`
with the value ``market_making_bot <version>``. Kalshi never sends it. Order entry without ``--live`` checks for it
before the first write (``trading.safety``), so that a tunnel or proxy to Kalshi on a local address can never trade
real money by accident: the address alone proves nothing.
"""

from __future__ import annotations

from market_making_bot._version import __version__

__all__ = ["SIMULATOR_HEADER", "SIMULATOR_MARK", "is_simulator_mark"]

SIMULATOR_HEADER = "X-Kalshi-Simulator"
SIMULATOR_MARK = f"market_making_bot {__version__}"


def is_simulator_mark(value: str | None) -> bool:
    """Whether a header value is the project's simulator's mark (any version of it)."""
    return value is not None and value.split(" ", 1)[0] == "market_making_bot"
