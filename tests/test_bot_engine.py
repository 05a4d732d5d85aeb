"""The strategy API and the engine without a socket: frames into a real ``Core``, the engine's writes answered by a
tiny paper desk that drives the real ``OrderTracker`` as the exchange's replies would. The reference ``Quoter``
through the same path."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import Event, FillSeen
from market_making_bot.kalshi.orders import BookSide, CancelOrderReply, CreateOrderReply, DecreaseOrderReply
from market_making_bot.kalshi.rest import Count, KalshiAPIError
from market_making_bot.trading.engine import CancelOrders, Engine, Place, Reduce, Write
from market_making_bot.trading.orders import OrderState, OrderTracker, OrderUpdate
from market_making_bot.trading.portfolio import Portfolio
from market_making_bot.trading.risk import RiskCheck, RiskLimits, Rule
from market_making_bot.trading.strategy import Context, FillInfo, Strategy, StrategyError

A, B = "KXTEST-26DEC31-A", "KXTEST-26DEC31-B"
T0_MS = 1_786_085_188_000
ROOT = Path(__file__).resolve().parent.parent


def load_quoter() -> type[Strategy]:
    spec = importlib.util.spec_from_file_location("_quoter_under_test", ROOT / "examples" / "quoter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cls: type[Strategy] = module.Quoter
    return cls


def frame(kind: str, msg: dict[str, Any], sid: int | None = None, seq: int | None = None, **env: Any) -> str:
    out: dict[str, Any] = {"type": kind, **env, "msg": msg}
    if sid is not None:
        out["sid"] = sid
    if seq is not None:
        out["seq"] = seq
    return json.dumps(out)


class Desk:
    """Frames in, the engine's writes acknowledged at once through the real tracker; every write kept."""

    def __init__(self, strategy: Strategy, limits: RiskLimits | None = None, tickers: tuple[str, ...] = (A,)) -> None:
        self.core = Core(list(tickers))
        n = itertools.count(1)
        self.tracker = OrderTracker("bot1", make_id=lambda: f"{next(n):04d}")
        self.portfolio = Portfolio()
        self.engine = Engine(
            strategy, tickers, self.core.state, self.tracker, self.portfolio, RiskCheck(limits or RiskLimits())
        )
        self.core.bus.subscribe(FillSeen, lambda e: self._updates(self.tracker.on_fill(e.msg, self.now_ms)))
        self.core.bus.subscribe(Event, self.engine.on_event)
        self.now_ms = T0_MS
        self.seq: dict[int, int] = {}
        self.writes: list[Write] = []
        self.order_ids = itertools.count(1)
        self.reject = 0
        """Refuse this many of the next creates (HTTP 400), as the exchange would."""
        self.engine.start(self.now_ms * 1_000_000)

    def _updates(self, updates: list[OrderUpdate]) -> None:
        for u in updates:
            self.engine.on_order_update(u)

    def feed(self, text: str) -> None:
        self.now_ms += 1
        self.core.feed(text, self.now_ms * 1_000_000)

    def _seq(self, sid: int) -> int:
        self.seq[sid] = self.seq.get(sid, 0) + 1
        return self.seq[sid]

    def subscribe(self) -> None:
        self.feed(frame("subscribed", {"channel": "orderbook_delta", "sid": 1}, id=1))

    def snapshot(self, ticker: str, yes: list[tuple[str, str]], no: list[tuple[str, str]]) -> None:
        msg = {
            "market_ticker": ticker,
            "yes_dollars_fp": [list(x) for x in yes],
            "no_dollars_fp": [list(x) for x in no],
        }
        self.feed(frame("orderbook_snapshot", msg, 1, self._seq(1)))

    def delta(self, ticker: str, price: str, change: str, side: str = "yes", skip: int = 0) -> None:
        self.seq[1] = self.seq.get(1, 0) + skip
        msg = {"market_ticker": ticker, "price_dollars": price, "delta_fp": change, "side": side}
        self.feed(frame("orderbook_delta", msg, 1, self._seq(1)))

    def fill(self, ticker: str, coid: str, side: str, action: str, price: str, count: str, fee: str) -> None:
        order = self.tracker.get(coid)
        assert order is not None
        msg = {
            "trade_id": f"t{self.now_ms}",
            "order_id": order.order_id,
            "client_order_id": coid,
            "market_ticker": ticker,
            "side": side,
            "action": action,
            "yes_price_dollars": price,
            "count_fp": count,
            "fee_cost": fee,
            "is_taker": False,
            "ts_ms": self.now_ms,
        }
        self.feed(frame("fill", msg, 9, None))

    def step(self) -> list[Write]:
        """One planning round; every write answered as the exchange would (a create rests whole)."""
        writes = self.engine.plan(self.now_ms * 1_000_000)
        self.writes.extend(writes)
        for w in writes:
            self.now_ms += 1
            if isinstance(w, Place):
                side = BookSide.BID if w.side == "bid" else BookSide.ASK
                req = self.tracker.new(w.ticker, side, w.price, w.size, now_ms=self.now_ms)
                self.engine.count_sent(w.ticker)
                if self.reject:
                    self.reject -= 1
                    error = KalshiAPIError(400, "invalid_order", "invalid order", "test refusal")
                    self._updates(self.tracker.on_error(req.client_order_id, error, self.now_ms))
                    continue
                oid = f"oid-{next(self.order_ids)}"
                reply = CreateOrderReply(
                    order_id=oid, fill_count=Count(0), remaining_count=Count(w.size), ts_ms=self.now_ms
                )
                for u in self.tracker.on_reply(req.client_order_id, reply, self.now_ms):
                    self.engine.on_order_update(u)
                if w.handle is not None:
                    self.engine.bind(w.handle, req.client_order_id)
            elif isinstance(w, CancelOrders):
                for coid in w.coids:
                    ref = self.tracker.cancel(coid, self.now_ms)
                    order = self.tracker.get(coid)
                    assert order is not None
                    cancel = CancelOrderReply(
                        order_id=ref.order_id, reduced_by=Count(order.remaining), ts_ms=self.now_ms
                    )
                    self.tracker.on_change_reply(coid, cancel, self.now_ms)
            elif isinstance(w, Reduce):
                self.tracker.decrease(w.coid, self.now_ms, reduce_to=w.remaining)
                order = self.tracker.get(w.coid)
                assert order is not None and order.order_id is not None
                dec = DecreaseOrderReply(order_id=order.order_id, remaining_count=Count(w.remaining), ts_ms=self.now_ms)
                self.tracker.on_change_reply(w.coid, dec, self.now_ms)
        for ticker in {w.ticker for w in writes}:
            self.engine.settle(ticker)
        return writes

    def resting(self, ticker: str = A) -> list[tuple[str, int, int]]:
        return sorted((o.side, o.price, o.remaining) for o in self.engine.orders(ticker))


class Fixed(Strategy):
    """Quotes what the test sets in ``want`` on every book change."""

    def __init__(self) -> None:
        super().__init__()
        self.want: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {}
        self.calls: list[str] = []

    def on_book(self, ctx: Context, ticker: str) -> None:
        self.calls.append("book")
        if ticker in self.want:
            bid, ask = self.want[ticker]
            ctx.quote(ticker, bid=bid, ask=ask)

    def on_book_usable(self, ctx: Context, ticker: str) -> None:
        self.calls.append(f"usable {ticker}")

    def on_book_unusable(self, ctx: Context, ticker: str, reason: str) -> None:
        self.calls.append(f"unusable {ticker}: {reason}")

    def on_fill(self, ctx: Context, fill: FillInfo) -> None:
        self.calls.append(f"fill {fill.side} {fill.size} ours={fill.ours}")


def book_45_55(desk: Desk, ticker: str = A) -> None:
    """YES bids 0.44/0.45, NO bids 0.54/0.55 (YES asks 0.45.. no: 0.46/0.45)."""
    desk.snapshot(ticker, [("0.4400", "10.00"), ("0.4500", "5.00")], [("0.5300", "10.00"), ("0.5400", "5.00")])


def test_quotes_become_the_fewest_writes() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    assert desk.step() == []  # no book yet: nothing
    s.want[A] = ((4500, 100), (4600, 100))
    book_45_55(desk)
    assert "usable " + A in s.calls
    first = desk.step()
    assert sorted((type(w).__name__, getattr(w, "side", "")) for w in first) == [("Place", "ask"), ("Place", "bid")]
    assert desk.resting() == [("ask", 4600, 100), ("bid", 4500, 100)]
    desk.delta(A, "0.4400", "1.00")  # the strategy says the same again: no write at all
    assert desk.step() == []
    s.want[A] = ((4500, 50), (4600, 100))  # smaller at the same price: a decrease, queue priority kept
    desk.delta(A, "0.4400", "1.00")
    (w,) = desk.step()
    assert isinstance(w, Reduce) and w.remaining == 50
    s.want[A] = ((4400, 50), (4600, 100))  # a new price: cancel first, create in the next round
    desk.delta(A, "0.4400", "1.00")
    (c,) = desk.step()
    assert isinstance(c, CancelOrders) and len(c.coids) == 1
    (p,) = desk.step()
    assert isinstance(p, Place) and (p.side, p.price, p.size) == ("bid", 4400, 50)
    assert desk.resting() == [("ask", 4600, 100), ("bid", 4400, 50)]
    assert desk.engine.counters.sent == 3


def test_a_book_not_usable_cancels_and_nothing_is_placed_until_the_snapshot() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    s.want[A] = ((4500, 100), (4600, 100))
    book_45_55(desk)
    desk.step()
    assert len(desk.resting()) == 2
    desk.delta(A, "0.4400", "1.00", skip=1)  # a gap: the book is not usable
    assert any(c.startswith(f"unusable {A}") for c in s.calls)
    (c,) = desk.step()
    assert isinstance(c, CancelOrders) and len(c.coids) == 2 and "gap" in c.reason
    assert desk.resting() == []
    for _ in range(3):  # still not usable: the strategy's quotes wait
        assert desk.step() == []
    book_45_55(desk)  # the fresh snapshot
    assert len([w for w in desk.step() if isinstance(w, Place)]) == 2


def test_connection_down_is_not_usable() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    s.want[A] = ((4500, 100), None)
    book_45_55(desk)
    desk.step()
    desk.core.connection_lost("reset by peer", desk.now_ms * 1_000_000)
    from market_making_bot.feed.events import ConnectionDown

    desk.engine.on_event(ConnectionDown(desk.now_ms * 1_000_000, 1, "reset by peer"))
    (c,) = desk.step()
    assert isinstance(c, CancelOrders)
    assert desk.engine.unusable_reason(A) is not None


def test_risk_refuses_with_a_reason_and_counts_resting_orders() -> None:
    s = Fixed()
    limits = RiskLimits(max_position=150, max_order_size=200, max_open_orders=3)
    desk = Desk(s, limits)
    desk.subscribe()
    s.want[A] = ((4500, 100), (4600, 300))  # the ask is above max-order-size
    book_45_55(desk)
    writes = desk.step()
    assert [(w.side, w.size) for w in writes if isinstance(w, Place)] == [("bid", 100)]
    assert desk.engine.risk.refusals[Rule.MAX_ORDER_SIZE] == 1
    assert "max-order-size" in desk.engine.refusal_log[(A, "ask")]
    desk.delta(A, "0.4400", "1.00")
    desk.step()  # refused again: one more refused check, still one refusal
    assert desk.engine.risk.refusals[Rule.MAX_ORDER_SIZE] == 2
    assert desk.engine.counters.refusals == {"max-order-size": 1}
    # fill 1 of the bid: position 1; a bid of 1 more rests -> 2 > 1.5 would break max-position
    coid = next(o.order_id for o in desk.engine.orders(A) if o.side == "bid")
    desk.fill(A, coid, "yes", "buy", "0.4500", "1.00", "0.0044")
    assert desk.engine.position(A) == 100
    s.want[A] = ((4500, 100), None)
    desk.delta(A, "0.4400", "1.00")
    assert [w for w in desk.step() if isinstance(w, Place)] == []
    assert "max-position" in desk.engine.refusal_log[(A, "bid")]
    assert desk.engine.bot_fills(A) == 1
    assert desk.tracker.prune(desk.now_ms + 1) >= 1  # the executed order forgotten by the tracker ...
    assert desk.engine.bot_fills(A) == 1  # ... its fill is still the bot's
    assert any(c == "fill bid 100 ours=True" for c in s.calls)


def test_max_loss_halts_and_cancels_everything() -> None:
    s = Fixed()
    desk = Desk(s, RiskLimits(max_loss=10_000))  # $0.01
    desk.subscribe()
    s.want[A] = ((4500, 100), (4600, 100))
    book_45_55(desk)
    desk.step()
    coid = next(o.order_id for o in desk.engine.orders(A) if o.side == "bid")
    desk.fill(A, coid, "yes", "buy", "0.4500", "1.00", "0.0044")
    # the book drops: the mid falls to 0.405, the long YES loses $0.045 + fee
    desk.snapshot(A, [("0.4000", "10.00")], [("0.5900", "10.00")])
    writes = desk.step()
    assert desk.engine.halted is not None and "max-loss" in desk.engine.halted
    assert [type(w) for w in writes] == [CancelOrders]
    assert desk.resting() == []
    desk.delta(A, "0.4000", "1.00")
    assert desk.step() == []  # sticky
    total = desk.engine.total_pnl().total
    assert total is not None and total < -10_000


def test_explicit_orders_and_timers() -> None:
    class Once(Strategy):
        handle = ""
        timers = 0

        def on_start(self, ctx: Context) -> None:
            ctx.set_timer("t", 1.0, repeat=True)

        def on_book_usable(self, ctx: Context, ticker: str) -> None:
            if not self.handle:
                self.handle = ctx.order(ticker, "bid", 4000, 100)

        def on_timer(self, ctx: Context, name: str) -> None:
            self.timers += 1
            if self.timers == 2:
                ctx.cancel(self.handle)

    s = Once()
    desk = Desk(s)
    desk.subscribe()
    book_45_55(desk)
    (p,) = desk.step()
    assert isinstance(p, Place) and p.handle == s.handle
    assert desk.resting() == [("bid", 4000, 100)]
    desk.engine.tick(desk.now_ms * 1_000_000 + 1_000_000_000)
    assert desk.step() == []  # explicit orders are not touched by the (empty) quotes
    desk.engine.tick(desk.now_ms * 1_000_000 + 2_000_000_000)
    assert s.timers == 2
    (c,) = desk.step()
    assert isinstance(c, CancelOrders)
    assert desk.resting() == []


def test_strategy_mistakes_are_contained() -> None:
    class Bad(Strategy):
        def on_book(self, ctx: Context, ticker: str) -> None:
            ctx.quote(ticker, bid=(0, 100))

    desk = Desk(Bad())
    desk.subscribe()
    book_45_55(desk)
    assert desk.engine.counters.strategy_errors == 1
    assert desk.step() == []
    with pytest.raises(StrategyError):
        desk.engine.quote("NOT-OURS", bid=(4000, 1))


def test_stop_halts() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    s.want[A] = ((4500, 100), None)
    book_45_55(desk)
    desk.step()
    desk.engine.stop(desk.now_ms * 1_000_000, "duration")
    (c,) = desk.step()
    assert isinstance(c, CancelOrders)
    assert all(o.state is OrderState.CANCELED for o in desk.tracker.orders.values())


# --- the reference strategy -------------------------------------------------------------------------------------


def test_quoter_quotes_around_the_mid_with_skew_and_pulls_at_the_limit() -> None:
    quoter = load_quoter()({"half_spread": "0.02", "size": "1", "skew": "0.01", "limit": "2", "widen_at": "0.5"})
    desk = Desk(quoter, RiskLimits(max_position=200))
    desk.subscribe()
    # YES bid 0.40, YES ask 0.50 (NO bid 0.50): mid 0.45
    desk.snapshot(A, [("0.4000", "10.00")], [("0.5000", "10.00")])
    desk.step()
    assert desk.resting() == [("ask", 4700, 100), ("bid", 4300, 100)]
    coid = next(o.order_id for o in desk.engine.orders(A) if o.side == "bid")
    desk.fill(A, coid, "yes", "buy", "0.4300", "1.00", "0.0000")  # long 1: quotes skew down 1 cent
    for _ in range(3):
        desk.step()
    assert desk.resting() == [("ask", 4600, 100), ("bid", 4200, 100)]
    coid = next(o.order_id for o in desk.engine.orders(A) if o.side == "bid")
    desk.fill(A, coid, "yes", "buy", "0.4200", "1.00", "0.0000")  # long 2 = the limit: the bid is pulled
    for _ in range(3):
        desk.step()
    assert [r[0] for r in desk.resting()] == ["ask"]
    assert desk.engine.position(A) == 200


def test_quoter_never_crosses_and_reads_params_exactly() -> None:
    cls = load_quoter()
    with pytest.raises(ValueError, match="unknown parameter"):
        cls({"half_sprad": "0.01"})
    with pytest.raises(ValueError, match="bad parameter"):
        cls({"size": "lots"})
    quoter = cls({"half_spread": "0", "skew": "0", "fair": "micro"})
    desk = Desk(quoter)
    desk.subscribe()
    desk.snapshot(A, [("0.4000", "1.00")], [("0.5900", "100.00")])  # bid 0.40 x1, ask 0.41 x100
    desk.step()
    (ask, bid) = desk.resting()
    assert bid[1] < ask[1] and bid[1] <= 4000 and ask[1] >= 4100


def test_a_backfilled_ask_fill_is_booked_as_an_ask() -> None:
    """Reproduces a defect: the REST backfill turned an ask fill (outcome NO bought) into "sell NO", a bid, so a
    fill missed on the stream during a disconnect moved the bot's position the wrong way."""
    from market_making_bot.feed.backfill import fill_message
    from market_making_bot.kalshi import rest
    from market_making_bot.trading.portfolio import book_side_of

    def rest_fill(book_side: str, outcome: str) -> rest.Fill:
        return rest.Fill(
            fill_id=f"f-{book_side}",
            order_id="o",
            ticker=A,
            outcome_side=outcome,
            book_side=book_side,
            count_fp=rest.Size(100),
            yes_price_dollars=rest.Price(4500),
            no_price_dollars=rest.Price(5500),
            is_taker=False,
            fee_cost=rest.Money(100),
        )

    ask, bid = fill_message(rest_fill("ask", "no")), fill_message(rest_fill("bid", "yes"))
    assert book_side_of(ask.side, ask.action) == "ask"
    assert book_side_of(bid.side, bid.action) == "bid"
    portfolio = Portfolio()
    portfolio.apply_ws_fill(ask)
    assert portfolio.book(A).position == -100


def test_the_dashboard_positions_panel_from_the_exact_portfolio() -> None:
    pytest.importorskip("rich")
    from market_making_bot.views.dashboard.model import portfolio_position_view

    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    s.want[A] = ((4500, 100), (4700, 100))
    book_45_55(desk)  # YES bid 0.45, YES ask 0.46: mid 0.455
    desk.step()
    market = desk.core.state.get(A)
    assert market is not None
    assert portfolio_position_view(desk.portfolio, market) is None  # nothing traded yet
    coid = next(o.order_id for o in desk.engine.orders(A) if o.side == "ask")
    desk.fill(A, coid, "no", "buy", "0.4700", "1.00", "0.0035")  # short 1 YES (= 1 NO at 0.53)
    view = portfolio_position_view(desk.portfolio, market)
    assert view is not None
    assert (view.position, view.avg_cost, view.mark, view.fees) == (-100, 5300, 5450, 3500)
    assert view.pnl == 100 * 4700 - 100 * 4550 and view.realized == 0  # sold at 0.47, marked at 0.455


def test_a_refused_create_pauses_the_market_then_it_quotes_again() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.subscribe()
    s.want[A] = ((4500, 100), None)
    desk.reject = 1
    book_45_55(desk)
    (p,) = desk.step()
    assert isinstance(p, Place) and desk.resting() == [] and desk.engine.counters.rejected == 1
    for _ in range(3):  # paused: no create hammering a market that refuses
        desk.delta(A, "0.4400", "1.00")
        assert desk.step() == []
    due = desk.engine.next_wake_ns()
    assert due is not None and due - desk.now_ms * 1_000_000 <= 1_000_000_000
    desk.now_ms += 1_001
    desk.delta(A, "0.4400", "1.00")
    (p,) = desk.step()
    assert isinstance(p, Place) and desk.resting() == [("bid", 4500, 100)]


def test_the_order_group_triggering_halts_the_bot() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.engine.group_id = "g-1"
    desk.subscribe()
    s.want[A] = ((4500, 100), (4600, 100))
    book_45_55(desk)
    desk.step()
    msg = {"event_type": "triggered", "order_group_id": "g-1"}
    desk.feed(frame("order_group_updates", msg, 7, 1))
    assert desk.engine.halted is not None and "order group g-1 triggered" in desk.engine.halted
    (c,) = desk.step()
    assert isinstance(c, CancelOrders) and len(c.coids) == 2


def test_a_stale_book_is_not_usable() -> None:
    s = Fixed()
    desk = Desk(s)
    desk.engine.stale_ns = 5_000_000_000  # 5 s without a frame
    desk.subscribe()
    s.want[A] = ((4500, 100), None)
    book_45_55(desk)
    desk.step()
    assert desk.resting() == [("bid", 4500, 100)]
    desk.engine.tick(desk.now_ms * 1_000_000 + 6_000_000_000)
    assert any("stale" in c for c in s.calls)
    (c,) = desk.step()
    assert isinstance(c, CancelOrders) and "stale" in c.reason
    desk.now_ms += 6_000
    desk.delta(A, "0.4400", "1.00")  # a frame again: usable, quoting resumes
    assert [type(w) for w in desk.step()] == [Place]
