"""Human-readable log lines in the seed's format, a consumer of the feed's events; and ``setup_logging``.

``LogOutput(logger).attach(core.bus)`` subscribes to the event kinds whose log level is enabled at that moment
(call ``attach`` again after changing the level), so a quiet run (``--log-level WARNING``) pays nothing per delta:
no event is even built for a kind nobody listens to. Each line is also formatted only when its level is enabled.
Sample (INFO)::

    [ORDERBOOK SNAPSHOT] KXEPSTEINLIST-26-HKIS
      YES Orders: 12 levels
        Level 1: 45¢ x 1000
      NO Orders: 8 levels
        Level 1: 55¢ x 750
    [ORDERBOOK DELTA] KXEPSTEINLIST-26-HKIS | YES | Price: 45¢ | Delta: -100
      Current YES: 44¢ / 46¢ (spread: 2¢)
      Current NO: 54¢ / 56¢ (spread: 2¢)
    [TRADE] KXEPSTEINLIST-26-HKIS | YES | YES: 45¢ | NO: 55¢ | Size: 50
    [TICKER] KXEPSTEINLIST-26-HKIS | Bid: 44¢ | Ask: 46¢ | Last: 45¢ | Volume: 1234
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from market_making_bot.feed.events import (
    BookChanged,
    BookSnapshot,
    ControlReply,
    EventBus,
    FillSeen,
    FrameRejected,
    HandlerFailed,
    PositionChanged,
    SequenceProblemSeen,
    TickerSeen,
    TradeSeen,
    UnknownFrame,
)
from market_making_bot.kalshi.messages import (
    ErrorMsg,
    Fill,
    MarketPosition,
    Ok,
    OrderbookDelta,
    OrderbookSnapshot,
    Subscribed,
    Ticker,
    TickerV2,
    Trade,
    UnknownMessage,
    Unsubscribed,
)
from market_making_bot.marketdata.orderbook import OrderBook
from market_making_bot.marketdata.sequence import SequenceProblem
from market_making_bot.units import format_cents, format_money, format_size

__all__ = ["DATE_FORMAT", "LOG_FORMAT", "LogOutput", "Output", "setup_logging"]

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(filename)s:%(lineno)d - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
NONE = "--"
"""Shown for a value that does not exist (e.g. the ask when the NO ladder is empty)."""

_INFO = logging.INFO
_DEBUG = logging.DEBUG
_WARNING = logging.WARNING


def setup_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr in the seed's format at ``level`` (an int or a name such as ``"DEBUG"``).

    Calling it again replaces the handler it installed; handlers installed by others are left alone.
    """
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if getattr(handler, "_market_making_bot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    handler._market_making_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # websockets logs the handshake headers (our signature) at DEBUG: never let them through.
    # Library chatter (connection open/closed) stays out of the default output; our client logs state changes.
    logging.getLogger("websockets").setLevel(max(logging.WARNING, root.level))


def _cents(price: int | None) -> str:
    return NONE if price is None else format_cents(price)


def _or(value: int | None, absent: str) -> str:
    return absent if value is None else str(value)


def _side(side: str | None) -> str:
    return side.upper() if side else "?"


class LogOutput:
    """Writes the listener's log lines to ``logger`` (default: ``logging.getLogger("market_making_bot")``): one
    method per line kind, and :meth:`attach` to drive them from a feed's events."""

    def __init__(self, logger: logging.Logger | None = None, snapshot_levels: int = 5) -> None:
        self.log = logger or logging.getLogger("market_making_bot")
        self.snapshot_levels = snapshot_levels
        """How many levels per side a snapshot prints, best first."""
        self._detach: list[Callable[[], None]] = []

    # -- events ----------------------------------------------------------------------------------------------

    def attach(self, bus: EventBus, *, every_kind: bool = False) -> LogOutput:
        """Subscribe to ``bus`` for the kinds whose level is enabled now (detaching an earlier ``attach`` first):
        at WARNING, only problems, rejected frames, errors and handler failures. ``every_kind``: subscribe to every
        kind whatever the level now (for a level that changes while running; each line still checks its level
        when it is written). Returns ``self``."""
        self.detach()
        enabled = (lambda level: True) if every_kind else self.log.isEnabledFor
        wanted: list[tuple[int, type[Any], Callable[[Any], None]]] = [
            (_INFO, BookSnapshot, self._on_snapshot),
            (_INFO, BookChanged, self._on_changed),
            (_INFO, TickerSeen, self._on_ticker),
            (_INFO, TradeSeen, self._on_trade),
            (_INFO, FillSeen, self._on_fill),
            (_INFO, PositionChanged, self._on_position),
            (logging.ERROR, ControlReply, self._on_control),  # subscribed/ok/unsubscribed at INFO, error at ERROR
            (_DEBUG, UnknownFrame, self._on_unknown),
            (_WARNING, SequenceProblemSeen, self._on_problem),
            (_WARNING, FrameRejected, self._on_rejected),
            (logging.ERROR, HandlerFailed, self._on_failed),
        ]
        for level, kind, callback in wanted:
            if enabled(level):
                self._detach.append(bus.subscribe(kind, callback))
        return self

    def detach(self) -> None:
        """Stop listening (nothing happens if not attached)."""
        for undo in self._detach:
            undo()
        self._detach = []

    def _on_snapshot(self, event: BookSnapshot) -> None:
        self.orderbook_snapshot(event.msg, event.market.book)

    def _on_changed(self, event: BookChanged) -> None:
        self.orderbook_delta(event.msg, event.market.book)

    def _on_ticker(self, event: TickerSeen) -> None:
        msg = event.msg
        if isinstance(msg, Ticker):
            self.ticker(msg)
        else:
            self.ticker_v2(msg)

    def _on_trade(self, event: TradeSeen) -> None:
        self.trade(event.msg)

    def _on_fill(self, event: FillSeen) -> None:
        self.fill(event.msg)

    def _on_position(self, event: PositionChanged) -> None:
        self.market_position(event.msg)

    def _on_control(self, event: ControlReply) -> None:
        msg = event.msg
        if isinstance(msg, Subscribed):
            self.subscribed(msg)
        elif isinstance(msg, Unsubscribed):
            self.unsubscribed(msg)
        elif isinstance(msg, Ok):
            self.ok(msg)
        else:
            self.error(msg)

    def _on_unknown(self, event: UnknownFrame) -> None:
        self.unknown(event.msg)

    def _on_problem(self, event: SequenceProblemSeen) -> None:
        if event.problem.kind == "negative_level" and event.delta is not None and event.size is not None:
            self.book_out_of_sync(event.delta, event.size)
        self.sequence_problem(event.problem)

    def _on_rejected(self, event: FrameRejected) -> None:
        self.decode_error(event.reason, event.data)

    def _on_failed(self, event: HandlerFailed) -> None:
        self.handler_error(event.msg_type)

    # -- control -------------------------------------------------------------------------------------------

    def subscribed(self, msg: Subscribed) -> None:
        if self.log.isEnabledFor(_INFO):
            self.log.info("[SUBSCRIBED] %s | sid: %s | id: %s", msg.channel, msg.sid, msg.id)

    def unsubscribed(self, msg: Unsubscribed) -> None:
        if self.log.isEnabledFor(_INFO):
            self.log.info("[UNSUBSCRIBED] sid: %s | seq: %s | id: %s", msg.sid, msg.seq, msg.id)

    def ok(self, msg: Ok) -> None:
        if not self.log.isEnabledFor(_INFO):
            return
        if msg.subscriptions is not None:
            subs = ", ".join(f"{s.get('channel')}={s.get('sid')}" for s in msg.subscriptions)
            self.log.info("[OK] id: %s | subscriptions: %s", msg.id, subs or NONE)
        elif msg.market_tickers is not None:
            self.log.info("[OK] id: %s | sid: %s | markets: %d", msg.id, msg.sid, len(msg.market_tickers))
        else:
            self.log.info("[OK] id: %s | sid: %s", msg.id, msg.sid)

    def error(self, msg: ErrorMsg) -> None:
        if not self.log.isEnabledFor(logging.ERROR):
            return
        market = msg.market_ticker or (",".join(msg.market_tickers) if msg.market_tickers else NONE)
        self.log.error(
            "[ERROR] code %d: %s | id: %s | sid: %s | market: %s", msg.code, msg.message, msg.id, msg.sid, market
        )

    def unknown(self, msg: UnknownMessage) -> None:
        if self.log.isEnabledFor(_DEBUG):
            self.log.debug("[UNKNOWN] %s | sid: %s | seq: %s", msg.type, msg.sid, msg.seq)

    # -- market data -----------------------------------------------------------------------------------------

    def orderbook_snapshot(self, msg: OrderbookSnapshot, book: OrderBook) -> None:
        log = self.log
        if not log.isEnabledFor(_INFO):
            return
        log.info("[ORDERBOOK SNAPSHOT] %s", msg.market_ticker)
        for name, side in (("YES", "yes"), ("NO", "no")):
            levels = book.levels(side)
            log.info("  %s Orders: %d levels", name, len(levels))
            for n, (price, size) in enumerate(reversed(levels[-self.snapshot_levels :]), 1):
                log.info("    Level %d: %s x %s", n, format_cents(price), format_size(size))

    def orderbook_delta(self, msg: OrderbookDelta, book: OrderBook) -> None:
        log = self.log
        if not log.isEnabledFor(_INFO):
            return
        log.info(
            "[ORDERBOOK DELTA] %s | %s | Price: %s | Delta: %s",
            msg.market_ticker,
            msg.side.upper(),
            format_cents(msg.price),
            format_size(msg.delta),
        )
        spread = _cents(book.spread())
        yes_bid, yes_ask = _cents(book.best_yes_bid()), _cents(book.best_yes_ask())
        log.info("  Current YES: %s / %s (spread: %s)", yes_bid, yes_ask, spread)
        log.info("  Current NO: %s / %s (spread: %s)", _cents(book.best_no_bid()), _cents(book.best_no_ask()), spread)

    def book_out_of_sync(self, msg: OrderbookDelta, size: int) -> None:
        if self.log.isEnabledFor(_WARNING):
            self.log.warning(
                "[BOOK OUT OF SYNC] %s | %s level %s went to %s: removed",
                msg.market_ticker,
                msg.side.upper(),
                format_cents(msg.price),
                format_size(size),
            )

    def ticker(self, msg: Ticker) -> None:
        if self.log.isEnabledFor(_INFO):
            self.log.info(
                "[TICKER] %s | Bid: %s | Ask: %s | Last: %s | Volume: %s",
                msg.market_ticker,
                _cents(msg.yes_bid),
                _cents(msg.yes_ask),
                _cents(msg.price),
                NONE if msg.volume is None else format_size(msg.volume),
            )

    def ticker_v2(self, msg: TickerV2) -> None:
        if not self.log.isEnabledFor(_INFO):
            return
        parts = [f"[TICKER V2] {msg.market_ticker}"]
        if msg.yes_bid is not None:
            parts.append(f"Bid: {format_cents(msg.yes_bid)}")
        if msg.yes_ask is not None:
            parts.append(f"Ask: {format_cents(msg.yes_ask)}")
        if msg.price is not None:
            parts.append(f"Last: {format_cents(msg.price)}")
        if msg.volume_delta is not None:
            parts.append(f"Volume change: {format_size(msg.volume_delta)}")
        self.log.info("%s", " | ".join(parts))

    def trade(self, msg: Trade) -> None:
        if self.log.isEnabledFor(_INFO):
            self.log.info(
                "[TRADE] %s | %s | YES: %s | NO: %s | Size: %s",
                msg.market_ticker,
                _side(msg.taker_side),
                format_cents(msg.yes_price),
                format_cents(msg.no_price),
                format_size(msg.count),
            )

    def fill(self, msg: Fill) -> None:
        if not self.log.isEnabledFor(_INFO):
            return
        what = " ".join(part.upper() for part in (msg.action, msg.side) if part) or "?"
        parts = [
            f"[FILL] {msg.market_ticker}",
            what,
            f"Price: {format_cents(msg.yes_price)}",
            f"Size: {format_size(msg.count)}",
        ]
        if msg.fee is not None:
            parts.append(f"Fee: {format_money(msg.fee)}")
        if msg.is_taker is not None:
            parts.append("Taker" if msg.is_taker else "Maker")
        if msg.post_position is not None:
            parts.append(f"Position: {format_size(msg.post_position)}")
        self.log.info("%s", " | ".join(parts))

    def market_position(self, msg: MarketPosition) -> None:
        if not self.log.isEnabledFor(_INFO):
            return
        parts = [f"[POSITION] {msg.market_ticker}", f"Position: {format_size(msg.position)}"]
        for label, money in (
            ("Cost", msg.position_cost),
            ("Realized P&L", msg.realized_pnl),
            ("Fees", msg.fees_paid),
        ):
            if money is not None:
                parts.append(f"{label}: {format_money(money)}")
        self.log.info("%s", " | ".join(parts))

    # -- problems --------------------------------------------------------------------------------------------

    def sequence_problem(self, problem: SequenceProblem) -> None:
        if not self.log.isEnabledFor(_WARNING):
            return
        if problem.kind == "delta_without_snapshot":
            self.log.warning(
                "[DELTA WITHOUT SNAPSHOT] %s | sid: %s | seq: %s",
                problem.market_ticker,
                _or(problem.sid, "none"),
                _or(problem.got, "none"),
            )
        else:
            # ``expected`` is None when the sid had no baseline, or for a book problem (no seq is expected then).
            if problem.expected is not None:
                expected = str(problem.expected)
            elif problem.kind in ("crossed_book", "negative_level"):
                expected = "a book that fits"
            else:
                expected = "any (no baseline yet)"
            self.log.warning(
                "[SEQUENCE %s] sid: %s | expected: %s | got: %s | market: %s",
                problem.kind.upper(),
                _or(problem.sid, "none"),
                expected,
                _or(problem.got, "none"),
                problem.market_ticker or NONE,
            )

    def decode_error(self, reason: str, data: str | bytes) -> None:
        if self.log.isEnabledFor(_WARNING):
            # Only the head of the frame is decoded and shown (a huge frame is not copied whole to print 200
            # characters); repr() escapes what cannot be printed, lone surrogates included, so the line always
            # encodes. Never raises, whatever ``data`` is.
            if isinstance(data, str):
                head = data[:200]
            elif isinstance(data, bytes | bytearray | memoryview):
                head = bytes(data[:800]).decode("utf-8", errors="replace")
            else:
                head = f"<{type(data).__name__}>"
            self.log.warning("[DECODE ERROR] %.300s | frame: %.200r", reason, head)

    def handler_error(self, msg_type: str) -> None:
        """Called from inside an ``except`` block (``Core`` emits ``HandlerFailed`` there): logs the traceback."""
        self.log.exception("[HANDLER ERROR] while processing a %s frame", msg_type)


Output = LogOutput
"""The former name (the same class)."""
