"""``KalshiAPIClient`` against the simulator over real loopback HTTP (issue 14 item 5, the client's share).

Every read is compared with the simulator's own state (its model and ``truth()``), pages are walked with a small
``limit``, every error the simulator sends arrives as the right exception with Kalshi's code, and the REST faults
(``rest-429``, ``rest-503``, ``rest-drop``, ``rest-slow``) are met by the client's retries, bucket and timeout. The
request times are the ones the simulator saw (its per-request fault hook is wrapped to stamp them). Keys are
generated in the test; the simulator binds 127.0.0.1 on a free port and is told only the public key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.rest import Backoff, KalshiAPIError, RateLimited, RateTier
from market_making_bot.runtime.config import Config
from market_making_bot.runtime.rest import CallKind, KalshiAPIClient, KalshiConnectionError, WriteOutcomeUnknown
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec

from .keys import write_key

FAST = Backoff(base=0.001, cap=0.004, retries=3)
ONE = 10_000  # $1 in price units (1/10,000 $), the client's and the simulator's alike
KEY_ID = "test-key-id-0123456789"

MakeSim = Callable[..., Awaitable[ExchangeSimulator]]


class Seen:
    """The monotonic times at which the simulator received REST requests (stamped in its per-request fault hook,
    which its middleware calls once for every REST request before any fault or route runs, when it has faults)."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        assert sim.faults.specs, "the simulator only consults its fault hook when it has faults"
        self.times: list[float] = []
        inner = sim.faults.rest_faults
        loop = asyncio.get_running_loop()

        def stamped() -> list[FaultSpec]:
            self.times.append(loop.time())
            return inner()

        sim.faults.rest_faults = stamped  # type: ignore[method-assign]


@pytest.fixture
async def make_sim(tmp_path: Path) -> AsyncIterator[MakeSim]:
    """``sim = await make_sim(markets=3, faults=[...])``: a paused simulator that trusts a key made in the test
    (``tmp_path / "k.pem"``, public half only given to the simulator)."""
    started: list[ExchangeSimulator] = []
    public = write_key(tmp_path / "k.pem", "ed25519")

    async def factory(**kwargs: Any) -> ExchangeSimulator:
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("rate", 1)
        kwargs.setdefault("start_paused", True)
        kwargs["faults"] = [FaultSpec.parse(f) if isinstance(f, str) else f for f in kwargs.get("faults", [])]
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


def trade(sim: ExchangeSimulator, fills: int = 12) -> None:
    """Step the model (deterministic, no waiting) until the user has ``fills`` fills and a resting order."""
    sim.model.activate_user()
    for _ in range(200_000):
        sim.fanout.dispatch(sim.model.step())
        if len(sim.model.fill_log) >= fills and any(m.user and m.user.resting for m in sim.model.market_list):
            return
    raise AssertionError("the simulated user did not trade")


def own_price(side: str, yes_price: int) -> int:
    return yes_price if side == "yes" else ONE - yes_price


# ---- every read against the simulator's truth --------------------------------------------------------------------


async def test_every_read_equals_the_simulators_truth(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(rate=20_000, markets=5)
    trade(sim)
    model = sim.model
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        status = await api.exchange_status()
        assert status.exchange_active and status.trading_active == (not sim.flow_done)

        # markets: every page (limit 2 over 5 markets: 3 pages), each equal to the model's market
        markets = [m async for m in api.markets(limit=2)]
        assert [m.ticker for m in markets] == [m.ticker for m in model.market_list]
        assert sim.rest.requests == 1 + 3
        for got, m in zip(markets, model.market_list, strict=True):
            best_yes, best_no = m.yes.best(), m.no.best()
            assert got.yes_bid_dollars == (best_yes if best_yes is not None else 0)
            assert got.yes_ask_dollars == (ONE - best_no if best_no is not None else ONE)
            assert (got.volume_fp, got.open_interest_fp, got.last_price_dollars) == (
                m.volume,
                m.open_interest,
                m.last_price,
            )
            assert got.event_ticker == m.ticker.rpartition("-")[0] and got.status == "active"
        first = model.market_list[0]
        event_ticker = first.ticker.rpartition("-")[0]
        assert [m.ticker async for m in api.markets(event_ticker=event_ticker, limit=1)] == [
            m.ticker for m in model.market_list if m.ticker.startswith(event_ticker + "-")
        ]
        picked = [model.market_list[3].ticker, model.market_list[1].ticker]
        assert [m.ticker async for m in api.markets(tickers=picked)] == sorted(picked)
        assert [m async for m in api.markets(status="settled")] == []

        one = await api.market(first.ticker)
        assert one.ticker == first.ticker and one.yes_bid_dollars == markets[0].yes_bid_dollars
        event = await api.event(event_ticker)
        assert event.event_ticker == event_ticker and [m.ticker for m in event.markets] == [
            m.ticker for m in model.market_list if m.ticker.startswith(event_ticker + "-")
        ]
        series = await api.series(first.ticker.partition("-")[0])
        assert series.ticker == first.ticker.partition("-")[0] and series.volume_fp == sum(
            m.volume for m in model.market_list if m.ticker.startswith(series.ticker + "-")
        )

        # the order book: the WebSocket truth, level for level (ascending, best last)
        for m in model.market_list:
            yes, no, _clock = model.book_levels(m.ticker)
            book = await api.orderbook(m.ticker)
            assert (book.yes_dollars or []) == yes and (book.no_dollars or []) == no
            top = await api.orderbook(m.ticker, depth=2)
            assert (top.yes_dollars or []) == yes[-2:] and (top.no_dollars or []) == no[-2:]

        # positions: one market per page, equal to the truth
        truth = sim.truth()["markets"]
        positions = {p.ticker: p async for p in api.positions(limit=1)}
        held = {m.ticker: m.user for m in model.market_list if m.user is not None and m.user.fills}
        assert set(positions) == set(held) and held
        for ticker, user in held.items():
            p = positions[ticker]
            assert (p.position_fp, p.market_exposure_dollars, p.realized_pnl_dollars, p.fees_paid_dollars) == (
                user.position,
                user.cost,
                user.realized_pnl,
                user.fees_paid,
            )
            assert f"{p.position_fp / 100:.2f}" == truth[ticker]["position"]
        assert {e.event_ticker async for e in api.event_positions()} == {t.rpartition("-")[0] for t in held}

        # fills: newest first across pages of 5, every field equal to the fill log
        fills = [f async for f in api.fills(limit=5)]
        log = list(reversed(model.fill_log))
        assert [f.fill_id for f in fills] == [f.trade_id for f in log]
        for got_fill, f in zip(fills, log, strict=True):
            assert (got_fill.ticker, got_fill.order_id, got_fill.outcome_side, got_fill.is_taker) == (
                f.market.ticker,
                f.order_id,
                f.side,
                f.is_taker,
            )
            assert (got_fill.count_fp, got_fill.yes_price_dollars, got_fill.fee_cost) == (f.count, f.yes_price, f.fee)
            assert got_fill.created_time == f.ts_ms
        some = log[0]
        assert {f.fill_id async for f in api.fills(ticker=some.market.ticker)} == {
            f.trade_id for f in log if f.market is some.market
        }
        two = [m.ticker for m in model.market_list[:2]]
        assert {f.fill_id async for f in api.fills(ticker=two)} == {  # a list: sent as a comma list
            f.trade_id for f in log if f.market.ticker in two
        }
        assert {f.fill_id async for f in api.fills(order_id=some.order_id)} == {
            f.trade_id for f in log if f.order_id == some.order_id
        }
        assert [f async for f in api.fills(min_ts=some.ts_ms // 1000 + 3600)] == []

        # orders: the resting ones, across pages of 1; one by id
        resting = {
            o.order_id: (m.ticker, side, price, o.size)
            for m in model.market_list
            if m.user is not None
            for side, (price, o) in m.user.resting.items()
        }
        orders = {o.order_id: o async for o in api.orders(status="resting", limit=1)}
        assert set(orders) == set(resting)
        for order_id, (ticker, side, price, size) in resting.items():
            o = orders[order_id]
            assert (o.ticker, o.outcome_side, o.remaining_count_fp, o.status) == (ticker, side, size, "resting")
            assert o.yes_price_dollars == own_price(side, price)  # the resting price is on the side's own scale
            assert await api.order(order_id) == o
        assert [o async for o in api.orders(status="executed")] == []
        events = sorted({t.rpartition("-")[0] for t, *_ in resting.values()})
        assert {o.order_id async for o in api.orders(event_ticker=events[:1] + ["KXNONE-26DEC31"])} == {
            i for i, (t, *_) in resting.items() if t.rpartition("-")[0] == events[0]
        }

        # the balance (legacy integer cents, decoded to micro-dollars): the start, less what the fills cost, plus
        # $1 for every YES and NO contract held together (computed here from the fill log)
        cash = sim.config.starting_balance_cents * 10_000
        bought: dict[tuple[str, str], int] = {}
        for f in model.fill_log:
            cash -= f.count * own_price(f.side, f.yes_price) + f.fee
            bought[f.market.ticker, f.side] = bought.get((f.market.ticker, f.side), 0) + f.count
        cash += sum(min(n, bought.get((t, "no"), 0)) for (t, side), n in bought.items() if side == "yes") * 10_000
        balance = await api.balance()
        assert balance.balance == cash // 10_000 * 10_000 == balance.balance_dollars
        assert balance.balance < sim.config.starting_balance_cents * 10_000

        assert [s async for s in api.settlements(limit=3)] == []  # nothing settles in the simulator
        assert api.retries == 0 and api.requests == sim.rest.requests


async def test_trades_are_the_public_tape_newest_first_with_filters_and_pages(make_sim: MakeSim) -> None:
    """``GET /markets/trades`` (public: no signer) equals the model's trade log: newest first across pages of 7,
    every field exact; ``ticker``, ``min_ts``/``max_ts`` and ``is_block_trade`` filter it."""
    sim = await make_sim(rate=20_000, markets=3)
    trade(sim)
    log = list(reversed(sim.model.trade_log))
    assert len(log) > 20
    async with KalshiAPIClient(sim.api_url, backoff=FAST) as api:
        before = sim.rest.requests
        got = [t async for t in api.trades(limit=7)]
        assert sim.rest.requests - before == -(-len(log) // 7)  # every page, once
        assert [t.trade_id for t in got] == [r[0] for r in log]
        for t, (trade_id, ticker, yes_price, count, taker, ts_ms) in zip(got, log, strict=True):
            assert (t.trade_id, t.ticker, t.yes_price_dollars, t.no_price_dollars, t.count_fp) == (
                trade_id,
                ticker,
                yes_price,
                ONE - yes_price,
                count,
            )
            assert (t.taker_outcome_side, t.taker_book_side, t.created_time, t.is_block_trade) == (
                taker,
                "bid" if taker == "yes" else "ask",
                ts_ms,
                False,
            )
        ticker = log[0][1]
        assert [t.trade_id async for t in api.trades(ticker=ticker)] == [r[0] for r in log if r[1] == ticker]
        newest_s = log[0][5] // 1000
        recent = [r[0] for r in log if r[5] // 1000 >= newest_s]
        assert [t.trade_id async for t in api.trades(min_ts=newest_s)] == recent
        assert [t async for t in api.trades(max_ts=newest_s - 3600)] == []
        assert [t async for t in api.trades(is_block_trade=True)] == []
        with pytest.raises(KalshiAPIError) as bad:
            [t async for t in api.trades(limit=1001)]
        assert bad.value.status == 400 and bad.value.code == "bad_request"


async def test_a_fill_made_between_two_pages_shifts_them_and_each_fill_comes_once(
    make_sim: MakeSim, signer: Signer
) -> None:
    """Fills are newest first with an offset cursor: a fill made while the pages are read pushes the older ones
    down, so the next page repeats the last fill of this one (REST.md 1.5). The client gives it once."""
    sim = await make_sim(rate=20_000, markets=3)
    trade(sim, fills=10)
    before = [f.trade_id for f in reversed(sim.model.fill_log)]
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        pages = api.fills(limit=4)
        got = [(await pages.__anext__()).fill_id for _ in range(4)]  # the first page
        n = len(sim.model.fill_log)
        while len(sim.model.fill_log) == n:  # one more fill, now, between the pages
            sim.fanout.dispatch(sim.model.step())
        got += [f.fill_id async for f in pages]
    shift = len(sim.model.fill_log) - n
    assert got == before  # every fill of the first read, in order, once; the new one is not on these pages
    assert len(before) + shift > len(got)  # the server did send repeats: they were dropped


# ---- errors: every shape the simulator sends ---------------------------------------------------------------------


async def test_every_error_the_simulator_sends(
    make_sim: MakeSim, signer: Signer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await make_sim(markets=2)
    caplog.set_level(logging.DEBUG)
    sent: list[str] = []
    check = sim.gate.check_request

    def recording(method: str, path: str, headers: Mapping[str, str]) -> str:
        sent.append(headers.get("KALSHI-ACCESS-SIGNATURE", ""))
        return check(method, path, headers)

    sim.gate.check_request = recording  # type: ignore[method-assign]
    write_key(tmp_path / "other.pem", "rsa")
    stranger = Signer(KEY_ID, load_private_key(tmp_path / "other.pem", variable="K"))  # a key the sim lacks
    async with KalshiAPIClient(sim.api_url, stranger, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError) as info:
            await api.balance()
        e = info.value
        assert (e.status, e.code, e.message, e.details) == (
            401,
            "authentication_error",
            "signature does not verify",
            "INCORRECT_API_KEY_SIGNATURE",
        )
        assert [m.ticker async for m in api.markets()] == sim.config.resolved_tickers()  # market data is public
    async with KalshiAPIClient(sim.api_url, backoff=FAST) as anonymous:
        with pytest.raises(KalshiAPIError) as info:
            [p async for p in anonymous.positions()]
        assert (info.value.status, info.value.code) == (401, "authentication_error")
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError) as info:
            await api.market("KXNOPE-26DEC31-X")
        assert (info.value.status, info.value.code, info.value.details) == (404, "market_not_found", "KXNOPE-26DEC31-X")
        with pytest.raises(KalshiAPIError, match="order not found") as info:
            await api.order("no-such-order")
        assert (info.value.status, info.value.code) == (404, "not_found")
        with pytest.raises(KalshiAPIError) as info:
            await api.event("KXNOPE-26DEC31")
        assert (info.value.status, info.value.code, info.value.message) == (404, "not_found", "event not found")
        with pytest.raises(KalshiAPIError) as info:
            await api.series("KXNOPE")
        assert (info.value.status, info.value.code) == (404, "not_found")
        with pytest.raises(KalshiAPIError) as info:
            [m async for m in api.markets(status="bogus")]
        assert (info.value.status, info.value.code) == (400, "bad_request")
        assert "status must be one of" in info.value.details
        with pytest.raises(KalshiAPIError) as info:
            [m async for m in api.markets(limit=1001)]
        assert (info.value.status, info.value.code) == (400, "bad_request") and "limit" in info.value.details
        with pytest.raises(KalshiAPIError) as info:
            await api.orderbook(sim.config.resolved_tickers()[0], depth=101)
        assert (info.value.status, info.value.code) == (400, "bad_request")
        with pytest.raises(KalshiAPIError) as info:  # an endpoint the simulator does not serve
            await api.account_limits()
        assert (info.value.status, info.value.code) == (404, "not_found")
        assert api.retries == 0  # 400, 401 and 404 are final
    assert sim.gate.rest_rejected == 2
    # the signatures the signed portfolio requests carried (balance, order; positions went unsigned): none in a log
    assert len(sent) == 3 and sent[1] == "" and sent[0] and sent[2]
    assert not any(s in caplog.text for s in sent if s) and KEY_ID not in caplog.text


# ---- faults: 429 bursts and the bucket, 503, dropped replies, slow replies ---------------------------------------


def max_in_window(times: list[float], window: float) -> int:
    """The most requests seen within any ``window`` seconds."""
    times = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_429_bursts_are_retried_and_the_bucket_keeps_the_rate_under_the_budget(
    make_sim: MakeSim, signer: Signer
) -> None:
    # 100 tokens/s at 10 a read: 10 reads/s, a burst of 3. Every 5th request is refused with 429.
    sim = await make_sim(markets=2, faults=["rest-429:every=5"])
    seen = Seen(sim)
    tier = RateTier("tiny", read_rate=100, read_capacity=30, write_rate=1, write_capacity=1)
    async with KalshiAPIClient(sim.api_url, signer, tier=tier, backoff=FAST) as api:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        got = await asyncio.gather(*(api.exchange_status() for _ in range(12)))
        elapsed = loop.time() - t0
        assert all(s.exchange_active for s in got)
        refused = sim.faults.counts["rest-429"]
        assert refused >= 2 and api.retries == refused and api.requests == len(seen.times) == 12 + refused
    # the budget: never more than the burst plus what the rate allows in any window (one request of slack for the
    # scheduling jitter between the client's clock and the simulator's)
    for window in (0.1, 0.3, 0.5, 1.0):
        assert max_in_window(seen.times, window) <= 3 + 10 * window + 1, (window, seen.times)
    assert elapsed >= (len(seen.times) - 3) / 10 - 0.05  # paced: at 10 reads/s after the burst


async def test_a_429_empties_the_bucket(make_sim: MakeSim, signer: Signer) -> None:
    """After a 429 the server's bucket is empty, so the local one is emptied too: the retry waits a full refill of
    one read (0.1 s at 100 tokens/s), though the local bucket still held a burst."""
    sim = await make_sim(markets=1, faults=["rest-429:count=1"])
    seen = Seen(sim)
    tier = RateTier("tiny", read_rate=100, read_capacity=300, write_rate=1, write_capacity=1)
    async with KalshiAPIClient(sim.api_url, signer, tier=tier, backoff=FAST) as api:
        await api.exchange_status()
        assert api.bucket(CallKind.READ).tokens(asyncio.get_running_loop().time()) < 300
    assert len(seen.times) == 2 and seen.times[1] - seen.times[0] >= 0.09


async def test_429_for_ever_gives_up_with_the_rate_limited_error(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(markets=1, faults=["rest-429:count=all"])
    tier = RateTier("quick", read_rate=10_000, read_capacity=40, write_rate=1, write_capacity=1)
    async with KalshiAPIClient(sim.api_url, signer, tier=tier, backoff=FAST) as api:
        with pytest.raises(RateLimited, match=r"^HTTP 429: too many requests$") as info:
            await api.exchange_status()
        assert info.value.status == 429 and api.requests == FAST.retries + 1
    assert sim.faults.counts["rest-429"] == FAST.retries + 1


async def test_503_and_dropped_replies_are_retried_for_reads(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(markets=4, faults=["rest-503:count=2", "rest-drop:at=3"])
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        # requests 1, 2: 503; 3: the status; 4: markets, dropped mid-reply; 5: markets again
        assert (await api.exchange_status()).exchange_active
        assert [m.ticker async for m in api.markets()] == sim.config.resolved_tickers()
        assert api.retries == 3 and api.requests == 5
    assert sim.faults.counts["rest-503"] == 2 and sim.faults.counts["rest-drop"] == 1

    sim = await make_sim(markets=1, faults=["rest-503:count=all"])
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        with pytest.raises(KalshiAPIError) as info:
            await api.exchange_status()
        assert (info.value.status, info.value.code, info.value.details) == (
            503,
            "service_unavailable",
            "simulator fault rest-503",
        )
        assert api.requests == FAST.retries + 1

    sim = await make_sim(markets=1, faults=["rest-drop:count=all"])
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        with pytest.raises(KalshiConnectionError, match=r"^GET /trade-api/v2/markets: .* after 4 attempts$"):
            [m async for m in api.markets()]
    assert sim.faults.counts["rest-drop"] == FAST.retries + 1


async def test_a_write_is_never_retried(make_sim: MakeSim, signer: Signer) -> None:
    """A V1 order write is gone (410, as on Kalshi); the faults hit a write as they hit a read: sent exactly once."""
    sim = await make_sim(markets=1, faults=["rest-503:count=1", "rest-drop:at=1"])
    seen = Seen(sim)
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        # a 5xx and a connection dropped after the request left: the outcome is unknown, never retried
        with pytest.raises(WriteOutcomeUnknown) as unknown:
            await api._request("POST", "/portfolio/orders", kind=CallKind.WRITE)
        assert unknown.value.status == 503
        with pytest.raises(WriteOutcomeUnknown, match=r"outcome is unknown \(a write is never retried blindly\)$"):
            await api._request("DELETE", "/portfolio/orders/o1", kind=CallKind.WRITE, cost=2)
        with pytest.raises(KalshiAPIError) as info:
            await api._request("POST", "/portfolio/orders", kind=CallKind.WRITE)
        assert (info.value.status, info.value.code) == (410, "deprecated_v1_order_endpoint")
        assert api.retries == 0
    assert len(seen.times) == 3


async def test_rest_slow_against_the_client_timeout(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(markets=1, faults=["rest-slow:ms=150"])
    seen = Seen(sim)
    once = Backoff(base=0.001, cap=0.001, retries=1)
    async with KalshiAPIClient(sim.api_url, signer, backoff=once, timeout=2.0) as patient:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await patient.exchange_status()).exchange_active  # late, within the timeout
        assert loop.time() - t0 >= 0.14 and patient.retries == 0
    async with KalshiAPIClient(sim.api_url, signer, backoff=once, timeout=0.05) as hasty:
        with pytest.raises(KalshiConnectionError, match=r"^GET /trade-api/v2/exchange/status: .* after 2 attempts$"):
            await hasty.exchange_status()  # each attempt times out; a read is retried once, then given up
        assert hasty.requests == 2
    assert len(seen.times) == 3


async def test_connection_refused_is_retried_then_reported(make_sim: MakeSim, signer: Signer) -> None:
    sim = await make_sim(markets=1)
    url = sim.api_url
    await sim.stop()  # nothing listens there any more
    async with KalshiAPIClient(url, signer, backoff=FAST) as api:
        with pytest.raises(KalshiConnectionError, match=r"^GET /trade-api/v2/exchange/status: .* after 4 attempts$"):
            await api.exchange_status()
        assert api.requests == 4


async def test_from_config_with_the_simulators_credentials(tmp_path: Path) -> None:
    """``--write-credentials``' file (``KALSHI_API_URL`` included) is all a client needs."""
    async with ExchangeSimulator(SimulatorConfig(rate=1, start_paused=True, ping_interval=None)) as sim:
        env = tmp_path / "sim.env"
        sim.write_credentials(env)
        cfg = Config.load(env, environ={})
        assert cfg.api_url == sim.api_url
        async with KalshiAPIClient.from_config(cfg, backoff=FAST) as api:
            assert (await api.balance()).balance == sim.config.starting_balance_cents * 10_000
