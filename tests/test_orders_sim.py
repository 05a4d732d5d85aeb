"""Order entry over real loopback HTTP against the simulator's matching engine: the client's V2 writes and
``runtime.orders.OrderManager``, with the simulator's order faults (timeout after the write was applied, 503 not
processed, 429). Every test counts the orders the simulator really holds: an unknown outcome never makes two."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.orders import (
    AmendOrderRequest,
    BookSide,
    CancelRef,
    CreateOrderGroupRequest,
    CreateOrderRequest,
    DecreaseOrderRequest,
    OrderGroupLimitRequest,
    TimeInForce,
)
from market_making_bot.kalshi.rest import Backoff, KalshiAPIError
from market_making_bot.runtime.orders import OrderManager, OrderRefused
from market_making_bot.runtime.rest import KalshiAPIClient, WriteOutcomeUnknown
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.trading.orders import OrderState, OrderTracker

from .keys import write_key

FAST = Backoff(base=0.001, cap=0.004, retries=3)
KEY_ID = "test-key-id-orders-0123"
LOW = 100  # $0.01: a bid there rests (nothing sells that low)
HIGH = 9900  # $0.99: an ask there rests

MakeSim = Callable[..., Awaitable[ExchangeSimulator]]


@pytest.fixture
async def make_sim(tmp_path: Path) -> AsyncIterator[MakeSim]:
    started: list[ExchangeSimulator] = []
    public = write_key(tmp_path / "k.pem", "ed25519")

    async def factory(**kwargs: Any) -> ExchangeSimulator:
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("rate", 1)
        kwargs.setdefault("start_paused", True)
        kwargs.setdefault("markets", 2)
        kwargs["faults"] = [FaultSpec.parse(f) for f in kwargs.get("faults", [])]
        sim = ExchangeSimulator(SimulatorConfig(public_key=public, **kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(KEY_ID, load_private_key(tmp_path / "k.pem", variable="K"))


def tracker(prefix: str = "bot1") -> OrderTracker:
    n = itertools.count(1)
    return OrderTracker(prefix, rest_lag_ms=50, make_id=lambda: f"{next(n):04d}")


async def held(api: KalshiAPIClient, coid: str) -> list[str]:
    """The statuses of the simulator's orders with ``coid`` (every status: the truth about duplicates)."""
    return [o.status async for o in api.orders() if o.client_order_id == coid]


async def test_write_methods_round_trip(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim()
    ticker = sim.model.market_list[0].ticker
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        req = CreateOrderRequest(ticker=ticker, side=BookSide.BID, price=LOW, count=250, client_order_id="t-1")
        reply = await api.create_order(req)
        assert (reply.fill_count, reply.remaining_count) == (0, 250) and reply.client_order_id == "t-1"
        rest = await api.order(reply.order_id)
        assert (rest.status, rest.yes_price_dollars, rest.remaining_count_fp) == ("resting", LOW, 250)
        with pytest.raises(KalshiAPIError) as dup:
            await api.create_order(req)
        assert dup.value.status == 409
        amended = await api.amend_order(
            reply.order_id, AmendOrderRequest(ticker=ticker, side=BookSide.BID, price=2 * LOW, count=300)
        )
        assert amended.order_id == reply.order_id
        assert (await api.order(reply.order_id)).yes_price_dollars == 2 * LOW
        decreased = await api.decrease_order(reply.order_id, DecreaseOrderRequest(reduce_by=100))
        assert decreased.remaining_count == 200
        canceled = await api.cancel_order(reply.order_id, market_ticker=ticker)
        assert canceled.reduced_by == 200
        with pytest.raises(KalshiAPIError) as gone:
            await api.cancel_order(reply.order_id)
        assert gone.value.status == 404
        # batches
        two = [
            CreateOrderRequest(ticker=ticker, side=BookSide.BID, price=LOW, count=100, client_order_id="t-2"),
            CreateOrderRequest(ticker=ticker, side=BookSide.ASK, price=HIGH, count=100, client_order_id="t-3"),
        ]
        batch = await api.batch_create_orders(two)
        ids = [item.order_id for item in batch.orders]
        assert all(item.error is None for item in batch.orders) and None not in ids
        refs = [CancelRef(order_id=i, market_ticker=ticker) for i in ids if i is not None]
        cancels = await api.batch_cancel_orders(refs)
        assert [c.reduced_by for c in cancels.orders] == [100, 100]
        # order groups
        group = await api.create_order_group(CreateOrderGroupRequest(contracts_limit=1000))
        await api.set_order_group_limit(group.order_group_id, OrderGroupLimitRequest(contracts_limit=2000))
        assert (await api.order_group(group.order_group_id)).contracts_limit_fp == 2000
        assert group.order_group_id in [g.id for g in await api.order_groups()]
        await api.trigger_order_group(group.order_group_id)
        await api.reset_order_group(group.order_group_id)
        await api.delete_order_group(group.order_group_id)
        assert group.order_group_id not in [g.id for g in await api.order_groups()]
        # budget: 10 per create (3 + 1 dup), amend, decrease; 2 per cancel; batches per order; groups 10 each
        assert api.requests >= 14


async def test_manager_places_changes_and_cancels(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim()
    ticker = sim.model.market_list[0].ticker
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        with pytest.raises(OrderRefused, match="not armed"):
            await OrderManager(api, tracker()).place(ticker, BookSide.BID, LOW, 100)
        seen: list[OrderState] = []
        orders = OrderManager(api, tracker(), armed=True, on_update=lambda u: seen.append(u.state))
        o = await orders.place(ticker, BookSide.BID, LOW, 500)
        assert o.state is OrderState.RESTING and o.order_id is not None
        o = await orders.amend(o.client_order_id, price=2 * LOW, remaining=400)
        assert (o.state, o.price, o.remaining) == (OrderState.RESTING, 2 * LOW, 400)
        o = await orders.decrease(o.client_order_id, reduce_to=300)
        assert o.remaining == 300
        o = await orders.cancel(o.client_order_id)
        assert o.state is OrderState.CANCELED
        assert seen[0] is OrderState.RESTING and seen[-1] is OrderState.CANCELED
        assert await held(api, o.client_order_id) in ([], ["canceled"])


async def test_timeout_after_the_write_was_applied_is_resolved_without_a_duplicate(
    make_sim: MakeSim, signer: Signer
) -> None:
    sim = await make_sim(faults=["order-timeout"])  # the first order write is applied, its reply never comes
    ticker = sim.model.market_list[0].ticker
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST, timeout=5.0) as api:
        states: list[OrderState] = []
        orders = OrderManager(api, tracker(), armed=True, on_update=lambda u: states.append(u.state))
        o = await orders.place(ticker, BookSide.BID, LOW, 100)
        assert states == [OrderState.UNKNOWN, OrderState.RESTING]  # unknown, then found by the read
        assert o.state is OrderState.RESTING and o.resent == 0 and o.order_id is not None
        assert await held(api, o.client_order_id) == ["resting"]
        assert orders.tracker.blocked(ticker) is None


async def test_503_not_processed_is_resent_with_the_same_coid_once(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(faults=["order-reject"])  # 503, not processed: an unknown outcome for the client
    ticker = sim.model.market_list[0].ticker
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        with pytest.raises(WriteOutcomeUnknown):  # the raw client: 503 on a write is an unknown outcome
            await api.create_order(
                CreateOrderRequest(ticker=ticker, side=BookSide.BID, price=LOW, count=100, client_order_id="x-1")
            )
        sim.faults.specs.append(FaultSpec.parse("order-reject:at=1"))
        states: list[OrderState] = []
        orders = OrderManager(api, tracker(), armed=True, on_update=lambda u: states.append(u.state))
        o = await orders.place(ticker, BookSide.BID, LOW, 100)
        # unknown, absent from the read (never landed), re-sent with the same coid, resting
        assert states == [OrderState.UNKNOWN, OrderState.REJECTED, OrderState.RESTING]
        assert o.state is OrderState.RESTING and o.resent == 1
        assert await held(api, o.client_order_id) == ["resting"]


async def test_429_on_a_write_is_retried_with_the_same_body(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(faults=["order-429"])
    ticker = sim.model.market_list[0].ticker
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        orders = OrderManager(api, tracker(), armed=True)
        o = await orders.place(ticker, BookSide.ASK, HIGH, 100)
        assert o.state is OrderState.RESTING and api.retries == 1
        assert await held(api, o.client_order_id) == ["resting"]


async def test_cancel_mine_cancels_only_ours_and_a_restart_takes_them_over(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim()
    a, b = (m.ticker for m in sim.model.market_list[:2])
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        other = OrderManager(api, tracker("other"), armed=True)
        theirs = await other.place(a, BookSide.BID, LOW, 100)
        first = OrderManager(api, tracker("bot1"), armed=True)
        mine = [await first.place(t, BookSide.BID, LOW, 100) for t in (a, b, a)]
        assert all(o.state is OrderState.RESTING for o in mine)
        # a restart: a new manager with the same prefix finds its orders among the resting ones
        again = OrderManager(api, OrderTracker("bot1", rest_lag_ms=50), armed=True)
        await again.reconcile()
        assert {o.client_order_id for o in again.tracker.open_orders()} == {o.client_order_id for o in mine}
        assert await again.cancel_mine() == 3
        with pytest.raises(OrderRefused, match="closed"):
            await again.place(a, BookSide.BID, LOW, 100)
        resting = {o.client_order_id async for o in api.orders(status="resting")}
        assert resting == {theirs.client_order_id}


async def test_stream_frames_and_replies_agree_with_rest(make_sim: MakeSim, signer: Signer) -> None:
    """The account's ``user_orders`` and ``fill`` streams over a real WebSocket, fed to the manager alongside the
    REST replies (frames may come before or after them): the tracker ends where Kalshi's own read says."""
    import asyncio
    import json

    from websockets.asyncio.client import connect

    from market_making_bot.kalshi.decode import decode_frame

    sim = await make_sim()
    market = sim.model.market_list[0]
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        orders = OrderManager(api, tracker(), armed=True)
        changed = asyncio.Event()
        frames: list[str] = []
        async with connect(sim.url, additional_headers=signer.headers(sim.url, "GET")) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["user_orders", "fill"]}}))
            acks = 0
            while acks < 2:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                acks += frame.get("type") == "subscribed"

            async def pump() -> None:
                async for text in ws:
                    assert isinstance(text, str)
                    frames.append(text)
                    orders.on_message(decode_frame(text))
                    changed.set()

            reader = asyncio.create_task(pump())
            try:
                rest_order = await orders.place(market.ticker, BookSide.BID, LOW, 200)
                # an IOC bid at $0.99 takes the best asks: fills (one per level) and a final snapshot
                taker = await orders.place(
                    market.ticker, BookSide.BID, HIGH, 300, time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL
                )

                async def settled() -> None:
                    while True:
                        t = orders.tracker.get(taker.client_order_id)
                        seen = {json.loads(f)["type"] for f in frames}
                        if t is not None and t.fills and sum(t.fills.values()) == t.fill_count and "user_order" in seen:
                            return
                        changed.clear()
                        await changed.wait()

                await asyncio.wait_for(settled(), 5)
            finally:
                reader.cancel()
        for o in (rest_order, taker):
            assert o.order_id is not None
            truth = await api.order(o.order_id)
            assert o.fill_count == truth.fill_count_fp and o.remaining == truth.remaining_count_fp, o
            assert o.state.value == truth.status, o
        assert taker.state in (OrderState.EXECUTED, OrderState.CANCELED) and taker.fill_count > 0
        assert orders.tracker.counters["foreign_frames"] == 0
