"""A local Kalshi exchange that speaks the real WebSocket protocol (issue 3).

Independent of the listener: nothing here imports from the rest of ``market_making_bot``, so a
mistake in one is caught by the other. Public API::

    from market_making_bot.simulator import (
        ExchangeSimulator, FaultSpec, SimulatorConfig, generate_credentials)

    async with ExchangeSimulator(SimulatorConfig(markets=3, rate=200, duration=2)) as sim:
        sim.url            # ws://127.0.0.1:PORT/trade-api/ws/v2
        sim.truth()        # {"markets": {T: {"yes": [["0.4500", "100.00"], ...], "no": [...],
                           #                  "position": "10.00" or None}}, "faults": {...}, "fills": n}
        sim.faults.inject("disconnect")
        await sim.wait_quiet()

Modules, one idea each: ``server`` (lifecycle, the paced order flow, the connection handler),
``connection`` (one client's outbound queue, writer, pinger and the faults delivered on it),
``commands`` (the command protocol, free of I/O) with its vocabulary in ``subscriptions``,
``fanout`` (events to frames for every subscription), ``handshake`` (path, signed headers, keys),
``truth`` (the true state and its file), ``model`` (the order-flow generator) with ``book`` and
``events``, ``matching`` (the account's REST orders: order entry and matching, free of I/O), ``rest``
(the REST routes), ``wire`` (frame encoding), ``faults``, ``auth``, ``config``, ``units``, ``__main__`` (CLI).
"""

from market_making_bot.simulator.auth import auth_headers, generate_credentials, generate_private_key, sign
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.faults import KINDS as FAULT_KINDS
from market_making_bot.simulator.faults import FaultController, FaultSpec
from market_making_bot.simulator.model import ExchangeModel, kalshi_fee
from market_making_bot.simulator.server import WS_PATH, ExchangeSimulator

__all__ = [
    "FAULT_KINDS",
    "WS_PATH",
    "ExchangeModel",
    "ExchangeSimulator",
    "FaultController",
    "FaultSpec",
    "SimulatorConfig",
    "auth_headers",
    "generate_credentials",
    "generate_private_key",
    "kalshi_fee",
    "sign",
]
