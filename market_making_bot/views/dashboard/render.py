"""The dashboard's rich rendering: a :class:`~.model.Snapshot` drawn as panels and tables.

:func:`render` is pure: the snapshot and the clock shown are its only inputs. The renderable it returns lays itself
out for the size it is drawn at (:class:`Screen`: the terminal's, or a recording console's) with the plan of
:class:`~market_making_bot.views.dashboard.layout.Layout`: boxed sections on a large terminal, one-line rules instead of
boxes on a small one (80x24 and up), shorter ladder, fewer trades, fills and rows.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from market_making_bot.units import PRICE_SCALE, format_cents, format_size
from market_making_bot.views.dashboard.layout import (
    BOOK_WIDTH,
    CHANGE_STYLE,
    COMPACT_TABLE,
    MIN_HEIGHT,
    MIN_WIDTH,
    NONE,
    SHORT_HEADERS,
    SIDE_STYLE,
    SMALL_WIDTH,
    Layout,
    age_text,
    cents,
    clock_text,
    join_lines,
    money_text,
    pnl_text,
    position_text,
    status_lines,
    ticker_label,
)
from market_making_bot.views.dashboard.model import LevelView, MarketDetail, Snapshot

__all__ = ["Screen", "render"]


class Screen:
    """The whole screen, laid out for the size rich gives it (the terminal's, or the recording console's)."""

    def __init__(self, snap: Snapshot, now: float) -> None:
        self.snap = snap
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, MIN_WIDTH)
        # the screen's height (alternate screen), or the terminal's; written to a file (a redirected --dashboard
        # prints its last screen once), the screen takes the height it needs
        height = options.height or (options.max_height if console.is_terminal else None)
        yield _Builder(self.snap, self.now, width, max(height, MIN_HEIGHT) if height else None).build()


class _Builder(Layout):
    """The renderables of one screen, built to :class:`Layout`'s plan."""

    def build(self) -> RenderableType:
        plan, snap = self.plan, self.snap
        parts: list[RenderableType] = []
        status = join_lines(status_lines(snap.status, self.clock, self.inner(plan)))
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
        parts.append(join_lines(self.footer_lines(plan)))
        return Group(*parts)

    def _section(self, title: Text, body: RenderableType, style: str, width: int | None = None) -> RenderableType:
        if self.plan.boxed:
            return Panel(body, title=title, title_align="left", border_style=style, width=width)
        rule = Text("─ ", style)
        rule.append_text(title)
        return Group(Rule(rule, align="left", style=style), body)

    def _table(self, *, expand: bool = True) -> Table:
        """A table of the screen's style: a rule under the header when boxed, no box of its own."""
        return Table(
            box=box.SIMPLE_HEAD if self.plan.boxed else None,
            expand=expand,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )

    def _markets_title(self) -> Text:
        first, rows = self.visible_rows()
        title = Text("Markets ")
        if self.prefix:
            title.append(self.prefix + "…", "bold")
            title.append(" ")
        title.append(f"({first + 1}-{first + len(rows)} of {self.snap.total_markets})")
        return title

    def _markets_table(self) -> Table:
        plan, snap = self.plan, self.snap
        width = self.inner(plan)
        first, rows = self.visible_rows()
        shown = self.market_columns(width)
        labels = [ticker_label(row.ticker, self.prefix, max(8, width // 5)) for row in rows]
        table = self._table()
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
                "Bid": cents(row.best_bid),
                "Ask": cents(row.best_ask),
                "Spread": cents(row.spread),
                "Mid": cents(row.mid),
                "Last": cents(row.last_price),
                "Trades": str(row.trades),
                "Vol 60s": format_size(row.volume_window),
                "Position": NONE if pos is None else position_text(pos.position),
                "P&L @mid": pnl_text(None if pos is None else pos.pnl),
                "Age": age_text(row.age_s),
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
        table = self._table()
        for name, style in (
            ("#", "dim"),
            ("Size" if short else "Bid size", ""),
            ("Bid" if short else "YES bid", "green"),
            ("Ask" if short else "YES ask", "red"),
            ("Size" if short else "Ask size", ""),
        ):
            table.add_column(name, justify="right", style=style, no_wrap=True)
        levels, info = self.ladder_lines(plan)
        for i in range(levels):
            bid = detail.bids[i] if i < len(detail.bids) else None
            ask = detail.asks[i] if i < len(detail.asks) else None
            table.add_row(str(i + 1), _level_size(bid), _level_price(bid), _level_price(ask), _level_size(ask))
        row = detail.row
        title = Text(row.ticker, "bold")
        title.append("  ok" if row.usable else "  NOT USABLE", "green" if row.usable else "bold red")
        body: list[RenderableType] = [table, join_lines(info)]
        if not row.usable:  # the reason first, in red, above the levels that are kept on screen
            body = [join_lines(info[:1]), table, join_lines(info[1:])]
        style = "cyan" if row.usable else "red"
        return self._section(title, Group(*body), style, width if plan.boxed else None)

    def _trades(self, detail: MarketDetail, width: int) -> RenderableType:
        plan = self.plan
        short = self.inner(plan, width) < COMPACT_TABLE
        table = self._table()
        names = ("Time", "Taker", "YES", "Size") if short else ("Time", "Taker", "YES", "NO", "Size")
        for name in names:
            justify = "left" if name == "Time" else "center" if name == "Taker" else "right"
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        rows = self.trade_rows(plan)
        for trade in detail.trades[:rows]:
            side = trade.taker_side
            cells: list[RenderableType] = [
                clock_text(trade.ts_ms),
                Text(side.upper() if side else "?", SIDE_STYLE.get(side or "", "")),
                format_cents(trade.yes_price),
            ]
            if not short:
                cells.append(format_cents(PRICE_SCALE - trade.yes_price))
            cells.append(format_size(trade.size))
            table.add_row(*cells)
        if not detail.trades:
            table.add_row("no trades yet", *([""] * (len(names) - 1)))
        body = Group(table, join_lines(self.volume_lines(detail, plan)))
        return self._section(Text("Last trades"), body, "cyan", width if plan.boxed else None)

    def _private(self) -> RenderableType:
        plan, snap = self.plan, self.snap
        width = self.inner(plan)
        short = width < 72
        fills = self._table(expand=False)
        for name in ("Time", "Fill", "Price", "Size", "Role", "Fee", "Pos after" if short else "Position after"):
            fills.add_column(name, justify="left" if name in ("Time", "Fill") else "right", no_wrap=True)
        for f in snap.fills[: plan.fills]:
            what = " ".join(part.upper() for part in (f.action, f.side) if part) or "?"
            price = f.yes_price if f.side != "no" else PRICE_SCALE - f.yes_price
            fills.add_row(
                clock_text(f.ts_ms)[: 8 if short else None],
                Text(what, SIDE_STYLE.get(f.side or "", "")),
                format_cents(price),
                format_size(f.size),
                NONE if f.is_taker is None else ("taker" if f.is_taker else "maker"),
                money_text(f.fee),
                NONE if f.post_position is None else position_text(f.post_position),
            )
        if not snap.fills:
            fills.add_row("no fills yet", "", "", "", "", "", "")
        title = Text("Your position and fills")
        if snap.detail is not None:
            title.append(f" in {snap.detail.row.ticker}")
        return self._section(title, Group(join_lines(self.position_lines(width)), fills), "magenta")


def _level_size(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_size(level.size), CHANGE_STYLE.get(level.change, ""))


def _level_price(level: LevelView | None) -> Text:
    if level is None:
        return Text("")
    return Text(format_cents(level.price), "bold" if level.change else "")


def render(snap: Snapshot, now: float) -> RenderableType:
    """The whole screen for ``snap``, laid out for the size it is drawn at; ``now`` (epoch seconds) is the clock shown
    in the status bar."""
    return Screen(snap, now)
