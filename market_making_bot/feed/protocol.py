"""The one sans-I/O protocol object of a live feed: frames in, commands and events out, time given as arguments.

:class:`FeedProtocol` owns a :class:`~market_making_bot.feed.core.Core` (decode, sequence checks, state) and a
:class:`~market_making_bot.feed.session.Session` (subscription bookkeeping) and holds the whole recovery policy that
joins them. Its surface is the websockets library's (``websockets.protocol``):

* :meth:`FeedProtocol.receive_frame` ``(data, recv_ns)``: one received frame;
* :meth:`FeedProtocol.tick` ``(now_ns)``: the timers (late snapshots and the resubscription that follows, backoff,
  lost replies, markets without a book, the missing-snapshot warning, the periodic :class:`HealthReport`);
* :meth:`FeedProtocol.connection_opened` ``(now_ns)`` / :meth:`FeedProtocol.connection_lost` ``(reason, now_ns)``;
  :meth:`FeedProtocol.reconnecting` when the shell starts another attempt;
* :meth:`FeedProtocol.data_to_send`: the commands to send, **already JSON-encoded text** (one WebSocket text frame
  each, in order), so that the shell only writes them and the journal records exactly what was sent;
* events out through the bus (``bus``: the Core's own bus when it has one): ``ConnectionUp``, ``ConnectionDown``,
  ``Notice`` (with a :class:`~market_making_bot.feed.events.NoticeKind`), ``HealthReport``, ``HandlerFailed``; the
  market-data events come from the Core.

Time: every ``*_ns`` argument is nanoseconds of one clock, the one the shell stamps frames with (the asyncio client
uses ``time.time_ns()``, so that ``recv_ns`` is also the journal's and the feed latency's time). Nothing in here reads a
clock. A step of that clock moves the timers by as much (a resync timeout may fire early, or late, once).

Recovery policy, in one place (the Session decides the commands, see its docstring):

* a control frame (``subscribed``, ``unsubscribed``, ``ok``, ``error``) or a snapshot goes to the Session, dispatched
  once, by the decoded message's class (:data:`~market_making_bot.feed.session.CONTROL_CLASSES`);
* a sequence problem reported by the Core: a sequence kind (gap, duplicate, regression) re-baselines every book of
  the sid, a book kind (delta without snapshot, crossed book, negative level) that market (``get_snapshot``); so
  does a book audit's mismatch (:meth:`FeedProtocol.resync_books`, called by the audit's shell);
* health counters: ``reconnects``, ``resyncs`` and ``oversized_frames`` are written here, nowhere else;
* no valid market left: :attr:`FeedProtocol.fatal` says why (the shell ends the run, exit code 5).

Anything a handler or timer raises is contained, logged, counted (``handler_errors``) and emitted as
``HandlerFailed``: a bug costs one frame or one timer round, never the connection.
"""

from __future__ import annotations

import enum
import json
import logging
from typing import TYPE_CHECKING

from market_making_bot.feed.events import (
    ConnectionDown,
    ConnectionUp,
    EventBus,
    HandlerFailed,
    HealthReport,
    Notice,
    NoticeKind,
)
from market_making_bot.feed.health import Health
from market_making_bot.feed.session import CONTROL_CLASSES, Session, SubStatus

if TYPE_CHECKING:
    from market_making_bot.feed.core import Core
    from market_making_bot.kalshi.messages import Message
    from market_making_bot.marketdata.sequence import SequenceProblem

__all__ = ["ClientState", "FeedProtocol"]

log = logging.getLogger("market_making_bot.feed.protocol")

_NS = 1_000_000_000


class ClientState(str, enum.Enum):
    """The connection's state (compares equal to, and prints as, its string value)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    AUTH_FAILED = "auth_failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


class FeedProtocol:
    """Core + Session + the recovery policy; see the module docstring.

    ``snapshot_grace``: seconds after a connection opens before a subscribed market with no snapshot is reported
    (once per connection, a ``Notice`` of kind ``MISSING_BOOK``). ``health_interval``: seconds between two
    ``HealthReport`` events (``None``: never).
    """

    def __init__(
        self,
        core: Core,
        session: Session,
        *,
        url: str = "",
        snapshot_grace: float = 5.0,
        health_interval: float | None = 60.0,
        bus: EventBus | None = None,
    ) -> None:
        self.core = core
        self.session = session
        self.url = url
        # One stream: the protocol's events (connection, notices, health) on the Core's bus, unless told otherwise.
        self.bus: EventBus = core.bus if bus is None else bus
        self.snapshot_grace_ns = round(snapshot_grace * _NS)
        self.health_interval_ns = None if health_interval is None else round(health_interval * _NS)
        self.state = ClientState.IDLE
        self.connections = 0  # connections opened so far (the connection number)
        self.reconnects = 0
        self.live = False
        """A connection is open (between ``connection_opened`` and ``connection_lost``)."""
        self.fatal: str | None = None
        """Why the run cannot go on (no valid market left); set when a reply makes it so."""
        self._frame_ns = 0  # the time of the frame being fed (the sequence-problem hook runs inside ``core.feed``)
        self._started_ns: int | None = None
        self._connected_ns = 0
        self._warned_missing = False
        self._last_health_ns: int | None = None
        self._notices = self.bus.listeners(Notice)
        core.on_sequence_problem.append(self._on_problem)

    # ------------------------------------------------------------------------------------------- connection
    def connection_opened(self, now_ns: int) -> None:
        """A handshake succeeded: fresh sequence tracking and subscriptions; ``ConnectionUp``."""
        self._start(now_ns)
        self.connections += 1
        self.live = True
        self.state = ClientState.CONNECTED
        self._connected_ns = now_ns
        self._warned_missing = False
        self.core.connection_opened(now_ns)
        self.session.at_ns(now_ns)
        self.session.connected()
        self.bus.emit(ConnectionUp(now_ns, self.connections, self.url))

    def connection_lost(self, reason: str, now_ns: int) -> bool:
        """The live connection is gone: every book it fed is not usable, with ``reason``; ``ConnectionDown``.
        ``True`` if there was a live connection (the first call after it went), ``False`` otherwise."""
        if not self.live:
            return False
        self.live = False
        self.state = ClientState.DISCONNECTED
        self.core.connection_lost(reason)
        self.bus.emit(ConnectionDown(now_ns, self.connections, reason))
        return True

    def reconnecting(self, now_ns: int) -> int:
        """The shell starts another connection attempt (after a lost or failed one): counted; returns the count."""
        self._start(now_ns)
        self.reconnects += 1
        self.core.counters["reconnects"] = self.reconnects
        self.state = ClientState.RECONNECTING
        return self.reconnects

    def frame_too_big(self, now_ns: int) -> None:
        """The shell refused a frame larger than it accepts (it closes the connection): counted."""
        self.core.counters["oversized_frames"] += 1

    # ------------------------------------------------------------------------------------------------ frames
    def receive_frame(self, data: str | bytes, recv_ns: int) -> Message | None:
        """One frame received at ``recv_ns``: into the Core, and, for a reply or a snapshot, into the Session.
        Returns the decoded message (``None`` if it could not be decoded)."""
        self._frame_ns = recv_ns  # one store per frame: the time the sequence-problem hook needs
        msg = self.core.feed(data, recv_ns)
        if msg is not None and msg.__class__ in CONTROL_CLASSES:
            self._handle(msg, recv_ns)
        return msg

    def _handle(self, msg: Message, recv_ns: int) -> None:
        session = self.session
        try:
            session.at_ns(recv_ns)
            self._emit(session.handle(msg))
        except Exception:  # a session bug must not cost the connection
            self.handler_error(f"{msg.type} reply", recv_ns)
        self._sync()

    def _on_problem(self, problem: SequenceProblem) -> None:
        """Core hook: books went bad; re-baseline them with ``get_snapshot`` on the live connection."""
        if problem.sid_wide:
            markets = self.core.markets_on_sid(problem.sid)
        else:
            markets = [problem.market_ticker] if problem.market_ticker else []
        self.session.at_ns(self._frame_ns)
        self._emit(self.session.resync(problem.sid, markets))
        self._sync()

    def resync_books(self, markets: list[str], now_ns: int) -> None:
        """Re-baseline these books with ``get_snapshot`` (the path of a crossed book), e.g. after a book audit found
        one wrong (``feed.audit``); the commands go out with the next flush."""
        by_sid: dict[int | None, list[str]] = {}
        for ticker in markets:
            market = self.core.state.markets.get(ticker)
            if market is not None and market.sid is not None:
                by_sid.setdefault(market.sid, []).append(ticker)
        self.session.at_ns(now_ns)
        for sid, tickers in by_sid.items():
            self._emit(self.session.resync(sid, tickers))
        self._sync()

    # ------------------------------------------------------------------------------------------------ timers
    def tick(self, now_ns: int) -> None:
        """Run the timers due at ``now_ns`` (call it every few hundred ms): the Session's (late snapshots,
        backoff, lost replies, markets without a usable book), the missing-snapshot warning, the health report."""
        self._start(now_ns)
        session = self.session
        try:
            session.at_ns(now_ns)
            self._emit(session.tick(now_ns / _NS, self._missing_books()))
            if self.live and not self._warned_missing and now_ns - self._connected_ns >= self.snapshot_grace_ns:
                self._warned_missing = True
                self._warn_missing_books(now_ns)
        except Exception:
            self.handler_error("housekeeping", now_ns)
        self._sync()
        interval = self.health_interval_ns
        if interval is not None and now_ns - (self._last_health_ns or self._started_ns or now_ns) >= interval:
            self._last_health_ns = now_ns
            self.bus.emit(HealthReport(now_ns, self.health(now_ns)))

    def _missing_books(self) -> list[str]:
        markets = self.core.state.markets
        return [t for t in self.session.tickers if t not in markets or not markets[t].usable]

    def _warn_missing_books(self, now_ns: int) -> None:
        sub = self.session.subs.get("orderbook_delta")
        if sub is None or sub.status != SubStatus.ACTIVE:
            return
        markets = self.core.state.markets
        missing = [t for t in self.session.tickers if t not in markets or not markets[t].has_snapshot]
        if missing:
            text = (
                f"no order book snapshot for {', '.join(missing)} {self.snapshot_grace_ns / _NS:.0f} s after "
                "connecting: is the ticker right and the market open?"
            )
            self._emit([Notice(now_ns, logging.WARNING, text, NoticeKind.MISSING_BOOK)])

    # ------------------------------------------------------------------------------------------------ output
    def data_to_send(self) -> list[str]:
        """The commands queued since the last call, JSON-encoded (compact), in the order they must be sent."""
        if not self.session.outbox:
            return []
        return [json.dumps(c, separators=(",", ":")) for c in self.session.take_outbox()]

    def health(self, now_ns: int) -> Health:
        """The feed's health now (``health.Health``)."""
        core = self.core
        uptime = 0.0 if self._started_ns is None else (now_ns - self._started_ns) / _NS
        return Health.of(core.counters, core.latencies_ms, core.state.markets, state=str(self.state), uptime_s=uptime)

    def handler_error(self, where: str, now_ns: int) -> None:
        """A bug was contained (here, or in the shell's own loop): logged, counted, ``HandlerFailed``."""
        self.core.counters["handler_errors"] += 1
        log.exception("[HANDLER ERROR] in %s; it goes on", where)
        self.bus.emit(HandlerFailed(now_ns, where))

    # ----------------------------------------------------------------------------------------------- helpers
    def _start(self, now_ns: int) -> None:
        if self._started_ns is None:
            self._started_ns = now_ns

    def _emit(self, notices: list[Notice]) -> None:
        listeners = self._notices
        if listeners:
            for n in notices:
                for callback in listeners:
                    callback(n)

    def _sync(self) -> None:
        """The Session's recovery actions are the ``resyncs`` counter; no valid market left is fatal."""
        session = self.session
        self.core.counters["resyncs"] = session.resyncs
        if session.fatal is not None:
            self.fatal = session.fatal
