from __future__ import annotations

from market_making_bot.kalshi import Fill, MarketPosition, OrderbookSnapshot, Ticker, TickerV2, Trade
from market_making_bot.marketdata.state import (
    FILL_HISTORY,
    TRADE_HISTORY,
    MarketDataState,
    MarketState,
    SpreadStats,
    VolumeStats,
)

SEC = 1_000_000_000


def trade(n: int, side: str | None = "yes", count: int = 100) -> Trade:
    return Trade(market_ticker="M", yes_price=4500, no_price=5500, count=count, taker_side=side, trade_id=str(n))  # type: ignore[arg-type]


def test_ring_buffers_keep_the_last_100_trades_and_50_fills_but_count_all() -> None:
    m = MarketState("M")
    for n in range(250):
        m.add_trade(trade(n), n)
        m.add_fill(Fill(market_ticker="M", yes_price=4500, count=100, trade_id=str(n), post_position=n))
    assert TRADE_HISTORY == 100 and FILL_HISTORY == 50
    assert len(m.trades) == 100 and m.trades[0].trade_id == "150" and m.trades[-1].trade_id == "249"
    assert len(m.fills) == 50 and m.fills[0].trade_id == "200"
    assert m.trade_count == 250 and m.fill_count == 250
    assert m.position == 249  # from the last fill's post_position


def test_position_from_market_position_and_fills() -> None:
    m = MarketState("M")
    assert m.position is None
    m.apply_position(MarketPosition(market_ticker="M", position=-500, fees_paid=10))
    assert m.position == -500 and m.last_position is not None and m.last_position.fees_paid == 10
    m.add_fill(Fill(market_ticker="M", yes_price=4500, count=100))  # no post_position: unchanged
    assert m.position == -500
    m.add_fill(Fill(market_ticker="M", yes_price=4500, count=100, post_position=-400))
    assert m.position == -400


def test_volume_totals_by_taker_side_and_rolling_window() -> None:
    v = VolumeStats(window_ns=60 * SEC)
    v.add("yes", 100, 0)
    v.add("no", 250, 10 * SEC)
    v.add(None, 50, 30 * SEC)
    t = v.total
    assert (t.count, t.contracts, t.yes_count, t.yes_contracts, t.no_count, t.no_contracts) == (3, 400, 1, 100, 1, 250)
    w = v.window(59 * SEC)
    assert (w.count, w.contracts) == (3, 400)
    w = v.window(60 * SEC)  # the trade at 0 is now exactly 60 s old: out
    assert (w.count, w.contracts, w.yes_count, w.no_contracts) == (2, 300, 0, 250)
    w = v.window(200 * SEC)
    assert (w.count, w.contracts, w.no_count) == (0, 0, 0)
    assert v.total.count == 3  # totals never expire


def test_spread_stats_time_weighted() -> None:
    s = SpreadStats()
    assert s.mean() is None
    s.update(200, 0)  # 2¢ for 1 s
    s.update(100, 1 * SEC)  # 1¢ for 3 s
    s.update(None, 4 * SEC)  # empty side for 6 s: not counted
    s.update(400, 10 * SEC)  # 4¢ from 10 s on
    assert (s.current, s.min, s.max) == (400, 100, 400)
    assert s.mean() == (200 * 1 + 100 * 3) // 4
    assert s.mean(now_ns=14 * SEC) == (200 * 1 + 100 * 3 + 400 * 4) // 8
    s.update(400, 12 * SEC)  # unchanged spread: nothing changes
    assert s.mean(now_ns=14 * SEC) == (200 * 1 + 100 * 3 + 400 * 4) // 8


def test_market_state_spread_follows_the_book() -> None:
    m = MarketState("M")
    m.apply_snapshot(OrderbookSnapshot(market_ticker="M", yes=[(4500, 100)], no=[(5300, 100)], sid=3), 0)
    assert m.has_snapshot and m.sid == 3 and m.spread.current == 200
    assert m.apply_delta("yes", 4600, 100, 2 * SEC) == 100
    assert m.spread.current == 100 and m.spread.min == 100 and m.spread.max == 200
    assert m.spread.mean(4 * SEC) == 150


def test_ticker_v2_merges_into_last_ticker() -> None:
    m = MarketState("M")
    first = Ticker(market_ticker="M", price=4500, yes_bid=4400, yes_ask=4600, volume=1000, open_interest=500)
    m.apply_ticker(first)
    m.apply_ticker_v2(TickerV2(market_ticker="M", price=4700, volume_delta=300, open_interest_delta=-100, ts_ms=9))
    last = m.last_ticker
    assert last is not None and last is not first
    assert (last.price, last.yes_bid, last.yes_ask, last.volume, last.open_interest, last.ts_ms) == (
        4700,
        4400,
        4600,
        1300,
        400,
        9,
    )
    assert first.price == 4500  # the received message is not mutated


def test_market_data_state_filter() -> None:
    s = MarketDataState(["A", "B"])
    assert s.market("A") is not None and s.market("C") is None
    assert s.get("B") is None  # get never creates
    assert sorted(s.markets) == ["A"]
    assert MarketDataState().market("anything") is not None


def test_volume_stats_equal_a_plain_recount() -> None:
    """The inlined totals of ``VolumeStats.add`` and ``_expire`` equal a plain recount of the trades they cover."""
    import random

    from market_making_bot.marketdata.state import VolumeStats

    rng = random.Random(5)
    stats = VolumeStats(window_ns=50)
    trades: list[tuple[int, str | None, int]] = []
    for t in range(0, 2000, 3):
        side = rng.choice(["yes", "no", None])
        size = rng.randrange(1, 10_000)
        stats.add(side, size, t)
        trades.append((t, side, size))
        for name, got, kept in (
            ("total", stats.total, trades),
            ("window", stats.window(t), [x for x in trades if x[0] > t - 50]),
        ):
            want = (
                len(kept), sum(x[2] for x in kept),
                sum(1 for x in kept if x[1] == "yes"), sum(x[2] for x in kept if x[1] == "yes"),
                sum(1 for x in kept if x[1] == "no"), sum(x[2] for x in kept if x[1] == "no"),
            )  # fmt: skip
            have = (got.count, got.contracts, got.yes_count, got.yes_contracts, got.no_count, got.no_contracts)
            assert have == want, (name, t)
