"""Quote diffing (trading/quotes.py): each case (keep, decrease, cancel + create, cancel, batches), and a property:
applying the actions to the live orders gives the wanted quotes, with no more writes than needed."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_making_bot.trading.quotes import (
    Action,
    BatchCancel,
    BatchCreate,
    Cancel,
    Create,
    Decrease,
    LiveOrder,
    Quote,
    QuoteKey,
    diff_quotes,
    resting_sizes,
    write_cost,
)

BID = LiveOrder("o1", "KXA", "bid", 4500, 1000, filled=200)
ASK = LiveOrder("o2", "KXA", "ask", 4700, 500)


def test_keep_an_order_that_is_already_right() -> None:
    assert diff_quotes({("KXA", "bid"): Quote(4500, 1000), ("KXA", "ask"): Quote(4700, 500)}, [BID, ASK]) == []


def test_size_down_same_price_is_a_decrease() -> None:
    actions = diff_quotes({("KXA", "bid"): Quote(4500, 600)}, [BID, ASK])
    assert actions == [Decrease(BID, 600)]
    d = actions[0]
    assert isinstance(d, Decrease) and d.amend_count == 800  # amend count = filled 2.00 + remaining 6.00
    assert write_cost(actions) == 10


def test_price_change_or_size_up_is_cancel_and_create() -> None:
    assert diff_quotes({("KXA", "bid"): Quote(4600, 1000)}, [BID]) == [Cancel(BID), Create("KXA", "bid", 4600, 1000)]
    assert diff_quotes({("KXA", "bid"): Quote(4500, 1001)}, [BID]) == [Cancel(BID), Create("KXA", "bid", 4500, 1001)]
    # nothing live there: only a create
    assert diff_quotes({("KXB", "ask"): Quote(3000, 100)}, [BID]) == [Create("KXB", "ask", 3000, 100)]


def test_no_quote_wanted_cancels_and_absent_keys_are_left_alone() -> None:
    assert diff_quotes({("KXA", "ask"): None}, [BID, ASK]) == [Cancel(ASK)]
    assert diff_quotes({("KXA", "ask"): Quote(4700, 0)}, [BID, ASK]) == [Cancel(ASK)]
    assert diff_quotes({}, [BID, ASK]) == []


def test_extra_orders_are_canceled_and_the_best_fit_kept() -> None:
    older = LiveOrder("o3", "KXA", "bid", 4500, 2000)
    exact = LiveOrder("o4", "KXA", "bid", 4500, 600)
    other = LiveOrder("o5", "KXA", "bid", 4400, 600)
    # an exact match is kept (no write), the others canceled in one batch
    assert diff_quotes({("KXA", "bid"): Quote(4500, 600)}, [older, exact, other]) == [BatchCancel((older, other))]
    # no exact match: the first (oldest) large enough is decreased
    assert diff_quotes({("KXA", "bid"): Quote(4500, 500)}, [older, exact, other]) == [
        Decrease(older, 500),
        BatchCancel((exact, other)),
    ]
    # filled-out orders (remaining 0) are not resting
    done = LiveOrder("o6", "KXA", "bid", 4500, 0, filled=600)
    assert diff_quotes({("KXA", "bid"): None}, [done]) == []


def test_batches_and_order_of_writes() -> None:
    live = [LiveOrder(f"o{i}", f"KX{i}", "bid", 4000, 100) for i in range(5)] + [BID]
    wanted: dict[QuoteKey, Quote | None] = {(f"KX{i}", "bid"): Quote(4100, 100) for i in range(5)}
    wanted["KXA", "bid"] = Quote(4500, 100)
    actions = diff_quotes(wanted, live, max_batch=3)
    assert actions == [
        Decrease(BID, 100),
        BatchCancel(tuple(live[:3])),
        BatchCancel(tuple(live[3:5])),
        BatchCreate(tuple(Create(f"KX{i}", "bid", 4100, 100) for i in range(3))),
        BatchCreate(tuple(Create(f"KX{i}", "bid", 4100, 100) for i in range(3, 5))),
    ]
    assert write_cost(actions) == 10 + 2 * 5 + 10 * 5
    with pytest.raises(ValueError, match="max_batch"):
        diff_quotes(wanted, live, max_batch=0)
    with pytest.raises(ValueError, match="negative"):
        diff_quotes({("KXA", "bid"): Quote(4500, -1)}, live)


def test_resting_sizes() -> None:
    done = LiveOrder("o9", "KXA", "ask", 4800, 0)
    more = LiveOrder("o8", "KXB", "bid", 4800, 300)
    assert resting_sizes([BID, ASK, done, more]) == {"KXA": (1000, 500), "KXB": (300, 0)}


_KEYS: list[QuoteKey] = [(t, s) for t in ("KXA", "KXB") for s in ("bid", "ask")]
_PRICES = [4000, 4100, 4200]
_SIZES = [0, 100, 200, 300]


@st.composite
def _live(draw: st.DrawFn) -> list[LiveOrder]:
    orders = draw(
        st.lists(
            st.tuples(st.sampled_from(_KEYS), st.sampled_from(_PRICES), st.sampled_from(_SIZES), st.integers(0, 300)),
            max_size=8,
        )
    )
    return [LiveOrder(f"o{i}", k[0], k[1], p, r, f) for i, (k, p, r, f) in enumerate(orders)]


_wanted = st.dictionaries(
    st.sampled_from(_KEYS),
    st.none() | st.builds(Quote, st.sampled_from(_PRICES), st.sampled_from(_SIZES)),
)


def _apply(live: list[LiveOrder], actions: list[Action]) -> dict[str, LiveOrder]:
    """An independent interpreter of the writes, as the exchange would apply them."""
    book = {o.order_id: o for o in live if o.remaining > 0}
    touched: set[str] = set()
    new_ids = itertools.count()

    def once(order: LiveOrder) -> None:
        assert order.order_id in book and order.order_id not in touched, "an order written twice or not resting"
        touched.add(order.order_id)

    for action in actions:
        if isinstance(action, Decrease):
            once(action.order)
            assert 0 < action.remaining < action.order.remaining
            book[action.order.order_id] = LiveOrder(
                action.order.order_id, action.order.ticker, action.order.side, action.order.price, action.remaining
            )
        elif isinstance(action, (Cancel, BatchCancel)):
            for order in action.orders if isinstance(action, BatchCancel) else (action.order,):
                once(order)
                del book[order.order_id]
        else:
            if isinstance(action, BatchCreate):
                assert len(action.orders) > 1
            for create in action.orders if isinstance(action, BatchCreate) else (action,):
                oid = f"new{next(new_ids)}"
                book[oid] = LiveOrder(oid, create.ticker, create.side, create.price, create.size)
    return book


def _resting(book: dict[str, LiveOrder], key: QuoteKey) -> list[tuple[int, int]]:
    return sorted((o.price, o.remaining) for o in book.values() if (o.ticker, o.side) == key)


@settings(max_examples=400, deadline=None)
@given(live=_live(), wanted=_wanted, max_batch=st.integers(1, 4))
def test_property_actions_turn_live_into_wanted(
    live: list[LiveOrder], wanted: dict[QuoteKey, Quote | None], max_batch: int
) -> None:
    actions = diff_quotes(wanted, live, max_batch=max_batch)
    after = _apply(live, actions)
    before = {o.order_id: o for o in live if o.remaining > 0}
    for key in _KEYS:
        if key not in wanted:
            assert _resting(after, key) == _resting(before, key)
            continue
        quote = wanted[key]
        if quote is None or quote.size == 0:
            assert _resting(after, key) == []
        else:
            assert _resting(after, key) == [(quote.price, quote.size)]
    # fewest writes: no create where a live order could be kept or decreased; a decrease only without an exact one
    creates = [
        c
        for a in actions
        if isinstance(a, (Create, BatchCreate))
        for c in (a.orders if isinstance(a, BatchCreate) else (a,))
    ]
    for c in creates:
        q = wanted[c.ticker, c.side]
        assert q is not None
        assert not any(
            o.remaining >= q.size and o.price == q.price
            for o in before.values()
            if (o.ticker, o.side) == (c.ticker, c.side)
        )
    for a in actions:
        if isinstance(a, Decrease):
            key = (a.order.ticker, a.order.side)
            assert not any(
                o.price == a.order.price and o.remaining == a.remaining
                for o in before.values()
                if (o.ticker, o.side) == key
            )
    # writes come out decreases, cancels, creates
    kinds = [0 if isinstance(a, Decrease) else 1 if isinstance(a, (Cancel, BatchCancel)) else 2 for a in actions]
    assert kinds == sorted(kinds)
