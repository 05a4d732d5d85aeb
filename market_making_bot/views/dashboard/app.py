"""Live terminal dashboard (``--dashboard``): status bar, markets table, price ladder, trades, fills and positions.

Split by responsibility, so that a test can check each part without a terminal:

* :mod:`market_making_bot.views.dashboard.pnl`: the P&L maths of a position (exact integers; pure);
* :mod:`market_making_bot.views.dashboard.model`: the view model, :class:`ViewModel`, which copies what the screen needs
  out of the :class:`~market_making_bot.feed.core.Core`'s public state (and the client's connection state, or the
  feed's connection events) into plain frozen dataclasses, :class:`Snapshot`; it runs on the event loop, between
  frames, so the copy is consistent (pure: no rich, no asyncio);
* :mod:`market_making_bot.views.dashboard.layout`: what fits a terminal of a given size and the text of each line
  (boxed sections on a large terminal; on a small one, 80x24 and up, one-line rules instead of boxes, a shorter
  ladder, fewer trades, fills and rows, but always the status bar (wrapped between fields, never inside one), the
  selection marker, the P&L and the key help). Tickers are shown without the prefix they all share (``…LAL``,
  ``…BOS``; the prefix once, in the markets title);
* :mod:`market_making_bot.views.dashboard.render`: :func:`render` turns a :class:`Snapshot` into a rich renderable, with
  no other input (pure);
* this module: the app, :class:`Dashboard`, with its refresh loop and keys, and the names above re-exported.

:meth:`Dashboard.run` refreshes the screen at a fixed rate (``refresh_hz``, at most 10 per second), never per frame:
the cost for the feed is one snapshot and one render per tick, whatever the frame rate. Keys (on a POSIX terminal):
``Tab``/``→``/``n`` next market, ``←``/``p`` previous, ``1``-``9`` pick one, ``q`` quit; in the bot, ``K`` is the
kill switch (every order of the bot cancelled at once, then stop).

Prices are YES prices in cents (``45¢``, ``45.5¢``), as in the log output; the YES asks are derived from the NO bids
(a NO bid at q is a YES ask at $1 - q).

This module needs ``rich`` (the ``dashboard`` extra); it is imported only when ``--dashboard`` is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import AccountRead, EventBus
from market_making_bot.views.dashboard.layout import status_fields, status_text, ticker_label, wrap_fields
from market_making_bot.views.dashboard.model import (
    DEFAULT_REFRESH_HZ,
    FILLS_SHOWN,
    HIGHLIGHT_S,
    LADDER_DEPTH,
    MARKET_ROWS,
    MAX_REFRESH_HZ,
    TRADES_SHOWN,
    ClientView,
    FillView,
    LevelView,
    MarketDetail,
    MarketRow,
    PositionView,
    Snapshot,
    StatusView,
    TradeView,
    ViewModel,
    common_prefix,
    position_view,
)
from market_making_bot.views.dashboard.render import render

# the names of the split modules, re-exported: ``from market_making_bot.views.dashboard.app import ...`` keeps working
__all__ = [
    "DEFAULT_REFRESH_HZ",
    "FILLS_SHOWN",
    "HIGHLIGHT_S",
    "LADDER_DEPTH",
    "MARKET_ROWS",
    "MAX_REFRESH_HZ",
    "TRADES_SHOWN",
    "Dashboard",
    "FillView",
    "LevelView",
    "MarketDetail",
    "MarketRow",
    "PositionView",
    "Snapshot",
    "StatusView",
    "TradeView",
    "ViewModel",
    "common_prefix",
    "parse_keys",
    "position_view",
    "render",
    "ticker_label",
    "wrap_fields",
]

log = logging.getLogger("market_making_bot.views.dashboard.app")


class Dashboard:
    """Shows :class:`ViewModel` snapshots of ``core`` (and ``client``: connection state) with rich.

    ``private`` adds the fills and positions panel (and the balance and resting orders: ``account``, the
    :class:`~market_making_bot.feed.events.AccountRead` told before the dashboard started, then the bus's).
    ``bus``: the feed's event bus, for the connection's events (see :meth:`ViewModel.attach`). ``console``
    defaults to the terminal; ``screen`` uses the alternate screen (full-screen, restored on exit).
    """

    def __init__(
        self,
        core: Core,
        client: ClientView | None = None,
        *,
        bus: EventBus | None = None,
        private: bool = False,
        refresh_hz: float = DEFAULT_REFRESH_HZ,
        log_file: str | None = None,
        console: Console | None = None,
        screen: bool = True,
        clock: Callable[[], float] = time.monotonic,
        account: AccountRead | None = None,
    ) -> None:
        self.model = ViewModel(
            core, client, private=private, refresh_hz=refresh_hz, log_file=log_file, clock=clock
        )  # checks refresh_hz
        if bus is not None:
            self.model.attach(bus)  # the connection's events, and the account's (AccountRead) from now on
        if account is not None:  # the account as read before the dashboard started
            self.model.on_account(account)
        self.refresh_hz = refresh_hz
        self.log_file = log_file
        self.console = console or Console()
        self.screen = screen
        self._keys = False
        self.on_kill: Callable[[], None] | None = None
        """The bot's kill switch, called on ``K`` (``None``: the key does nothing)."""
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self.render_errors = 0
        self.refreshes = 0

    # -- the view model ----------------------------------------------------------------------------------

    def tickers(self) -> list[str]:
        return self.model.tickers()

    def select(self, ticker: str) -> None:
        self.model.select(ticker)

    def move(self, step: int) -> None:
        self.model.move(step)

    def snapshot(self, now_ns: int | None = None) -> Snapshot:
        """What the screen shows now (see :meth:`ViewModel.snapshot`)."""
        self.model.keys = self._keys
        return self.model.snapshot(now_ns)

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
            elif action == "kill":
                if self.on_kill is not None:  # the bot: cancel every order at once and stop
                    log.warning("dashboard: kill switch (K) pressed")
                    self.on_kill()
            elif action == "next":
                self.move(1)
            elif action == "prev":
                self.move(-1)
            elif action.startswith("select:"):
                tickers = self.tickers()
                index = int(action[7:])
                if index < len(tickers):
                    self.select(tickers[index])
        if self._wake is not None:
            self._wake.set()

    def status_line(self) -> str:
        """A one-line plain-text status."""
        return status_text(self.snapshot().status).plain

    def status_lines(self, width: int, first: int | None = None) -> list[str]:
        """The status as plain-text lines of ``width`` cells (``first``: of the first line), broken only between
        fields (printed when the dashboard closes)."""
        return [line.plain for line in wrap_fields(status_fields(self.snapshot().status), width, first=first)]


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
_KEYS = {
    "\t": "next", "n": "next", "j": "next", " ": "next", "p": "prev", "k": "prev", "q": "quit", "Q": "quit",
    "K": "kill",
}  # fmt: skip


def parse_keys(data: bytes) -> list[str]:
    """Actions for the bytes read from the terminal: ``next``, ``prev``, ``quit``, ``kill`` (``K``: the bot's kill
    switch), ``select:<index>`` (keys 1-9)."""
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
