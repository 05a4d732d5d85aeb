"""REST under ``/trade-api/v2`` (placeholder: routes come next)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from market_making_bot.simulator.server import ExchangeSimulator


class RestApi:
    def __init__(self, sim: ExchangeSimulator) -> None:
        self.sim = sim

    def add_routes(self, app: web.Application) -> None:
        pass
