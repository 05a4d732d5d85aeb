"""Per-market state built from decoded messages: book, last ticker, recent trades and fills, position, statistics.

Nothing here reads the wall clock: every time-dependent update takes ``recv_ns``, the time the frame was received
(nanoseconds, from the caller), so a replay reproduces a live run exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from market_making_bot.kalshi.messages import Fill, MarketPosition, OrderbookSnapshot, Ticker, TickerV2, Trade
from market_making_bot.marketdata.orderbook import OrderBook

__all__ = [
    "DEFAULT_VOLUME_WINDOW_NS",
    "FILL_HISTORY",
    "TRADE_HISTORY",
    "MarketDataState",
    "MarketState",
    "RecentIds",
    "SpreadStats",
    "VolumeStats",
    "VolumeTotals",
]

TRADE_HISTORY = 100
FILL_HISTORY = 50
SEEN_IDS = 1024  # trade ids remembered per market to drop trades and fills delivered twice (e.g. around reconnects)
DEFAULT_VOLUME_WINDOW_NS = 60 * 1_000_000_000


class VolumeTotals:
    """Trade count and contracts (size units), overall and by taker side (trades with no known side only count
    in the overall numbers)."""

    __slots__ = ("contracts", "count", "no_contracts", "no_count", "yes_contracts", "yes_count")

    def __init__(self) -> None:
        self.count = 0
        self.contracts = 0
        self.yes_count = 0
        self.yes_contracts = 0
        self.no_count = 0
        self.no_contracts = 0


class VolumeStats:
    """Public trade volume: ``total`` since start and a rolling window of the last ``window_ns`` nanoseconds."""

    __slots__ = ("_recent", "_window", "total", "window_ns")

    def __init__(self, window_ns: int = DEFAULT_VOLUME_WINDOW_NS) -> None:
        self.window_ns = window_ns
        self.total = VolumeTotals()
        self._window = VolumeTotals()
        self._recent: deque[tuple[int, str | None, int]] = deque()

    def add(self, taker_side: str | None, contracts: int, recv_ns: int) -> None:
        # Both totals updated in one pass, inlined (one trade frame in seven in a busy stream); the test
        # ``test_volume_stats_equal_a_plain_recount`` compares the result with a plain recount of the trades.
        total, window = self.total, self._window
        total.count += 1
        total.contracts += contracts
        window.count += 1
        window.contracts += contracts
        if taker_side == "yes":
            total.yes_count += 1
            total.yes_contracts += contracts
            window.yes_count += 1
            window.yes_contracts += contracts
        elif taker_side == "no":
            total.no_count += 1
            total.no_contracts += contracts
            window.no_count += 1
            window.no_contracts += contracts
        recent = self._recent
        recent.append((recv_ns, taker_side, contracts))
        if recent[0][0] <= recv_ns - self.window_ns:
            self._expire(recv_ns)

    def window(self, now_ns: int) -> VolumeTotals:
        """Totals of the trades received in ``(now_ns - window_ns, now_ns]`` (older trades are dropped for good, so
        ``now_ns`` must not go backwards)."""
        self._expire(now_ns)
        return self._window

    def _expire(self, now_ns: int) -> None:
        recent = self._recent
        horizon = now_ns - self.window_ns
        window = self._window
        while recent and recent[0][0] <= horizon:
            _, side, contracts = recent.popleft()
            # The trade leaves the window (the reverse of ``add``'s update; one trade in seven passes here once).
            window.count -= 1
            window.contracts -= contracts
            if side == "yes":
                window.yes_count -= 1
                window.yes_contracts -= contracts
            elif side == "no":
                window.no_count -= 1
                window.no_contracts -= contracts


class SpreadStats:
    """YES spread over time (price units): current, min, max and the time-weighted mean.

    The mean weights each spread by how long it lasted, from the ``recv_ns`` at which it appeared to the one at
    which it changed; periods with an empty ladder (no spread) are left out.
    """

    __slots__ = ("_since", "_weighted", "current", "duration_ns", "max", "min")

    def __init__(self) -> None:
        self.current: int | None = None
        self.min: int | None = None
        self.max: int | None = None
        self.duration_ns = 0
        self._weighted = 0
        self._since = 0

    def update(self, spread: int | None, recv_ns: int) -> None:
        current = self.current
        if spread == current:
            return
        if current is not None and recv_ns > self._since:
            elapsed = recv_ns - self._since
            self._weighted += current * elapsed
            self.duration_ns += elapsed
        self.current = spread
        self._since = recv_ns
        if spread is not None:
            if self.min is None or spread < self.min:
                self.min = spread
            if self.max is None or spread > self.max:
                self.max = spread

    def mean(self, now_ns: int | None = None) -> int | None:
        """Time-weighted mean spread in price units (rounded down), counting the current spread up to ``now_ns``
        when given; ``None`` before any spread has lasted a positive time."""
        weighted, duration = self._weighted, self.duration_ns
        if now_ns is not None and self.current is not None and now_ns > self._since:
            weighted += self.current * (now_ns - self._since)
            duration += now_ns - self._since
        return weighted // duration if duration else None


def _newer(update: int | None, old: int | None) -> int | None:
    return old if update is None else update


def _plus(total: int | None, change: int | None) -> int | None:
    return total if total is None or change is None else total + change


class RecentIds:
    """A bounded set of the last ``capacity`` ids (oldest forgotten first). O(1) per ``add``: a set for membership
    and a deque for the order (deleting a dict's first key instead makes each ``add`` scan the deleted slots)."""

    __slots__ = ("_capacity", "_ids", "_order")

    def __init__(self, capacity: int = SEEN_IDS) -> None:
        self._capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, key: str) -> bool:
        """Remember ``key``; ``False`` if it was already there."""
        ids = self._ids
        if key in ids:
            return False
        ids.add(key)
        order = self._order
        order.append(key)
        if len(order) > self._capacity:
            ids.discard(order.popleft())
        return True


class MarketState:
    """Everything known about one market.

    ``usable`` says whether the book can be trusted right now: it has a snapshot on the current connection and no
    problem (sequence gap on its subscription, crossed book, negative level, subscription error) has been seen
    since. ``unusable_reason`` says why not. The book's levels stay visible while it is not usable.
    """

    __slots__ = (
        "_fill_ids",
        "_trade_ids",
        "book",
        "fill_count",
        "fills",
        "has_snapshot",
        "invalid_reason",
        "last_position",
        "last_recv_ns",
        "last_ticker",
        "market_ticker",
        "position",
        "sid",
        "spread",
        "trade_count",
        "trades",
        "volume",
    )

    def __init__(self, market_ticker: str, volume_window_ns: int = DEFAULT_VOLUME_WINDOW_NS) -> None:
        self.market_ticker = market_ticker
        self.book = OrderBook()
        self.has_snapshot = False
        self.sid: int | None = None
        """Subscription whose snapshot the book comes from (a gap on that sid makes the book untrustworthy)."""
        self.last_ticker: Ticker | None = None
        self.trades: deque[Trade] = deque(maxlen=TRADE_HISTORY)
        self.fills: deque[Fill] = deque(maxlen=FILL_HISTORY)
        self.trade_count = 0
        self.fill_count = 0
        self.position: int | None = None
        """Last reported signed position (size units; negative = NO), from market_position or a fill."""
        self.last_position: MarketPosition | None = None
        self.volume = VolumeStats(volume_window_ns)
        self.spread = SpreadStats()
        self.invalid_reason: str | None = None
        """Why the book is not trusted although it has a snapshot (cleared by the next snapshot)."""
        self.last_recv_ns = 0
        """Receive time of the last frame about this market (0: none yet)."""
        self._trade_ids = RecentIds()
        self._fill_ids = RecentIds()

    @property
    def usable(self) -> bool:
        return self.has_snapshot and self.invalid_reason is None

    @property
    def unusable_reason(self) -> str | None:
        if not self.has_snapshot:
            return "waiting for a snapshot"
        return self.invalid_reason

    def apply_snapshot(self, msg: OrderbookSnapshot, recv_ns: int) -> None:
        self.book.apply_snapshot(msg.yes, msg.no)
        self.has_snapshot = True
        self.invalid_reason = None
        self.sid = msg.sid
        self.spread.update(self.book.spread(), recv_ns)

    def apply_delta(self, side: str, price: int, delta: int, recv_ns: int) -> int:
        """Apply a book delta; returns the level's new size (negative = book out of sync, level removed)."""
        book = self.book
        size = book.apply_delta(side, price, delta)
        spread = book.spread()
        if spread != self.spread.current:  # most deltas leave the top of the book alone
            self.spread.update(spread, recv_ns)
        return size

    def apply_ticker(self, msg: Ticker) -> None:
        self.last_ticker = msg

    def apply_ticker_v2(self, msg: TickerV2) -> None:
        """Merge a partial ``ticker_v2`` update into a new ``last_ticker`` (volume and open interest as deltas)."""
        last = self.last_ticker or Ticker(market_ticker=msg.market_ticker)
        self.last_ticker = Ticker(
            market_ticker=last.market_ticker,
            sid=msg.sid,
            seq=last.seq,
            id=last.id,
            sending_ts_ms=msg.sending_ts_ms,
            price=_newer(msg.price, last.price),
            yes_bid=_newer(msg.yes_bid, last.yes_bid),
            yes_ask=_newer(msg.yes_ask, last.yes_ask),
            volume=_plus(last.volume, msg.volume_delta),
            open_interest=_plus(last.open_interest, msg.open_interest_delta),
            dollar_volume=_plus(last.dollar_volume, msg.dollar_volume_delta),
            dollar_open_interest=_plus(last.dollar_open_interest, msg.dollar_open_interest_delta),
            yes_bid_size=last.yes_bid_size,
            yes_ask_size=last.yes_ask_size,
            last_trade_size=last.last_trade_size,
            ts_ms=_newer(msg.ts_ms, last.ts_ms),
        )

    def add_trade(self, msg: Trade, recv_ns: int) -> bool:
        """Record a public trade; ``False`` (and nothing recorded) if its ``trade_id`` was seen already."""
        if msg.trade_id is not None and not self._trade_ids.add(msg.trade_id):
            return False
        self.trades.append(msg)
        self.trade_count += 1
        self.volume.add(msg.taker_side, msg.count, recv_ns)
        return True

    def add_fill(self, msg: Fill) -> bool:
        """Record one of your fills; ``False`` (and nothing recorded) if it was seen already."""
        if msg.trade_id is not None and not self._fill_ids.add(f"{msg.trade_id}/{msg.order_id}"):
            return False
        self.fills.append(msg)
        self.fill_count += 1
        if msg.post_position is not None:
            self.position = msg.post_position
        return True

    def apply_position(self, msg: MarketPosition) -> None:
        self.last_position = msg
        self.position = msg.position


class MarketDataState:
    """All markets, keyed by ticker. With ``tickers`` given, only those markets are kept (others are ignored)."""

    __slots__ = ("markets", "tickers", "volume_window_ns")

    def __init__(self, tickers: Iterable[str] | None = None, volume_window_ns: int = DEFAULT_VOLUME_WINDOW_NS) -> None:
        self.tickers: frozenset[str] | None = None if tickers is None else frozenset(tickers)
        self.volume_window_ns = volume_window_ns
        self.markets: dict[str, MarketState] = {}

    def wants(self, market_ticker: str) -> bool:
        return self.tickers is None or market_ticker in self.tickers

    def get(self, market_ticker: str) -> MarketState | None:
        """The market's state if it exists (never creates it)."""
        return self.markets.get(market_ticker)

    def market(self, market_ticker: str) -> MarketState | None:
        """The market's state, created on first use; ``None`` if the ticker filter excludes it."""
        state = self.markets.get(market_ticker)
        if state is None and self.wants(market_ticker):
            state = self.markets[market_ticker] = MarketState(market_ticker, self.volume_window_ns)
        return state
