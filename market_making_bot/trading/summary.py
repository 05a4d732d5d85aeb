"""The bot's summary (``--summary-json``): per market orders, fills, position, mark, P&L; the trading block; totals.

Pure: the same figures from the live bot (``runtime.bot.Bot.summary``) and from its replay (``storage.bot_replay``).
Money as 6-decimal dollar strings (``units.money_str``).
"""

from __future__ import annotations

from typing import Any

from market_making_bot.trading.engine import Engine
from market_making_bot.trading.portfolio import state_mark
from market_making_bot.trading.risk import Rule
from market_making_bot.units import money_str, size_str

__all__ = ["bot_summary"]


def bot_summary(engine: Engine, group_id: str | None, dry_run: bool) -> dict[str, Any]:
    """``{"markets": .., "trading": .., "pnl": ..}`` of the engine (its portfolio, tracker, risk and book state)."""
    portfolio, tracker, risk = engine.portfolio, engine.tracker, engine.risk
    markets: dict[str, Any] = {}
    total_x2 = 0
    known = True
    for ticker in engine.tickers:
        st = engine.state.get(ticker)
        pnl = portfolio.pnl(ticker, None if st is None else state_mark(st))
        counts = engine.counters.per_market.get(ticker)
        markets[ticker] = {
            "orders": 0 if counts is None else counts.orders,
            "fills": engine.bot_fills(ticker),
            "position": size_str(pnl.position),
            "mark": None if pnl.mark is None else str(pnl.mark),
            "pnl": {
                "realized": money_str(pnl.realized),
                "unrealized": None if pnl.unrealized is None else money_str(pnl.unrealized),
                "fees": money_str(pnl.fees),
                "total": None if pnl.total is None else money_str(pnl.total),
            },
        }
        if pnl.total_x2 is None:
            known = False
        else:
            total_x2 += pnl.total_x2
    c = engine.counters
    trading = {
        "orders_sent": c.sent,
        "amended": c.amended,
        "cancelled": c.cancelled,
        "rejected": c.rejected,
        "unknown": c.unknown,
        "refusals": {rule.value: c.refusals.get(rule.value, 0) for rule in Rule},
        "refused_checks": {rule.value: risk.refusals[rule] for rule in Rule},
        "halted": engine.halted,
        "strategy_errors": c.strategy_errors,
        "position_mismatches": c.position_mismatches,
        "left_resting": [o.client_order_id for o in tracker.open_orders()],
        "order_group": group_id,
        "dry_run": dry_run,
    }
    fees = sum(portfolio.pnl(t).fees for t in engine.tickers)
    realized = sum(portfolio.pnl(t).realized for t in engine.tickers)
    totals = {
        "realized": money_str(realized),
        "fees": money_str(fees),
        "total": money_str(total_x2 // 2) if known else None,
    }
    return {"markets": markets, "trading": trading, "pnl": totals}
