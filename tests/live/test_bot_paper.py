"""Paper trading end to end over real loopback: the bot (``runtime.bot.Bot``, the reference ``Quoter``) against the
simulator's matching engine with no other user (``auto_user=False``), with and without faults (disconnects, gaps,
429s on order writes, order writes whose reply never comes).

What is checked, against the simulator's own truth, never against the bot's view of itself:

* every create, as the simulator receives it, respects the limits given the simulator's true position and resting
  orders at that moment (position + resting same side + order <= max-position, size <= max-order-size, ...);
* no create is sent while the market's book is not usable, by the feed's own events (BookUsable / BookUnusable /
  ConnectionDown) up to the send;
* the bot's fills, positions, fees and P&L per market equal what the truth's ``user.fills`` imply (P&L recomputed
  here with ``Decimal`` at the summary's mark);
* after the stop nothing of the bot rests (truth ``user.resting_orders`` empty) and the bot reports nothing left.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import BookUnusable, BookUsable, ConnectionDown, ConnectionUp, Event, FillSeen
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.orders import BatchCreateReply, CreateOrderReply, CreateOrderRequest
from market_making_bot.kalshi.rest import Backoff
from market_making_bot.runtime.bot import Bot, BotRefused, BotSettings
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.trading.risk import RiskLimits
from market_making_bot.trading.strategy import Strategy

from ..keys import write_key

ROOT = Path(__file__).resolve().parents[2]
FAST = Backoff(base=0.001, cap=0.004, retries=3)
KEY_ID = "test-key-id-bot-0123"
MAX_POSITION = 300  # 3 contracts
MAX_ORDER = 100


def quoter(params: dict[str, str]) -> Strategy:
    spec = importlib.util.spec_from_file_location("_quoter_e2e", ROOT / "examples" / "quoter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    strategy: Strategy = module.Quoter(params)
    return strategy


MakeSim = Callable[..., Awaitable[ExchangeSimulator]]


@pytest.fixture
def public(tmp_path: Path) -> bytes:
    return write_key(tmp_path / "k.pem", "ed25519")


@pytest.fixture
async def make_sim(public: bytes) -> AsyncIterator[MakeSim]:
    started: list[ExchangeSimulator] = []

    async def factory(**kwargs: Any) -> ExchangeSimulator:
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("markets", 2)
        kwargs["faults"] = [FaultSpec.parse(f) for f in kwargs.get("faults", [])]
        sim = ExchangeSimulator(SimulatorConfig(public_key=public, auto_user=False, **kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
def signer(tmp_path: Path, public: bytes) -> Signer:
    return Signer(KEY_ID, load_private_key(tmp_path / "k.pem", variable="K"))


def true_exposure(truth: dict[str, Any], ticker: str) -> tuple[int, int, int]:
    """(position, resting bids, resting asks) of the account in ``ticker``, in size units, from the truth."""
    position = 0
    for f in truth["user"]["fills"]:
        if f["market"] == ticker:
            size = int(Decimal(f["count"]) * 100)
            position += size if f["side"] == "bid" else -size
    bids = asks = 0
    for o in truth["user"]["resting_orders"]:
        if o["market"] == ticker:
            size = int(Decimal(o["remaining_count"]) * 100)
            if o["side"] == "bid":
                bids += size
            else:
                asks += size
    return position, bids, asks


class UsableTimeline:
    """Per market, whether the feed said its book was usable, from the events alone."""

    def __init__(self, tickers: list[str]) -> None:
        self.usable = dict.fromkeys(tickers, False)
        self.violations: list[str] = []
        self.unusable_events = 0
        self.reconnects = 0

    def on_event(self, event: Event) -> None:
        if isinstance(event, BookUsable) and event.ticker in self.usable:
            self.usable[event.ticker] = True
        elif isinstance(event, BookUnusable) and event.ticker in self.usable:
            self.usable[event.ticker] = False
            self.unusable_events += 1
        elif isinstance(event, ConnectionDown):
            self.usable = dict.fromkeys(self.usable, False)
        elif isinstance(event, ConnectionUp):
            self.reconnects += 1

    def check_send(self, ticker: str) -> None:
        if not self.usable.get(ticker, False):
            self.violations.append(ticker)


async def paper_run(
    sim: ExchangeSimulator,
    signer: Signer,
    *,
    fills: int,
    reconnects: int = 0,
    timeout: float = 40.0,
    group_limit: int = 50_000,
    until_halted: bool = False,
    **limits: Any,
) -> tuple[Bot, dict[str, Any], UsableTimeline, list[str]]:
    """Run the bot until ``fills`` fills and ``reconnects`` reconnects were seen (``until_halted``: until the bot
    stops quoting by itself), then stop it."""
    holder: list[Bot] = []
    tickers = sim.config.resolved_tickers()
    core = Core(tickers)
    timeline = UsableTimeline(tickers)
    seen = asyncio.Event()
    count = 0

    def on_event(event: Event) -> None:
        nonlocal count
        timeline.on_event(event)
        if isinstance(event, FillSeen):
            count += 1
        if until_halted:
            if holder and holder[0].engine.halted is not None:
                seen.set()
        elif count >= fills and timeline.reconnects > reconnects:  # the first ConnectionUp is not a reconnect
            seen.set()

    core.bus.subscribe(Event, on_event)
    policy = ConnectionPolicy(ping_interval=5.0, ping_timeout=5.0)
    client = KalshiWebSocketClient(sim.url, signer, core, Session(tickers, with_private=True, with_orders=True), policy)
    problems: list[str] = []
    creates: list[str] = []
    batches: list[int] = []
    risk = RiskLimits(max_position=MAX_POSITION, max_order_size=MAX_ORDER, max_open_orders=8, **limits)
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        original = api.create_order

        original_batch = api.batch_create_orders

        def check(orders: list[CreateOrderRequest]) -> None:
            # The simulator's truth at the moment the creates leave: the limits hold against it, counting the
            # other orders of the same batch as resting.
            truth = sim.truth()
            extra: dict[tuple[str, str], int] = {}
            for order in orders:
                position, bids, asks = true_exposure(truth, order.ticker)
                side = str(getattr(order.side, "value", order.side))
                more = extra.get((order.ticker, side), 0)
                if side == "bid" and position + bids + more + order.count > MAX_POSITION:
                    problems.append(f"bid {order.ticker}: {position} + {bids} + {more} + {order.count}")
                if side == "ask" and position - asks - more - order.count < -MAX_POSITION:
                    problems.append(f"ask {order.ticker}: {position} - {asks} - {more} - {order.count}")
                if order.count > MAX_ORDER:
                    problems.append(f"size {order.count}")
                extra[(order.ticker, side)] = more + order.count
                timeline.check_send(order.ticker)
                creates.append(order.ticker)

        async def checked_create(order: CreateOrderRequest) -> CreateOrderReply:
            check([order])
            return await original(order)

        async def checked_batch(orders: Sequence[CreateOrderRequest]) -> BatchCreateReply:
            check(list(orders))
            batches.append(len(orders))
            return await original_batch(orders)

        api.create_order = checked_create  # type: ignore[method-assign]
        api.batch_create_orders = checked_batch  # type: ignore[method-assign]
        settings = BotSettings(tickers, risk, group_limit=group_limit, rest_lag=0.2, book_wait=2.0, stop_timeout=10.0)
        bot = Bot(quoter({"half_spread": "0.005", "size": "1", "skew": "0.005"}), api, client, settings)
        holder.append(bot)
        stop = asyncio.Event()
        run = asyncio.create_task(bot.run(stop))
        try:
            await asyncio.wait_for(seen.wait(), timeout)
        finally:
            # The order flow stops first, so that the book the bot marks at (its orders seen leaving it) is the
            # simulator's book at the end.
            sim.stop_flow()
            stop.set()
            result = await asyncio.wait_for(run, 30)
        assert result.left == []
        summary = bot.summary()
    assert len(creates) == summary["trading"]["orders_sent"] == len(bot.sent)
    assert batches and all(n >= 2 for n in batches)  # the first round of both markets went as one batch
    return bot, summary, timeline, problems


def expected_pnl(truth: dict[str, Any], ticker: str, mark: str | None) -> tuple[int, Decimal, Decimal | None, int]:
    """(fills, fees, total P&L at ``mark``, position in size units) from the truth's fills, in Decimal dollars."""
    fills = [f for f in truth["user"]["fills"] if f["market"] == ticker]
    cash = Decimal(0)
    fees = Decimal(0)
    position = Decimal(0)
    for f in fills:
        count, price = Decimal(f["count"]), Decimal(f["price"])
        signed = count if f["side"] == "bid" else -count
        cash -= signed * price
        position += signed
        fees += Decimal(f["fee"])
    total = None
    if mark is not None:
        total = (cash + position * Decimal(mark) - fees).quantize(Decimal("0.000001"), rounding=ROUND_FLOOR)
    elif position == 0:
        total = cash - fees
    return len(fills), fees, total, int(position * 100)


def check_against_truth(sim: ExchangeSimulator, summary: dict[str, Any]) -> int:
    truth = sim.truth()
    assert truth["user"]["resting_orders"] == []
    total_fills = 0
    for ticker, got in summary["markets"].items():
        n, fees, total, position = expected_pnl(truth, ticker, got["mark"])
        total_fills += n
        assert got["fills"] == n, ticker
        assert Decimal(got["position"]) * 100 == position, ticker
        assert Decimal(got["pnl"]["fees"]) == fees, ticker
        assert got["pnl"]["total"] is not None and Decimal(got["pnl"]["total"]) == total, ticker
        true_book = truth["markets"][ticker]
        if got["mark"] is not None:  # the mark is the book's mid at the end, the bot's orders gone from it
            mid = (Decimal(true_book["best_yes_bid"]) + Decimal(true_book["best_yes_ask"])) / 2
            assert Decimal(got["mark"]) == mid, ticker
    return total_fills


async def test_paper_trading_matches_the_truth(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(rate=300, seed=7)
    bot, summary, timeline, problems = await paper_run(sim, signer, fills=4)
    assert problems == [] and timeline.violations == []
    assert check_against_truth(sim, summary) >= 4
    trading = summary["trading"]
    assert trading["orders_sent"] >= 4 and trading["left_resting"] == [] and trading["order_group"]
    assert sum(m["orders"] for m in summary["markets"].values()) == trading["orders_sent"]


@pytest.mark.parametrize(
    "faults",
    [
        ["disconnect:every=300", "gap:every=150"],
        ["order-429:every=4:count=1", "order-timeout:every=7:count=1"],
    ],
    ids=["disconnect+gap", "order-429+order-timeout"],
)
async def test_paper_trading_with_faults(make_sim: MakeSim, signer: Signer, faults: list[str]) -> None:
    sim = await make_sim(rate=300, seed=11, faults=faults)
    reconnects = 1 if any(f.startswith("disconnect") for f in faults) else 0
    bot, summary, timeline, problems = await paper_run(sim, signer, fills=4, reconnects=reconnects)
    assert problems == [] and timeline.violations == []
    check_against_truth(sim, summary)
    fired = sim.truth()["faults"]
    kinds = {f.split(":")[0] for f in faults}
    for kind in kinds:
        assert fired.get(kind, 0) >= 1, (kind, fired)
    if "gap" in kinds:
        assert timeline.unusable_events >= 1


async def test_the_exchange_side_order_group_is_a_backstop(make_sim: MakeSim, signer: Signer) -> None:
    """An order group of 1.5 contracts per 15 s: the simulator triggers it after the second fill, cancels the group's
    orders and refuses new ones; the bot sees the trigger, stops quoting, and ends with nothing resting."""
    sim = await make_sim(rate=300, seed=5)
    bot, summary, timeline, problems = await paper_run(sim, signer, fills=0, group_limit=150, until_halted=True)
    assert problems == [] and timeline.violations == []
    assert summary["trading"]["halted"] is not None and "triggered" in summary["trading"]["halted"]
    check_against_truth(sim, summary)
    fills = sim.truth()["user"]["fills"]
    assert 150 < sum(int(Decimal(f["count"]) * 100) for f in fills) <= 150 + 2 * MAX_ORDER


async def test_orders_are_refused_to_a_server_that_is_not_the_simulator(signer: Signer) -> None:
    from aiohttp import web

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"exchange_active": True, "trading_active": True})

    app = web.Application()
    app.router.add_get("/trade-api/v2/exchange/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with KalshiAPIClient(f"http://127.0.0.1:{port}/trade-api/v2", signer, backoff=FAST) as api:
            core = Core(["X"])
            client = KalshiWebSocketClient(f"ws://127.0.0.1:{port}/ws", signer, core, Session(["X"]))
            bot = Bot(quoter({}), api, client, BotSettings(["X"]))
            with pytest.raises(BotRefused, match="--live"):
                await bot.prepare()
    finally:
        await runner.cleanup()


async def test_orders_that_cannot_be_cancelled_are_reported(make_sim: MakeSim, signer: Signer) -> None:
    """Every order write refused (503, not processed) from the stop on: the cancels are retried for the stop
    timeout, then the bot reports exactly the orders still resting (the CLI exits 7 and lists them)."""
    sim = await make_sim(rate=20, seed=2)
    tickers = sim.config.resolved_tickers()
    core = Core(tickers)
    client = KalshiWebSocketClient(sim.url, signer, core, Session(tickers, with_private=True, with_orders=True))
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        settings = BotSettings(tickers, group_limit=None, rest_lag=0.1, stop_timeout=1.5, book_wait=0.5)
        bot = Bot(quoter({"half_spread": "0.05"}), api, client, settings)  # wide: nothing fills
        resting = asyncio.Event()
        chained = bot.orders.on_update

        def on_update(update: Any) -> None:
            if chained is not None:
                chained(update)
            states = [o.state.value for o in bot.tracker.open_orders()]
            if len(states) == 2 * len(tickers) and all(s == "resting" for s in states):
                resting.set()

        bot.orders.on_update = on_update
        stop = asyncio.Event()
        run = asyncio.create_task(bot.run(stop))
        await asyncio.wait_for(resting.wait(), 30)
        sim.faults.inject("order-reject", count=None)
        stop.set()
        result = await asyncio.wait_for(run, 30)
    still = {o["order_id"] for o in sim.truth()["user"]["resting_orders"]}
    assert still and {o.order_id for o in result.left} == still
    assert set(bot.summary()["trading"]["left_resting"]) == {o.client_order_id for o in result.left}


async def test_max_loss_stops_quoting_and_cancels(make_sim: MakeSim, signer: Signer) -> None:
    """--max-loss 0: the first loss (a fee, an adverse mid) halts the bot; nothing is created after that."""
    sim = await make_sim(rate=300, seed=9, fee_type="quadratic_with_maker_fees")
    bot, summary, timeline, problems = await paper_run(sim, signer, fills=0, until_halted=True, max_loss=0)
    assert problems == [] and timeline.violations == []
    halted = summary["trading"]["halted"]
    assert halted is not None and halted.startswith("max-loss"), halted
    check_against_truth(sim, summary)  # (the P&L may have recovered since: the halt is sticky)
    halted_ns = bot.engine.halted_ns
    assert halted_ns is not None and bot.sent and all(s.at_ns <= halted_ns for s in bot.sent)
