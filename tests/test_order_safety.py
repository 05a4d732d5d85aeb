"""Orders go only to the project's simulator unless ``--live`` (``trading.safety``, ``market_making_bot.marker``).

The rule is pure; the mark is read over real loopback HTTP: the simulator's replies carry it, a plain server that
answers like Kalshi (same path, same body, no mark) does not, and is refused without ``--live``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from market_making_bot.marker import SIMULATOR_HEADER, SIMULATOR_MARK, is_simulator_mark
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.trading.safety import order_destination_refusal

from .keys import write_key


def test_the_rule() -> None:
    url = "http://127.0.0.1:9/trade-api/v2"
    assert order_destination_refusal(url, SIMULATOR_MARK, live=False) is None
    assert order_destination_refusal(url, "market_making_bot 9.9.9", live=False) is None
    reason = order_destination_refusal(url, None, live=False)
    assert reason is not None and url in reason and "--live" in reason and SIMULATOR_HEADER in reason
    assert order_destination_refusal(url, "kalshi", live=False) is not None
    assert order_destination_refusal(url, "market_making_botx", live=False) is not None
    assert order_destination_refusal(url, None, live=True) is None
    assert not is_simulator_mark("")


async def test_the_simulator_marks_its_replies(tmp_path: Path) -> None:
    sim = ExchangeSimulator(
        SimulatorConfig(public_key=write_key(tmp_path / "k.pem", "ed25519"), ping_interval=None, start_paused=True)
    )
    await sim.start()
    try:
        async with KalshiAPIClient(sim.api_url) as api:
            mark = await api.simulator_mark()
        assert mark == SIMULATOR_MARK
        assert order_destination_refusal(sim.api_url, mark, live=False) is None
    finally:
        await sim.stop()


async def test_a_server_without_the_mark_is_refused() -> None:
    """Kalshi's answer to ``GET /exchange/status``, from a local server: a local address proves nothing."""

    async def status(request: web.Request) -> web.Response:
        body = {"exchange_active": True, "trading_active": True, "exchange_estimated_resume_time": None}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/trade-api/v2/exchange/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/trade-api/v2"
    try:
        async with KalshiAPIClient(url) as api:
            mark = await api.simulator_mark()
        assert mark is None
        reason = order_destination_refusal(url, mark, live=False)
        assert reason is not None and "not the project's simulator" in reason
    finally:
        await runner.cleanup()


async def test_an_unreachable_server_is_a_connection_error() -> None:
    async with KalshiAPIClient("http://127.0.0.1:1/trade-api/v2") as api:
        with pytest.raises(KalshiConnectionError):
            await api.simulator_mark()
