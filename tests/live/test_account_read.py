"""The balance and resting orders over REST (``--with-private``) against the simulator on loopback: read at start and
again with every backfill (the REST timer), told as ``AccountRead`` events, exact (REST's cents become money units),
and shown by the dashboard; a failed read keeps the last figures, marked stale, and the stream goes on."""

from __future__ import annotations

import io
import itertools

from rich.console import Console

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import AccountRead
from market_making_bot.kalshi.auth import Signer
from market_making_bot.kalshi.rest import Backoff
from market_making_bot.runtime.account import RestAccount
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.units import format_money
from market_making_bot.views.dashboard.app import Dashboard, render

TICKERS = ["KXSIM-26DEC31-A", "KXSIM-26DEC31-B", "KXSIM-26DEC31-C"]
FOLLOWED = TICKERS[:2]


def _trade(sim: ExchangeSimulator, fills: int) -> None:
    sim.model.activate_user()
    for _ in range(200_000):  # deterministic: the model stepped directly
        sim.fanout.dispatch(sim.model.step())
        resting = [m for m in sim.model.market_list if m.user and m.user.resting]
        if len(sim.model.fill_log) >= fills and len(resting) >= 2:
            return
    raise AssertionError("the simulated user did not trade")


def _resting(sim: ExchangeSimulator, tickers: list[str]) -> set[str]:
    markets = [m for m in sim.model.market_list if m.user is not None and m.ticker in tickers]
    return {o.order_id for m in markets if m.user is not None for _p, o in m.user.resting.values()}


def _screen(dash: Dashboard) -> str:
    console = Console(record=True, width=120, height=40, file=io.StringIO(), color_system=None, force_terminal=True)
    console.print(render(dash.snapshot(), 0.0))
    return console.export_text()


async def test_balance_and_resting_orders_at_start_on_the_timer_and_stale_after_a_failure() -> None:
    cfg = SimulatorConfig(tickers=TICKERS, rate=1, seed=4, start_paused=True, ping_interval=None)
    async with ExchangeSimulator(cfg) as sim:
        assert sim.private_key is not None
        signer = Signer(sim.key_id, sim.private_key)
        ticks = itertools.count(0.0, 10.0)  # the rate budget's clock: 10 s between two looks, so the balance's
        # 1 call/s never makes the test wait (the budget itself is tested in test_rest_client*)
        backoff = Backoff(retries=1, base=0.01, cap=0.02)
        async with KalshiAPIClient(sim.api_url, signer, backoff=backoff, clock=lambda: next(ticks)) as api:
            core = Core(FOLLOWED)
            seen: list[AccountRead] = []
            core.bus.subscribe(AccountRead, seen.append)
            account = RestAccount(api, core, FOLLOWED, with_private=True)
            await account.load_start()
            start = seen[-1]
            assert (start.balance, start.resting, start.error) == (sim.config.starting_balance_cents * 10_000, (), None)
            dash = Dashboard(core, bus=core.bus, private=True, account=account.account)  # as the listener makes it

            _trade(sim, fills=6)
            truth = await api.balance()  # what REST says now (cents -> money units)
            await account.backfill("timer")  # the REST timer's round: fills, positions, then the account
            now = seen[-1]
            assert start.balance is not None and now.balance == truth.balance < start.balance
            assert now.portfolio_value == truth.portfolio_value
            assert now.balance % 10_000 == 0  # whole cents, as REST sends them
            assert now.resting is not None and {o.order_id for o in now.resting} == _resting(sim, FOLLOWED)
            assert all(o.ticker in FOLLOWED for o in now.resting)  # the third market's orders are not ours here
            text = _screen(dash)
            assert f"balance {format_money(truth.balance)}" in text
            assert f"resting orders {len(now.resting)}" in text and "stale" not in text

            sim.faults.inject("rest-503", count=None)
            await account.backfill("timer")
            failed = seen[-1]
            assert failed.error is not None and "503" in failed.error
            assert (failed.balance, failed.resting, failed.read_ns) == (now.balance, now.resting, now.read_ns)
            text = _screen(dash)
            assert f"balance {format_money(truth.balance)}" in text and "stale: read" in text
            assert account.auth_error is None and account.failures >= 2
