from __future__ import annotations

import random
from decimal import Decimal

import pytest

from market_making_bot.marketdata.orderbook import OrderBook
from market_making_bot.units import PRICE_SCALE


def book_of(yes: list[tuple[int, int]], no: list[tuple[int, int]]) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(yes, no)
    return book


def test_empty_book_views_are_none() -> None:
    book = OrderBook()
    assert book.best_yes_bid() is None and book.best_yes_ask() is None
    assert book.best_no_bid() is None and book.best_no_ask() is None
    assert book.spread() is None and book.mid() is None
    assert book.yes_bid_size() is None and book.yes_ask_size() is None
    assert book.depth("yes") == 0 and book.size_within("no", 5) == 0
    assert book.levels("yes") == [] and not book.is_crossed()


def test_protocol_example_yes_ask_from_no_bid() -> None:
    # PROTOCOL.md section 7: yes bids {0.42: 13}, no bids {0.56: 17} -> YES 0.42 x 13 / 0.44 x 17, spread 0.02.
    book = book_of([(4200, 1300)], [(5600, 1700)])
    assert (book.best_yes_bid(), book.best_yes_ask(), book.spread()) == (4200, 4400, 200)
    assert (book.yes_bid_size(), book.yes_ask_size()) == (1300, 1700)
    assert (book.best_no_bid(), book.best_no_ask()) == (5600, 5800)
    assert (book.no_bid_size(), book.no_ask_size()) == (1700, 1300)
    assert book.mid() == 4300


def test_subpenny_prices_and_fractional_sizes() -> None:
    book = book_of([(4450, 10000), (4500, 1250)], [(5300, 4000), (5450, 725)])
    assert (book.best_yes_bid(), book.best_yes_ask(), book.spread()) == (4500, 4550, 50)  # 45¢ / 45.5¢
    assert book.apply_delta("yes", 4520, 300) == 300
    assert book.best_yes_bid() == 4520 and book.spread() == 30
    assert book.apply_delta("no", 5450, -725) == 0  # removed exactly
    assert 5450 not in book.no and book.best_no_bid() == 5300 and book.best_yes_ask() == 4700
    assert book.apply_delta("yes", 4450, -50) == 9950
    assert book.levels("yes") == [(4450, 9950), (4500, 1250), (4520, 300)]
    assert book.mid() == (4520 + 4700) // 2


def test_delta_semantics() -> None:
    book = book_of([(4000, 500)], [])
    assert book.apply_delta("yes", 4000, 0) == 500  # no-op
    assert book.apply_delta("yes", 3900, 0) == 0 and 3900 not in book.yes  # no-op on an absent level
    assert book.apply_delta("yes", 3900, 100) == 100  # new level
    assert book.apply_delta("yes", 4000, -700) == -200  # below zero: reported, level removed
    assert book.yes == {3900: 100} and book.best_yes_bid() == 3900
    assert book.apply_delta("yes", 3800, -5) == -5 and 3800 not in book.yes  # negative on an absent level
    with pytest.raises(ValueError):
        book.apply_delta("maybe", 3900, 1)


def test_snapshot_replaces_and_drops_empty_levels() -> None:
    book = book_of([(4000, 500), (4100, 100)], [(5000, 1)])
    book.apply_snapshot([(3000, 200), (3100, 0)], [])
    assert book.yes == {3000: 200} and book.no == {}
    assert book.best_yes_bid() == 3000 and book.best_no_bid() is None
    assert book.best_yes_ask() is None and book.spread() is None


def test_best_recomputed_only_when_best_removed() -> None:
    book = book_of([(100, 1), (200, 1), (300, 1)], [])
    book.apply_delta("yes", 200, -1)
    assert book.best_yes_bid() == 300
    book.apply_delta("yes", 300, -1)
    assert book.best_yes_bid() == 100
    book.apply_delta("yes", 100, -1)
    assert book.best_yes_bid() is None
    book.apply_delta("yes", 50, 1)
    assert book.best_yes_bid() == 50


def test_crossed_and_locked() -> None:
    assert not book_of([(4500, 1)], [(5400, 1)]).is_crossed()
    locked = book_of([(4500, 1)], [(5500, 1)])
    assert locked.is_crossed() and locked.spread() == 0  # bid + no bid = $1 counts as crossed
    crossed = book_of([(4600, 1)], [(5500, 1)])
    assert crossed.is_crossed() and crossed.spread() == -100


def test_depth_and_size_within() -> None:
    book = book_of([(4000, 100), (4400, 200), (4450, 50), (4500, 1000)], [(5000, 7)])
    assert book.depth("yes") == 4 and book.depth("no") == 1
    assert book.size_within("yes", 0) == 1000
    assert book.size_within("yes", 1) == 1000 + 50 + 200  # 44.5¢ and 44¢ are within 1¢ of 45¢ (inclusive)
    assert book.size_within("yes", 4) == 1250
    assert book.size_within("yes", 5) == 1350
    assert book.size_within("no", 100) == 7


def test_random_deltas_match_a_decimal_model() -> None:
    """Property check: levels and cached best prices always match a Decimal reference model."""
    rng = random.Random(7)
    book = OrderBook()
    model: dict[str, dict[Decimal, Decimal]] = {"yes": {}, "no": {}}
    ticks = [Decimal(p) / 1000 for p in range(400, 600)]  # deci-cent grid around 50¢

    def expected_levels(side: str) -> list[tuple[int, int]]:
        return sorted((int(p * PRICE_SCALE), int(q * 100)) for p, q in model[side].items())

    for step in range(20000):
        side = rng.choice(("yes", "no"))
        price = rng.choice(ticks)
        delta = Decimal(rng.randint(-500, 800)) / 100
        new = model[side].get(price, Decimal(0)) + delta
        if new > 0:
            model[side][price] = new
        else:
            model[side].pop(price, None)
        book.apply_delta(side, int(price * PRICE_SCALE), int(delta * 100))
        best = max(model[side]) if model[side] else None
        got = book.best_yes_bid() if side == "yes" else book.best_no_bid()
        assert got == (None if best is None else int(best * PRICE_SCALE))
        if step % 1000 == 0:
            assert book.levels("yes") == expected_levels("yes")
            assert book.levels("no") == expected_levels("no")
    assert book.levels("yes") == expected_levels("yes") and book.levels("no") == expected_levels("no")
    assert all(size > 0 for size in (*book.yes.values(), *book.no.values()))
