"""kalshi-sdk 22.4.0 against the simulator's REST API (``bench/sdk_rest_check.py``), and the fields it needs.

The SDK run skips unless ``KALSHI_SDK_PYTHON`` names a Python >= 3.12 with kalshi-sdk 22.4.0 installed (nothing is
installed at test time); every read is required, the public trades included. The field check always runs:
kalshi-sdk's pydantic models require fields that ``openapi.yaml`` no longer lists (``liquidity_dollars`` on a market,
the legacy ``side``/``action`` on fills and orders); without them every market, fill and order read of the SDK failed
with a ValidationError.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from bench.sdk_rest_check import check
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.auth import auth_headers
from market_making_bot.simulator.units import now_ms


async def test_the_fields_kalshi_sdk_requires_are_sent() -> None:
    config = SimulatorConfig(rate=20_000, markets=2, start_paused=True, ping_interval=None)
    async with ExchangeSimulator(config) as sim, aiohttp.ClientSession() as session:
        sim.model.activate_user()
        for _ in range(200_000):
            sim.fanout.dispatch(sim.model.step())
            if sim.model.fill_log and any(m.user and m.user.resting for m in sim.model.market_list):
                break
        assert sim.private_key is not None

        async def get(path: str) -> dict[str, object]:
            headers = auth_headers("k", sim.private_key, now_ms(), "/trade-api/v2" + path)  # type: ignore[arg-type]
            async with session.get(sim.api_url + path, headers=headers) as r:
                assert r.status == 200
                body: dict[str, object] = await r.json()
                return body

        markets = (await get("/markets"))["markets"]
        fills = (await get("/portfolio/fills"))["fills"]
        orders = (await get("/portfolio/orders"))["orders"]
    assert isinstance(markets, list) and isinstance(fills, list) and isinstance(orders, list) and fills and orders
    assert all(m["liquidity_dollars"] == "0.0000" for m in markets)
    for item in fills + orders:
        assert item["side"] == item["outcome_side"] and item["action"] == "buy"


@pytest.mark.skipif(not os.environ.get("KALSHI_SDK_PYTHON"), reason="KALSHI_SDK_PYTHON names no kalshi-sdk Python")
async def test_kalshi_sdk_reads_everything_from_the_simulator(tmp_path: Path) -> None:
    results = {name: (ok, detail) for name, ok, detail in await check(os.environ["KALSHI_SDK_PYTHON"], tmp_path)}
    assert all(ok for ok, _d in results.values()), results
    assert set(results) == {
        "exchange status",
        "markets",
        "market",
        "trades",  # GET /markets/trades: the ticker's public trades, newest first, equal to the simulator's
        "order book",
        "balance",
        "positions",
        "fills",
        "orders",
        "create_v2",  # POST /portfolio/events/orders (V2), then the simulator holds exactly one order with its coid
        "cancel_v2",  # DELETE /portfolio/events/orders/{id}: reduced by the whole count, canceled
    }
