"""The book audit (``--audit-interval``): is the stream's book what REST says it is? Pure, no I/O.

Every few seconds the shell (``runtime/audit.py``) reads ``GET /markets/{ticker}/orderbook`` for each followed
market and this module decides, in exact integers, whether the stream's book is wrong. REST is only compared with,
never spliced into the stream (REST.md 2.3: it has no ``seq``): a book found wrong is marked not usable and
re-baselined from a WebSocket snapshot (``get_snapshot``, the resync path of gaps and crossed books).

**The rule.** On a busy market the two books differ for a moment without anything being wrong: REST answers with
the book at some instant between our request and its answer, while the stream shows it a little earlier or later.
So a level is compared only when the stream left it alone for the whole *read window* of a read (from sending the
request until ``grace`` seconds after the answer came), and a difference is flagged only when it persists:

1. Read 1: every level (side, price; a missing level is size 0) that no stream delta touched in read 1's window
   and whose stream size differs from REST's is a *candidate*, with its difference (stream size - REST size).
   No candidate: the audit is ``ok``, no second read.
2. Read 2 (at once, with its own window): a candidate is *flagged* when it is again untouched in read 2's window
   and differs from REST by the **same** amount.
3. Any flagged level: ``mismatch``. Otherwise ``ok``.

Why it raises no false alarm: if the stream's deltas come at most ``grace`` seconds after the exchange made the
change, a level the stream left alone during [request - 0, answer + grace] had no change at the exchange during
[request, answer] (its delta would have arrived in the window) and no change before the request still on its way
(that one too would have arrived in the window): the stream's size is the exchange's size at the instant REST read
it, so they are equal. A lag beyond ``grace`` on one read is not enough either: the same difference must be seen
again on a second, independent read. A corrupted stream (a delta applied with a wrong size, a delta lost while the
``seq`` stayed contiguous) gives a difference that stays put at a level, which is caught as soon as that level is
quiet for two reads. A read whose window saw the book replaced (a snapshot) or marked not usable is thrown away (no
result): the rule never compares books on a book that is not usable.

Every result that changes the state (the ``audits_ok``/``audit_mismatches``/``audit_failures`` counters, a book
marked not usable) is one :class:`AuditResult`, journaled in a ``rest`` record (``feed.backfill.RestUpdate.audits``)
and applied by ``Core.apply_rest``, live and in a replay alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import msgspec

from market_making_bot.feed.events import BookChanged, BookSnapshot, BookUnusable, EventBus
from market_making_bot.kalshi import rest
from market_making_bot.marketdata.orderbook import OrderBook
from market_making_bot.units import price_str, size_str

__all__ = [
    "AUDIT_GRACE",
    "AuditResult",
    "AuditWindow",
    "AuditWindows",
    "Difference",
    "Level",
    "differences",
    "mismatch_reason",
    "persisting",
]

AUDIT_GRACE = 0.5
"""Seconds a read window goes on after REST answered: the stream latency the rule tolerates on one read."""

AuditOutcome = Literal["ok", "mismatch", "failed"]
Level = tuple[str, int]
"""``(side, price)``: ``"yes"``/``"no"`` bid ladder (NO bids priced on the NO leg, as REST and the stream both do)."""
Difference = tuple[int, int]
"""``(stream size, REST size)`` of a level, in 1/100 contract."""


class AuditResult(msgspec.Struct, kw_only=True, gc=False):
    """One market's audit: ``ok`` (no difference that persists), ``mismatch`` (``reason``: the book's unusable
    reason) or ``failed`` (a REST call failed: nothing compared)."""

    market_ticker: str
    result: AuditOutcome
    reason: str | None = None


def _rest_levels(book: rest.OrderBook) -> dict[Level, int]:
    out: dict[Level, int] = {}
    for side, levels in (("yes", book.yes_dollars), ("no", book.no_dollars)):
        for price, size in levels or ():
            if size > 0:
                out[(side, int(price))] = int(size)
    return out


def differences(stream: OrderBook, book: rest.OrderBook, touched: Iterable[Level] = ()) -> dict[Level, Difference]:
    """Levels where the stream's ``stream`` and REST's ``book`` differ (a missing level is size 0), leaving out the
    ``touched`` ones (changed on the stream during the read window)."""
    skip = set(touched)
    theirs = _rest_levels(book)
    out: dict[Level, Difference] = {}
    for side in ("yes", "no"):
        for price, size in stream.levels(side):
            level = (side, price)
            other = theirs.pop(level, 0)
            if size != other and level not in skip:
                out[level] = (size, other)
    for level, other in theirs.items():  # on REST only
        if level not in skip:
            out[level] = (0, other)
    return out


def persisting(first: Mapping[Level, Difference], second: Mapping[Level, Difference]) -> dict[Level, Difference]:
    """The differences of read 1 seen again on read 2 at the same level, by the same amount (stream - REST)."""
    out: dict[Level, Difference] = {}
    for level, (mine, theirs) in second.items():
        before = first.get(level)
        if before is not None and before[0] - before[1] == mine - theirs:
            out[level] = (mine, theirs)
    return out


def mismatch_reason(flagged: Mapping[Level, Difference]) -> str:
    """The book's unusable reason: ``audit: REST book differs at yes 0.4500 (stream 10.00, REST 12.00)``, the
    best-priced level first, with the count of the others."""
    levels = sorted(flagged, key=lambda lv: (lv[0] != "yes", -lv[1]))
    side, price = levels[0]
    mine, theirs = flagged[levels[0]]
    text = f"audit: REST book differs at {side} {price_str(price)} (stream {size_str(mine)}, REST {size_str(theirs)})"
    if len(levels) > 1:
        text += f" and at {len(levels) - 1} more level{'s' if len(levels) > 2 else ''}"
    return text


class AuditWindow:
    """One read's window on the stream: the levels deltas touched, and why the read does not count (if so)."""

    __slots__ = ("spoiled", "touched")

    def __init__(self) -> None:
        self.touched: set[Level] = set()
        self.spoiled: str | None = None


class AuditWindows:
    """The open read windows, fed by the bus: the levels each delta touches, and books replaced or marked not
    usable meanwhile.

    ``BookChanged`` is listened to only while a window is open: a ``BookChanged`` listener makes the Core build an
    event for every delta, so the audit costs the hot path something only during its reads."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._open: dict[str, list[AuditWindow]] = {}
        self._unsubscribe_changed: Callable[[], None] | None = None
        bus.subscribe(BookSnapshot, self._on_snapshot)
        bus.subscribe(BookUnusable, self._on_unusable)

    def open(self, ticker: str) -> AuditWindow:
        """Start a read window for ``ticker`` (call it before sending the request); returns its handle."""
        if not self._open:
            self._unsubscribe_changed = self.bus.subscribe(BookChanged, self._on_changed)
        window = AuditWindow()
        self._open.setdefault(ticker, []).append(window)
        return window

    def close(
        self, ticker: str, handle: AuditWindow, stream: OrderBook | None, usable: bool, book: rest.OrderBook | None
    ) -> dict[Level, Difference] | None:
        """End the window ``handle``: the differences between the stream's book ``stream`` (``usable`` now) and
        REST's ``book`` at the levels the stream left alone, or ``None`` if the read does not count (the book was
        replaced or not usable during the window or now, or there is no book or no answer)."""
        windows = self._open.get(ticker, [])
        if handle in windows:
            windows.remove(handle)
        if not windows:
            self._open.pop(ticker, None)
        if not self._open and self._unsubscribe_changed is not None:
            self._unsubscribe_changed()
            self._unsubscribe_changed = None
        if stream is None or book is None or handle.spoiled is not None or not usable:
            return None
        return differences(stream, book, handle.touched)

    def _on_changed(self, event: BookChanged) -> None:
        windows = self._open.get(event.ticker)
        if windows:
            level = (event.msg.side, event.msg.price)
            for w in windows:
                w.touched.add(level)

    def _spoil(self, ticker: str, why: str) -> None:
        for w in self._open.get(ticker, ()):
            if w.spoiled is None:
                w.spoiled = why

    def _on_snapshot(self, event: BookSnapshot) -> None:
        self._spoil(event.ticker, "the book was replaced by a snapshot")

    def _on_unusable(self, event: BookUnusable) -> None:
        self._spoil(event.ticker, f"the book was marked not usable ({event.reason})")
