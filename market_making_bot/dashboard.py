"""Live terminal dashboard (``--dashboard``): status bar, markets table, price ladder, trades, fills and positions.

Two halves, so that a test can check the screen without a terminal:

* :meth:`Dashboard.snapshot` copies what the screen needs out of the :class:`~market_making_bot.core.Core` (and the
  client, for the connection state) into plain frozen dataclasses; it runs on the event loop, between frames, so
  the copy is consistent;
* :func:`render` turns a :class:`Snapshot` into a rich renderable, with no other input (pure). The renderable lays
  itself out for the size it is drawn at (the terminal's): boxed sections on a large terminal; on a small one
  (80x24 and up) one-line rules instead of boxes, a shorter ladder, fewer trades, fills and rows, but always the
  status bar (wrapped between fields, never inside one), the selection marker, the P&L and the key help. Tickers
  are shown without the prefix they all share (``…LAL``, ``…BOS``; the prefix once, in the markets title).

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.rule import Rule
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
    "common_prefix",
    "render",
    "ticker_label",
    "wrap_fields",
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
    ticker_prefix: str | None = None
    """The prefix shared by every market's ticker (elided in the table); ``None``: work it out from ``rows``."""


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
            ticker_prefix=common_prefix(tickers),
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
        """A one-line plain-text status."""
        return _status_text(self.snapshot().status).plain

    def status_lines(self, width: int, first: int | None = None) -> list[str]:
        """The status as plain-text lines of ``width`` cells (``first``: of the first line), broken only between
        fields (printed when the dashboard closes)."""
        return [line.plain for line in wrap_fields(_status_fields(self.snapshot().status), width, first=first)]


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
FIELD_SEP = "  "
"""Between two fields ("label value") of a line; a line wraps only here, never inside a field."""


def common_prefix(tickers: Sequence[str]) -> str:
    """The prefix shared by every ticker, up to and including its last ``-`` (``""`` for fewer than 2 tickers).

    ``KXNBAGAME-26DEC01-LAL`` and ``KXNBAGAME-26DEC01-BOS`` share ``KXNBAGAME-26DEC01-``: the table shows ``…LAL`` and
    ``…BOS``. Cut at a ``-`` so that a label is a whole part of the ticker (the event, the market), never half a word.
    """
    if len(tickers) < 2:
        return ""
    shared = os.path.commonprefix(list(tickers))
    return shared[: shared.rfind("-") + 1]


def ticker_label(ticker: str, prefix: str, width: int) -> str:
    """``ticker`` without ``prefix`` (marked ``…``), at most ``width`` cells: a longer one keeps its end (``…`` first),
    the part that tells markets apart."""
    label = "…" + ticker[len(prefix) :] if prefix and ticker.startswith(prefix) else ticker
    if len(label) > width:
        label = "…" + label[len(label) - width + 1 :]
    return label


def _field(label: str, value: str | Text, style: str = "") -> Text:
    text = Text(f"{label} " if label else "", style)
    if isinstance(value, Text):
        text.append_text(value)
    else:
        text.append(value, style)
    return text


def wrap_fields(fields: Sequence[Text], width: int, *, first: int | None = None, sep: str = FIELD_SEP) -> list[Text]:
    """Lay ``fields`` out on lines of ``width`` cells (``first``: of the first line), breaking only between fields.

    A field wider than a whole line is cut with ``…`` (never continued on the next line).
    """
    lines: list[Text] = []
    room = width if first is None else first
    line = Text()
    for field in fields:
        if not line.cell_len:
            line = field.copy()
        elif line.cell_len + len(sep) + field.cell_len <= room:
            line.append(sep)
            line.append_text(field)
        else:
            lines.append(_cut(line, room))
            line, room = field.copy(), width
    lines.append(_cut(line, room))
    return lines


def _cut(text: Text, width: int) -> Text:
    if text.cell_len > width:
        text.truncate(max(width, 1), overflow="ellipsis")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _lines(lines: Sequence[Text]) -> Text:
    out = Text("\n").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


def _status_fields(status: StatusView) -> list[Text]:
    """The status bar's fields, most important first (the state and the usable books stay on the first line)."""
    all_ok = status.usable == status.markets
    fields = [
        Text(f"● {status.state.upper()}", _STATE_STYLE.get(status.state, "bold red")),
        _field("books usable", Text(f"{status.usable}/{status.markets}", "bold green" if all_ok else "bold red")),
        _field("up", _duration(status.uptime_s)),
        _field("frames", f"{status.frames:,}" + ("" if status.fps is None else f" ({status.fps:.0f}/s)")),
        _field("reconnects", str(status.reconnects)),
        _field("gaps", str(status.gaps)),
        _field("resyncs", str(status.resyncs)),
        _field("latency", f"p50 {_ms(status.latency_p50_ms)} p99 {_ms(status.latency_p99_ms)}"),
    ]
    if status.malformed or status.handler_errors:
        fields.append(_field("malformed", str(status.malformed), "bold red"))
        fields.append(_field("handler errors", str(status.handler_errors), "bold red"))
    return fields


def _status_text(status: StatusView) -> Text:
    """The status bar on one line (the status line printed when the dashboard closes)."""
    return Text(FIELD_SEP).join(_status_fields(status))


def _status_lines(status: StatusView, clock: str, width: int) -> list[Text]:
    """The status bar wrapped between fields, the clock at the right end of the first line."""
    lines = wrap_fields(_status_fields(status), width, first=max(1, width - len(clock) - 2))
    first = lines[0]
    first.append(" " * max(2, width - first.cell_len - len(clock)))
    first.append(clock, "bold")
    return lines


# -- layout ----------------------------------------------------------------------------------------------------
# Every section is built for a known width and has a known height, so that the whole screen is planned to fit the
# terminal before anything is drawn: on a small terminal the ladder, the trades, the fills and the market rows
# shrink (in that order) and the boxes give way to one-line rules, but the status, the selection marker, the
# positions' P&L and the key help always stay on screen.

_MARKET_COLUMNS = ("Bid", "Ask", "Spread", "Mid", "Last", "Trades", "Vol 60s", "Position", "P&L @mid", "Age")
_NARROW_DROPS = frozenset({"Last", "Trades", "Age"})  # left out below NARROW_WIDTH so the tickers stay readable
_SMALL_DROPS = _NARROW_DROPS | {"Mid"}  # and below SMALL_WIDTH (the ladder shows the selected market's mid)
_PRIVATE_COLUMNS = frozenset({"Position", "P&L @mid"})
NARROW_WIDTH = 120
SMALL_WIDTH = 90
SHORT_HEADERS = {"P&L @mid": "P&L"}  # below SMALL_WIDTH
COMPACT_TABLE = 44  # a ladder or trades table narrower than this gets short headers
BOOK_WIDTH = 34  # at most, for the markets table's "Book" column (ok, or NO: and why)
MIN_WIDTH, MIN_HEIGHT = 40, 8  # below this the screen is drawn as for this size and cropped by the terminal


@dataclass
class _Plan:
    """What fits: boxed sections or rules, how many market rows, ladder levels and fills, which extra lines."""

    boxed: bool
    rows: int
    depth: int = LADDER_DEPTH
    fills: int = FILLS_SHOWN
    extra: bool = True  # the second lines under the ladder and the trades (spread stats, exchange volume)
    log: bool = True  # the log file's path in the footer
    detail: bool = True

    def shrink(self) -> bool:
        """One step smaller (the least useful thing first); ``False`` when nothing is left to give up."""
        for attr, floor, boxed_ok in _SHRINK:
            if not boxed_ok and self.boxed:
                return False
            value = getattr(self, attr)
            if isinstance(value, bool):
                if value:
                    setattr(self, attr, False)
                    return True
            elif value > floor:
                setattr(self, attr, value - 1)
                return True
        return False


# (attribute, floor, allowed while boxed): a boxed screen stops shrinking at a comfortable size and gives way to
# the compact one, which goes on down to a ladder of one level.
# A deep ladder is worth more than the boxes: below 8 levels the compact screen is used (at 100x30, for example).
_SHRINK: tuple[tuple[str, int, bool], ...] = (
    ("fills", 3, True),
    ("extra", 0, True),
    ("log", 0, True),  # the log file's path is printed on exit too
    ("depth", 8, True),
    ("fills", 2, True),
    ("rows", 5, True),
    ("depth", 6, False),
    ("fills", 1, False),
    ("depth", 5, False),
    ("depth", 3, False),
    ("rows", 3, False),
    ("depth", 1, False),
    ("rows", 1, False),
    ("detail", 0, False),
)


class _Screen:
    """The whole screen, laid out for the size rich gives it (the terminal's, or the recording console's)."""

    def __init__(self, snap: Snapshot, now: float) -> None:
        self.snap = snap
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, MIN_WIDTH)
        # the screen's height (alternate screen), or the terminal's; written to a file (a redirected --dashboard
        # prints its last screen once), the screen takes the height it needs
        height = options.height or (options.max_height if console.is_terminal else None)
        yield _Layout(self.snap, self.now, width, max(height, MIN_HEIGHT) if height else None).build()


class _Layout:
    def __init__(self, snap: Snapshot, now: float, width: int, height: int | None) -> None:
        self.snap = snap
        self.width = width
        self.clock = time.strftime("%H:%M:%S", time.localtime(now))
        tickers = [row.ticker for row in snap.rows]
        self.prefix = snap.ticker_prefix if snap.ticker_prefix is not None else common_prefix(tickers)
        self.plan = self._plan(height)

    # -- planning ----------------------------------------------------------------------------------------

    def _plan(self, height: int | None) -> _Plan:
        rows = min(len(self.snap.rows), MARKET_ROWS)
        plan = _Plan(boxed=True, rows=rows)
        if height is None:
            return plan
        for boxed in (True, False):
            plan = _Plan(boxed=boxed, rows=rows)
            while self._height(plan) > height:
                if not plan.shrink():
                    break
            else:
                return plan
        return plan

    def _height(self, plan: _Plan) -> int:
        frame = 2 if plan.boxed else 1  # a box's two borders, or one rule with the title
        inner = self.inner(plan)
        snap = self.snap
        total = len(_status_lines(snap.status, self.clock, inner)) + (2 if plan.boxed else 0)
        header = 2 if plan.boxed else 1  # column names (and a rule under them when boxed)
        total += frame + (header + min(plan.rows, len(snap.rows)) if snap.rows else 1)
        if snap.detail is not None and plan.detail:
            total += frame + self._detail_height(plan)
        if snap.private:
            total += frame + len(self._position_lines(inner)) + header + max(1, min(plan.fills, len(snap.fills)))
        return total + len(self._footer_lines(plan))

    def inner(self, plan: _Plan, width: int | None = None) -> int:
        """Content width of a section ``width`` wide (the whole screen by default)."""
        width = self.width if width is None else width
        return width - 4 if plan.boxed else width

    def halves(self) -> tuple[int, int]:
        left = (self.width - 2) // 2  # two columns with 2 cells between them
        return left, self.width - 2 - left

    def _ladder_lines(self, plan: _Plan) -> tuple[int, list[Text]]:
        """Ladder levels shown and the info lines under them."""
        detail = self.snap.detail
        assert detail is not None
        levels = max(1, min(plan.depth, max(len(detail.bids), len(detail.asks))))
        return levels, self._ladder_info(detail, plan)

    def _ladder_info(self, detail: MarketDetail, plan: _Plan) -> list[Text]:
        row = detail.row
        width = self.inner(plan, self.halves()[0])
        fields = [_field("spread", _c(row.spread), "bold"), _field("mid", _c(row.mid), "bold")]
        if plan.extra or width >= COMPACT_TABLE:  # a narrow ladder keeps the line for a level more
            fields.append(_field("levels", f"YES {detail.yes_levels} / NO {detail.no_levels}"))
        lines = wrap_fields(fields, width)
        if plan.extra and detail.spread_min is not None:
            stats = f"min {_c(detail.spread_min)} max {_c(detail.spread_max)} mean {_c(detail.spread_mean)}"
            lines += wrap_fields([_field("spread", stats)], width)
        if not row.usable:
            lines.insert(0, _cut(Text(f"NOT USABLE: {row.reason or '?'}", "bold red"), width))
        return lines

    def _volume_lines(self, detail: MarketDetail, plan: _Plan) -> list[Text]:
        window = int(detail.window_s)
        recent = detail.volume_yes + detail.volume_no
        fields = [
            _field("volume", format_size(detail.volume_total), "bold"),
            _field(
                f"last {window}s",
                f"{format_size(recent)} (YES {format_size(detail.volume_yes)} / NO {format_size(detail.volume_no)})",
            ),
        ]
        width = self.inner(plan, self.halves()[1])
        lines = wrap_fields(fields, width)
        if plan.extra and detail.exchange_volume is not None:
            more = [_field("exchange volume", format_size(detail.exchange_volume))]
            if detail.open_interest is not None:
                more.append(_field("open interest", format_size(detail.open_interest)))
            lines += wrap_fields(more, width)
        return lines

    def _detail_height(self, plan: _Plan) -> int:
        header = 2 if plan.boxed else 1
        levels, info = self._ladder_lines(plan)
        return header + levels + len(info)

    def _trade_rows(self, plan: _Plan) -> int:
        """As many trades as make the trades as tall as the ladder beside them (at least one line)."""
        detail = self.snap.detail
        assert detail is not None
        header = 2 if plan.boxed else 1
        room = self._detail_height(plan) - header - len(self._volume_lines(detail, plan))
        return max(1, min(room, TRADES_SHOWN))

    def _position_lines(self, width: int) -> list[Text]:
        """The selected market's position, then the totals over every market with a position."""
        snap = self.snap
        ticker = snap.detail.row.ticker if snap.detail is not None else None
        mine = next((p for p in snap.positions if p.market == ticker), None)
        if mine is None:
            lines = [Text("no position in this market")]
        else:
            lines = wrap_fields(
                [
                    _field("position", _position(mine.position), "bold"),
                    _field("avg cost", _c(mine.avg_cost)),
                    _field("mark", _c(mine.mark)),
                    _field("P&L @mid", _pnl(mine.pnl)),
                    _field("realized", _pnl(mine.realized)),
                    _field("fees", _money(mine.fees)),
                ],
                width,
            )
        if snap.positions:
            unrealized = [p.pnl for p in snap.positions if p.pnl is not None]
            realized = [p.realized for p in snap.positions if p.realized is not None]
            n = len(snap.positions)
            lines += wrap_fields(
                [
                    _field(
                        f"total of {n} position{'' if n == 1 else 's'}: P&L @mid",
                        _pnl(sum(unrealized) if unrealized else None),
                    ),
                    _field("realized", _pnl(sum(realized) if realized else None)),
                ],
                width,
            )
        return lines

    def _footer_lines(self, plan: _Plan) -> list[Text]:
        snap = self.snap
        if not snap.keys:
            keys = "Ctrl-C to quit"
        elif self.width >= 100:
            keys = "keys: Tab/→ next market · ←/p previous · 1-9 pick · q quit"
        else:
            keys = "keys: Tab/→ next · ←/p prev · 1-9 pick · q quit"
        fields = [Text(keys, "dim"), Text(f"refresh {snap.refresh_hz:g}/s", "dim")]
        if snap.log_file and plan.log:
            fields.append(Text(f"log: {snap.log_file}", "dim"))
        return wrap_fields(fields, self.width, sep=" · ")

    # -- building ----------------------------------------------------------------------------------------

    def build(self) -> RenderableType:
        plan, snap = self.plan, self.snap
        parts: list[RenderableType] = []
        status = _lines(_status_lines(snap.status, self.clock, self.inner(plan)))
        if plan.boxed:
            parts.append(Panel(status, title="Kalshi market data", title_align="left", border_style="blue"))
        else:
            parts.append(status)
        if snap.rows:
            parts.append(self._section(self._markets_title(), self._markets_table(), "blue"))
        else:
            parts.append(self._section(Text("Markets"), Text("waiting for market data…", "yellow"), "blue"))
        if snap.detail is not None and plan.detail:
            parts.append(self._detail())
        if snap.private:
            parts.append(self._private())
        parts.append(_lines(self._footer_lines(plan)))
        return Group(*parts)

    def _section(self, title: Text, body: RenderableType, style: str, width: int | None = None) -> RenderableType:
        if self.plan.boxed:
            return Panel(body, title=title, title_align="left", border_style=style, width=width)
        rule = Text("─ ", style)
        rule.append_text(title)
        return Group(Rule(rule, align="left", style=style), body)

    def _rows(self) -> tuple[int, tuple[MarketRow, ...]]:
        """The index of the first row shown and the rows: a window of the snapshot's rows around the selection."""
        snap, count = self.snap, self.plan.rows
        at = snap.selected - snap.first_row
        start = max(0, min(at - count // 2, len(snap.rows) - count))
        return snap.first_row + start, snap.rows[start : start + count]

    def _markets_title(self) -> Text:
        first, rows = self._rows()
        title = Text("Markets ")
        if self.prefix:
            title.append(self.prefix + "…", "bold")
            title.append(" ")
        title.append(f"({first + 1}-{first + len(rows)} of {self.snap.total_markets})")
        return title

    def _market_columns(self, width: int) -> list[str]:
        drops = _SMALL_DROPS if width < SMALL_WIDTH else _NARROW_DROPS if width < NARROW_WIDTH else frozenset()
        if not self.snap.private and not any(row.position is not None for row in self.snap.rows):
            drops = drops | _PRIVATE_COLUMNS  # a public feed: no position to show
        return [c for c in _MARKET_COLUMNS if c not in drops]

    def _markets_table(self) -> Table:
        plan, snap = self.plan, self.snap
        width = self.inner(plan)
        first, rows = self._rows()
        shown = self._market_columns(width)
        labels = [ticker_label(row.ticker, self.prefix, max(8, width // 5)) for row in rows]
        table = Table(
            box=box.SIMPLE_HEAD if plan.boxed else None,
            expand=True,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        table.add_column("", no_wrap=True, width=1)
        table.add_column("Market", no_wrap=True, width=max(len("Market"), *(len(label) for label in labels)))
        table.add_column("Book", no_wrap=True, min_width=4, max_width=BOOK_WIDTH, ratio=1, overflow="ellipsis")
        for name in shown:
            header = SHORT_HEADERS.get(name, name) if width < SMALL_WIDTH else name
            table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
        for offset, (row, label) in enumerate(zip(rows, labels, strict=True)):
            chosen = first + offset == snap.selected
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
                Text(label, "bold" if chosen else ""),
                book,
                *(cells[name] for name in shown),
                style="on grey23" if chosen and snap.total_markets > 1 else None,
            )
        return table

    def _detail(self) -> RenderableType:
        detail = self.snap.detail
        assert detail is not None
        left, right = self.halves()
        grid = Table.grid(padding=(0, 1), collapse_padding=False)  # 1 + 1 cells between the two columns
        grid.add_column(width=left)
        grid.add_column(width=right)
        grid.add_row(self._ladder(detail, left), self._trades(detail, right))
        return grid

    def _ladder(self, detail: MarketDetail, width: int) -> RenderableType:
        plan = self.plan
        inner = self.inner(plan, width)
        short = inner < COMPACT_TABLE
        table = Table(
            box=box.SIMPLE_HEAD if plan.boxed else None,
            expand=True,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        for name, style in (
            ("#", "dim"),
            ("Size" if short else "Bid size", ""),
            ("Bid" if short else "YES bid", "green"),
            ("Ask" if short else "YES ask", "red"),
            ("Size" if short else "Ask size", ""),
        ):
            table.add_column(name, justify="right", style=style, no_wrap=True)
        levels, info = self._ladder_lines(plan)
        for i in range(levels):
            bid = detail.bids[i] if i < len(detail.bids) else None
            ask = detail.asks[i] if i < len(detail.asks) else None
            table.add_row(str(i + 1), _level_size(bid), _level_price(bid), _level_price(ask), _level_size(ask))
        row = detail.row
        title = Text(row.ticker, "bold")
        title.append("  ok" if row.usable else "  NOT USABLE", "green" if row.usable else "bold red")
        body: list[RenderableType] = [table, _lines(info)]
        if not row.usable:  # the reason first, in red, above the levels that are kept on screen
            body = [_lines(info[:1]), table, _lines(info[1:])]
        style = "cyan" if row.usable else "red"
        return self._section(title, Group(*body), style, width if plan.boxed else None)

    def _trades(self, detail: MarketDetail, width: int) -> RenderableType:
        plan = self.plan
        short = self.inner(plan, width) < COMPACT_TABLE
        table = Table(
            box=box.SIMPLE_HEAD if plan.boxed else None,
            expand=True,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        names = ("Time", "Taker", "YES", "Size") if short else ("Time", "Taker", "YES", "NO", "Size")
        for name in names:
            justify = "left" if name == "Time" else "center" if name == "Taker" else "right"
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        rows = self._trade_rows(plan)
        for trade in detail.trades[:rows]:
            side = trade.taker_side
            cells: list[RenderableType] = [
                _clock_text(trade.ts_ms),
                Text(side.upper() if side else "?", _SIDE_STYLE.get(side or "", "")),
                format_cents(trade.yes_price),
            ]
            if not short:
                cells.append(format_cents(PRICE_SCALE - trade.yes_price))
            cells.append(format_size(trade.size))
            table.add_row(*cells)
        if not detail.trades:
            table.add_row("no trades yet", *([""] * (len(names) - 1)))
        body = Group(table, _lines(self._volume_lines(detail, plan)))
        return self._section(Text("Last trades"), body, "cyan", width if plan.boxed else None)

    def _private(self) -> RenderableType:
        plan, snap = self.plan, self.snap
        width = self.inner(plan)
        short = width < 72
        fills = Table(
            box=box.SIMPLE_HEAD if plan.boxed else None,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        for name in ("Time", "Fill", "Price", "Size", "Role", "Fee", "Pos after" if short else "Position after"):
            fills.add_column(name, justify="left" if name in ("Time", "Fill") else "right", no_wrap=True)
        for f in snap.fills[: plan.fills]:
            what = " ".join(part.upper() for part in (f.action, f.side) if part) or "?"
            price = f.yes_price if f.side != "no" else PRICE_SCALE - f.yes_price
            fills.add_row(
                _clock_text(f.ts_ms)[: 8 if short else None],
                Text(what, _SIDE_STYLE.get(f.side or "", "")),
                format_cents(price),
                format_size(f.size),
                NONE if f.is_taker is None else ("taker" if f.is_taker else "maker"),
                _money(f.fee),
                NONE if f.post_position is None else _position(f.post_position),
            )
        if not snap.fills:
            fills.add_row("no fills yet", "", "", "", "", "", "")
        title = Text("Your position and fills")
        if snap.detail is not None:
            title.append(f" in {snap.detail.row.ticker}")
        return self._section(title, Group(_lines(self._position_lines(width)), fills), "magenta")


def _level_size(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_size(level.size), _CHANGE_STYLE.get(level.change, ""))


def _level_price(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_cents(level.price), "bold" if level.change else "")


def render(snap: Snapshot, now: float) -> RenderableType:
    """The whole screen for ``snap``, laid out for the size it is drawn at; ``now`` (epoch seconds) is the clock shown
    in the status bar."""
    return _Screen(snap, now)
