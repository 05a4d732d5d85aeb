"""The dashboard's layout: what fits a terminal of a given size, and the text of each line, from a :class:`Snapshot`.

Every section is built for a known width and has a known height, so that the whole screen is planned to fit the
terminal before anything is drawn (:class:`Layout`, :class:`Plan`): on a small terminal the ladder, the trades, the
fills and the market rows shrink (in that order) and the boxes give way to one-line rules, but the status, the
selection marker, the positions' P&L and the key help always stay on screen. Lines are broken only between fields
(:func:`wrap_fields`), never inside one.

This module measures text with rich's :class:`~rich.text.Text` (cell widths) but draws nothing: the tables and
panels are :mod:`market_making_bot.views.dashboard.render`'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from market_making_bot.units import format_cents, format_money, format_size
from market_making_bot.views.dashboard.model import (
    FILLS_SHOWN,
    LADDER_DEPTH,
    MARKET_ROWS,
    TRADES_SHOWN,
    AccountView,
    MarketDetail,
    MarketRow,
    Snapshot,
    StatusView,
    common_prefix,
)
from market_making_bot.views.dashboard.pnl import total

__all__ = [
    "BOOK_WIDTH",
    "CHANGE_STYLE",
    "COMPACT_TABLE",
    "FIELD_SEP",
    "MARKET_COLUMNS",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "NARROW_WIDTH",
    "NONE",
    "SHORT_HEADERS",
    "SIDE_STYLE",
    "SMALL_WIDTH",
    "STATE_STYLE",
    "Layout",
    "Plan",
    "account_fields",
    "age_text",
    "cents",
    "clock_text",
    "cut",
    "duration_text",
    "field",
    "join_lines",
    "money_text",
    "ms_text",
    "pnl_text",
    "position_text",
    "status_fields",
    "status_lines",
    "status_text",
    "ticker_label",
    "wrap_fields",
]

NONE = "--"
"""Shown for a figure that is not known."""


# ---------------------------------------------------------------------------------------------- text of a figure


def cents(price: int | None) -> str:
    return NONE if price is None else format_cents(price)


def money_text(money: int | None) -> str:
    return NONE if money is None else format_money(money)


def clock_text(ts_ms: int | None) -> str:
    if ts_ms is None:
        return NONE
    return time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"


def duration_text(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


def ms_text(value: float | None) -> str:
    return NONE if value is None else f"{value:.0f} ms"


def position_text(size: int) -> str:
    if size == 0:
        return "0"
    return f"{format_size(abs(size))} {'YES' if size > 0 else 'NO'}"


def pnl_text(money: int | None) -> Text:
    if money is None:
        return Text(NONE)
    return Text(format_money(money), "green" if money > 0 else "red" if money < 0 else "")


def account_fields(account: AccountView) -> list[Text]:
    """The balance, the portfolio value, the resting orders (those of the selected market listed), and, after a
    failed REST read, how stale the figures are (or that they are unknown)."""
    fields = [
        field("balance", money_text(account.balance), "bold"),
        field("portfolio", money_text(account.portfolio_value)),
        field("resting orders", NONE if account.resting is None else str(account.resting)),
    ]
    if account.orders:
        here = ", ".join(f"{o.side.upper()} {format_size(o.remaining)} @ {cents(o.price)}" for o in account.orders)
        fields.append(field("here:", here + (f" +{account.more} more" if account.more else "")))
    if account.error is not None:
        if account.age_s is None:
            fields.append(Text("unknown: REST read failed", "bold red"))
        else:
            fields.append(Text(f"stale: read {age_text(account.age_s)} ago, REST failed since", "bold yellow"))
    return fields


STATE_STYLE = {"connected": "bold green", "connecting": "bold yellow", "reconnecting": "bold yellow"}
CHANGE_STYLE = {1: "bold black on green", -1: "bold black on red"}
SIDE_STYLE = {"yes": "green", "no": "red"}
FIELD_SEP = "  "
"""Between two fields ("label value") of a line; a line wraps only here, never inside a field."""


def ticker_label(ticker: str, prefix: str, width: int) -> str:
    """``ticker`` without ``prefix`` (marked ``…``), at most ``width`` cells: a longer one keeps its end (``…`` first),
    the part that tells markets apart."""
    label = "…" + ticker[len(prefix) :] if prefix and ticker.startswith(prefix) else ticker
    if len(label) > width:
        label = "…" + label[len(label) - width + 1 :]
    return label


def field(label: str, value: str | Text, style: str = "") -> Text:
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
            lines.append(cut(line, room))
            line, room = field.copy(), width
    lines.append(cut(line, room))
    return lines


def cut(text: Text, width: int) -> Text:
    if text.cell_len > width:
        text.truncate(max(width, 1), overflow="ellipsis")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def join_lines(lines: Sequence[Text]) -> Text:
    out = Text("\n").join(lines)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


def status_fields(status: StatusView) -> list[Text]:
    """The status bar's fields, most important first (the state and the usable books stay on the first line)."""
    all_ok = status.usable == status.markets
    fields = [
        Text(f"● {status.state.upper()}", STATE_STYLE.get(status.state, "bold red")),
        field("books usable", Text(f"{status.usable}/{status.markets}", "bold green" if all_ok else "bold red")),
        field("up", duration_text(status.uptime_s)),
        field("frames", f"{status.frames:,}" + ("" if status.fps is None else f" ({status.fps:.0f}/s)")),
        field("reconnects", str(status.reconnects)),
        field("gaps", str(status.gaps)),
        field("resyncs", str(status.resyncs)),
        field("latency", f"p50 {ms_text(status.latency_p50_ms)} p99 {ms_text(status.latency_p99_ms)}"),
    ]
    if status.malformed or status.handler_errors:
        fields.append(field("malformed", str(status.malformed), "bold red"))
        fields.append(field("handler errors", str(status.handler_errors), "bold red"))
    return fields


def status_text(status: StatusView) -> Text:
    """The status bar on one line (the status line printed when the dashboard closes)."""
    return Text(FIELD_SEP).join(status_fields(status))


def status_lines(status: StatusView, clock: str, width: int) -> list[Text]:
    """The status bar wrapped between fields, the clock at the right end of the first line."""
    lines = wrap_fields(status_fields(status), width, first=max(1, width - len(clock) - 2))
    first = lines[0]
    first.append(" " * max(2, width - first.cell_len - len(clock)))
    first.append(clock, "bold")
    return lines


# ---------------------------------------------------------------------------------------------- planning

MARKET_COLUMNS = ("Bid", "Ask", "Spread", "Mid", "Last", "Trades", "Vol 60s", "Position", "P&L @mid", "Age")
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
class Plan:
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


class Layout:
    """The plan of one screen for ``snap`` at ``width`` x ``height`` cells (``height`` ``None``: as tall as it needs,
    written to a file), and the lines of text of each section; ``now`` (epoch seconds) is the clock shown."""

    def __init__(self, snap: Snapshot, now: float, width: int, height: int | None) -> None:
        self.snap = snap
        self.width = width
        self.clock = time.strftime("%H:%M:%S", time.localtime(now))
        tickers = [row.ticker for row in snap.rows]
        self.prefix = snap.ticker_prefix if snap.ticker_prefix is not None else common_prefix(tickers)
        self.plan = self.make_plan(height)

    # -- planning ----------------------------------------------------------------------------------------

    def make_plan(self, height: int | None) -> Plan:
        rows = min(len(self.snap.rows), MARKET_ROWS)
        plan = Plan(boxed=True, rows=rows)
        if height is None:
            return plan
        for boxed in (True, False):
            plan = Plan(boxed=boxed, rows=rows)
            while self.height_of(plan) > height:
                if not plan.shrink():
                    break
            else:
                return plan
        return plan

    def height_of(self, plan: Plan) -> int:
        frame = 2 if plan.boxed else 1  # a box's two borders, or one rule with the title
        inner = self.inner(plan)
        snap = self.snap
        total = len(status_lines(snap.status, self.clock, inner)) + (2 if plan.boxed else 0)
        header = 2 if plan.boxed else 1  # column names (and a rule under them when boxed)
        total += frame + (header + min(plan.rows, len(snap.rows)) if snap.rows else 1)
        if snap.detail is not None and plan.detail:
            total += frame + self.detail_height(plan)
        if snap.private:
            total += frame + len(self.position_lines(inner)) + header + max(1, min(plan.fills, len(snap.fills)))
        return total + len(self.footer_lines(plan))

    def inner(self, plan: Plan, width: int | None = None) -> int:
        """Content width of a section ``width`` wide (the whole screen by default)."""
        width = self.width if width is None else width
        return width - 4 if plan.boxed else width

    def halves(self) -> tuple[int, int]:
        left = (self.width - 2) // 2  # two columns with 2 cells between them
        return left, self.width - 2 - left

    def ladder_lines(self, plan: Plan) -> tuple[int, list[Text]]:
        """Ladder levels shown and the info lines under them."""
        detail = self.snap.detail
        assert detail is not None
        levels = max(1, min(plan.depth, max(len(detail.bids), len(detail.asks))))
        return levels, self.ladder_info(detail, plan)

    def ladder_info(self, detail: MarketDetail, plan: Plan) -> list[Text]:
        row = detail.row
        width = self.inner(plan, self.halves()[0])
        fields = [field("spread", cents(row.spread), "bold"), field("mid", cents(row.mid), "bold")]
        if plan.extra or width >= COMPACT_TABLE:  # a narrow ladder keeps the line for a level more
            fields.append(field("levels", f"YES {detail.yes_levels} / NO {detail.no_levels}"))
        lines = wrap_fields(fields, width)
        if plan.extra and detail.spread_min is not None:
            stats = f"min {cents(detail.spread_min)} max {cents(detail.spread_max)} mean {cents(detail.spread_mean)}"
            lines += wrap_fields([field("spread", stats)], width)
        if not row.usable:
            lines.insert(0, cut(Text(f"NOT USABLE: {row.reason or '?'}", "bold red"), width))
        return lines

    def volume_lines(self, detail: MarketDetail, plan: Plan) -> list[Text]:
        window = int(detail.window_s)
        recent = detail.volume_yes + detail.volume_no
        fields = [
            field("volume", format_size(detail.volume_total), "bold"),
            field(
                f"last {window}s",
                f"{format_size(recent)} (YES {format_size(detail.volume_yes)} / NO {format_size(detail.volume_no)})",
            ),
        ]
        width = self.inner(plan, self.halves()[1])
        lines = wrap_fields(fields, width)
        if plan.extra and detail.exchange_volume is not None:
            more = [field("exchange volume", format_size(detail.exchange_volume))]
            if detail.open_interest is not None:
                more.append(field("open interest", format_size(detail.open_interest)))
            lines += wrap_fields(more, width)
        return lines

    def detail_height(self, plan: Plan) -> int:
        header = 2 if plan.boxed else 1
        levels, info = self.ladder_lines(plan)
        return header + levels + len(info)

    def trade_rows(self, plan: Plan) -> int:
        """As many trades as make the trades as tall as the ladder beside them (at least one line)."""
        detail = self.snap.detail
        assert detail is not None
        header = 2 if plan.boxed else 1
        room = self.detail_height(plan) - header - len(self.volume_lines(detail, plan))
        return max(1, min(room, TRADES_SHOWN))

    def position_lines(self, width: int) -> list[Text]:
        """The selected market's position, then the totals over every market with a position."""
        snap = self.snap
        ticker = snap.detail.row.ticker if snap.detail is not None else None
        mine = next((p for p in snap.positions if p.market == ticker), None)
        if mine is None:
            lines = [Text("no position in this market")]
        else:
            lines = wrap_fields(
                [
                    field("position", position_text(mine.position), "bold"),
                    field("avg cost", cents(mine.avg_cost)),
                    field("mark", cents(mine.mark)),
                    field("P&L @mid", pnl_text(mine.pnl)),
                    field("realized", pnl_text(mine.realized)),
                    field("fees", money_text(mine.fees)),
                ],
                width,
            )
        if snap.positions:
            n = len(snap.positions)
            lines += wrap_fields(
                [
                    field(
                        f"total of {n} position{'' if n == 1 else 's'}: P&L @mid",
                        pnl_text(total(p.pnl for p in snap.positions)),
                    ),
                    field("realized", pnl_text(total(p.realized for p in snap.positions))),
                ],
                width,
            )
        if snap.account is not None:
            lines += wrap_fields(account_fields(snap.account), width)
        return lines

    def footer_lines(self, plan: Plan) -> list[Text]:
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
    def visible_rows(self) -> tuple[int, tuple[MarketRow, ...]]:
        """The index of the first row shown and the rows: a window of the snapshot's rows around the selection."""
        snap, count = self.snap, self.plan.rows
        at = snap.selected - snap.first_row
        start = max(0, min(at - count // 2, len(snap.rows) - count))
        return snap.first_row + start, snap.rows[start : start + count]

    def market_columns(self, width: int) -> list[str]:
        drops = _SMALL_DROPS if width < SMALL_WIDTH else _NARROW_DROPS if width < NARROW_WIDTH else frozenset()
        if not self.snap.private and not any(row.position is not None for row in self.snap.rows):
            drops = drops | _PRIVATE_COLUMNS  # a public feed: no position to show
        return [c for c in MARKET_COLUMNS if c not in drops]
