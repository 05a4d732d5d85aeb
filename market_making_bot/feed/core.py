"""The pipeline every frame goes through: decode -> count -> sequence check -> state -> events.

``Core`` is sans-I/O: the asyncio client and the replay hand it frames with the time they were received, and it
never raises because of a frame. What it does is told as typed events on its ``EventBus`` (``core.bus``; see
``events.py``): the log lines, metrics, export and a strategy are consumers of those events, and ``Core`` imports
none of them. Sequence problems (gap, duplicate, regression, delta without snapshot) are counted, passed to the
callables in ``on_sequence_problem`` (the recovery layer) and emitted as ``SequenceProblemSeen``. ``BookUsable`` /
``BookUnusable`` are emitted exactly when a market's ``MarketState.usable`` flips (at most one per market and call).

Policy for problems (the recovery layer, ``session.Session`` driven by ``client.py``, then re-baselines):

* duplicate ``seq`` on a sid: the frame is dropped (it was already applied);
* gap or regression: the frame is applied (a regression is a restarted stream; the frame belongs to it);
* a delta for a market with no snapshot: dropped (there is no book to apply it to);
* a delta that takes a level below zero: the level is removed and ``negative_levels`` is counted (only while the
  book is believed in sync: after a gap such a delta is the gap's consequence, already reported);
* error 10/25 on a sid, or ``unsubscribed``: that subscription is dead (also when the error comes before the
  subscription's ack); nothing that arrives on it later changes a book;
* a lost connection (``connection_lost``): every book is not usable ("connection lost: ..."), until its snapshot
  arrives on a new connection.

Sequence integrity (PROTOCOL.md 5.1, 5.2, 10b): every frame that carries ``sid`` and ``seq`` (data, ``ok``,
``unsubscribed``, ``error``) goes through one check per sid. An ack (``subscribed``, or the ``ok`` a real server sends
for a repeated subscribe) never resets its sid's baseline: sids are unique within a connection, and the tracker is
renewed with each connection (``connection_opened``), so data that came before its ack (early snapshots) and a
repeated ack cannot hide a gap. After ``connection_opened`` a sid feeds usable books only while it is *live*: acked
(``subscribed``, or an ``ok`` on that sid) and not ended. A snapshot on a sid not acked yet is applied but its book
waits, not usable, for the ack; a snapshot on an ended sid, or on an unacked sid while the market's book is usable
from another live sid, is ignored (``stale_frames``). A delta applies only to a book whose snapshot came on the
delta's own sid (5.2); one on another sid is a ``delta_without_snapshot`` for that sid and leaves the book alone.
A bare ``Core`` that is fed frames without ``connection_opened`` (raw captures) accepts data without acks.

In every case the books concerned are marked not usable (``MarketState.usable``, with the reason) until a fresh
snapshot replaces them: the book is either right or visibly marked not usable, never quietly wrong. ``feed`` never
raises: anything a frame makes the decoder or a handler raise is contained and counted (``decode_errors``,
``handler_errors``).

The delta, ticker and trade paths have a compiled twin (``feed.hotpath``, C): ``feed`` hands it each frame first; it
takes only the canonical frames of those types it can read exactly, applies the simple case (the next seq of its
sid, a known market (for a delta, a book with its snapshot on that sid), nobody listening for the frame's event:
``BookChanged``, ``TickerSeen``, ``TradeSeen``) to the same objects, and hands everything else back to the
pure-Python path below, the reference (``MARKET_MAKING_BOT_PURE=1`` forces it). The one-in-``LATENCY_EVERY`` feed
latency sample of a frame the compiled path applied is taken by ``feed`` from the message it returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from market_making_bot.feed.events import (
    BookChanged,
    BookSnapshot,
    BookUnusable,
    BookUsable,
    ControlReply,
    Event,
    EventBus,
    FillSeen,
    FrameRejected,
    HandlerFailed,
    OrderFrameSeen,
    PositionChanged,
    SequenceProblemSeen,
    TickerSeen,
    TradeSeen,
    UnknownFrame,
)
from market_making_bot.feed.health import Health
from market_making_bot.feed.hotpath import feeder as _HOT_FEEDER
from market_making_bot.feed.hotpath import frame as _HOT_FRAME
from market_making_bot.kalshi.decode import DecodeError, decode_frame
from market_making_bot.kalshi.messages import (
    ErrorMsg,
    Fill,
    MarketPosition,
    Message,
    Ok,
    OrderbookDelta,
    OrderbookSnapshot,
    OrderGroupUpdate,
    Subscribed,
    Ticker,
    TickerV2,
    Trade,
    UnknownMessage,
    Unsubscribed,
    UserOrder,
)
from market_making_bot.marketdata.sequence import ProblemKind, SeqResult, SequenceProblem, SequenceTracker
from market_making_bot.marketdata.state import DEFAULT_VOLUME_WINDOW_NS, MarketDataState, MarketState
from market_making_bot.units import PRICE_SCALE, price_str, size_str

if TYPE_CHECKING:  # feed.backfill (with kalshi.rest, feed.audit) loads only where REST is used: not for a replay
    from market_making_bot.feed.backfill import RestUpdate

__all__ = ["Core", "SequenceProblem"]

_OK = SeqResult.OK
_FIRST = SeqResult.FIRST
_DUPLICATE = SeqResult.DUPLICATE
_PROBLEM_KIND: dict[SeqResult, ProblemKind] = {
    SeqResult.GAP: "gap",
    SeqResult.DUPLICATE: "duplicate",
    SeqResult.REGRESSION: "regression",
}
_PROBLEM_COUNTER: dict[ProblemKind, str] = {
    "gap": "gaps",
    "duplicate": "duplicates",
    "regression": "regressions",
    "delta_without_snapshot": "deltas_without_snapshot",
    "crossed_book": "crossed_books",
    "negative_level": "negative_levels",
}
_TERMINAL_ERRORS = frozenset({10, 25})
_MAX_LAG_MS = 86_400_000 * 365  # a feed latency beyond a year (either way) is a broken stamp, not a sample
LATENCY_SAMPLES = 10_000  # feed-latency samples kept for percentiles
LATENCY_EVERY = 8  # one frame in 8 is sampled: the percentiles cover the last 80,000 frames at 1/8 of the cost

_EVENT_COUNTERS = (
    "frames",
    "decode_errors",
    "handler_errors",
    "unknown",
    "gaps",
    "duplicates",
    "regressions",
    "deltas_without_snapshot",
    "negative_levels",
    "crossed_books",
    "trade_duplicates",
    "reconnects",
    "resyncs",
    "stale_frames",
    "oversized_frames",
    "audits_ok",
    "audit_mismatches",
    "audit_failures",
)
_AUDIT_COUNTER = {"ok": "audits_ok", "mismatch": "audit_mismatches", "failed": "audit_failures"}
_WAITING_ACK = "waiting for the subscription ack (sid "


class Core:
    """Feeds frames into ``state`` (a ``MarketDataState``) and emits what happened on ``bus`` (an
    :class:`~market_making_bot.feed.events.EventBus`); see the module docstring.

    ``counters`` holds ``frames``, ``decode_errors``, ``handler_errors``, ``unknown`` (frames of unmodelled
    types), ``gaps``, ``duplicates``, ``regressions``, ``deltas_without_snapshot`` and ``negative_levels``;
    ``by_type`` counts the decoded frames per wire ``type`` (only types that were received). ``crossed_books`` and
    ``trade_duplicates`` (trades and fills dropped by ``trade_id``) are counted here too, and ``stale_frames``
    (snapshots ignored because their sid is ended or not acked, see the module docstring); ``reconnects``,
    ``resyncs`` and ``oversized_frames`` (frames refused for their size) are counted by the client layer, which
    owns those actions; ``audits_ok``, ``audit_mismatches`` and ``audit_failures`` are the book audits'
    (``feed.audit``), applied with ``apply_rest``. ``handler_errors`` also counts the event callbacks that raised
    (each is contained: the frame is applied and the other callbacks run).

    ``latencies_ms`` keeps the last feed latencies: receive time minus Kalshi's ``sending_ts_ms`` (or the
    message's ``ts_ms``), in milliseconds, sampled on one frame in ``LATENCY_EVERY`` of the frames fed with
    ``timed=True``; ``latency_samples`` counts every sample ever taken (the deque keeps the last
    ``LATENCY_SAMPLES``), so that a reader can tell which samples are new.

    Events (``bus``): one list of callbacks per event type is kept as an attribute (``_l_*``, from
    :meth:`EventBus.listeners`, which the bus changes in place); an event is built only when its list is not
    empty, so an event kind nobody subscribed to costs one ``if`` where it would be emitted.
    """

    def __init__(
        self,
        tickers: Iterable[str] | None = None,
        bus: EventBus | None = None,
        *,
        volume_window_ns: int = DEFAULT_VOLUME_WINDOW_NS,
    ) -> None:
        self.state = MarketDataState(tickers, volume_window_ns)
        self.bus = bus = bus if bus is not None else EventBus()
        self._l_snapshot = bus.listeners(BookSnapshot)
        self._l_changed = bus.listeners(BookChanged)
        self._l_usable = bus.listeners(BookUsable)
        self._l_unusable = bus.listeners(BookUnusable)
        self._l_trade = bus.listeners(TradeSeen)
        self._l_fill = bus.listeners(FillSeen)
        self._l_position = bus.listeners(PositionChanged)
        self._l_ticker = bus.listeners(TickerSeen)
        self._l_problem = bus.listeners(SequenceProblemSeen)
        self._l_rejected = bus.listeners(FrameRejected)
        self._l_failed = bus.listeners(HandlerFailed)
        self._l_control = bus.listeners(ControlReply)
        self._l_unknown = bus.listeners(UnknownFrame)
        self._l_order = bus.listeners(OrderFrameSeen)
        self.sequence = SequenceTracker()
        self.counters: dict[str, int] = dict.fromkeys(_EVENT_COUNTERS, 0)
        self._by_type: dict[str, int] = {}
        self._fast_deltas = 0
        """Deltas counted by the fast path of ``feed`` (added to ``by_type`` when it is read)."""
        self.on_sequence_problem: list[Callable[[SequenceProblem], None]] = []
        """Recovery hooks, called with each problem before its ``SequenceProblemSeen`` event (kept for the client
        layer; a consumer can subscribe to ``SequenceProblemSeen`` instead)."""
        self.latencies_ms: deque[int] = deque(maxlen=LATENCY_SAMPLES)
        self.latency_samples = 0
        """Feed-latency samples taken since the start (``latencies_ms`` keeps the last ``LATENCY_SAMPLES``)."""
        self._latency_skip = 0
        self._acks_required = False
        """Set by ``connection_opened``: from then on only live sids feed usable books."""
        self._opened_ns = 0
        self._live_sids: set[int] = set()
        self._ended_sids: set[int] = set()
        self.audits: dict[str, dict[str, int]] = {}
        """Book audits per market and result (``ok``, ``mismatch``, ``failed``; ``apply_rest``), for the metrics."""
        self._restart_at: dict[int, int] = {}
        """sid -> its last seq when a ``subscribed`` came for it although it had a stream (see ``_restart``)."""
        self._handlers: dict[type, Callable[[Any, int], None]] = {
            OrderbookDelta: self._on_delta,
            OrderbookSnapshot: self._on_snapshot,
            Ticker: self._on_ticker,
            Trade: self._on_trade,
            Ok: self._on_ok,
            Subscribed: self._on_subscribed,
            Unsubscribed: self._on_unsubscribed,
            ErrorMsg: self._on_error,
            Fill: self._on_fill,
            MarketPosition: self._on_position,
            TickerV2: self._on_ticker_v2,
            UserOrder: self._on_order_frame,
            OrderGroupUpdate: self._on_order_frame,
            UnknownMessage: self._on_unknown,
        }
        if _HOT_FRAME is not None and _HOT_FEEDER is not None and type(self).feed is Core.feed:
            # ``feed``'s simple case in C (``_hotpath.feeder``): a frame the compiled path completes runs no Python
            # bytecode; it calls ``Core.feed`` (a call with keywords), ``_feed_rest`` (a frame it did not complete)
            # and ``_sample`` (the sampled frame's latency). ``counters``, ``_by_type`` and the ``_l_*`` lists are
            # held by it: they are never replaced, only changed in place. A subclass that overrides ``feed`` keeps
            # its own.
            self.__dict__["feed"] = _HOT_FEEDER(
                self, Core.feed, Core._feed_rest, Core._sample, LATENCY_EVERY, MarketDataState, SequenceTracker
            )

    @property
    def by_type(self) -> dict[str, int]:
        """Decoded frames per wire ``type`` (only types that were received); a new dict at each read."""
        counts = dict(self._by_type)
        if self._fast_deltas:
            counts["orderbook_delta"] = counts.get("orderbook_delta", 0) + self._fast_deltas
        return counts

    # -- events ----------------------------------------------------------------------------------------------

    def _emit(self, listeners: list[Callable[[Any], None]], event: Event) -> None:
        """Deliver ``event``: a callback that raises is counted (``handler_errors``), reported as
        ``HandlerFailed`` (from inside the ``except``, so a log consumer can show the traceback) and contained."""
        for callback in listeners:
            try:
                callback(event)
            except Exception:
                self._callback_failed(f"{type(event).__name__} callback", event.recv_ns)

    def _callback_failed(self, what: str, recv_ns: int) -> None:
        """Count a failure (call from inside an ``except`` block) and tell the ``HandlerFailed`` listeners."""
        self.counters["handler_errors"] += 1
        failed = self._l_failed
        if failed:
            event = HandlerFailed(recv_ns, what)
            for callback in failed:
                try:
                    callback(event)
                except Exception:  # a failing failure report: counted, never raised out of the feed
                    self.counters["handler_errors"] += 1

    def _note(self, ticker: str, market: MarketState, was: bool, recv_ns: int) -> None:
        """Emit ``BookUsable`` / ``BookUnusable`` if ``market.usable`` is no longer ``was``."""
        if market.usable is was:
            return
        if was:
            if self._l_unusable:
                self._emit(self._l_unusable, BookUnusable(recv_ns, ticker, market.unusable_reason or "", market))
        elif self._l_usable:
            self._emit(self._l_usable, BookUsable(recv_ns, ticker, market))

    def _latest_ns(self) -> int:
        """The latest receive time the core knows (for events of calls that come without a time)."""
        return max((m.last_recv_ns for m in self.state.markets.values()), default=self._opened_ns)

    # -- entry points ----------------------------------------------------------------------------------------

    def feed(self, data: str | bytes, recv_ns: int, timed: bool = True) -> Message | None:
        """Decode and process one frame received at ``recv_ns``; ``None`` if it could not be decoded.

        ``timed=False``: ``recv_ns`` is not when the frame was received (a recording without receive times gives
        made-up, evenly spaced times), so no feed latency is measured on it."""
        self.counters["frames"] += 1
        hot = _HOT_FRAME
        done: Any = None
        if hot is not None:
            # The compiled twin (``feed.hotpath``): a canonical delta, ticker or trade frame is decoded and, in the
            # simple case (the next seq of its sid, a known market, nobody listening for its event), applied in one
            # C call to the same objects the pure path below uses, ``by_type`` counted. Anything else comes back
            # undone (None) or decoded only (``(msg,)``). (With the compiled path built, ``Core.__init__`` installs
            # ``_hotpath.feeder``, this method's simple case in C, as the instance's ``feed``: see ``_feed_rest``.)
            try:
                done = hot(
                    data,
                    recv_ns,
                    self.sequence.last_seq,
                    self.state.markets,
                    not self._l_changed,
                    self._by_type,
                    self._l_ticker,
                    self._l_trade,
                    self._restart_at,
                    self._l_fill,
                    self._l_position,
                )
            except Exception:  # a belt (only a failing allocation can raise there, before any change): pure path
                done = None
            if done is not None and done.__class__ is not tuple:  # applied: nothing left but the latency sample
                if timed:
                    skip = self._latency_skip
                    if skip:
                        self._latency_skip = skip - 1
                    else:
                        self._latency_skip = LATENCY_EVERY - 1
                        self._sample(done, recv_ns)
                return done  # type: ignore[no-any-return]
        return self._feed_rest(data, recv_ns, timed, done)

    def _feed_rest(self, data: str | bytes, recv_ns: int, timed: bool, done: tuple[Any, ...] | None) -> Message | None:
        """``feed`` after the frame was counted and the compiled path, if any, returned ``done``: ``None`` (not
        taken: decode it here) or a tuple (decoded only ``(msg,)``, or applied with something left). The C
        ``feeder`` (the instance's ``feed`` when compiled) calls it for every frame it does not complete."""
        counters = self.counters
        msg: Message | None = None
        if done is not None:
            msg = done[0]
            if len(done) > 1:  # applied, with something left for Python (rare)
                if timed:
                    skip = self._latency_skip
                    if skip:
                        self._latency_skip = skip - 1
                    else:
                        self._latency_skip = LATENCY_EVERY - 1
                        self._sample(done[0], recv_ns)
                self._hot_tail(done, recv_ns)
                return msg
        if msg is None:
            try:
                msg = decode_frame(data)
            except DecodeError as exc:
                counters["decode_errors"] += 1
                self._decode_error(str(exc), data, recv_ns)
                return None
            except Exception as exc:  # a belt: whatever the decoder raises (RecursionError, ...) costs one frame
                counters["decode_errors"] += 1
                self._decode_error(f"undecodable frame ({type(exc).__name__})", data, recv_ns)
                return None
        if msg.__class__ is OrderbookDelta:
            # The sequence fast path (the only one; ``process`` asks the tracker): a delta that is the next seq on
            # its sid, on a frame whose feed latency is not sampled (counted apart, in ``by_type``), skips
            # ``process``. Anything else: ``process``.
            seq = msg.seq
            last_seq = self.sequence.last_seq
            skip = self._latency_skip
            if (skip or not timed) and seq is not None and last_seq.get(msg.sid, -2) == seq - 1:  # type: ignore[arg-type]
                if timed:
                    self._latency_skip = skip - 1
                last_seq[msg.sid] = seq  # type: ignore[index]
                self._fast_deltas += 1
                try:
                    self._on_delta(msg, recv_ns)
                except Exception:
                    self._callback_failed(msg.type, recv_ns)
                return msg
        elif msg.__class__ is Ticker and msg.seq is None:
            # ``process`` for a ticker without ``seq`` (every real one: nothing to sequence-check), with
            # ``_on_ticker`` inlined: two Python calls and the handler lookup less per ticker. The same steps in
            # the same order: counted in ``by_type``, the latency sample, the market's ``last_ticker``, the event.
            by_type = self._by_type
            by_type["ticker"] = by_type.get("ticker", 0) + 1
            try:
                if timed:
                    skip = self._latency_skip
                    if skip:
                        self._latency_skip = skip - 1
                    else:
                        self._latency_skip = LATENCY_EVERY - 1
                        self._sample(msg, recv_ns)
                ticker = msg.market_ticker
                state = self.state
                market = state.markets.get(ticker) or state.market(ticker)
                if market is not None:
                    market.last_recv_ns = recv_ns
                    market.last_ticker = msg
                    if self._l_ticker:
                        self._emit(self._l_ticker, TickerSeen(recv_ns, ticker, market, msg))
            except Exception:
                self._callback_failed("ticker", recv_ns)
            return msg
        self.process(msg, recv_ns, timed)
        return msg

    def _sample(self, msg: Message, recv_ns: int) -> None:
        """One feed-latency sample (see ``latencies_ms``): receive time minus ``sending_ts_ms``, else ``ts_ms``."""
        sent_ms = msg.sending_ts_ms
        if sent_ms is None:
            if msg.__class__ is Ticker and msg._wire is not None:
                # A lazy ticker: its wire ``ts_ms`` (always there on a lazy one), without converting the ticker.
                sent_ms = msg._wire.ts_ms
            else:
                sent_ms = getattr(msg, "ts_ms", None)
        if sent_ms is not None:
            lag = recv_ns // 1_000_000 - sent_ms
            if -_MAX_LAG_MS < lag < _MAX_LAG_MS:  # an absurd stamp is not a latency
                self.latencies_ms.append(lag)
                self.latency_samples += 1

    def _hot_tail(self, done: tuple[Any, ...], recv_ns: int) -> None:
        """The end of a frame the compiled path applied and handed back with something left (``feed``): a delta's
        spread statistics or problem (``(msg, size, spread)``), a duplicate trade (``(msg, False)``) or a failure of
        ``add_trade`` (``(msg, exc)``)."""
        msg = done[0]
        if len(done) == 3:
            try:
                self._delta_tail(msg, done[1], done[2], recv_ns)
            except Exception:
                self._callback_failed(msg.type, recv_ns)
        elif done[1] is False:
            self.counters["trade_duplicates"] += 1
        else:
            try:
                raise done[1]
            except Exception:
                self._callback_failed(msg.type, recv_ns)

    def _decode_error(self, reason: str, data: str | bytes, recv_ns: int) -> None:
        if self._l_rejected:
            self._emit(self._l_rejected, FrameRejected(recv_ns, reason, data))

    def process(self, msg: Message, recv_ns: int, timed: bool = True) -> None:
        """Count, sequence-check and apply one decoded message (``timed``: see ``feed``). Never raises: a failure
        is counted and reported (``HandlerFailed``)."""
        kind = msg.type
        by_type = self._by_type
        by_type[kind] = by_type.get(kind, 0) + 1
        try:
            if timed:
                skip = self._latency_skip
                if skip:
                    self._latency_skip = skip - 1
                else:
                    self._latency_skip = LATENCY_EVERY - 1
                    self._sample(msg, recv_ns)
            sid = msg.sid
            if sid is not None:
                # No reset on an ack (``subscribed`` or ``ok``): a sid is unique within a connection and the tracker
                # is new with each connection, so a reset could only hide a gap (early data, repeated acks).
                seq = msg.seq
                if seq is not None:
                    if self._restart_at and seq == 1 and self._restart_at.pop(sid, None) == self.sequence.last(sid):
                        self._restart(sid, recv_ns)
                    result = self.sequence.check(sid, seq)
                    if result is not _OK and result is not _FIRST:
                        self._report(_PROBLEM_KIND[result], sid, self.sequence.expected, seq, msg, recv_ns)
                        if result is _DUPLICATE:
                            return
            if msg.__class__ is OrderbookDelta:
                self._on_delta(msg, recv_ns)
            else:
                self._handlers[msg.__class__](msg, recv_ns)
        except Exception:
            self._callback_failed(kind, recv_ns)

    def connection_opened(self, recv_ns: int) -> None:
        """A new connection starts: its subscriptions get new sids (possibly reusing old numbers), so sequence
        tracking starts afresh, and every book waits for a snapshot on the new connection before deltas apply
        (``has_snapshot`` is cleared; the old levels stay visible until the snapshot replaces them). From now on
        only acked, not ended sids feed usable books."""
        self.sequence = SequenceTracker()
        self._acks_required = True
        self._opened_ns = recv_ns
        self._live_sids = set()
        self._ended_sids = set()
        self._restart_at = {}
        for ticker, market in self.state.markets.items():
            was = market.usable
            market.has_snapshot = False
            market.sid = None
            self._note(ticker, market, was, recv_ns)

    def connection_lost(self, reason: str, now_ns: int | None = None) -> list[str]:
        """The connection feeding the books is gone (closed, reset, ping timeout, stall): every book is not usable,
        with ``reason``, until its snapshot arrives on a new connection. Returns the tickers that were usable.
        ``now_ns``: the time of the loss, for the events (default: the last frame's receive time)."""
        hit: list[str] = []
        text = f"connection lost: {reason}" if reason else "connection lost"
        when = self._latest_ns() if now_ns is None else now_ns
        for ticker, market in self.state.markets.items():
            if not market.has_snapshot:
                continue
            old = market.invalid_reason
            if old is None:
                hit.append(ticker)
            if old is None or old.startswith(_WAITING_ACK):
                was = market.usable
                market.invalid_reason = text
                self._note(ticker, market, was, when)
        self._live_sids = set()
        return hit

    def sid_live(self, sid: int | None) -> bool:
        """``sid`` may feed usable books: acked and not ended on this connection (always, before any connection)."""
        if not self._acks_required:
            return sid not in self._ended_sids
        return sid in self._live_sids

    def _ack(self, sid: int, recv_ns: int) -> None:
        """``sid`` is acknowledged: books that came on it early (before the ack) become usable."""
        if sid in self._ended_sids or sid in self._live_sids:
            return
        self._live_sids.add(sid)
        waiting = f"{_WAITING_ACK}{sid})"
        for ticker, market in self.state.markets.items():
            if market.sid == sid and market.invalid_reason == waiting:
                was = market.usable
                market.invalid_reason = None
                self._note(ticker, market, was, recv_ns)

    def _restart(self, sid: int, recv_ns: int) -> None:
        """The first frame after a ``subscribed`` for ``sid`` has seq 1: a new subscription on that sid number (a
        raw capture of several connections). Its numbering starts afresh, and the books that came on the old one are
        not usable until their snapshots on the new one (which follow) replace them. Not a sequence problem."""
        self.sequence.reset(sid)
        self.invalidate_sid(sid, f"subscription sid {sid} restarted", recv_ns)

    def _end(self, sid: int, reason: str, recv_ns: int) -> None:
        """Subscription ``sid`` ended: its books are not usable, and nothing on it counts any more."""
        self._ended_sids.add(sid)
        self._live_sids.discard(sid)
        self.invalidate_sid(sid, reason, recv_ns)

    # -- problems --------------------------------------------------------------------------------------------

    def _report(
        self,
        kind: ProblemKind,
        sid: int | None,
        expected: int | None,
        got: int | None,
        msg: Message,
        recv_ns: int,
        size: int | None = None,
    ) -> None:
        self.counters[_PROBLEM_COUNTER[kind]] += 1
        ticker: str | None = getattr(msg, "market_ticker", None)
        problem = SequenceProblem(kind, sid, expected, got, ticker)
        if kind in ("gap", "duplicate", "regression"):
            self.invalidate_sid(sid, f"sequence {kind} on sid {sid} (expected {expected}, got {got})", recv_ns)
        elif ticker is not None and kind != "delta_without_snapshot":
            market = self.state.get(ticker)
            if market is not None:
                was = market.usable
                market.invalid_reason = kind.replace("_", " ")
                self._note(ticker, market, was, recv_ns)
        for callback in self.on_sequence_problem:
            try:
                callback(problem)
            except Exception:  # a failing hook must not cost the frame that revealed the problem
                self._callback_failed(f"{kind} hook", recv_ns)
        if self._l_problem:
            delta = msg if isinstance(msg, OrderbookDelta) else None
            self._emit(self._l_problem, SequenceProblemSeen(recv_ns, problem, delta, size))

    def invalidate_sid(self, sid: int | None, reason: str, now_ns: int | None = None) -> list[str]:
        """Mark every book whose snapshot came on ``sid`` as not usable; returns their tickers. ``now_ns``: the
        time, for the events (default: the last frame's receive time)."""
        hit = self.markets_on_sid(sid)
        if hit:
            when = self._latest_ns() if now_ns is None else now_ns
            for ticker in hit:
                market = self.state.markets[ticker]
                if market.invalid_reason is None or market.invalid_reason.startswith(_WAITING_ACK):
                    was = market.usable
                    market.invalid_reason = reason
                    self._note(ticker, market, was, when)
        return hit

    def markets_on_sid(self, sid: int | None) -> list[str]:
        """Tickers whose current book came from subscription ``sid``."""
        return [t for t, m in self.state.markets.items() if m.sid == sid and m.has_snapshot]

    def health(self) -> dict[str, Any]:
        """The ``"health"`` block of the summary (``Health.summary_block``: health is computed in one place)."""
        return self.health_value().summary_block()

    def health_value(self) -> Health:
        """The feed's :class:`~market_making_bot.feed.health.Health` as this core knows it (no connection state)."""
        return Health.of(self.counters, self.latencies_ms, self.state.markets)

    # -- handlers --------------------------------------------------------------------------------------------

    def _on_delta(self, msg: OrderbookDelta, recv_ns: int) -> None:
        market = self.state.markets.get(msg.market_ticker)
        # PROTOCOL.md 5.2: a delta needs a snapshot of its market on its own sid (one attribute compare per delta).
        if market is None or not market.has_snapshot or market.sid != msg.sid:
            if self.state.wants(msg.market_ticker):
                self._report("delta_without_snapshot", msg.sid, None, msg.seq, msg, recv_ns)
            return
        market.last_recv_ns = recv_ns
        # ``MarketState.apply_delta``, ``OrderBook.apply_delta`` and ``OrderBook.spread`` inlined (the hottest code
        # of the pure path: two Python calls less per delta). The same steps as theirs, on the book's two ladders
        # (``_yes``/``_no``: ``levels`` and the cached ``best``); ``test_orderbook`` and the twin test pin them.
        book = market.book
        yes = book._yes
        no = book._no
        changed = self._l_changed
        if changed:  # the top before the delta, only for someone who listens
            top = (yes.best, no.best)
        side = msg.side
        if side == "yes":
            ladder = yes
        elif side == "no":
            ladder = no
        else:
            ladder = book._ladder(side)  # raises ValueError
        price = msg.price
        levels = ladder.levels
        size = levels.get(price, 0) + msg.delta
        if size > 0:
            levels[price] = size
            best = ladder.best
            if best is None or price > best:
                ladder.best = price
        elif levels.pop(price, None) is not None and price == ladder.best:
            ladder.best = max(levels) if levels else None
        best_yes = yes.best
        best_no = no.best
        spread = None if best_yes is None or best_no is None else PRICE_SCALE - best_no - best_yes
        stats = market.spread
        if spread != stats.current:  # most deltas leave the top of the book alone
            stats.update(spread, recv_ns)
        if size < 0 or (spread is not None and spread <= 0):
            self._delta_problem(msg, size, recv_ns)
        if changed:
            event = BookChanged(
                recv_ns, msg.market_ticker, market, msg, size, top != (yes.best, no.best)
            )
            for callback in changed:
                try:
                    callback(event)
                except Exception:
                    self._callback_failed("BookChanged callback", recv_ns)

    def _delta_tail(self, msg: OrderbookDelta, size: int, spread: int | None, recv_ns: int) -> None:
        """The end of ``_on_delta`` for a delta the compiled path applied (``feed``): a negative level or a crossed
        book reported (the compiled path updates the spread's statistics itself; the update here is then a no-op)."""
        stats = self.state.markets[msg.market_ticker].spread
        if spread != stats.current:
            stats.update(spread, recv_ns)
        if size < 0 or (spread is not None and spread <= 0):
            self._delta_problem(msg, size, recv_ns)

    def _delta_problem(self, msg: OrderbookDelta, size: int, recv_ns: int) -> None:
        """A delta left a negative level or a crossed book (best YES bid + best NO bid >= $1). Reported only while
        the book is believed in sync: after a gap it already waits for its resync, and a delta that no longer fits
        it is the gap's consequence, not news."""
        reason = self.state.markets[msg.market_ticker].invalid_reason
        if reason is not None and not reason.startswith(_WAITING_ACK):  # a book waiting for its ack is in sync
            return
        if size < 0:
            self._report("negative_level", msg.sid, None, msg.seq, msg, recv_ns, size)
        else:
            self._report("crossed_book", msg.sid, None, msg.seq, msg, recv_ns)

    def _on_snapshot(self, msg: OrderbookSnapshot, recv_ns: int) -> None:
        ticker = msg.market_ticker
        market = self.state.market(ticker)
        if market is None:
            return
        sid = msg.sid
        live = self.sid_live(sid)
        if not live and (sid in self._ended_sids or (market.usable and market.sid != sid)):
            # An ended subscription, or one not acked while a live one feeds this book: it must not change it.
            self.counters["stale_frames"] += 1
            return
        was = market.usable
        market.last_recv_ns = recv_ns
        market.apply_snapshot(msg, recv_ns)
        if not live:
            market.invalid_reason = f"{_WAITING_ACK}{sid})"
        crossed = market.book.is_crossed()
        if crossed:  # marked before the flip is noted: the frame's net effect is one event, or none
            market.invalid_reason = "crossed book"
        if self._l_snapshot:
            self._emit(self._l_snapshot, BookSnapshot(recv_ns, ticker, market, msg))
        self._note(ticker, market, was, recv_ns)
        if crossed:
            self._report("crossed_book", msg.sid, None, msg.seq, msg, recv_ns)

    def _on_ticker(self, msg: Ticker, recv_ns: int) -> None:
        market = self.state.markets.get(msg.market_ticker) or self.state.market(msg.market_ticker)
        if market is not None:
            market.last_recv_ns = recv_ns
            market.last_ticker = msg  # ``MarketState.apply_ticker`` inlined
            if self._l_ticker:
                self._emit(self._l_ticker, TickerSeen(recv_ns, msg.market_ticker, market, msg))

    def _on_ticker_v2(self, msg: TickerV2, recv_ns: int) -> None:
        market = self.state.market(msg.market_ticker)
        if market is not None:
            market.apply_ticker_v2(msg)
            if self._l_ticker:
                self._emit(self._l_ticker, TickerSeen(recv_ns, msg.market_ticker, market, msg))

    def _on_trade(self, msg: Trade, recv_ns: int) -> None:
        market = self.state.markets.get(msg.market_ticker) or self.state.market(msg.market_ticker)
        if market is not None:
            market.last_recv_ns = recv_ns
            # ``MarketState.add_trade`` and its ``RecentIds.add`` inlined (two Python calls less per trade), the same
            # steps in the same order: the id remembered, then the trade recorded and its volume counted.
            trade_id = msg.trade_id
            if trade_id is not None:
                recent = market._trade_ids
                ids = recent._ids
                if trade_id in ids:
                    self.counters["trade_duplicates"] += 1
                    return
                ids.add(trade_id)
                order = recent._order
                order.append(trade_id)
                if len(order) > recent._capacity:
                    ids.discard(order.popleft())
            market.trades.append(msg)
            market.trade_count += 1
            market.volume.add(msg.taker_side, msg.count, recv_ns)
            if self._l_trade:
                self._emit(self._l_trade, TradeSeen(recv_ns, msg.market_ticker, market, msg))

    def _on_fill(self, msg: Fill, recv_ns: int) -> None:
        market = self.state.market(msg.market_ticker)
        if market is not None:
            market.last_recv_ns = recv_ns
            if market.add_fill(msg):
                if self._l_fill:
                    self._emit(self._l_fill, FillSeen(recv_ns, msg.market_ticker, market, msg))
            else:
                self.counters["trade_duplicates"] += 1

    def _on_position(self, msg: MarketPosition, recv_ns: int) -> None:
        market = self.state.market(msg.market_ticker)
        if market is not None:
            market.apply_position(msg)
            if self._l_position:
                self._emit(self._l_position, PositionChanged(recv_ns, msg.market_ticker, market, msg))

    def _on_ok(self, msg: Ok, recv_ns: int) -> None:
        if msg.sid is not None:
            self._ack(msg.sid, recv_ns)  # an ok on a sid (update_subscription, a repeated subscribe): it exists
        if self._l_control:
            self._emit(self._l_control, ControlReply(recv_ns, msg))

    def _on_subscribed(self, msg: Subscribed, recv_ns: int) -> None:
        sid = msg.sid
        if sid is not None:
            last = self.sequence.last_seq.get(sid)
            if last is not None and last >= 2:
                # A ``subscribed`` for a sid that already has a stream: a repeated ack (the baseline stays), or, in
                # a raw capture of several connections with no markers between them, a new subscription whose
                # numbering restarts. Only the second can go on with seq 1 right after the ack: see ``_restart``.
                self._restart_at[sid] = last
            self._ack(sid, recv_ns)
        if self._l_control:
            self._emit(self._l_control, ControlReply(recv_ns, msg))

    def _on_unsubscribed(self, msg: Unsubscribed, recv_ns: int) -> None:
        if self._l_control:
            self._emit(self._l_control, ControlReply(recv_ns, msg))
        if msg.sid is not None:
            self._end(msg.sid, f"subscription sid {msg.sid} ended", recv_ns)

    def _on_error(self, msg: ErrorMsg, recv_ns: int) -> None:
        if self._l_control:
            self._emit(self._l_control, ControlReply(recv_ns, msg))
        if msg.code in _TERMINAL_ERRORS and msg.sid is not None:
            self._end(msg.sid, f"subscription sid {msg.sid} ended by error {msg.code}", recv_ns)

    def _on_order_frame(self, msg: UserOrder | OrderGroupUpdate, recv_ns: int) -> None:
        if self._l_order:
            self._emit(self._l_order, OrderFrameSeen(recv_ns, msg))

    def _on_unknown(self, msg: UnknownMessage, recv_ns: int) -> None:
        self.counters["unknown"] += 1
        if self._l_unknown:
            self._emit(self._l_unknown, UnknownFrame(recv_ns, msg))

    # -- REST ------------------------------------------------------------------------------------------------

    def apply_rest(self, update: RestUpdate, recv_ns: int) -> None:
        """Merge what REST told (``feed.backfill``): its fills in order, each new one (by trade id) counted and
        emitted as ``FillSeen`` with ``backfill=True``, then its positions (``PositionChanged``), then its book audits
        (counted; a mismatch marks the book not usable). The live shell and the replay call it with the same
        journaled updates, so both end in the same state. Never raises."""
        for fill in update.fills:
            market = self.state.market(fill.market_ticker)
            if market is None:
                continue
            if market.add_fill(fill) and self._l_fill:
                self._emit(self._l_fill, FillSeen(recv_ns, fill.market_ticker, market, fill, True))
            # a fill already seen is the expected overlap of a backfill (min_ts is inclusive): not a duplicate
        for position in update.positions:
            try:
                self._on_position(position, recv_ns)
            except Exception:
                self._callback_failed("REST position", recv_ns)
        for audit in update.audits:
            self._audited(audit.market_ticker, audit.result, audit.reason, recv_ns)

    def _audited(self, ticker: str, result: str, reason: str | None, recv_ns: int) -> None:
        """A book audit's result (``feed.audit``): counted; a ``mismatch`` marks the book not usable with its reason
        (the shell then resyncs it), unless it is already not usable for another reason."""
        counter = _AUDIT_COUNTER.get(result)
        if counter is None:
            return
        self.counters[counter] += 1
        per = self.audits.setdefault(ticker, {})
        per[result] = per.get(result, 0) + 1
        market = self.state.markets.get(ticker)
        if result == "mismatch" and market is not None and market.has_snapshot:
            old = market.invalid_reason
            if old is None or old.startswith(_WAITING_ACK):
                was = market.usable
                market.invalid_reason = reason or "audit: REST book differs"
                self._note(ticker, market, was, recv_ns)

    # -- summary ---------------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Final state in the documented JSON shape (README, "Summary format"): prices as 4-decimal dollar
        strings, sizes as 2-decimal strings, levels ascending by price, ``None`` for values that do not exist."""
        markets: dict[str, Any] = {}
        for ticker in sorted(self.state.markets):
            market = self.state.markets[ticker]
            book = market.book
            markets[ticker] = {
                "yes": [[price_str(p), size_str(s)] for p, s in book.levels("yes")],
                "no": [[price_str(p), size_str(s)] for p, s in book.levels("no")],
                "best_yes_bid": _opt(price_str, book.best_yes_bid()),
                "best_yes_ask": _opt(price_str, book.best_yes_ask()),
                "spread": _opt(price_str, book.spread()),
                "trades": market.trade_count,
                "fills": market.fill_count,
                "position": _opt(size_str, market.position),
                "usable": market.usable,
                "unusable_reason": market.unusable_reason,
            }
        return {
            "markets": markets,
            "counters": {**self.counters, "by_type": dict(sorted(self.by_type.items()))},
            "health": self.health(),
        }


def _opt(fmt: Callable[[int], str], value: int | None) -> str | None:
    return None if value is None else fmt(value)
