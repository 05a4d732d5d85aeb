"""The ``transport`` fixture: the focused connection tests (handshake, 401, pings and their timeout, stall,
disconnect and reconnect, gap resync, malformed frame, size limit, redaction) run once over each WebSocket
transport (``market_making_bot.runtime.transport``). ``MM_WS_TRANSPORTS=websockets`` (comma-separated) narrows it."""

from __future__ import annotations

import os

import pytest

from market_making_bot.runtime.transport import available_transports

_WANTED = [t for t in os.environ.get("MM_WS_TRANSPORTS", "").split(",") if t]
TRANSPORT_NAMES = [t for t in ("websockets", "aiohttp", "picows") if not _WANTED or t in _WANTED]


@pytest.fixture(params=TRANSPORT_NAMES)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name not in available_transports():
        pytest.skip(f"WebSocket transport {name} is not installed")
    return name
