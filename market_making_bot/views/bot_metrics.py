"""The bot's Prometheus metrics (``mm-bot --metrics-port N``), next to the listener's ``kalshi_*`` families.

Read at scrape time from the bot's summary (``runtime.bot.Bot.summary``: the same figures as ``--summary-json``),
on the event loop that owns the bot (see ``views.metrics.KalshiCollector``). Money and sizes are exact decimal strings
in the summary; they become floats only here, in the exposition format. Families (``kalshi_bot_*``):

* ``kalshi_bot_orders_total{market}``, ``kalshi_bot_fills_total{market}``: creates sent and the bot's fills;
* ``kalshi_bot_position_contracts{market}``: signed position (+ YES, - NO);
* ``kalshi_bot_pnl_dollars{market, part}``: ``realized``, ``unrealized``, ``fees``, ``total`` (marked at the mid);
* ``kalshi_bot_writes_total{kind}``: ``sent``, ``amended``, ``cancelled``, ``rejected``, ``unknown``;
* ``kalshi_bot_refusals_total{rule}``: creates refused by each risk rule;
* ``kalshi_bot_halted``: 1 once quoting stopped (max-loss, stop, kill switch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["BOT_METRIC_NAMES", "BotCollector"]

BOT_METRIC_NAMES: tuple[str, ...] = (
    "kalshi_bot_orders",
    "kalshi_bot_fills",
    "kalshi_bot_position_contracts",
    "kalshi_bot_pnl_dollars",
    "kalshi_bot_writes",
    "kalshi_bot_refusals",
    "kalshi_bot_halted",
)


class BotCollector(Collector):
    """``read()`` returns the bot's summary (call it on the bot's loop: ``KalshiCollector._on_loop`` does)."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        summary = self.read()
        markets: Mapping[str, Any] = summary.get("markets", {})
        orders = CounterMetricFamily("kalshi_bot_orders", "Orders the bot sent, per market.", labels=["market"])
        fills = CounterMetricFamily("kalshi_bot_fills", "Fills of the bot's orders, per market.", labels=["market"])
        position = GaugeMetricFamily(
            "kalshi_bot_position_contracts", "The bot's signed position (+ YES, - NO).", labels=["market"]
        )
        pnl = GaugeMetricFamily(
            "kalshi_bot_pnl_dollars", "P&L per market: realized, unrealized, fees, total.", labels=["market", "part"]
        )
        for ticker, m in sorted(markets.items()):
            orders.add_metric([ticker], m["orders"])
            fills.add_metric([ticker], m["fills"])
            position.add_metric([ticker], float(m["position"]))
            for part, value in m["pnl"].items():
                if value is not None:
                    pnl.add_metric([ticker, part], float(value))
        yield from (orders, fills, position, pnl)
        trading: Mapping[str, Any] = summary.get("trading", {})
        writes = CounterMetricFamily("kalshi_bot_writes", "The bot's order writes.", labels=["kind"])
        for kind, key in (
            ("sent", "orders_sent"),
            ("amended", "amended"),
            ("cancelled", "cancelled"),
            ("rejected", "rejected"),
            ("unknown", "unknown"),
        ):
            writes.add_metric([kind], trading.get(key, 0))
        yield writes
        refusals = CounterMetricFamily("kalshi_bot_refusals", "Creates refused, per risk rule.", labels=["rule"])
        for rule, n in sorted(trading.get("refusals", {}).items()):
            refusals.add_metric([rule], n)
        yield refusals
        yield GaugeMetricFamily(
            "kalshi_bot_halted", "1 once the bot stopped quoting.", value=1 if trading.get("halted") else 0
        )
