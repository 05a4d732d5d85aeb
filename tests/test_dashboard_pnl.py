"""The dashboard's P&L maths (exact integers) and its view model without rich: built from state, fed by events."""

from __future__ import annotations

import subprocess
import sys

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import ConnectionDown, ConnectionUp, EventBus
from market_making_bot.kalshi.messages import MarketPosition
from market_making_bot.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE
from market_making_bot.views.dashboard.model import ViewModel
from market_making_bot.views.dashboard.pnl import (
    PositionPnl,
    average_cost,
    mark_price,
    position_pnl,
    total,
    unrealized_pnl,
)

from .market_frames import A, known_core


def _position(position: int, cost: int | None, realized: int | None = None, fees: int | None = None) -> MarketPosition:
    return MarketPosition(market_ticker=A, position=position, position_cost=cost, realized_pnl=realized, fees_paid=fees)


def test_units_multiply_to_money_exactly() -> None:
    # one contract (SIZE_SCALE) at one dollar (PRICE_SCALE) is one dollar of money
    assert SIZE_SCALE * PRICE_SCALE == MONEY_SCALE
    assert unrealized_pnl(SIZE_SCALE, PRICE_SCALE, 0) == MONEY_SCALE


def test_mark_is_the_price_of_the_side_held_at_the_mid() -> None:
    assert mark_price(250, 4600) == 4600  # YES: the YES mid
    assert mark_price(-400, 4600) == 5400  # NO: $1 - mid
    assert mark_price(-400, 4655) == 5345  # tenth-of-a-cent mids stay exact
    assert mark_price(0, 4600) is None  # flat
    assert mark_price(250, None) is None  # no mid (a side of the book is empty)


def test_average_cost_rounds_half_up_to_a_price_unit() -> None:
    assert average_cost(1_125_000, 250) == 4500  # $1.125 for 2.50 contracts: 45¢ exactly
    assert average_cost(1_000_000, 300) == 3333  # $1 for 3 contracts: 33.33¢ (33.333.. rounded down)
    assert average_cost(2_000_000, 300) == 6667  # $2 for 3 contracts: 66.67¢ (66.666.. rounded up)
    assert average_cost(150, 100) == 2  # 1.5 price units: half rounds up
    assert average_cost(1_000_000, 0) is None


def test_unrealized_pnl_at_the_mid_is_exact() -> None:
    # 2.50 YES bought for $1.125, mid 46¢: worth $1.15, +$0.025
    assert position_pnl(250, 4600, _position(250, 1_125_000)) == PositionPnl(250, 4500, 4600, 25_000)
    # 4 NO for $2, mid 46¢: NO mark 54¢, worth $2.16, +$0.16
    assert position_pnl(-400, 4600, _position(-400, 2_000_000)).unrealized == 160_000
    # a loss, and a price of a tenth of a cent: 80 YES at 44¢ average, mid 43.9¢: 80 x -0.1¢ = -$0.08
    assert position_pnl(8000, 4390, _position(8000, 35_200_000)).unrealized == -80_000
    # a fractional size: 0.01 contract at a 0.01¢ mark is one money unit
    assert position_pnl(1, 1, _position(1, 0)).unrealized == 1


def test_realized_pnl_and_fees_are_kalshis_and_a_stale_cost_is_not_used() -> None:
    last = _position(250, 1_125_000, realized=500_000, fees=13_000)
    assert position_pnl(250, 4600, last) == PositionPnl(250, 4500, 4600, 25_000, 500_000, 13_000)
    # a fill moved the position to 5.00 before the next market_position: the cost of 2.50 would be wrong
    stale = position_pnl(500, 4600, last)
    assert (stale.avg_cost, stale.unrealized) == (None, None)
    assert (stale.mark, stale.realized, stale.fees) == (4600, 500_000, 13_000)  # still known
    assert position_pnl(250, 4600) == PositionPnl(250, None, 4600)  # no market_position yet
    assert position_pnl(250, None, last).unrealized is None  # no mid


def test_totals_skip_unknowns_and_an_all_unknown_total_is_unknown() -> None:
    assert total([25_000, None, -750_000]) == -725_000
    assert total([None, None]) is None
    assert total([]) is None
    assert total([0]) == 0


def test_the_view_model_follows_the_connection_events_of_a_bus() -> None:
    bus = EventBus()
    model = ViewModel(known_core(), clock=lambda: 0.0)
    detach = model.attach(bus)
    assert model.snapshot(0).status.state == "replay"  # no client, no connection event: a replay
    bus.emit(ConnectionUp(1, connection=1, url="ws://127.0.0.1:1"))
    assert model.snapshot(0).status.state == "connected"
    bus.emit(ConnectionDown(2, connection=1, reason="ping timeout"))
    assert model.snapshot(0).status.state == "reconnecting"
    bus.emit(ConnectionUp(3, connection=2, url="ws://127.0.0.1:1"))
    status = model.snapshot(0).status
    assert status.state == "connected" and status.reconnects == 2  # the core's counter wins when it has one
    fresh = ViewModel(Core(), clock=lambda: 0.0)
    fresh.attach(bus)
    bus.emit(ConnectionUp(4, connection=3, url="ws://127.0.0.1:1"))
    assert fresh.snapshot(0).status.reconnects == 2  # connection 3: two reconnects
    detach()
    bus.emit(ConnectionDown(5, connection=3, reason="closed"))
    assert model.snapshot(0).status.state == "connected"  # detached: no longer follows
    assert fresh.snapshot(0).status.state == "reconnecting"


def test_the_view_model_and_the_pnl_maths_do_not_need_rich() -> None:
    code = (
        "import sys, market_making_bot.views.dashboard.model, market_making_bot.views.dashboard.pnl; "
        "sys.exit(1 if any(m == 'rich' or m.startswith('rich.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
