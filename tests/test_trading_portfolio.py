"""Positions and P&L (trading/portfolio.py): hand-computed fill sequences, the WebSocket and REST fill shapes, the
checks against Kalshi's positions, and properties against an independent ``Fraction`` recomputation."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_making_bot.kalshi import messages, rest
from market_making_bot.marketdata.orderbook import OrderBook
from market_making_bot.marketdata.state import MarketState
from market_making_bot.trading.fees import FeeSchedule
from market_making_bot.trading.portfolio import (
    Mark,
    Portfolio,
    PositionBook,
    book_mark,
    book_side_of,
    state_mark,
)
from market_making_bot.units import PRICE_SCALE


def test_average_cost_partial_close_and_through_zero() -> None:
    book = PositionBook("KXA")
    assert book.apply("bid", 4000, 1000, 10_000) == 0  # buy 10 YES at 0.40
    assert book.apply("bid", 5000, 1000, 10_000) == 0  # buy 10 YES at 0.50
    assert (book.position, book.basis) == (2000, 9_000_000)
    assert book.pnl().average_cost == 4500
    # sell 5 at 0.60: 5 x (0.60 - 0.45) = $0.75
    assert book.apply("ask", 6000, 500, 10_000) == 750_000
    assert (book.position, book.basis) == (1500, 6_750_000)
    # sell 20 at 0.55: closes 15 (15 x (0.55 - 0.45) = $1.50), opens 5 short at 0.55
    assert book.apply("ask", 5500, 2000, 10_000) == 1_500_000
    assert (book.position, book.basis, book.realized) == (-500, -2_750_000, 2_250_000)
    assert book.pnl().average_cost == 5500
    assert book.cash_flow == -4_000_000 - 5_000_000 + 3_000_000 + 11_000_000 == book.realized - book.basis
    assert book.fees == 40_000 and book.volume == 4500 and book.fills == 4
    # marked at the mid of 0.50 / 0.501: 5 short x (0.55 - 0.5005) = $0.2475
    pnl = book.pnl(Mark.mid(5000, 5010))
    assert pnl.unrealized_x2 == 495_000 and pnl.unrealized == 247_500
    # total = cash flow + position x mark - fees = 5.00 - 5 x 0.5005 - 0.04 = 2.4575
    assert pnl.total_x2 == 2 * 5_000_000 - 500 * 10_010 - 2 * 40_000 and pnl.total == 2_457_500
    assert pnl.total == pnl.realized + pnl.unrealized - pnl.fees  # (no half unit here)


def test_truncation_toward_zero_and_full_close_removes_all_basis() -> None:
    long = PositionBook("KXA")
    long.apply("bid", 4000, 1, 0)
    long.apply("bid", 4001, 2, 0)  # basis 12,002 for 3 units
    assert long.apply("ask", 5000, 2, 0) == 10_000 - 8_001  # removed 24,004 / 3 = 8,001.33 -> 8,001
    assert long.basis == 4_001
    assert long.apply("ask", 5000, 1, 0) == 5_000 - 4_001  # the rest of the basis, exactly
    assert (long.position, long.basis, long.realized) == (0, 0, 15_000 - 12_002)
    short = PositionBook("KXA")
    short.apply("ask", 4000, 1, 0)
    short.apply("ask", 4001, 2, 0)
    assert short.basis == -12_002
    assert short.apply("bid", 3000, 2, 0) == 8_001 - 6_000  # magnitude truncated too
    assert short.basis == -4_001


def test_no_position_pnl_is_the_real_cash_result() -> None:
    # Buy 10 NO at $0.30 (= sell YES at 0.70): pay $3.00. NO wins (mark 0): +$7.00; YES wins (mark $1): -$3.00.
    p = Portfolio()
    fill = messages.Fill(market_ticker="KXA", yes_price=7000, count=1000, side="no", action="buy", fee=147_000)
    assert p.apply_ws_fill(fill).applied
    assert p.pnl("KXA", Mark.at(0)).total == 7_000_000 - 147_000
    assert p.pnl("KXA", Mark.at(PRICE_SCALE)).total == -3_000_000 - 147_000
    assert p.books["KXA"].position == -1000 and p.pnl("KXA").average_cost == 7000


def test_buying_no_while_long_yes_nets_down_and_post_position_is_checked() -> None:
    p = Portfolio()
    p.apply_ws_fill(messages.Fill(market_ticker="KXA", yes_price=4000, count=1000, side="yes", action="buy", fee=0))
    r = p.apply_ws_fill(
        messages.Fill(market_ticker="KXA", yes_price=6000, count=400, side="no", action="buy", fee=0, post_position=600)
    )
    assert r.applied and r.mismatch is None and r.realized == 400 * 2000
    assert p.books["KXA"].position == 600
    r = p.apply_ws_fill(
        messages.Fill(market_ticker="KXA", yes_price=6000, count=100, side="no", action="sell", post_position=0, fee=0)
    )
    assert r.mismatch is not None and (r.mismatch.ours, r.mismatch.theirs) == (700, 0)
    assert p.mismatches == 1
    assert str(r.mismatch) == "position mismatch KXA: ours 7.00, fill.post_position says 0.00"


def test_side_mapping() -> None:
    assert [book_side_of(o, a) for o, a in [("yes", "buy"), ("yes", "sell"), ("no", "buy"), ("no", "sell")]] == [
        "bid",
        "ask",
        "ask",
        "bid",
    ]
    assert book_side_of("no", None) == "ask"  # purchased_side without an action: what was bought
    with pytest.raises(ValueError, match="fill side None"):
        book_side_of(None, "buy")


def _rest_fill(fill_id: str, book_side: str, price: int, count: int, fee: int) -> rest.Fill:
    return rest.Fill(
        fill_id=fill_id,
        trade_id=fill_id,
        order_id="o1",
        ticker="KXA",
        outcome_side="yes" if book_side == "bid" else "no",
        book_side=book_side,
        count_fp=rest.Size(count),
        yes_price_dollars=rest.Price(price),
        no_price_dollars=rest.Price(PRICE_SCALE - price),
        is_taker=True,
        fee_cost=rest.Money(fee),
    )


def test_duplicates_between_ws_and_rest_are_dropped() -> None:
    p = Portfolio()
    ws = messages.Fill(market_ticker="KXA", yes_price=1700, count=552, side="yes", action="buy", fee=54_600)
    ws.trade_id = "t1"
    assert p.apply_ws_fill(ws).applied
    assert not p.apply_rest_fill(_rest_fill("t1", "bid", 1700, 552, 54_600)).applied
    assert p.apply_rest_fill(_rest_fill("t2", "ask", 1800, 552, 54_600)).applied
    assert p.duplicates == 1 and p.books["KXA"].fills == 2 and p.books["KXA"].position == 0
    assert p.books["KXA"].realized == 552 * 100
    with pytest.raises(ValueError, match="book_side 'buy'"):
        p.apply_rest_fill(_rest_fill("t3", "buy", 1800, 552, 0))


def test_missing_fee_is_computed_or_refused() -> None:
    fill = messages.Fill(market_ticker="KXA", yes_price=1700, count=552, side="yes", action="buy", is_taker=True)
    with pytest.raises(ValueError, match="no fee_cost"):
        Portfolio().apply_ws_fill(fill)
    p = Portfolio({"KXA": FeeSchedule.of("quadratic")})
    r = p.apply_ws_fill(fill)
    assert r.fee_computed and p.books["KXA"].fees == 54_600


def test_bad_fill_values_are_refused_and_not_marked_seen() -> None:
    p = Portfolio()
    with pytest.raises(ValueError, match="size 0"):
        p.apply_fill("KXA", "bid", 5000, 0, 0, trade_id="t1")
    with pytest.raises(ValueError, match="price"):
        p.apply_fill("KXA", "bid", 10_001, 1, 0)
    with pytest.raises(ValueError, match="fee"):
        p.apply_fill("KXA", "bid", 5000, 1, -1)
    with pytest.raises(ValueError, match="side"):
        p.apply_fill("KXA", "buy", 5000, 1, 0)  # type: ignore[arg-type]
    assert p.apply_fill("KXA", "bid", 5000, 1, 0, trade_id="t1").applied


def _rest_position(ticker: str, position: int, exposure: int) -> rest.MarketPosition:
    return rest.MarketPosition(
        ticker=ticker,
        position_fp=rest.Size(position),
        market_exposure_dollars=rest.Money(exposure),
        total_traded_dollars=rest.Money(0),
        realized_pnl_dollars=rest.Money(0),
        fees_paid_dollars=rest.Money(0),
    )


def test_checks_against_rest_and_market_position() -> None:
    p = Portfolio()
    p.apply_fill("KXA", "bid", 5000, 300, 0)
    p.apply_fill("KXB", "ask", 5000, 200, 0)
    p.apply_fill("KXC", "bid", 5000, 100, 0)
    found = p.check_rest_positions([_rest_position("KXA", 300, 0), _rest_position("KXB", -100, 0)])
    assert [(m.ticker, m.ours, m.theirs) for m in found] == [("KXB", -200, -100), ("KXC", 100, 0)]
    assert p.mismatches == 2
    assert p.check_market_position(messages.MarketPosition(market_ticker="KXA", position=300)) is None
    m = p.check_market_position(messages.MarketPosition(market_ticker="KXZ", position=100))
    assert m is not None and m.source == "market_position" and m.ours == 0
    assert p.mismatches == 3


def test_seed_from_rest_positions() -> None:
    p = Portfolio()
    # 10 NO that cost $3.00 = 10 YES sold at 0.70; 4 YES that cost $2.00.
    p.seed_rest([_rest_position("KXA", -1000, 3_000_000), _rest_position("KXB", 400, 2_000_000)])
    assert p.books["KXA"].basis == -7_000_000 and p.pnl("KXA").average_cost == 7000
    assert p.pnl("KXA").cost == 3_000_000 and p.pnl("KXB").cost == 2_000_000  # back to Kalshi's exposure
    assert p.books["KXB"].basis == 2_000_000 and p.pnl("KXB").average_cost == 5000
    # buying the 10 NO back... as YES at 0.60 realizes 10 x (0.70 - 0.60)
    assert p.apply_fill("KXA", "bid", 6000, 1000, 0).realized == 1_000_000
    with pytest.raises(ValueError, match="empty"):
        p.books["KXB"].seed(100, 0)


def test_marks_from_books_and_totals() -> None:
    book = OrderBook()
    assert book_mark(book) is None
    book.apply_snapshot([(4500, 100)], [(5490, 100)])  # YES bid 0.45, YES ask 0.451
    assert book_mark(book) == Mark(9010) and str(Mark(9010)) == "0.45050"
    book.apply_snapshot([(4500, 100)], [(5500, 100)])  # locked: bid == ask
    assert book_mark(book) is None
    state = MarketState("KXA")
    assert state_mark(state) is None  # no snapshot: not usable
    state.apply_snapshot(messages.OrderbookSnapshot(market_ticker="KXA", yes=[(4000, 1)], no=[(5000, 1)]), 0)
    assert state_mark(state) == Mark(9000)
    with pytest.raises(ValueError):
        Mark(20_001)

    p = Portfolio()
    p.apply_fill("KXA", "bid", 4500, 1, 100)
    p.apply_fill("KXB", "ask", 4500, 1, 100)
    t = p.totals({"KXA": Mark(9001)})
    assert t.total is None  # KXB has a position and never had a mark
    t = p.totals({"KXB": Mark.at(4000)})  # KXA keeps its last mark
    # KXA: -4500 + 4500.5 - 100 = -99.5; KXB: 4500 - 4000 - 100 = 400: exact sum 300.5, floored 300
    assert t.total_x2 == 601 and t.total == 300 and t.gross_position == 2 and t.fees == 200
    assert p.summary_line() == "position 0.02 realized 0.000000 fees 0.000200 total 0.000300"
    p.add_rounding_fee("KXA", 6_700)
    p.add_rebate("KXA", 10_000)
    t = p.totals()
    assert (t.rounding_fees, t.rebates, t.total) == (6_700, 10_000, 300)  # apart from the total


_fill = st.tuples(
    st.sampled_from(["bid", "ask"]), st.integers(1, PRICE_SCALE - 1), st.integers(1, 5_000), st.integers(0, 5_000)
)


@settings(max_examples=300, deadline=None)
@given(fills=st.lists(_fill, max_size=40), mark=st.integers(0, 2 * PRICE_SCALE))
def test_property_total_equals_fraction_recomputation(fills: list[tuple[str, int, int, int]], mark: int) -> None:
    book = PositionBook("KXP")
    cash = Fraction(0)
    position = 0
    fees = 0
    # an independent average-cost twin, exact in Fractions (no truncation)
    avg = Fraction(0)
    realized = Fraction(0)
    closes = 0
    for side, price, size, fee in fills:
        book.apply(side, price, size, fee)  # type: ignore[arg-type]
        signed = size if side == "bid" else -size
        cash -= Fraction(signed * price)
        fees += fee
        if position == 0 or (position > 0) == (signed > 0):
            avg = (avg * abs(position) + price * size) / (abs(position) + size)
        else:
            closes += 1
            closed = min(size, abs(position))
            realized += closed * (price - avg) * (1 if position > 0 else -1)
            if size > abs(position):
                avg = Fraction(price)
        position += signed
        if position == 0:
            avg = Fraction(0)
    pnl = book.pnl(Mark(mark))
    exact_total = cash + position * Fraction(mark, 2) - fees
    assert pnl.position == position
    assert pnl.cash_flow == cash and pnl.fees == fees
    assert Fraction(pnl.total_x2 or 0, 2) == exact_total and pnl.total_x2 is not None
    assert pnl.total == exact_total.__floor__()
    assert pnl.cash_flow == pnl.realized - pnl.basis
    # truncation moves less than one micro-dollar per closing fill between realized and unrealized
    assert abs(pnl.realized - realized) < max(closes, 1)
    assert pnl.unrealized_x2 is not None
    assert Fraction(pnl.realized) + Fraction(pnl.unrealized_x2, 2) - pnl.fees == exact_total
