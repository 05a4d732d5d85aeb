"""The exchange: markets, YES/NO bid books, a seeded order-flow generator and one simulated user.

Pure and synchronous. :meth:`ExchangeModel.step` performs one exchange action (a limit order, a
cancel, or a marketable order that trades) on one market and returns the events it caused, in
the order a client must see them:

* :class:`BookDelta` for every changed level (a trade emits one per consumed level),
* :class:`Trade` for every trade,
* :class:`Fill` and :class:`Position` when the simulated user took part,
* :class:`Ticker` when the top of the book or the last trade changed.

Every event of one action carries the same exchange ``clock``. Prices, sizes and money are
integers (see :mod:`.units`). Books never cross: a limit order that would cross is placed one tick
inside the spread instead, and only marketable orders remove resting size.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from market_making_bot.simulator.book import Ladder as Ladder
from market_making_bot.simulator.book import Market as Market
from market_making_bot.simulator.book import Order as Order
from market_making_bot.simulator.book import Side as Side
from market_making_bot.simulator.book import UserBook as UserBook
from market_making_bot.simulator.events import BookDelta as BookDelta
from market_making_bot.simulator.events import Event as Event
from market_making_bot.simulator.events import Fill as Fill
from market_making_bot.simulator.events import Position as Position
from market_making_bot.simulator.events import Ticker as Ticker
from market_making_bot.simulator.events import Trade as Trade
from market_making_bot.simulator.units import CONTRACT, ONE, TICKS, fmt_price, fmt_size

# --------------------------------------------------------------------------------------------------
# The model

TRADE_LOG_SIZE = 10_000
"""Public trades kept for ``GET /markets/trades`` (the oldest are forgotten beyond it)."""
TradeRecord = tuple[str, str, int, int, Side, int]
"""A public trade as kept: (trade id, ticker, YES price units, size units, taker's outcome side, Unix ms)."""


def kalshi_fee(rate: Fraction, count: int, price: int) -> int:
    """Kalshi's trading fee ``rate x C x P x (1 - P)``, rounded up to $0.0001, in micro-dollars.

    ``count`` in size units (1/100 contract), ``price`` in price units.
    """
    num = rate.numerator * count * price * (ONE - price)
    den = rate.denominator * CONTRACT * ONE
    return -(-num // den) * 100


FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees")
"""The series ``fee_type`` values the simulator charges (REST.md 6.8; ``flat`` is not simulated)."""


def maker_rate_for(fee_type: str, maker_rate: Fraction, taker_rate: Fraction) -> Fraction:
    """The maker's fee rate of a series with ``fee_type`` (REST.md 6.8): none on ``quadratic``,
    ``maker_rate`` on ``quadratic_with_maker_fees``, half the taker's on the combo variant."""
    if fee_type == "quadratic":
        return Fraction(0)
    if fee_type == "quadratic_with_maker_fees":
        return maker_rate
    if fee_type == "quadratic_with_combo_maker_fees":
        return taker_rate / 2
    raise ValueError(f"unknown fee_type {fee_type!r} (known: {', '.join(FEE_TYPES)})")


def default_tickers(n: int) -> list[str]:
    return [f"KXSIM-26DEC31-M{i + 1}" for i in range(n)]


class ExchangeModel:
    """Deterministic for a given seed and sequence of calls."""

    def __init__(
        self,
        tickers: list[str],
        *,
        seed: int = 1,
        tick: str = "cent",
        fractional_sizes: bool = True,
        maker_fee_rate: Fraction = Fraction(175, 10_000),
        taker_fee_rate: Fraction = Fraction(7, 100),
        depth: int = 10,
        now_ms: Callable[[], int] | None = None,
        unopened: Iterable[str] = (),
    ) -> None:
        if tick not in TICKS:
            raise ValueError(f"unknown tick structure {tick!r} (known: {', '.join(TICKS)})")
        if not tickers:
            raise ValueError("at least one market is needed")
        if len(set(tickers)) != len(tickers):
            raise ValueError("duplicate market tickers")
        self.rng = random.Random(seed)
        self.tick_name = tick
        self.tick = TICKS[tick]
        self.fractional_sizes = fractional_sizes
        self.maker_fee_rate = maker_fee_rate
        self.taker_fee_rate = taker_fee_rate
        self.depth = depth
        self._now_ms = now_ms or (lambda: 0)
        self.clock = 0
        self.user_active = False
        self.user_stopped = False  # the built-in user stopped for good (the account trades over REST)
        # called for a maker fill of an order placed over REST (:mod:`.matching` installs it)
        self.maker_hook: Callable[[Market, Order, str, int, int, int, list[Event]], None] | None = None
        self.user_id = self._uuid()
        # widest offset from fair value, in ticks, at which orders are placed
        self.max_offset = 12 if self.tick >= 100 else 100
        self.mean_offset = 2.5 if self.tick >= 100 else 18.0
        self.markets: dict[str, Market] = {}
        self.market_list: list[Market] = []
        self.by_id: dict[str, Market] = {}
        for t in tickers:
            fair = self._round_tick(self.rng.randint(2 * ONE // 10, 8 * ONE // 10))
            m = Market(t, self._uuid(), self.tick, fair)
            self.markets[t] = m
            self.market_list.append(m)
            self.by_id[m.market_id] = m
            self._seed_book(m)
            m.last_top = m.top()
        # the markets the order flow trades: every market but the ``unopened`` ones until :meth:`open_market`
        # (their books are seeded and quiet); with none unopened it is market_list, and the draws are the same
        self.unopened: set[str] = set(unopened)
        unknown = self.unopened - set(self.markets)
        if unknown:
            raise ValueError(f"unopened markets not in the market list: {', '.join(sorted(unknown))}")
        if len(self.unopened) == len(tickers):
            raise ValueError("at least one market must be open from the start")
        self.trading: list[Market] = [m for m in self.market_list if m.ticker not in self.unopened]
        self.fills = 0
        self.fill_log: list[Fill] = []  # every fill of the simulated user, oldest first (REST reads it)
        # the public trades, oldest first (``GET /markets/trades`` reads it): the last TRADE_LOG_SIZE, as plain
        # tuples (not the Trade events, which hold their encoded frames)
        self.trade_log: deque[TradeRecord] = deque(maxlen=TRADE_LOG_SIZE)
        self.steps = 0

    # ---- helpers ---------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _round_tick(self, price: int) -> int:
        return max(self.tick, min(ONE - self.tick, price - price % self.tick))

    def _size(self, lo: int, hi: int) -> int:
        if self.fractional_sizes and self.rng.random() < 0.1:
            return self.rng.randint(lo * CONTRACT, hi * CONTRACT)
        return self.rng.randint(lo, hi) * CONTRACT

    def _part(self, size: int) -> int:
        """A random amount in [1 unit, size]; whole contracts unless sizes may be fractional."""
        if self.fractional_sizes or size % CONTRACT:
            return self.rng.randint(1, size)
        return self.rng.randint(1, size // CONTRACT) * CONTRACT

    def _offset(self) -> int:
        return 1 + min(int(self.rng.expovariate(1.0 / self.mean_offset)), self.max_offset - 1)

    def _fair_on(self, m: Market, side: Side) -> int:
        return m.fair if side == "yes" else ONE - m.fair

    def _limit_price(self, m: Market, side: Side, offset_ticks: int) -> int | None:
        """A bid ``offset_ticks`` below fair value, moved inside the spread if it would cross."""
        price = self._fair_on(m, side) - offset_ticks * self.tick
        other = m.ladder("no" if side == "yes" else "yes").best()
        if other is not None and price + other >= ONE:
            price = ONE - other - self.tick
        if price < self.tick or price > ONE - self.tick:
            return None
        return price

    def _seed_book(self, m: Market) -> None:
        for side in ("yes", "no"):
            offsets = sorted(self.rng.sample(range(1, self.max_offset + 1), min(self.depth, self.max_offset)))
            for off in offsets:
                price = self._fair_on(m, side) - off * self.tick
                if price < self.tick:
                    continue
                for _ in range(self.rng.randint(1, 3)):
                    m.ladder(side).add(price, Order(self._uuid(), self._size(1, 300)))

    # ---- public ----------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The exchange's time (what events are stamped with; injectable for tests)."""
        return self._now_ms()

    def activate_user(self) -> None:
        """Let the simulated user start trading (idempotent; nothing once :meth:`stop_auto_user` ran)."""
        if not self.user_stopped:
            self.user_active = True

    def stop_auto_user(self) -> list[Event]:
        """The built-in user stops for good: its resting orders are canceled (the deltas are returned)."""
        self.user_active = False
        self.user_stopped = True
        events: list[Event] = []
        ts = self._now_ms()
        for m in self.market_list:
            if m.user is None or not m.user.resting:
                continue
            self.clock += 1
            for side, (price, order) in list(m.user.resting.items()):
                size = order.size
                m.ladder(side).reduce(price, order, size)
                events.append(BookDelta(m, side, price, -size, self.clock, ts, order.client_order_id))
            m.user.resting.clear()
            m.clock = self.clock
            m.last_top = m.top()
            events.append(Ticker(m, ts))
        return events

    def market(self, ticker: str) -> Market:
        return self.markets[ticker]

    def open_market(self, ticker: str) -> bool:
        """An unopened market opens: the order flow trades it from now on. ``False`` if it was open already."""
        if ticker not in self.unopened:
            if ticker not in self.markets:
                raise KeyError(ticker)
            return False
        self.unopened.discard(ticker)
        self.trading = [m for m in self.market_list if m.ticker not in self.unopened]
        return True

    def step(self) -> list[Event]:
        """One exchange action on one market; returns the events it caused (possibly none)."""
        rng = self.rng
        m = self.trading[rng.randrange(len(self.trading))]
        if rng.random() < 0.08:
            m.fair = max(5 * ONE // 100, min(95 * ONE // 100, m.fair + rng.choice((-self.tick, self.tick))))
        self.steps += 1
        self.clock += 1
        clock = self.clock
        ts = self._now_ms()
        events: list[Event] = []
        traded = False
        if self.user_active and rng.random() < 0.1:
            traded = self._user_action(m, clock, ts, events)
        else:
            traded = self._background_action(m, clock, ts, events)
        if events:
            m.clock = clock
            top = m.top()
            if traded or top != m.last_top:
                m.last_top = top
                events.append(Ticker(m, ts))
        return events

    # ---- order flow ------------------------------------------------------------------------------

    def _background_action(self, m: Market, clock: int, ts: int, events: list[Event]) -> bool:
        rng = self.rng
        n = m.yes.n_orders + m.no.n_orders
        target = 4 * self.depth
        r = rng.random()
        p_add = 0.5 if n < target else 0.33
        if r < p_add:
            side = "yes" if rng.random() < 0.5 else "no"
            price = self._limit_price(m, side, self._offset())
            if price is None:
                return False
            order = Order(self._uuid(), self._size(1, 250))
            m.ladder(side).add(price, order)
            events.append(BookDelta(m, side, price, order.size, clock, ts, None))
            return False
        if r < 0.86:
            side = "yes" if rng.random() < 0.5 else "no"
            ladder = m.ladder(side)
            if not ladder.prices:
                return False
            price = ladder.prices[rng.randrange(len(ladder.prices))]
            candidates = [o for o in ladder.levels[price] if not o.user]
            if not candidates:
                return False
            order = candidates[rng.randrange(len(candidates))]
            amount = order.size if rng.random() < 0.7 else self._part(order.size)
            ladder.reduce(price, order, amount)
            events.append(BookDelta(m, side, price, -amount, clock, ts, None))
            return False
        taker = "yes" if rng.random() < 0.5 else "no"
        book = m.ladder("no" if taker == "yes" else "yes")
        if book.n_orders < 3:
            return False
        size = self._size(1, 150)
        return self._take(m, taker, size, None, clock, ts, events)

    def _user_action(self, m: Market, clock: int, ts: int, events: list[Event]) -> bool:
        rng = self.rng
        if m.user is None:
            m.user = UserBook()
        user = m.user
        r = rng.random()
        missing = [s for s in ("yes", "no") if s not in user.resting]
        if missing and r < 0.6:
            side = missing[rng.randrange(len(missing))]
            ladder = m.ladder(side)
            best = ladder.best()
            price = self._limit_price(m, side, 1)
            if best is not None:
                improve = best + self.tick if rng.random() < 0.5 else best
                other = m.ladder("no" if side == "yes" else "yes").best()
                if other is None or improve + other < ONE:
                    price = improve
                elif other is not None and best + other < ONE:
                    price = best
            if price is None:
                return False
            coid = f"sim-{clock}"
            order = Order(self._uuid(), self._size(1, 25), user=True, client_order_id=coid)
            ladder.add(price, order)
            user.resting[side] = (price, order)
            events.append(BookDelta(m, side, price, order.size, clock, ts, coid))
            return False
        if user.resting and r < 0.8:
            # cancel a resting order that drifted away from the top
            for side, (price, order) in list(user.resting.items()):
                best = m.ladder(side).best()
                if best is not None and best - price >= 3 * self.tick:
                    size = order.size
                    m.ladder(side).reduce(price, order, size)
                    del user.resting[side]
                    events.append(BookDelta(m, side, price, -size, clock, ts, order.client_order_id))
                    return False
            return False
        taker = "yes" if rng.random() < 0.5 else "no"
        return self._take(m, taker, self._size(1, 10), f"sim-take-{clock}", clock, ts, events)

    def _take(
        self,
        m: Market,
        taker: Side,
        size: int,
        user_coid: str | None,
        clock: int,
        ts: int,
        events: list[Event],
    ) -> bool:
        """A marketable buy of ``taker`` (``yes`` hits the NO bids, ``no`` hits the YES bids).

        Consumes resting orders best price first, FIFO within a level. The user's own marketable
        orders (``user_coid`` set) take the top level only and skip the user's resting orders.
        """
        maker_side = "no" if taker == "yes" else "yes"
        book = m.ladder(maker_side)
        remaining = size
        traded = False
        taker_order_id = self._uuid() if user_coid is not None else ""
        while remaining > 0 and book.prices:
            price = book.prices[-1]
            queue = book.levels[price]
            yes_price = ONE - price if maker_side == "no" else price
            segments: list[tuple[Order, int]] = []
            consumed = 0
            for order in list(queue):
                if remaining == 0:
                    break
                if user_coid is not None and order.user:
                    continue
                q = min(order.size, remaining)
                remaining -= q
                consumed += q
                segments.append((order, q))
            if consumed == 0:
                break
            for order, q in segments:
                book.reduce(price, order, q)
            events.append(BookDelta(m, maker_side, price, -consumed, clock, ts, user_coid))
            # one trade per run of background orders, one per user order
            runs: list[tuple[Order | None, int]] = []
            for order, q in segments:
                if order.user:
                    runs.append((order, q))
                elif runs and runs[-1][0] is None:
                    runs[-1] = (None, runs[-1][1] + q)
                else:
                    runs.append((None, q))
            for maker_order, q in runs:
                trade_id = self._uuid()
                self._record_trade(m, yes_price, q)
                events.append(Trade(m, trade_id, yes_price, q, taker, clock, ts))
                self.trade_log.append((trade_id, m.ticker, yes_price, q, taker, ts))
                traded = True
                if maker_order is not None and self.maker_hook is not None and type(maker_order) is not Order:
                    self.maker_hook(m, maker_order, trade_id, price, q, ts, events)  # an order placed over REST
                elif maker_order is not None:
                    self._user_fill(
                        m,
                        trade_id,
                        maker_order.order_id,
                        maker_order.client_order_id,
                        False,
                        maker_side,
                        price,
                        q,
                        ts,
                        events,
                    )
                    if maker_order.size == 0 and m.user is not None:
                        m.user.resting.pop(maker_side, None)
                if user_coid is not None:
                    own_price = ONE - price
                    self._user_fill(
                        m, trade_id, taker_order_id, user_coid, True, taker, own_price, q, ts, events
                    )
            if user_coid is not None:
                break
        return traded

    def _record_trade(self, m: Market, yes_price: int, count: int) -> None:
        m.trades += 1
        m.last_price = yes_price
        m.last_trade_size = count
        m.volume += count
        m.dollar_volume_micro += count * yes_price
        if self.rng.random() < 0.6 or m.open_interest < count:
            m.open_interest += count
        else:
            m.open_interest -= count

    def _user_fill(
        self,
        m: Market,
        trade_id: str,
        order_id: str,
        coid: str | None,
        is_taker: bool,
        side: Side,
        own_price: int,
        count: int,
        ts: int,
        events: list[Event],
    ) -> None:
        if m.user is None:
            m.user = UserBook()
        user = m.user
        fee = kalshi_fee(self.taker_fee_rate if is_taker else self.maker_fee_rate, count, own_price)
        user.apply_buy(side, own_price, count, fee)
        self.fills += 1
        yes_price = own_price if side == "yes" else ONE - own_price
        fill = Fill(m, trade_id, order_id, coid, is_taker, side, yes_price, count, fee, user.position, ts)
        self.fill_log.append(fill)
        events.append(fill)
        events.append(
            Position(
                m,
                user.position,
                user.cost,
                user.realized_pnl,
                user.fees_paid,
                user.position_fee_cost,
                user.volume,
                ts,
            )
        )

    # ---- state -----------------------------------------------------------------------------------

    def book_levels(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
        """(yes levels, no levels on the NO scale, clock), levels ascending by price."""
        m = self.markets[ticker]
        return m.yes.levels_view(), m.no.levels_view(), m.clock

    def truth_markets(self) -> dict[str, dict[str, Any]]:
        """Every market in the core's summary format (plus a few extra, clearly derived keys)."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.market_list:
            y = m.yes.best()
            n = m.no.best()
            ask = ONE - n if n is not None else None
            out[m.ticker] = {
                "yes": [[fmt_price(p), fmt_size(s)] for p, s in m.yes.levels_view()],
                "no": [[fmt_price(p), fmt_size(s)] for p, s in m.no.levels_view()],
                "best_yes_bid": fmt_price(y) if y is not None else None,
                "best_yes_ask": fmt_price(ask) if ask is not None else None,
                "spread": fmt_price(ask - y) if ask is not None and y is not None and ask >= y else None,
                "trades": m.trades,
                "fills": m.user.fills if m.user is not None else 0,
                "position": fmt_size(m.user.position) if m.user is not None and m.user.fills else None,
            }
        return out
