"""The names of the WebSocket transports and which are installed, without importing any of them.

Split from :mod:`market_making_bot.runtime.transport` (which re-exports all of it) so that the command line can
offer ``--ws-transport`` and check its value without loading asyncio and the transport machinery: a ``--replay``
makes no connection and should not pay for them at startup.
"""

from __future__ import annotations

__all__ = ["ALL_ORDER", "AUTO_ORDER", "DEFAULT_TRANSPORT", "TRANSPORTS", "available_transports", "installed"]

TRANSPORTS = ("websockets", "aiohttp", "picows", "auto")
"""The names :func:`~market_making_bot.runtime.transport.get_transport` accepts (``--ws-transport``)."""
DEFAULT_TRANSPORT = "auto"
"""The transport used when none is named (``--ws-transport`` not given, ``transport=None``): ``auto``: picows when
the ``[fast]`` extra installed it (on the loopback benchmark it costs 28 to 39% less CPU per frame than websockets
and keeps the pace of 50,000 frames/s where websockets falls behind: README "Performance"), else websockets, the
default and the fallback. aiohttp (always installed: the REST client's library) is as fast as picows within 10%
and passes the same tests, but is used only when asked for (``--ws-transport aiohttp``): the listener's socket
library does not change under a user who did not ask for it."""
AUTO_ORDER = ("picows", "websockets")
"""``auto``: the first of these that imports."""
ALL_ORDER = ("picows", "aiohttp", "websockets")
"""Every transport, fastest first (by the loopback benchmark)."""


def installed(name: str) -> bool:
    """The library of transport ``name`` imports here (it is imported to find out)."""
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def available_transports() -> list[str]:
    """The transports whose library imports here, fastest first."""
    return [name for name in ALL_ORDER if installed(name)]
