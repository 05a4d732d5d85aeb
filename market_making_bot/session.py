"""Subscription bookkeeping for one logical Kalshi session, free of I/O.

The asyncio client (``client.py``) owns the socket; this module decides *what to send*: the subscribe commands for a
new connection, which ``sid`` belongs to which channel, what an ``error`` reply means, and the commands that heal a
subscription (``get_snapshot`` after a sequence gap; a fresh subscribe after error 25/10 or an unsolicited
``unsubscribed``). Commands are appended to :attr:`Session.outbox`; the caller sends and clears it.

One subscribe command per channel, so that an ``error`` reply (which names the command ``id`` but not the channel)
can always be attributed: a refused private channel never takes the public streams down with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRIVATE_CHANNELS", "PUBLIC_CHANNELS", "ChannelSub", "Notice", "Session", "TERMINAL_ERROR_CODES"]

PUBLIC_CHANNELS: tuple[str, ...] = ("orderbook_delta", "ticker", "trade")
PRIVATE_CHANNELS: tuple[str, ...] = ("fill", "market_positions")
#: Errors that kill a subscription: 10 channel error, 25 subscription buffer overflow.
TERMINAL_ERROR_CODES = frozenset({10, 25})
#: Errors that mean the channel will never work with this key or these parameters: do not retry.
_REFUSAL_CODES = frozenset({2, 3, 8, 9, 11, 14, 16, 26})

Command = dict[str, Any]


@dataclass
class Notice:
    """Something the operator should read: a log level and a sentence."""

    level: int
    text: str
    kind: str = "info"


@dataclass
class ChannelSub:
    """One channel's subscription on the current connection."""

    channel: str
    markets: list[str]
    cmd_id: int = 0
    sid: int | None = None
    status: str = "pending"  # pending | active | refused | dead
    reason: str | None = None

    @property
    def private(self) -> bool:
        return self.channel in PRIVATE_CHANNELS


@dataclass
class Session:
    """What to subscribe to, and the state of each subscription on the live connection."""

    tickers: list[str]
    with_private: bool = False
    use_yes_price: bool = False
    outbox: list[Command] = field(default_factory=list)
    subs: dict[str, ChannelSub] = field(default_factory=dict)
    _next_id: int = 1
    _pending: dict[int, tuple[str, str]] = field(default_factory=dict)  # cmd id -> (purpose, channel)
    _refused: dict[str, str] = field(default_factory=dict)  # channel -> reason, kept across reconnects
    _resyncing: dict[str, float] = field(default_factory=dict)  # market -> when its snapshot was requested
    resyncs: int = 0  # recovery actions taken: get_snapshot requests and resubscriptions
    bad_tickers: set[str] = field(default_factory=set)  # markets the server rejected

    def __post_init__(self) -> None:
        self.tickers = list(dict.fromkeys(self.tickers))

    # ----------------------------------------------------------------------------------------------- commands
    def _command(self, cmd: str, params: dict[str, Any] | None, purpose: str, channel: str) -> Command:
        cid = self._next_id
        self._next_id += 1
        c: Command = {"id": cid, "cmd": cmd}
        if params is not None:
            c["params"] = params
        self._pending[cid] = (purpose, channel)
        self.outbox.append(c)
        return c

    def _subscribe(self, channel: str) -> None:
        params: dict[str, Any] = {"channels": [channel]}
        if self.tickers:
            params["market_tickers"] = list(self.tickers)
        if channel == "orderbook_delta":
            params["use_yes_price"] = self.use_yes_price
        c = self._command("subscribe", params, "subscribe", channel)
        self.subs[channel] = ChannelSub(channel, list(self.tickers), cmd_id=c["id"])

    @property
    def channels(self) -> tuple[str, ...]:
        return PUBLIC_CHANNELS + (PRIVATE_CHANNELS if self.with_private else ())

    def connected(self) -> list[Command]:
        """A new connection is open: forget old sids and queue one subscribe per channel."""
        self.subs.clear()
        self._pending.clear()
        self._resyncing.clear()
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

    def request_snapshot(self, sid: int, markets: Iterable[str] | None = None) -> Command | None:
        """Queue ``update_subscription``/``get_snapshot`` for ``markets`` (default: every market of the sid)."""
        ch = self.channel_of(sid)
        if ch != "orderbook_delta":
            return None
        tickers = list(markets) if markets is not None else self.markets_of(sid)
        if not tickers:
            return None
        return self._command(
            "update_subscription",
            {"sids": [sid], "market_tickers": tickers, "action": "get_snapshot"},
            "get_snapshot",
            ch,
        )

    # ------------------------------------------------------------------------------------------ recovery
    def resync(self, sid: int | None, markets: Iterable[str], now: float) -> list[Notice]:
        """Re-baseline ``markets`` (books that came on ``sid`` and can no longer be trusted) with ``get_snapshot``.

        Markets already waiting for a snapshot are not asked for again; ``now`` (monotonic seconds) starts the
        clock that :meth:`check_resyncs` uses to fall back to a fresh subscription."""
        if sid is None or self.channel_of(sid) != "orderbook_delta":
            return []
        wanted = [m for m in dict.fromkeys(markets) if m not in self._resyncing]
        if not wanted or self.request_snapshot(sid, wanted) is None:
            return []
        self.resyncs += 1
        for m in wanted:
            self._resyncing[m] = now
        return [Notice(logging.INFO, f"resync: requested fresh snapshots of {', '.join(wanted)} (sid {sid})", "resync")]

    def snapshot_received(self, market: str) -> None:
        self._resyncing.pop(market, None)

    @property
    def resyncing(self) -> list[str]:
        return list(self._resyncing)

    def check_resyncs(self, now: float, timeout: float) -> list[Notice]:
        """A snapshot asked for more than ``timeout`` seconds ago has not come: resubscribe the order book."""
        late = [m for m, t in self._resyncing.items() if now - t > timeout]
        if not late or "orderbook_delta" not in self.subs:
            return []
        self._resyncing.clear()
        self.resyncs += 1
        self.resubscribe("orderbook_delta")
        text = f"no snapshot within {timeout:g} s for {', '.join(late)}; resubscribing"
        return [Notice(logging.WARNING, text, "resub")]

    def resubscribe(self, channel: str) -> None:
        """Drop the channel's subscription (if the server still has it) and subscribe afresh."""
        sub = self.subs.get(channel)
        if sub is not None and sub.sid is not None and sub.status == "active":
            self._command("unsubscribe", {"sids": [sub.sid]}, "unsubscribe", channel)
        self._subscribe(channel)

    # ------------------------------------------------------------------------------------------ replies
    def on_subscribed(self, cmd_id: int | None, channel: str, sid: int) -> list[Notice]:
        sub = self.subs.get(channel)
        if sub is None:
            sub = self.subs[channel] = ChannelSub(channel, list(self.tickers), cmd_id=cmd_id or 0)
        sub.sid, sub.status, sub.reason = sid, "active", None
        if cmd_id is not None:
            self._pending.pop(cmd_id, None)
        return [Notice(logging.INFO, f"subscribed {channel} (sid {sid})", "subscribed")]

    def on_unsubscribed(self, cmd_id: int | None, sid: int | None) -> list[Notice]:
        if cmd_id is not None and cmd_id in self._pending:
            self._pending.pop(cmd_id)
            return []  # we asked for it
        ch = self.channel_of(sid) if sid is not None else None
        if ch is None:
            return []
        self.subs[ch].status = "dead"
        self.resubscribe(ch)
        return [Notice(logging.WARNING, f"server ended the {ch} subscription (sid {sid}); resubscribing", "resub")]

    def on_error(
        self, cmd_id: int | None, code: int, text: str, sid: int | None, markets: list[str] | None = None
    ) -> list[Notice]:
        purpose, channel = self._pending.pop(cmd_id, ("", "")) if cmd_id else ("", "")
        if not channel and sid is not None:
            channel = self.channel_of(sid) or ""
        desc = f"error {code} ({text})"
        bad = [m for m in markets or () if m in self.tickers or m in self.bad_tickers]
        if purpose == "subscribe" and bad:
            # The server named the markets it rejects: drop them, keep the channel going for the others.
            new = [m for m in bad if m not in self.bad_tickers]
            self.tickers = [t for t in self.tickers if t not in bad]
            self.bad_tickers.update(bad)
            notes = (
                [Notice(logging.ERROR, f"market {', '.join(new)} rejected by the server: {desc}", "bad_ticker")]
                if new
                else []
            )
            if self.tickers:
                self._subscribe(channel)
                return notes
            text_ = f"no valid market ticker left for {channel}; check --ticker"
            return [*notes, Notice(logging.ERROR, text_, "refused")]
        if code in TERMINAL_ERROR_CODES and channel:
            sub = self.subs.get(channel)
            if sub is not None:
                sub.status = "dead"
            self._subscribe(channel)  # the server already dropped it: no unsubscribe needed
            self.resyncs += 1
            return [Notice(logging.WARNING, f"{channel} subscription killed by {desc}; resubscribing", "resub")]
        if purpose == "subscribe":
            sub = self.subs.get(channel)
            if sub is not None:
                sub.status, sub.reason = "refused", desc
            if code in _REFUSAL_CODES:
                self._refused[channel] = desc
            hint = ""
            if code == 9:
                hint = ": this API key lacks permission for it; the other streams keep running"
            elif code in (14, 2) and channel == "orderbook_delta":
                hint = ": check the market tickers"
            return [Notice(logging.ERROR, f"channel {channel} refused by the server: {desc}{hint}", "refused")]
        if purpose == "get_snapshot" and channel:
            # Snapshot request failed: fall back to a fresh subscription of the channel.
            self._resyncing.clear()
            self.resyncs += 1
            self.resubscribe(channel)
            return [Notice(logging.WARNING, f"get_snapshot failed with {desc}; resubscribing {channel}", "resub")]
        where = f" for {purpose} {channel}" if purpose else ""
        return [Notice(logging.WARNING, f"server reported {desc}{where}", "error")]

    def on_ok(self, cmd_id: int | None) -> None:
        if cmd_id is not None:
            self._pending.pop(cmd_id, None)

    @property
    def refused(self) -> dict[str, str]:
        return dict(self._refused)
