"""Subscription bookkeeping for one logical Kalshi session, free of I/O.

The protocol object (``feed_protocol.FeedProtocol``) owns a Session; this module decides *what to send*: the
subscribe commands for a new connection, which ``sid`` belongs to which channel, what a reply means, and the commands
that heal a subscription. Commands are built by ``protocol.commands`` and appended to :attr:`Session.outbox`; the
owner takes them with :meth:`Session.take_outbox`. Time is given to it: ``now`` in seconds, or, by the protocol
object, :meth:`Session.at_ns` (ns) before calls with ``now=None``, which then stamp their notices exactly. The owner
calls :meth:`Session.tick` periodically and :meth:`Session.handle` with every control frame and snapshot. What the
Session has to say comes back as ``events.Notice`` values (a log level, a sentence, a ``NoticeKind``).

Error codes are :class:`ErrorCode`; :data:`TERMINAL_ERROR_CODES` end a subscription, :data:`REFUSAL_CODES` refuse a
channel for good (not asked for again, also after a reconnect). Subscription states are :class:`SubStatus`.

One subscribe command per channel, so that an ``error`` reply (which names the command ``id`` but not the channel)
can always be attributed: a refused private channel never takes the public streams down with it.

Recovery policy (what the session does, and when):

* **Replies in any order** (PROTOCOL.md 10b.2): every reply is matched to its command by ``id``, never by position.
  A ``subscribe`` is answered by ``subscribed`` *or* by ``ok`` with the existing ``sid`` (what the real server sends
  for a repeated subscribe, 10b.1); either one makes the subscription active.
* **Gap, duplicate, regression, bad book** on an order-book sid: ``get_snapshot`` for the books concerned
  (:meth:`resync`); a snapshot not received within ``resync_timeout`` seconds, or a failed ``get_snapshot``: the
  order book is resubscribed.
* **Resubscribing a live subscription** sends ``unsubscribe`` and waits for its ``unsubscribed`` (or an error saying
  the sid is gone, or ``reply_timeout``) before sending the new ``subscribe``: never both back to back, since the
  server may handle them in either order.
* **Error 10/25** (terminal) or an unsolicited ``unsubscribed``: that sid is dead. This holds whenever it arrives,
  also before the subscription's ack: the sid is remembered as ended and an ack that comes later for it does not
  make the channel active; it is resubscribed instead.
* **Backoff**: resubscribing a channel is immediate the first time; each further failure of the same channel (no
  stable subscription of ``stable_after`` seconds in between) waits a capped exponential delay with equal jitter
  (half fixed, half random: ``[d/2, d]`` with ``d = min(backoff_cap, backoff_base * 2**(n-1))``), run by ``tick``.
* **Lost replies**: a subscribe with no reply within ``reply_timeout`` is sent again (subscribe is idempotent); an
  order-book market with no usable book for ``missing_book_timeout`` seconds although its subscription is active
  is re-checked with ``get_snapshot`` (and so resubscribed if that does not help).
* **Rejected markets** are dropped from the subscription; when none is left, :attr:`Session.fatal` says so and the
  client stops the run (exit code 5).
* Requests are bounded: an answered ``get_snapshot`` leaves nothing behind, and an unanswered command is forgotten
  after ``pending_ttl`` seconds.
* **Markets added mid-run** (:meth:`Session.add_markets`, for ``--event``/``--series``): a live channel gets a
  repeated ``subscribe`` with only the new markets (idempotent subscribe: the real server adds them to the existing
  sid and answers ``ok`` with that sid, then a snapshot per added order-book market, PROTOCOL.md 3.2 and 10b.1; it
  works on every channel, whereas ``update_subscription``/``add_markets`` is documented for some only). A channel
  whose subscribe is still pending is topped up once its ack comes; one waiting for a resubscription, and every
  channel after a reconnect, subscribes with the full list. An add with no reply within ``reply_timeout`` is sent
  again; markets the server rejects are dropped as on a first subscribe (never fatal while others are left).
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from market_making_bot.feed.events import Notice, NoticeKind
from market_making_bot.kalshi import commands
from market_making_bot.kalshi.messages import ErrorMsg, Ok, OrderbookSnapshot, Subscribed, Unsubscribed

__all__ = [
    "ORDER_CHANNELS",
    "PRIVATE_CHANNELS",
    "PUBLIC_CHANNELS",
    "REFUSAL_CODES",
    "TERMINAL_ERROR_CODES",
    "CONTROL_CLASSES",
    "ChannelSub",
    "Command",
    "ErrorCode",
    "Notice",
    "NoticeKind",
    "Session",
    "SubStatus",
]

PUBLIC_CHANNELS: tuple[str, ...] = ("orderbook_delta", "ticker", "trade")
PRIVATE_CHANNELS: tuple[str, ...] = ("fill", "market_positions")
ORDER_CHANNELS: tuple[str, ...] = ("user_orders", "order_group_updates")
"""The account's order updates (``user_order`` frames) and its order groups' (``order_group_updates``: created,
triggered, ...): subscribed with ``Session(with_orders=True)`` (the bot)."""


class ErrorCode(enum.IntEnum):
    """Kalshi's WebSocket error codes (PROTOCOL.md, error table); an ``error`` frame's ``code`` compares equal."""

    UNABLE_TO_PROCESS = 1
    PARAMS_REQUIRED = 2
    CHANNELS_REQUIRED = 3
    SIDS_REQUIRED = 4
    UNKNOWN_COMMAND = 5
    ALREADY_SUBSCRIBED = 6  # retired
    UNKNOWN_SID = 7
    UNKNOWN_CHANNEL = 8
    AUTH_REQUIRED = 9
    CHANNEL_ERROR = 10
    INVALID_PARAMETER = 11
    ONE_SID_REQUIRED = 12
    UNSUPPORTED_ACTION = 13
    MARKET_TICKER_REQUIRED = 14
    ACTION_REQUIRED = 15
    MARKET_NOT_FOUND = 16  # retired
    INTERNAL_ERROR = 17  # retired
    COMMAND_TIMEOUT = 18
    SUBSCRIPTION_BUFFER_OVERFLOW = 25
    MARKET_LIMIT_EXCEEDED = 26
    TOO_MANY_REQUESTS = 27


#: Errors that end a subscription (the server dropped it): resubscribe, no ``unsubscribe`` needed.
TERMINAL_ERROR_CODES: frozenset[int] = frozenset({ErrorCode.CHANNEL_ERROR, ErrorCode.SUBSCRIPTION_BUFFER_OVERFLOW})
#: Errors to a ``subscribe`` that mean the channel will never work with this key or these parameters: no retry.
REFUSAL_CODES: frozenset[int] = frozenset(
    {
        ErrorCode.PARAMS_REQUIRED,
        ErrorCode.CHANNELS_REQUIRED,
        ErrorCode.UNKNOWN_CHANNEL,
        ErrorCode.AUTH_REQUIRED,
        ErrorCode.INVALID_PARAMETER,
        ErrorCode.MARKET_TICKER_REQUIRED,
        ErrorCode.MARKET_NOT_FOUND,
        ErrorCode.MARKET_LIMIT_EXCEEDED,
    }
)

Command = dict[str, Any]

#: The decoded message classes :meth:`Session.handle` acts on: the replies to commands, and snapshots.
CONTROL_CLASSES: frozenset[type] = frozenset({Subscribed, Unsubscribed, ErrorMsg, Ok, OrderbookSnapshot})


class SubStatus(str, enum.Enum):
    """The state of one channel's subscription (compares equal to its string value)."""

    PENDING = "pending"  # subscribe sent, no ack yet
    ACTIVE = "active"  # acked (``subscribed``, or ``ok`` with the sid)
    UNSUBSCRIBING = "unsubscribing"  # unsubscribe sent, waiting for ``unsubscribed`` before subscribing again
    WAITING = "waiting"  # a resubscription scheduled after a backoff delay
    REFUSED = "refused"  # the server refused the subscribe
    DEAD = "dead"  # ended by the server (error 10/25, ``unsubscribed``) or by us

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


class _Purpose(enum.Enum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    GET_SNAPSHOT = "get_snapshot"
    ADD_MARKETS = "add_markets"  # a repeated subscribe that adds markets to a live subscription


@dataclass
class ChannelSub:
    """One channel's subscription on the current connection."""

    channel: str
    markets: list[str]
    cmd_id: int = 0
    sid: int | None = None
    status: SubStatus = SubStatus.PENDING
    reason: str | None = None
    active_since: float | None = None

    @property
    def private(self) -> bool:
        return self.channel in PRIVATE_CHANNELS or self.channel in ORDER_CHANNELS


@dataclass
class _Pending:
    purpose: _Purpose
    channel: str
    sent_at: float
    markets: set[str] = field(default_factory=set)  # get_snapshot: snapshots still expected


@dataclass
class Session:
    """What to subscribe to, and the state of each subscription on the live connection."""

    tickers: list[str]
    with_private: bool = False
    with_orders: bool = False
    """Also ``user_orders`` (the bot's order tracker needs it; the plain listener keeps fills and positions only)."""
    use_yes_price: bool = False
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    stable_after: float = 10.0
    reply_timeout: float = 10.0
    resync_timeout: float = 5.0
    missing_book_timeout: float = 10.0
    pending_ttl: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    outbox: list[Command] = field(default_factory=list)
    subs: dict[str, ChannelSub] = field(default_factory=dict)
    _next_id: int = 1
    _now: float = 0.0  # seconds, for the timers
    _now_ns: int = 0  # the same instant in ns, the stamp of the notices
    _pending: dict[int, _Pending] = field(default_factory=dict)  # cmd id -> what it was for
    _refused: dict[str, str] = field(default_factory=dict)  # channel -> reason, kept across reconnects
    _resyncing: dict[str, float] = field(default_factory=dict)  # market -> when its snapshot was requested
    _failures: dict[str, int] = field(default_factory=dict)  # channel -> failures since it was last stable
    _retry_at: dict[str, float] = field(default_factory=dict)  # channel -> when its next subscribe is due
    _ended_sids: set[int] = field(default_factory=set)  # sids ended on this connection (error 10/25, unsubscribed)
    _missing_since: dict[str, float] = field(default_factory=dict)  # market -> since when it has had no usable book
    resyncs: int = 0  # recovery actions taken: get_snapshot requests and resubscriptions
    bad_tickers: set[str] = field(default_factory=set)  # markets the server rejected
    fatal: str | None = None
    """Why the run cannot go on (no valid market left); the client stops with exit code 5."""

    def __post_init__(self) -> None:
        self.tickers = list(dict.fromkeys(self.tickers))

    def _at(self, now: float | None) -> float:
        if now is not None and now != self._now:
            self._now = now
            self._now_ns = round(now * 1e9)
        return self._now

    def at_ns(self, now_ns: int) -> None:
        """Set the clock to ``now_ns`` (ns; the protocol object's time): the calls that follow with ``now=None`` run
        at that instant, and their notices carry it exactly."""
        self._now_ns = now_ns
        self._now = now_ns / 1e9

    # ----------------------------------------------------------------------------------------------- commands
    def _take_id(self) -> int:
        cid = self._next_id
        self._next_id += 1
        return cid

    def _command(self, c: Command, purpose: _Purpose, channel: str) -> Command:
        """Queue ``c`` (built by ``protocol.commands``) and remember what it was for, to match its reply by id."""
        self._pending[c["id"]] = _Pending(purpose, channel, self._now)
        self.outbox.append(c)
        return c

    def _notice(self, level: int, text: str, kind: NoticeKind) -> Notice:
        return Notice(self._now_ns, level, text, kind)

    def _subscribe(self, channel: str) -> None:
        self._retry_at.pop(channel, None)
        cmd = commands.subscribe(self._take_id(), [channel], self.tickers or None, self.use_yes_price)
        c = self._command(cmd, _Purpose.SUBSCRIBE, channel)
        self.subs[channel] = ChannelSub(channel, list(self.tickers), cmd_id=c["id"])

    def _schedule_subscribe(self, channel: str, now: float) -> float:
        """Subscribe ``channel`` again, at once the first time, later after repeated failures (see the module
        docstring); returns the delay chosen."""
        sub = self.subs.get(channel)
        n = self._failures.get(channel, 0)
        if sub is not None and sub.active_since is not None and now - sub.active_since >= self.stable_after:
            n = 0  # the last subscription was stable: this is a new failure, not a repeated one
        self._failures[channel] = n + 1
        delay = 0.0
        if n:
            d = min(self.backoff_cap, self.backoff_base * (2 ** min(n - 1, 30)))
            delay = d / 2 + self.rng.uniform(0.0, d / 2)
        if delay <= 0.0:
            self._subscribe(channel)
        else:
            self._retry_at[channel] = now + delay
            if sub is not None:
                sub.status, sub.active_since = SubStatus.WAITING, None
        return delay

    @property
    def channels(self) -> tuple[str, ...]:
        private = PRIVATE_CHANNELS if self.with_private or self.with_orders else ()
        return PUBLIC_CHANNELS + private + (ORDER_CHANNELS if self.with_orders else ())

    def connected(self, now: float | None = None) -> list[Command]:
        """A new connection is open: forget old sids and queue one subscribe per channel."""
        self._at(now)
        self.subs.clear()
        self._pending.clear()
        self._resyncing.clear()
        self._retry_at.clear()
        self._ended_sids.clear()
        self._missing_since.clear()
        for ch in self.channels:
            if ch in self._refused:
                continue
            if ch == "orderbook_delta" and not self.tickers:
                continue  # Kalshi requires market tickers for the order book channel
            self._subscribe(ch)
        return self.outbox

    def take_outbox(self) -> list[Command]:
        out, self.outbox = self.outbox, []
        return out

    def add_markets(self, markets: Iterable[str], now: float | None = None) -> list[str]:
        """Follow ``markets`` too, on every channel (see the module docstring); returns the markets that were new
        (neither followed already nor rejected by the server before). Commands go to :attr:`outbox`."""
        self._at(now)
        new = [m for m in dict.fromkeys(markets) if m not in self.tickers and m not in self.bad_tickers]
        if not new:
            return []
        self.tickers.extend(new)
        for channel in self.channels:
            self._top_up(channel)
        return new

    def _top_up(self, channel: str) -> None:
        """Add to a live ``channel`` the followed markets its subscription lacks (nothing if one is on its way)."""
        sub = self.subs.get(channel)
        if sub is None or sub.status != SubStatus.ACTIVE or sub.sid in self._ended_sids or not sub.markets:
            return  # not live (its next subscribe carries every ticker), or subscribed to every market
        asked = {m for p in self._pending.values() if p.purpose == _Purpose.ADD_MARKETS and p.channel == channel
                 for m in p.markets}  # fmt: skip
        have = set(sub.markets)
        missing = [t for t in self.tickers if t not in have and t not in asked]
        if not missing:
            return
        cmd = commands.subscribe(self._take_id(), [channel], missing, self.use_yes_price)
        c = self._command(cmd, _Purpose.ADD_MARKETS, channel)
        self._pending[c["id"]].markets = set(missing)

    def _markets_added(self, p: _Pending, sid: int | None) -> list[Notice]:
        """The ack (``ok``, or ``subscribed`` with the existing sid) of an add: the markets are on the sid now."""
        sub = self.subs.get(p.channel)
        if sub is None or sub.status != SubStatus.ACTIVE or (sid is not None and sid != sub.sid):
            self._top_up(p.channel)  # the subscription changed meanwhile: whatever it lacks is asked for again
            return []
        added = [m for m in self.tickers if m in p.markets and m not in sub.markets]
        sub.markets.extend(added)
        if not added:
            return []
        text = f"added {', '.join(added)} to {p.channel} (sid {sub.sid})"
        return [self._notice(logging.INFO, text, NoticeKind.SUBSCRIBED)]

    def channel_of(self, sid: int) -> str | None:
        for s in self.subs.values():
            if s.sid == sid:
                return s.channel
        return None

    def markets_of(self, sid: int) -> list[str]:
        for s in self.subs.values():
            if s.sid == sid:
                return list(s.markets)
        return []

    @property
    def pending(self) -> int:
        """Commands sent and not answered yet (bounded: see ``pending_ttl``)."""
        return len(self._pending)

    def request_snapshot(self, sid: int, markets: Iterable[str] | None = None) -> Command | None:
        """Queue ``update_subscription``/``get_snapshot`` for ``markets`` (default: every market of the sid)."""
        ch = self.channel_of(sid)
        if ch != "orderbook_delta" or self.subs[ch].status != SubStatus.ACTIVE:
            return None
        tickers = list(markets) if markets is not None else self.markets_of(sid)
        if not tickers:
            return None
        cmd = commands.update_subscription(self._take_id(), sid, "get_snapshot", tickers)
        c = self._command(cmd, _Purpose.GET_SNAPSHOT, ch)
        self._pending[c["id"]].markets = set(tickers)
        return c

    # ------------------------------------------------------------------------------------------ recovery
    def resync(self, sid: int | None, markets: Iterable[str], now: float | None = None) -> list[Notice]:
        """Re-baseline ``markets`` (books that came on ``sid`` and can no longer be trusted) with ``get_snapshot``.

        Markets already waiting for a snapshot are not asked for again; ``now`` (monotonic seconds) starts the
        clock that :meth:`tick` uses to fall back to a fresh subscription."""
        now = self._at(now)
        if sid is None or self.channel_of(sid) != "orderbook_delta":
            return []
        wanted = [m for m in dict.fromkeys(markets) if m not in self._resyncing]
        if not wanted or self.request_snapshot(sid, wanted) is None:
            return []
        self.resyncs += 1
        for m in wanted:
            self._resyncing[m] = now
        return [
            self._notice(
                logging.INFO, f"resync: requested fresh snapshots of {', '.join(wanted)} (sid {sid})", NoticeKind.RESYNC
            )
        ]

    def snapshot_received(self, market: str, cmd_id: int | None = None) -> None:
        self._resyncing.pop(market, None)
        self._missing_since.pop(market, None)
        if cmd_id is not None:
            p = self._pending.get(cmd_id)
            if p is not None and p.purpose == _Purpose.GET_SNAPSHOT:
                p.markets.discard(market)
                if not p.markets:  # every snapshot asked for has come: the request is answered
                    del self._pending[cmd_id]

    def check_resyncs(self, now: float, timeout: float | None = None) -> list[Notice]:
        """A snapshot asked for more than ``timeout`` seconds ago has not come: resubscribe the order book."""
        self._at(now)
        timeout = self.resync_timeout if timeout is None else timeout
        late = [m for m, t in self._resyncing.items() if now - t > timeout]
        if not late or "orderbook_delta" not in self.subs:
            return []
        self._resyncing.clear()
        self.resyncs += 1
        self.resubscribe("orderbook_delta", now)
        text = f"no snapshot within {timeout:g} s for {', '.join(late)}; resubscribing"
        return [self._notice(logging.WARNING, text, NoticeKind.RESUBSCRIBE)]

    def resubscribe(self, channel: str, now: float | None = None) -> None:
        """Drop the channel's subscription (if the server still has it) and subscribe afresh: the ``subscribe`` is
        sent only once the ``unsubscribed`` (or an error saying the sid is gone, or ``reply_timeout``) has come."""
        now = self._at(now)
        sub = self.subs.get(channel)
        if sub is not None and sub.status == SubStatus.UNSUBSCRIBING:
            return  # already on its way
        if (
            sub is not None
            and sub.sid is not None
            and sub.status == SubStatus.ACTIVE
            and sub.sid not in self._ended_sids
        ):
            self._command(commands.unsubscribe(self._take_id(), [sub.sid]), _Purpose.UNSUBSCRIBE, channel)
            sub.status, sub.active_since = SubStatus.UNSUBSCRIBING, None
            return
        if channel in self._retry_at:
            return  # a subscribe is already scheduled
        self._schedule_subscribe(channel, now)

    def tick(self, now: float, missing_books: Iterable[str] = ()) -> list[Notice]:
        """Timers: scheduled resubscriptions, late snapshots, lost replies, markets without a book, old requests.

        ``missing_books``: the order-book markets that have no usable book right now."""
        self._at(now)
        notes = self.check_resyncs(now)
        for channel, due in list(self._retry_at.items()):
            if now >= due and channel not in self._refused:
                self._subscribe(channel)
                notes.append(
                    self._notice(logging.INFO, f"resubscribing {channel} after backoff", NoticeKind.RESUBSCRIBE)
                )
        for cid, p in list(self._pending.items()):
            age = now - p.sent_at
            sub = self.subs.get(p.channel)
            if p.purpose == _Purpose.UNSUBSCRIBE and age > self.reply_timeout and sub is not None:
                del self._pending[cid]
                if sub.status == SubStatus.UNSUBSCRIBING:
                    sub.status = SubStatus.DEAD
                    self._schedule_subscribe(p.channel, now)
                    text = f"no reply to unsubscribe {p.channel} within {self.reply_timeout:g} s; subscribing again"
                    notes.append(self._notice(logging.WARNING, text, NoticeKind.RESUBSCRIBE))
            elif p.purpose == _Purpose.SUBSCRIBE and age > self.reply_timeout:
                del self._pending[cid]
                if sub is not None and sub.cmd_id == cid and sub.status == SubStatus.PENDING:
                    self._schedule_subscribe(p.channel, now)
                    text = f"no reply to subscribe {p.channel} within {self.reply_timeout:g} s; subscribing again"
                    notes.append(self._notice(logging.WARNING, text, NoticeKind.RESUBSCRIBE))
            elif p.purpose == _Purpose.ADD_MARKETS and age > self.reply_timeout:
                del self._pending[cid]
                self._top_up(p.channel)  # idempotent: sent again for whatever the subscription still lacks
            elif age > self.pending_ttl:
                del self._pending[cid]
        notes += self._check_missing(now, missing_books)
        return notes

    def _check_missing(self, now: float, missing_books: Iterable[str]) -> list[Notice]:
        sub = self.subs.get("orderbook_delta")
        if sub is None or sub.status != SubStatus.ACTIVE or sub.sid is None or sub.active_since is None:
            self._missing_since.clear()
            return []
        missing = set(missing_books) & set(sub.markets)
        for m in list(self._missing_since):
            if m not in missing:
                del self._missing_since[m]
        for m in missing:
            self._missing_since.setdefault(m, now)
        late = [
            m
            for m in sub.markets
            if m in self._missing_since
            and now - self._missing_since[m] >= self.missing_book_timeout
            and m not in self._resyncing
        ]
        if not late:
            return []
        for m in late:
            self._missing_since[m] = now  # re-checked at most once per missing_book_timeout
        prefix = f"no usable book for {self.missing_book_timeout:g} s: "
        return [replace(n, text=prefix + n.text) for n in self.resync(sub.sid, late, now)]

    # ------------------------------------------------------------------------------------------ replies
    def handle(self, msg: Any, now: float | None = None) -> list[Notice]:
        """One decoded control frame (``subscribed``, ``ok``, ``unsubscribed``, ``error``) or snapshot, dispatched
        by its class (:data:`CONTROL_CLASSES`); any other message is ignored."""
        cls = msg.__class__
        if cls is OrderbookSnapshot:
            self.snapshot_received(msg.market_ticker, msg.id)
            return []
        if cls is Subscribed:
            return self.on_subscribed(msg.id, msg.channel, msg.sid, now)
        if cls is ErrorMsg:
            markets = msg.market_tickers or ([msg.market_ticker] if msg.market_ticker else None)
            return self.on_error(msg.id, msg.code, msg.message, msg.sid, markets, now)
        if cls is Unsubscribed:
            return self.on_unsubscribed(msg.id, msg.sid, now)
        if cls is Ok:
            return self.on_ok(msg.id, msg.sid, now)
        return []

    def on_subscribed(
        self, cmd_id: int | None, channel: str, sid: int | None, now: float | None = None
    ) -> list[Notice]:
        now = self._at(now)
        p = self._pending.pop(cmd_id, None) if cmd_id else None
        if p is not None and p.purpose == _Purpose.ADD_MARKETS:
            return self._markets_added(p, sid)
        if p is not None and p.purpose != _Purpose.SUBSCRIBE:
            return []
        sub = self.subs.get(channel)
        if sub is None:
            if channel not in self.channels:
                return []
            sub = self.subs[channel] = ChannelSub(channel, list(self.tickers), cmd_id=cmd_id or 0)
        if sid is None or sub.status in (SubStatus.REFUSED, SubStatus.UNSUBSCRIBING):
            return []
        if sid in self._ended_sids:
            # The subscription died (error 10/25) before its ack came: it is not active; subscribe again.
            if sub.status in (SubStatus.PENDING, SubStatus.ACTIVE) and sub.sid in (None, sid):
                sub.status, sub.sid = SubStatus.DEAD, sid
                self.resyncs += 1
                self._schedule_subscribe(channel, now)
                text = f"{channel} subscription (sid {sid}) ended before its ack; resubscribing"
                return [self._notice(logging.WARNING, text, NoticeKind.RESUBSCRIBE)]
            return []
        if sub.status == SubStatus.ACTIVE and sub.sid == sid:
            return []  # a repeated ack of the live subscription
        if sub.status == SubStatus.WAITING:
            return []  # a late ack of a subscription already given up (its sid is not ours any more)
        sub.sid, sub.status, sub.reason, sub.active_since = sid, SubStatus.ACTIVE, None, now
        self._top_up(channel)  # markets added while this subscribe was on its way
        return [self._notice(logging.INFO, f"subscribed {channel} (sid {sid})", NoticeKind.SUBSCRIBED)]

    def on_unsubscribed(self, cmd_id: int | None, sid: int | None, now: float | None = None) -> list[Notice]:
        now = self._at(now)
        if sid is not None:
            self._ended_sids.add(sid)
        p = self._pending.pop(cmd_id, None) if cmd_id else None
        if p is not None and p.purpose == _Purpose.UNSUBSCRIBE:
            sub = self.subs.get(p.channel)
            if sub is not None and sub.status == SubStatus.UNSUBSCRIBING:
                sub.status = SubStatus.DEAD
                self._schedule_subscribe(p.channel, now)  # we asked for it: now the new subscribe may go
            return []
        ch = self.channel_of(sid) if sid is not None else None
        if ch is None:
            return []
        sub = self.subs[ch]
        if sub.status == SubStatus.UNSUBSCRIBING:  # the answer to ours, without its id
            sub.status = SubStatus.DEAD
            self._schedule_subscribe(ch, now)
            return []
        if sub.status not in (SubStatus.ACTIVE, SubStatus.PENDING):
            return []
        sub.status = SubStatus.DEAD
        self._schedule_subscribe(ch, now)
        return [
            self._notice(
                logging.WARNING,
                f"server ended the {ch} subscription (sid {sid}); resubscribing",
                NoticeKind.RESUBSCRIBE,
            )
        ]

    def on_error(
        self,
        cmd_id: int | None,
        code: int,
        text: str,
        sid: int | None,
        markets: list[str] | None = None,
        now: float | None = None,
    ) -> list[Notice]:
        now = self._at(now)
        p = self._pending.pop(cmd_id, None) if cmd_id else None
        purpose, channel = (p.purpose, p.channel) if p is not None else (None, "")
        if not channel and sid is not None:
            channel = self.channel_of(sid) or ""
        desc = f"error {code} ({text})"
        bad = [m for m in markets or () if m in self.tickers or m in self.bad_tickers]
        if purpose == _Purpose.ADD_MARKETS and p is not None and code not in TERMINAL_ERROR_CODES:
            return self._add_failed(p, code, desc, bad)
        if purpose == _Purpose.SUBSCRIBE and bad:
            # The server named the markets it rejects: drop them, keep the channel going for the others.
            new = [m for m in bad if m not in self.bad_tickers]
            self.tickers = [t for t in self.tickers if t not in bad]
            self.bad_tickers.update(bad)
            notes = (
                [
                    self._notice(
                        logging.ERROR, f"market {', '.join(new)} rejected by the server: {desc}", NoticeKind.BAD_TICKER
                    )
                ]
                if new
                else []
            )
            if self.tickers:
                self._subscribe(channel)
                return notes
            sub = self.subs.get(channel)
            if sub is not None:
                sub.status, sub.reason = SubStatus.REFUSED, desc
            self.fatal = (
                f"no valid market left: every ticker was rejected by the server ({', '.join(sorted(self.bad_tickers))})"
            )
            text_ = f"no valid market ticker left for {channel}; check --ticker"
            return [*notes, self._notice(logging.ERROR, text_, NoticeKind.NO_MARKETS)]
        if code in TERMINAL_ERROR_CODES and (channel or sid is not None):
            if sid is not None:
                self._ended_sids.add(sid)  # honoured whenever it comes, before or after the ack
            if not channel:
                return [
                    self._notice(
                        logging.WARNING,
                        f"subscription sid {sid} ended by {desc} (before its ack)",
                        NoticeKind.RESUBSCRIBE,
                    )
                ]
            sub = self.subs.get(channel)
            if sub is not None:
                if sid is not None and sub.sid is not None and sub.sid != sid:
                    return []  # an older subscription of this channel; the current one is not concerned
                if sub.status in (SubStatus.WAITING, SubStatus.REFUSED) or (
                    sub.status == SubStatus.DEAD and channel in self._retry_at
                ):
                    return []
                sub.status = SubStatus.DEAD
            self._retry_at.pop(channel, None)
            delay = self._schedule_subscribe(channel, now)  # the server already dropped it: no unsubscribe needed
            self.resyncs += 1
            when = f" in {delay:.1f} s" if delay else ""
            return [
                self._notice(
                    logging.WARNING,
                    f"{channel} subscription killed by {desc}; resubscribing{when}",
                    NoticeKind.RESUBSCRIBE,
                )
            ]
        if purpose == _Purpose.UNSUBSCRIBE and channel:
            sub = self.subs.get(channel)
            if sub is not None and sub.status == SubStatus.UNSUBSCRIBING:  # e.g. error 7: the sid is already gone
                sub.status = SubStatus.DEAD
                self._schedule_subscribe(channel, now)
            return []
        if purpose == _Purpose.SUBSCRIBE:
            sub = self.subs.get(channel)
            if sub is not None:
                sub.status, sub.reason = SubStatus.REFUSED, desc
            if code in REFUSAL_CODES:
                self._refused[channel] = desc
            else:
                self._schedule_subscribe(channel, now)
            hint = ""
            if code == ErrorCode.AUTH_REQUIRED:
                hint = ": this API key lacks permission for it; the other streams keep running"
            elif code in (ErrorCode.MARKET_TICKER_REQUIRED, ErrorCode.PARAMS_REQUIRED) and channel == "orderbook_delta":
                hint = ": check the market tickers"
            return [
                self._notice(
                    logging.ERROR, f"channel {channel} refused by the server: {desc}{hint}", NoticeKind.REFUSED
                )
            ]
        if purpose == _Purpose.GET_SNAPSHOT and channel:
            # Snapshot request failed: fall back to a fresh subscription of the channel.
            self._resyncing.clear()
            self.resyncs += 1
            self.resubscribe(channel, now)
            return [
                self._notice(
                    logging.WARNING, f"get_snapshot failed with {desc}; resubscribing {channel}", NoticeKind.RESUBSCRIBE
                )
            ]
        where = f" for {purpose.value} {channel}" if purpose is not None else ""
        return [self._notice(logging.WARNING, f"server reported {desc}{where}", NoticeKind.ERROR)]

    def _add_failed(self, p: _Pending, code: int, desc: str, bad: list[str]) -> list[Notice]:
        """An error to an add: rejected markets (named, or every market of the add when the code is a refusal) are
        dropped and reported once; any other error resubscribes the channel with every market (with the usual
        backoff when it repeats)."""
        if not bad and code in REFUSAL_CODES:
            bad = [m for m in p.markets if m in self.tickers]
        if not bad:
            self.resyncs += 1
            self.resubscribe(p.channel)
            text = f"adding markets to {p.channel} failed with {desc}; resubscribing it"
            return [self._notice(logging.WARNING, text, NoticeKind.RESUBSCRIBE)]
        new = [m for m in bad if m not in self.bad_tickers]
        self.tickers = [t for t in self.tickers if t not in bad]
        self.bad_tickers.update(bad)
        self._top_up(p.channel)  # the rest of that add, if the server named only some
        if not new:
            return []
        text = f"market {', '.join(new)} rejected by the server: {desc}"
        return [self._notice(logging.ERROR, text, NoticeKind.BAD_TICKER)]

    def on_ok(self, cmd_id: int | None, sid: int | None = None, now: float | None = None) -> list[Notice]:
        """An ``ok``: to ``update_subscription``, or (the real server, PROTOCOL.md 10b.1) to a repeated
        ``subscribe``, with the existing sid: then it is that subscribe's ack."""
        if cmd_id is None:
            return []
        p = self._pending.get(cmd_id)
        if p is None:
            return []
        if p.purpose in (_Purpose.SUBSCRIBE, _Purpose.ADD_MARKETS):
            return self.on_subscribed(cmd_id, p.channel, sid, now)
        del self._pending[cmd_id]
        return []
