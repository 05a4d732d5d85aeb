"""Live terminal dashboard (``--dashboard``): status bar, markets table, price ladder, trades, fills and positions.

Two halves, so that a test can check the screen without a terminal:

* :meth:`Dashboard.snapshot` copies what the screen needs out of the :class:`~market_making_bot.core.Core` (and the
  client, for the connection state) into plain frozen dataclasses; it runs on the event loop, between frames, so
  the copy is consistent;
* :func:`render` turns a :class:`Snapshot` into a rich renderable, with no other input (pure).

:meth:`Dashboard.run` refreshes the screen at a fixed rate (``refresh_hz``, at most 10 per second), never per frame:
the cost for the feed is one snapshot and one render per tick, whatever the frame rate. Keys (on a POSIX terminal):
``Tab``/``→``/``n`` next market, ``←``/``p`` previous, ``1``-``9`` pick one, ``q`` quit.

Prices are YES prices in cents (``45¢``, ``45.5¢``), as in the log output; the YES asks are derived from the NO bids
(a NO bid at q is a YES ask at $1 - q).

This module needs ``rich`` (the ``dashboard`` extra); it is imported only when ``--dashboard`` is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .core import Core
from .state import MarketState
from .units import PRICE_SCALE, format_cents, format_money, format_size

__all__ = [
    "DEFAULT_REFRESH_HZ",
    "MAX_REFRESH_HZ",
    "Dashboard",
    "FillView",
    "LevelView",
    "MarketDetail",
    "MarketRow",
    "PositionView",
    "Snapshot",
    "StatusView",
    "TradeView",
    "parse_keys",
    "position_view",
    "render",
]

log = logging.getLogger("market_making_bot.dashboard")

MAX_REFRESH_HZ = 10.0
DEFAULT_REFRESH_HZ = 4.0
LADDER_DEPTH = 10
TRADES_SHOWN = 10
FILLS_SHOWN = 6
MARKET_ROWS = 8  # rows of the markets table shown at once (a window around the selected market)
HIGHLIGHT_S = 1.5  # a level whose size changed stays highlighted this long
RATE_WINDOW_S = 2.0  # frames/s is measured over this window
LATENCY_WINDOW = 1000  # latency percentiles over the last N samples
NONE = "--"


# ---------------------------------------------------------------------------------------------- snapshot types


@dataclass(frozen=True)
class LevelView:
    """One ladder level in YES terms: ``price`` (price units), ``size`` (size units); ``change`` is +1 when the
    size grew (or the level appeared) within the highlight window, -1 when it shrank, 0 otherwise."""

    price: int
    size: int
    change: int = 0


@dataclass(frozen=True)
class TradeView:
    ts_ms: int | None
    taker_side: str | None
    yes_price: int
    size: int


@dataclass(frozen=True)
class FillView:
    market: str
    ts_ms: int | None
    action: str | None
    side: str | None
    yes_price: int
    size: int
    fee: int | None
    is_taker: bool | None
    post_position: int | None


@dataclass(frozen=True)
class PositionView:
    """A position (size units, negative = NO) with its average cost and mark-to-mid value.

    ``avg_cost`` and ``mark`` are prices of the side held (YES price for a YES position, NO price for a NO
    position); ``pnl`` is the mark-to-mid unrealized P&L in money units: contracts x mark - position cost.
    """

    market: str
    position: int
    avg_cost: int | None = None
    mark: int | None = None
    pnl: int | None = None
    realized: int | None = None
    fees: int | None = None


@dataclass(frozen=True)
class MarketRow:
    """One line of the markets table."""

    ticker: str
    usable: bool
    reason: str | None
    best_bid: int | None
    best_ask: int | None
    spread: int | None
    mid: int | None
    last_price: int | None
    trades: int
    volume_window: int
    position: PositionView | None
    age_s: float | None


@dataclass(frozen=True)
class MarketDetail:
    """The selected market: its ladder (best first, ``LADDER_DEPTH`` levels), trades (newest first), volume."""

    row: MarketRow
    bids: tuple[LevelView, ...]
    asks: tuple[LevelView, ...]
    yes_levels: int
    no_levels: int
    trades: tuple[TradeView, ...]
    volume_total: int
    volume_yes: int
    volume_no: int
    window_s: float
    exchange_volume: int | None
    open_interest: int | None
    spread_min: int | None
    spread_max: int | None
    spread_mean: int | None


@dataclass(frozen=True)
class StatusView:
    state: str
    uptime_s: float
    frames: int
    fps: float | None
    reconnects: int
    gaps: int
    resyncs: int
    malformed: int
    handler_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    usable: int
    markets: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one screen shows."""

    status: StatusView
    rows: tuple[MarketRow, ...]
    first_row: int
    selected: int
    total_markets: int
    detail: MarketDetail | None
    private: bool = False
    positions: tuple[PositionView, ...] = ()
    fills: tuple[FillView, ...] = ()
    """The selected market's fills, newest first."""
    log_file: str | None = None
    keys: bool = False
    refresh_hz: float = DEFAULT_REFRESH_HZ


# ---------------------------------------------------------------------------------------------- snapshot


def position_view(market: MarketState) -> PositionView | None:
    """The market's position with average cost and mark-to-mid P&L (``None`` when no position is known).

    The cost comes from the last ``market_position`` message and is used only while it describes the current
    position (a later fill changes the position before the next ``market_position`` arrives).
    """
    pos = getattr(market, "position", None)
    if pos is None:
        return None
    last = getattr(market, "last_position", None)
    realized = fees = cost = None
    if last is not None:
        realized, fees = last.realized_pnl, last.fees_paid
        if last.position == pos:
            cost = last.position_cost
    held = abs(pos)
    mid = market.book.mid()
    mark = None if mid is None or pos == 0 else (mid if pos > 0 else PRICE_SCALE - mid)
    avg = None if cost is None or held == 0 else (cost + held // 2) // held
    pnl = None if cost is None or mark is None else held * mark - cost
    return PositionView(market.market_ticker, pos, avg, mark, pnl, realized, fees)


def _percentiles(samples: Any) -> tuple[float | None, float | None]:
    recent = sorted(islice(reversed(samples), LATENCY_WINDOW)) if samples else []
    if not recent:
        return None, None
    n = len(recent)
    return float(recent[(n - 1) // 2]), float(recent[max(0, -(-99 * n // 100) - 1)])


class Dashboard:
    """Builds snapshots of ``core`` (and ``client``: connection state) and shows them with rich.

    ``private`` adds the fills and positions panel. ``console`` defaults to the terminal; ``screen`` uses the
    alternate screen (full-screen, restored on exit).
    """

    def __init__(
        self,
        core: Core,
        client: Any = None,
        *,
        private: bool = False,
        refresh_hz: float = DEFAULT_REFRESH_HZ,
        log_file: str | None = None,
        console: Console | None = None,
        screen: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < refresh_hz <= MAX_REFRESH_HZ:
            raise ValueError(f"refresh_hz must be in (0, {MAX_REFRESH_HZ:g}], got {refresh_hz!r}")
        self.core = core
        self.client = client
        self.private = private
        self.refresh_hz = refresh_hz
        self.log_file = log_file
        self.console = console or Console()
        self.screen = screen
        self._clock = clock
        self._started = clock()
        self._selected: str | None = None
        self._keys = False
        self._rates: deque[tuple[float, int]] = deque()
        # change highlighting for the selected market: previous sizes and (time, direction) per (side, price)
        self._prev_ticker: str | None = None
        self._prev: dict[str, dict[int, int]] = {}
        self._changed: dict[tuple[str, int], tuple[float, int]] = {}
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self.render_errors = 0
        self.refreshes = 0

    # -- selection ---------------------------------------------------------------------------------------

    def tickers(self) -> list[str]:
        return sorted(self.core.state.markets)

    def select(self, ticker: str) -> None:
        self._selected = ticker

    def move(self, step: int) -> None:
        tickers = self.tickers()
        if not tickers:
            return
        try:
            index = tickers.index(self._selected) if self._selected is not None else 0
        except ValueError:
            index = 0
        self._selected = tickers[(index + step) % len(tickers)]

    # -- snapshot ----------------------------------------------------------------------------------------

    def snapshot(self, now_ns: int | None = None) -> Snapshot:
        """Copy what the screen shows out of the core (cheap: top levels of one market, a window of rows)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        mono = self._clock()
        markets = self.core.state.markets
        tickers = sorted(markets)
        if tickers and self._selected not in markets:
            self._selected = tickers[0]
        selected = tickers.index(self._selected) if tickers and self._selected is not None else 0
        first = max(0, min(selected - MARKET_ROWS // 2, len(tickers) - MARKET_ROWS))
        rows = tuple(self._row(markets[t], now_ns) for t in tickers[first : first + MARKET_ROWS])
        detail = self._detail(markets[tickers[selected]], now_ns, mono) if tickers else None
        positions: tuple[PositionView, ...] = ()
        fills: tuple[FillView, ...] = ()
        if self.private:
            positions = tuple(p for p in (position_view(markets[t]) for t in tickers) if p is not None)
            fills = self._fills(markets[tickers[selected]]) if tickers else ()
        return Snapshot(
            status=self._status(mono),
            rows=rows,
            first_row=first,
            selected=selected,
            total_markets=len(tickers),
            detail=detail,
            private=self.private,
            positions=positions,
            fills=fills,
            log_file=self.log_file,
            keys=self._keys,
            refresh_hz=self.refresh_hz,
        )

    def _status(self, mono: float) -> StatusView:
        core = self.core
        counters = core.counters
        frames = counters.get("frames", 0)
        rates = self._rates
        rates.append((mono, frames))
        while len(rates) > 2 and mono - rates[1][0] >= RATE_WINDOW_S:
            rates.popleft()
        fps = None
        if len(rates) > 1 and mono > rates[0][0]:
            fps = (frames - rates[0][1]) / (mono - rates[0][0])
        p50, p99 = _percentiles(getattr(core, "latencies_ms", None))
        markets = core.state.markets.values()
        client = self.client
        reconnects = counters.get("reconnects", 0) or getattr(client, "reconnects", 0)
        return StatusView(
            state=str(getattr(client, "state", "replay" if client is None else "?")),
            uptime_s=mono - self._started,
            frames=frames,
            fps=fps,
            reconnects=reconnects,
            gaps=counters.get("gaps", 0) + counters.get("regressions", 0),
            resyncs=counters.get("resyncs", 0),
            malformed=counters.get("decode_errors", 0),
            handler_errors=counters.get("handler_errors", 0),
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            usable=sum(1 for m in markets if getattr(m, "usable", True)),
            markets=len(markets),
        )

    def _row(self, market: MarketState, now_ns: int) -> MarketRow:
        book = market.book
        ticker = market.last_ticker
        last_recv = getattr(market, "last_recv_ns", 0)
        return MarketRow(
            ticker=market.market_ticker,
            usable=bool(getattr(market, "usable", True)),
            reason=getattr(market, "unusable_reason", None),
            best_bid=book.best_yes_bid(),
            best_ask=book.best_yes_ask(),
            spread=book.spread(),
            mid=book.mid(),
            last_price=ticker.price if ticker is not None and ticker.price is not None else _last_trade(market),
            trades=market.trade_count,
            volume_window=market.volume.window(now_ns).contracts,
            position=position_view(market),
            age_s=(now_ns - last_recv) / 1e9 if last_recv else None,
        )

    def _detail(self, market: MarketState, now_ns: int, mono: float) -> MarketDetail:
        book = market.book
        top_bids = heapq.nlargest(LADDER_DEPTH, book.yes.items())
        top_no = heapq.nlargest(LADDER_DEPTH, book.no.items())  # best NO bid = best (lowest) YES ask
        changes = self._track_changes(market, mono)
        bids = tuple(LevelView(p, s, changes.get(("yes", p), 0)) for p, s in top_bids)
        asks = tuple(LevelView(PRICE_SCALE - p, s, changes.get(("no", p), 0)) for p, s in top_no)
        window = market.volume.window(now_ns)
        ticker = market.last_ticker
        trades = tuple(
            TradeView(t.ts_ms, t.taker_side, t.yes_price, t.count)
            for t in islice(reversed(market.trades), TRADES_SHOWN)
        )
        return MarketDetail(
            row=self._row(market, now_ns),
            bids=bids,
            asks=asks,
            yes_levels=len(book.yes),
            no_levels=len(book.no),
            trades=trades,
            volume_total=market.volume.total.contracts,
            volume_yes=window.yes_contracts,
            volume_no=window.no_contracts,
            window_s=market.volume.window_ns / 1e9,
            exchange_volume=None if ticker is None else ticker.volume,
            open_interest=None if ticker is None else ticker.open_interest,
            spread_min=market.spread.min,
            spread_max=market.spread.max,
            spread_mean=market.spread.mean(now_ns),
        )

    def _track_changes(self, market: MarketState, mono: float) -> dict[tuple[str, int], int]:
        """Directions of the recent size changes of the selected market's levels (highlighted for HIGHLIGHT_S)."""
        book = market.book
        current = {"yes": book.yes, "no": book.no}
        if market.market_ticker != self._prev_ticker:  # a newly selected market: nothing to compare with yet
            self._prev_ticker = market.market_ticker
            self._changed.clear()
        else:
            changed = self._changed
            for side, levels in current.items():
                prev = self._prev.get(side, {})
                for price, size in levels.items():
                    old = prev.get(price, 0)
                    if size != old:
                        changed[(side, price)] = (mono, 1 if size > old else -1)
            for key in [k for k, (t, _) in changed.items() if mono - t >= HIGHLIGHT_S]:
                del changed[key]
        self._prev = {side: dict(levels) for side, levels in current.items()}
        return {key: direction for key, (_, direction) in self._changed.items()}

    @staticmethod
    def _fills(market: MarketState) -> tuple[FillView, ...]:
        return tuple(
            FillView(
                f.market_ticker, f.ts_ms, f.action, f.side, f.yes_price, f.count, f.fee, f.is_taker, f.post_position
            )
            for f in islice(reversed(market.fills), FILLS_SHOWN)
        )

    # -- run ---------------------------------------------------------------------------------------------

    def render_now(self) -> RenderableType:
        """Snapshot and render; a failure is logged (once) and shown instead of the screen, never raised."""
        try:
            return render(self.snapshot(), time.time())
        except Exception:
            self.render_errors += 1
            if self.render_errors == 1:
                log.exception("dashboard: rendering failed (the feed goes on)")
            return Text(f"dashboard error (see the log{': ' + self.log_file if self.log_file else ''})", "bold red")

    async def run(self, stop: asyncio.Event) -> None:
        """Show the dashboard until ``stop`` is set (``q`` sets it too)."""
        loop = asyncio.get_running_loop()
        self._stop = stop
        self._wake = wake = asyncio.Event()
        relay = asyncio.create_task(_relay(stop, wake))
        period = 1.0 / self.refresh_hz
        min_gap = 1.0 / MAX_REFRESH_HZ
        try:
            with (
                Live(
                    self.render_now(),
                    console=self.console,
                    screen=self.screen and self.console.is_terminal,  # a file gets the final screen
                    auto_refresh=False,  # refreshed from this loop only: no thread reads the state
                    redirect_stdout=False,
                    redirect_stderr=False,
                ) as live,
                _keyboard(loop, self._on_input) as keys,
            ):
                self._keys = keys
                while not stop.is_set():
                    live.update(self.render_now(), refresh=True)
                    self.refreshes += 1
                    shown = loop.time()
                    wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=period)
                    if wake.is_set() and not stop.is_set():  # a key: show it now, but never above the cap
                        await asyncio.sleep(max(0.0, shown + min_gap - loop.time()))
        finally:
            relay.cancel()

    def _on_input(self, data: bytes) -> None:
        for action in parse_keys(data):
            if action == "quit":
                if self._stop is not None:
                    self._stop.set()
            elif action == "next":
                self.move(1)
            elif action == "prev":
                self.move(-1)
            elif action.startswith("select:"):
                tickers = self.tickers()
                index = int(action[7:])
                if index < len(tickers):
                    self._selected = tickers[index]
        if self._wake is not None:
            self._wake.set()

    def status_line(self) -> str:
        """A one-line plain-text status (printed when the dashboard closes)."""
        return _status_text(self.snapshot().status).plain


async def _relay(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


@contextlib.contextmanager
def _keyboard(loop: asyncio.AbstractEventLoop, on_input: Callable[[bytes], None]) -> Iterator[bool]:
    """Read keys from a POSIX terminal without echo or Enter (Ctrl-C still interrupts); yields whether keys work."""
    stdin = sys.stdin
    if os.name != "posix" or stdin is None or not stdin.isatty():
        yield False
        return
    import termios
    import tty

    fd = stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
    except (termios.error, OSError):
        yield False
        return

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        on_input(data)

    try:
        loop.add_reader(fd, readable)
        yield True
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


_ESCAPES = {
    b"\x1b[A": "prev",
    b"\x1b[D": "prev",
    b"\x1b[Z": "prev",  # shift-tab
    b"\x1b[B": "next",
    b"\x1b[C": "next",
    b"\x1bOA": "prev",
    b"\x1bOD": "prev",
    b"\x1bOB": "next",
    b"\x1bOC": "next",
}
_KEYS = {"\t": "next", "n": "next", "j": "next", " ": "next", "p": "prev", "k": "prev", "q": "quit", "Q": "quit"}


def parse_keys(data: bytes) -> list[str]:
    """Actions for the bytes read from the terminal: ``next``, ``prev``, ``quit``, ``select:<index>`` (keys 1-9)."""
    actions = []
    i, n = 0, len(data)
    while i < n:
        seq = data[i : i + 3]
        if seq in _ESCAPES:
            actions.append(_ESCAPES[seq])
            i += 3
            continue
        if data[i] == 0x1B:  # another escape sequence (function keys...): skip it up to its final byte
            i += 1
            if i < n and data[i] in b"[O":
                i += 1
                while i < n and 0x20 <= data[i] <= 0x3F:
                    i += 1
                i += 1
            continue
        ch = chr(data[i])
        if "1" <= ch <= "9":
            actions.append(f"select:{int(ch) - 1}")
        elif ch in _KEYS:
            actions.append(_KEYS[ch])
        i += 1
    return actions


# ---------------------------------------------------------------------------------------------- render


def _c(price: int | None) -> str:
    return NONE if price is None else format_cents(price)


def _money(money: int | None) -> str:
    return NONE if money is None else format_money(money)


def _last_trade(market: MarketState) -> int | None:
    return market.trades[-1].yes_price if market.trades else None


def _clock_text(ts_ms: int | None) -> str:
    if ts_ms is None:
        return NONE
    return time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


def _ms(value: float | None) -> str:
    return NONE if value is None else f"{value:.0f} ms"


def _position(size: int) -> str:
    if size == 0:
        return "0"
    return f"{format_size(abs(size))} {'YES' if size > 0 else 'NO'}"


def _pnl(money: int | None) -> Text:
    if money is None:
        return Text(NONE)
    return Text(format_money(money), "green" if money > 0 else "red" if money < 0 else "")


_STATE_STYLE = {"connected": "bold green", "connecting": "bold yellow", "reconnecting": "bold yellow"}
_CHANGE_STYLE = {1: "bold black on green", -1: "bold black on red"}
_SIDE_STYLE = {"yes": "green", "no": "red"}


def _status_text(status: StatusView) -> Text:
    text = Text()
    text.append(f"● {status.state.upper()}", _STATE_STYLE.get(status.state, "bold red"))
    fps = "" if status.fps is None else f" ({status.fps:.0f}/s)"
    parts = [
        f"up {_duration(status.uptime_s)}",
        f"frames {status.frames:,}{fps}",
        f"reconnects {status.reconnects}",
        f"gaps {status.gaps}",
        f"resyncs {status.resyncs}",
        f"latency p50 {_ms(status.latency_p50_ms)} p99 {_ms(status.latency_p99_ms)}",
    ]
    text.append("  " + "  ".join(parts))
    if status.malformed or status.handler_errors:
        text.append(f"  malformed {status.malformed} handler errors {status.handler_errors}", "bold red")
    text.append("  books usable ")
    all_ok = status.usable == status.markets
    text.append(f"{status.usable}/{status.markets}", "bold green" if all_ok else "bold red")
    return text


_MARKET_COLUMNS = ("Bid", "Ask", "Spread", "Mid", "Last", "Trades", "Vol 60s", "Position", "P&L @mid", "Age")
_NARROW_DROPS = frozenset({"Last", "Trades", "Age"})  # left out below NARROW_WIDTH so the tickers stay readable
NARROW_WIDTH = 120


class _Fit:
    """Builds its renderable for the width it is given (a table that drops columns on a narrow terminal)."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


def _markets_table(snap: Snapshot, width: int) -> Table:
    shown = [c for c in _MARKET_COLUMNS if width >= NARROW_WIDTH or c not in _NARROW_DROPS]
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("Market", no_wrap=True, min_width=14)
    table.add_column("Book", no_wrap=True, min_width=4, max_width=34, ratio=1, overflow="ellipsis")
    for name in shown:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for offset, row in enumerate(snap.rows):
        chosen = snap.first_row + offset == snap.selected
        book = Text("ok", "green") if row.usable else Text(f"NO: {row.reason or '?'}", "bold red")
        pos = row.position
        cells: dict[str, RenderableType] = {
            "Bid": _c(row.best_bid),
            "Ask": _c(row.best_ask),
            "Spread": _c(row.spread),
            "Mid": _c(row.mid),
            "Last": _c(row.last_price),
            "Trades": str(row.trades),
            "Vol 60s": format_size(row.volume_window),
            "Position": NONE if pos is None else _position(pos.position),
            "P&L @mid": _pnl(None if pos is None else pos.pnl),
            "Age": _age(row.age_s),
        }
        table.add_row(
            "▶" if chosen else " ",
            Text(row.ticker, "bold" if chosen else ""),
            book,
            *(cells[name] for name in shown),
            style="on grey23" if chosen and snap.total_markets > 1 else None,
        )
    return table


def _ladder(detail: MarketDetail) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("Bid size", justify="right")
    table.add_column("YES bid", justify="right", style="green")
    table.add_column("YES ask", justify="right", style="red")
    table.add_column("Ask size", justify="right")
    for i in range(max(len(detail.bids), len(detail.asks), 1)):
        bid = detail.bids[i] if i < len(detail.bids) else None
        ask = detail.asks[i] if i < len(detail.asks) else None
        table.add_row(
            str(i + 1),
            _level_size(bid),
            _level_price(bid),
            _level_price(ask),
            _level_size(ask),
        )
    row = detail.row
    info = Text()
    info.append(f"spread {_c(row.spread)}", "bold")
    info.append(f"  mid {_c(row.mid)}", "bold")
    info.append(f"  levels YES {detail.yes_levels} / NO {detail.no_levels}")
    if detail.spread_min is not None:
        info.append(f"\nspread min {_c(detail.spread_min)} max {_c(detail.spread_max)}")
        info.append(f" mean {_c(detail.spread_mean)}")
    title = Text(row.ticker, "bold")
    body: list[RenderableType] = [table, info]
    if row.usable:
        title.append("  ok", "green")
    else:
        title.append("  NOT USABLE", "bold red")
        body.insert(0, Text(f"NOT USABLE: {row.reason or '?'}", "bold red"))
    return Panel(Group(*body), title=title, title_align="left", border_style="cyan" if row.usable else "red")


def _level_size(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_size(level.size), _CHANGE_STYLE.get(level.change, ""))


def _level_price(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_cents(level.price), "bold" if level.change else "")


def _trades(detail: MarketDetail) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
    table.add_column("Time", no_wrap=True)
    table.add_column("Taker", justify="center")
    table.add_column("YES", justify="right")
    table.add_column("NO", justify="right")
    table.add_column("Size", justify="right")
    for trade in detail.trades:
        side = trade.taker_side
        table.add_row(
            _clock_text(trade.ts_ms),
            Text(side.upper() if side else "?", _SIDE_STYLE.get(side or "", "")),
            format_cents(trade.yes_price),
            format_cents(PRICE_SCALE - trade.yes_price),
            format_size(trade.size),
        )
    if not detail.trades:
        table.add_row("no trades yet", "", "", "", "")
    window = int(detail.window_s)
    volume = Text()
    volume.append(f"volume {format_size(detail.volume_total)}", "bold")
    volume.append(f"  last {window}s {format_size(detail.volume_yes + detail.volume_no)}")
    volume.append(f" (YES {format_size(detail.volume_yes)} / NO {format_size(detail.volume_no)})")
    if detail.exchange_volume is not None:
        volume.append(f"\nexchange volume {format_size(detail.exchange_volume)}")
        if detail.open_interest is not None:
            volume.append(f"  open interest {format_size(detail.open_interest)}")
    return Panel(Group(table, volume), title="Last trades", title_align="left", border_style="cyan")


def _position_line(snap: Snapshot) -> Text:
    """The selected market's position, then the totals over every market with a position."""
    line = Text()
    ticker = snap.detail.row.ticker if snap.detail is not None else None
    mine = next((p for p in snap.positions if p.market == ticker), None)
    if mine is None:
        line.append("no position in this market")
    else:
        line.append(f"position {_position(mine.position)}", "bold")
        line.append(f"  avg cost {_c(mine.avg_cost)}  mark {_c(mine.mark)}  P&L @mid ")
        line.append_text(_pnl(mine.pnl))
        line.append("  realized ")
        line.append_text(_pnl(mine.realized))
        line.append(f"  fees {_money(mine.fees)}")
    if snap.positions:
        unrealized = [p.pnl for p in snap.positions if p.pnl is not None]
        realized = [p.realized for p in snap.positions if p.realized is not None]
        n = len(snap.positions)
        line.append(f"\ntotal of {n} position{'' if n == 1 else 's'}: P&L @mid ")
        line.append_text(_pnl(sum(unrealized) if unrealized else None))
        line.append("  realized ")
        line.append_text(_pnl(sum(realized) if realized else None))
    return line


def _private(snap: Snapshot) -> Panel:
    fills = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("Time", "Fill", "Price", "Size", "Role", "Fee", "Position after"):
        fills.add_column(name, justify="left" if name in ("Time", "Fill") else "right", no_wrap=True)
    for f in snap.fills:
        what = " ".join(part.upper() for part in (f.action, f.side) if part) or "?"
        price = f.yes_price if f.side != "no" else PRICE_SCALE - f.yes_price
        fills.add_row(
            _clock_text(f.ts_ms),
            Text(what, _SIDE_STYLE.get(f.side or "", "")),
            format_cents(price),
            format_size(f.size),
            NONE if f.is_taker is None else ("taker" if f.is_taker else "maker"),
            _money(f.fee),
            NONE if f.post_position is None else _position(f.post_position),
        )
    if not snap.fills:
        fills.add_row("no fills yet", "", "", "", "", "", "")
    market = f" in {snap.detail.row.ticker}" if snap.detail is not None else ""
    return Panel(
        Group(_position_line(snap), fills),
        title=f"Your position and fills{market}",
        title_align="left",
        border_style="magenta",
    )


def render(snap: Snapshot, now: float) -> RenderableType:
    """The whole screen for ``snap``; ``now`` (epoch seconds) is the clock shown in the status bar."""
    bar = Table.grid(expand=True)
    bar.add_column(ratio=1)
    bar.add_column(justify="right", no_wrap=True)
    bar.add_row(_status_text(snap.status), Text(time.strftime("%H:%M:%S", time.localtime(now)), "bold"))
    parts: list[RenderableType] = [Panel(bar, title="Kalshi market data", title_align="left", border_style="blue")]
    shown = f"{snap.first_row + 1}-{snap.first_row + len(snap.rows)} of {snap.total_markets}"
    parts.append(
        Panel(
            _Fit(lambda width: _markets_table(snap, width)),
            title=f"Markets ({shown})",
            title_align="left",
            border_style="blue",
        )
        if snap.rows
        else Panel(Text("waiting for market data…", "yellow"), title="Markets", title_align="left")
    )
    if snap.detail is not None:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(_ladder(snap.detail), _trades(snap.detail))
        parts.append(grid)
    if snap.private:
        parts.append(_private(snap))
    help_text = "keys: Tab/→ next market · ←/p previous · 1-9 pick · q quit" if snap.keys else "Ctrl-C to quit"
    footer = Text(f"{help_text} · refresh {snap.refresh_hz:g}/s", "dim")
    if snap.log_file:
        footer.append(f" · log: {snap.log_file}", "dim")
    parts.append(footer)
    return Group(*parts)
