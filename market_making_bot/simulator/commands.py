"""The command protocol of one connection, free of I/O: text in, replies and actions out.

:class:`CommandProtocol` holds a connection's subscriptions (sids, channels, market filters, the
per-sid ``seq``) and validates every command the way the real server does (PROTOCOL.md 5 and 10b):
``subscribe``, ``unsubscribe``, ``update_subscription`` (``add_markets``, ``delete_markets``,
``get_snapshot``) and ``list_subscriptions``. :meth:`CommandProtocol.receive` takes the text of one
command and returns, in the order the client must see them, what the connection has to do:

* :class:`Reply`: send this control frame (an ack, an ``ok``, an ``error``);
* :class:`SendSnapshot` / :class:`SendTicker`: send a market's current book / ticker on a
  subscription (the fan-out builds the frame from the model; the snapshot's ``seq`` is taken here);
* :class:`Added` / :class:`Removed`: the subscription starts / stops receiving the order flow;
* :class:`UserWanted`: a private channel was subscribed (the simulated user starts trading).

No sockets, no asyncio, no clock: the caller passes the ``sending_ts_ms`` to stamp control frames
with, and the two faults that act on commands (``deny-private``, ``early-data``) are asked through
:class:`CommandFaults`. The fan-out and the writer own nothing here but ``Subscription.seq``, which the
fan-out advances for every data frame, synchronously between commands.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

from market_making_bot.simulator.subscriptions import (
    CHANNELS,
    MARKET_FILTER_CHANNELS,
    PRIVATE_CHANNELS,
    Action,
    Added,
    CommandFaults,
    MarketDirectory,
    NoFaults,
    Outbox,
    Removed,
    Reply,
    SendSnapshot,
    SendTicker,
    Subscription,
    UserWanted,
)
from market_making_bot.simulator.wire import ErrorCode, encode, envelope, error_frame

__all__ = ["CommandProtocol"]

_E = ErrorCode


class _CommandError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        *,
        text: str | None = None,
        sid: int | None = None,
        market_tickers: list[str] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.text = text
        self.sid = sid
        self.market_tickers = market_tickers


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise _CommandError(_E.UNPROCESSABLE, text=f"Unable to process message: {key} must be a boolean")
    return value


def _sids(value: object) -> list[int]:
    if not isinstance(value, list) or not all(type(s) is int for s in value):
        raise _CommandError(_E.UNPROCESSABLE, text="Unable to process message: sids must be a list of integers")
    return value


class CommandProtocol:
    """One connection's subscriptions and its command handling (see the module docstring)."""

    def __init__(
        self,
        markets: MarketDirectory,
        owner: Outbox,
        *,
        authenticated: bool,
        repeat_subscribe: str = "ok",
        faults: CommandFaults | None = None,
    ) -> None:
        self.markets = markets
        self.owner = owner
        self.authenticated = authenticated
        self.repeat_subscribe = repeat_subscribe
        self.faults: CommandFaults = faults if faults is not None else NoFaults()
        self.subs: dict[int, Subscription] = {}
        self._sids = itertools.count(1)
        self._out: list[Action] = []
        self._ts: int | None = None

    # ---- entry points ----------------------------------------------------------------------------

    def receive(self, text: str, sending_ts_ms: int | None = None) -> list[Action]:
        """Handle one command; the replies are stamped ``sending_ts_ms`` (None: no stamp)."""
        self._out = []
        self._ts = sending_ts_ms
        self._handle(text)
        return self._out

    def undecodable(self, sending_ts_ms: int | None = None) -> list[Action]:
        """A binary message that is not UTF-8: error 1, no id."""
        self._out = []
        self._ts = sending_ts_ms
        self._error(_E.UNPROCESSABLE, None)
        return self._out

    def end(self, sid: int) -> Subscription | None:
        """Forget ``sid`` (the server ended it with a terminal error); returns it if it was live."""
        return self.subs.pop(sid, None)

    def close(self) -> list[Subscription]:
        """The connection is gone: every subscription ends; returns them."""
        subs = list(self.subs.values())
        self.subs.clear()
        return subs

    # ---- parsing ---------------------------------------------------------------------------------

    def _handle(self, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            self._error(_E.UNPROCESSABLE, None, text="Unable to process message: not JSON")
            return
        if not isinstance(obj, dict):
            self._error(_E.UNPROCESSABLE, None, text="Unable to process message: not a JSON object")
            return
        raw_id = obj.get("id")
        if raw_id is None:
            id_ = None
        elif type(raw_id) is int and raw_id >= 0:
            id_ = raw_id or None
        else:
            self._error(_E.UNPROCESSABLE, None, text="Unable to process message: id must be a non-negative integer")
            return
        cmd = obj.get("cmd")
        try:
            if cmd == "list_subscriptions":
                self._list(id_)
                return
            if cmd not in ("subscribe", "unsubscribe", "update_subscription"):
                raise _CommandError(_E.UNKNOWN_COMMAND)
            params = obj.get("params")
            if params is None:
                raise _CommandError(_E.PARAMS_REQUIRED)
            if not isinstance(params, dict):
                raise _CommandError(_E.UNPROCESSABLE, text="Unable to process message: params must be an object")
            if cmd == "subscribe":
                self._subscribe(id_, params)
            elif cmd == "unsubscribe":
                self._unsubscribe(id_, params)
            else:
                self._update(id_, params)
        except _CommandError as exc:
            self._error(exc.code, id_, text=exc.text, sid=exc.sid, market_tickers=exc.market_tickers)

    def _markets_param(
        self,
        params: dict[str, Any],
        *,
        allow_single: bool = True,
        allow_ids: bool = True,
        sid: int | None = None,
    ) -> tuple[list[str] | None, bool]:
        """The market filter of a command: (tickers in request order, given as ids?)."""
        keys = [k for k in ("market_ticker", "market_tickers", "market_id", "market_ids") if params.get(k) is not None]
        if len(keys) > 1:
            raise _CommandError(
                _E.INVALID_PARAMETER, sid=sid, text=f"Invalid parameter: {' and '.join(keys)} are mutually exclusive"
            )
        if not keys:
            return None, False
        key = keys[0]
        value = params[key]
        if key in ("market_ticker", "market_id"):
            if not allow_single:
                raise _CommandError(
                    _E.TICKER_REQUIRED, sid=sid, text=f"Market Ticker required: use market_tickers, not {key}"
                )
            if not isinstance(value, str):
                raise _CommandError(
                    _E.UNPROCESSABLE, sid=sid, text=f"Unable to process message: {key} must be a string"
                )
            values = [value]
        else:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _CommandError(
                    _E.UNPROCESSABLE, sid=sid, text=f"Unable to process message: {key} must be a list of strings"
                )
            if not value:
                return None, False
            values = list(dict.fromkeys(value))
        markets = self.markets
        if key in ("market_id", "market_ids"):
            if not allow_ids:
                raise _CommandError(
                    _E.TICKER_REQUIRED, sid=sid, text="Market Ticker required: this action takes market_tickers"
                )
            unknown = [v for v in values if v not in markets.by_id]
            if unknown:
                raise _CommandError(
                    _E.INVALID_PARAMETER, sid=sid, text="Invalid parameter: unknown market_id", market_tickers=unknown
                )
            return [markets.by_id[v] for v in values], True
        unknown = [v for v in values if v not in markets.ids]
        if unknown:
            raise _CommandError(
                _E.INVALID_PARAMETER, sid=sid, text="Invalid parameter: unknown market ticker", market_tickers=unknown
            )
        return values, False

    # ---- commands --------------------------------------------------------------------------------

    def _list(self, id_: int | None) -> None:
        body = [{"channel": s.channel, "sid": s.sid} for s in sorted(self.subs.values(), key=lambda s: s.sid)]
        self._reply(envelope(b"ok", encode(body), id_=id_, sending_ts_ms=self._ts))

    def _subscribe(self, id_: int | None, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if channels is None or channels == []:
            raise _CommandError(_E.CHANNELS_REQUIRED)
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise _CommandError(_E.UNPROCESSABLE, text="Unable to process message: channels must be a list of strings")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise _CommandError(_E.UNKNOWN_CHANNEL, text=f"Unknown channel name: {', '.join(unknown)}")
        use_yes_price = _bool(params, "use_yes_price")
        initial_ticker = _bool(params, "send_initial_snapshot")
        skip_ack = _bool(params, "skip_ticker_ack")
        shard_factor = params.get("shard_factor")
        shard_key = params.get("shard_key")
        for key, value in (("shard_factor", shard_factor), ("shard_key", shard_key)):
            if value is not None and type(value) is not int:
                raise _CommandError(_E.UNPROCESSABLE, text=f"Unable to process message: {key} must be an integer")
        if shard_key is not None and shard_factor is None:
            raise _CommandError(_E.SHARD_FACTOR_REQUIRED)
        if shard_factor is not None:
            if shard_factor <= 0:
                raise _CommandError(_E.SHARD_FACTOR_NOT_POSITIVE)
            if shard_factor > 100:
                raise _CommandError(_E.SHARD_FACTOR_TOO_LARGE)
            if shard_key is not None and not 0 <= shard_key < shard_factor:
                raise _CommandError(_E.SHARD_KEY_OUT_OF_RANGE)
        tickers, by_ids = self._markets_param(params)
        for channel in dict.fromkeys(channels):
            try:
                self._subscribe_one(
                    id_,
                    channel,
                    tickers,
                    by_ids,
                    use_yes_price=use_yes_price,
                    initial_ticker=initial_ticker,
                    skip_ack=skip_ack,
                )
            except _CommandError as exc:  # one channel refused; the others of the command go on
                self._error(exc.code, id_, text=exc.text, market_tickers=exc.market_tickers)

    def _subscribe_one(
        self,
        id_: int | None,
        channel: str,
        tickers: list[str] | None,
        by_ids: bool,
        *,
        use_yes_price: bool,
        initial_ticker: bool,
        skip_ack: bool,
    ) -> None:
        if channel in PRIVATE_CHANNELS:
            if not self.authenticated:
                raise _CommandError(_E.AUTH_REQUIRED)
            if self.faults.take_deny_private():
                raise _CommandError(_E.AUTH_REQUIRED)
        if channel == "orderbook_delta" and (tickers is None or by_ids):
            raise _CommandError(_E.TICKER_REQUIRED)
        if by_ids and channel != "ticker":
            raise _CommandError(
                _E.INVALID_PARAMETER, text=f"Invalid parameter: market_ids are not supported on {channel}"
            )
        existing = next((s for s in self.subs.values() if s.channel == channel), None)
        if existing is not None:
            # idempotent subscribe (2025-09-25): same markets -> nothing; new markets -> added
            added: list[str] = []
            if existing.markets is not None:
                if tickers is None:
                    existing.markets = None  # now every market (orderbook_delta always has tickers)
                else:
                    added = [t for t in tickers if t not in existing.markets]
                    existing.markets.update(added)
            if self.repeat_subscribe == "ok":
                # what the real server does (PROTOCOL.md 10b item 1): an ``ok`` on the existing sid that
                # takes the sid's next seq and carries the full, sorted market list
                self._ack_markets(id_, existing, skip_list=skip_ack)
            else:
                self._ack_subscribed(id_, existing)
            self._initial_data(existing, added, initial_ticker)
            return
        sub = Subscription(
            next(self._sids),
            channel,
            self.owner,
            # a market filter on a channel without one (order_group_updates: "ignored", PROTOCOL.md 4) is ignored,
            # as the real server does: its frames (an order group has no market) still come
            set(tickers) if tickers is not None and channel in MARKET_FILTER_CHANNELS else None,
            by_ids=by_ids,
            use_yes_price=use_yes_price,
            skip_ack=skip_ack,
        )
        self.subs[sub.sid] = sub
        self._out.append(Added(sub))
        first = tickers if tickers is not None else self.markets.tickers
        if channel == "orderbook_delta" and self.faults.take_early_data():
            self._initial_data(sub, first, initial_ticker)
            self._ack_subscribed(id_, sub)
        else:
            self._ack_subscribed(id_, sub)
            self._initial_data(sub, first, initial_ticker)
        if channel in PRIVATE_CHANNELS:
            self._out.append(UserWanted(channel))

    def _unsubscribe(self, id_: int | None, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if sids is None or sids == []:
            raise _CommandError(_E.SIDS_REQUIRED)
        for sid in dict.fromkeys(_sids(sids)):
            sub = self.subs.pop(sid, None)
            if sub is None:
                self._error(_E.UNKNOWN_SID, id_, sid=sid)
                continue
            self._out.append(Removed(sub))
            sub.seq += 1
            self._reply(envelope(b"unsubscribed", None, id_=id_, sid=sid, seq=sub.seq, sending_ts_ms=self._ts), sub)

    def _update(self, id_: int | None, params: dict[str, Any]) -> None:
        action = params.get("action")
        if action is None:
            raise _CommandError(_E.ACTION_REQUIRED)
        if not isinstance(action, str):
            raise _CommandError(_E.UNPROCESSABLE, text="Unable to process message: action must be a string")
        sid_param = params.get("sid")
        sids_param = params.get("sids")
        if sids_param is not None:
            sids = _sids(sids_param)
            if len(sids) != 1 or sid_param is not None:
                raise _CommandError(_E.ONE_SID_REQUIRED)
            sid = sids[0]
        elif sid_param is not None:
            if type(sid_param) is not int:
                raise _CommandError(_E.UNPROCESSABLE, text="Unable to process message: sid must be an integer")
            sid = sid_param
        else:
            raise _CommandError(_E.ONE_SID_REQUIRED)
        sub = self.subs.get(sid)
        if sub is None:
            raise _CommandError(_E.UNKNOWN_SID, sid=sid)
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise _CommandError(_E.UNSUPPORTED_ACTION, sid=sid)
        if action == "get_snapshot" and sub.channel != "orderbook_delta":
            raise _CommandError(_E.UNSUPPORTED_ACTION, sid=sid)
        if sub.channel not in MARKET_FILTER_CHANNELS:
            raise _CommandError(_E.UNSUPPORTED_ACTION, sid=sid)
        is_snapshot = action == "get_snapshot"
        tickers, by_ids = self._markets_param(
            params, allow_single=not is_snapshot, allow_ids=sub.channel == "ticker", sid=sid
        )
        if tickers is None:
            raise _CommandError(_E.TICKER_REQUIRED, sid=sid)
        if is_snapshot:
            assert sub.markets is not None  # orderbook_delta always has tickers
            missing = [t for t in tickers if t not in sub.markets]
            if missing:
                self._error(
                    _E.INVALID_PARAMETER,
                    id_,
                    sid=sid,
                    market_tickers=missing,
                    text="Invalid parameter: market not in this subscription",
                )
            self._snapshots(sub, [t for t in tickers if t in sub.markets], id_)
            return
        added: list[str] = []
        if sub.markets is not None:
            if action == "add_markets":
                added = [t for t in tickers if t not in sub.markets]
                sub.markets.update(added)
            else:
                sub.markets.difference_update(tickers)
        if by_ids:
            sub.by_ids = True
        self._ack_markets(id_, sub, skip_list=_bool(params, "skip_ticker_ack"))
        if added:
            self._initial_data(sub, added, _bool(params, "send_initial_snapshot"))

    # ---- replies ---------------------------------------------------------------------------------

    def _reply(self, frame: bytes, numbered: Subscription | None = None) -> None:
        if numbered is None:
            self._out.append(Reply(frame))
        else:
            self._out.append(Reply(frame, numbered.sid, numbered.seq))

    def _error(
        self,
        code: ErrorCode,
        id_: int | None,
        *,
        text: str | None = None,
        sid: int | None = None,
        market_tickers: list[str] | None = None,
    ) -> None:
        self._reply(
            error_frame(code, id_=id_, sid=sid, market_tickers=market_tickers, text=text, sending_ts_ms=self._ts)
        )

    def _ack_subscribed(self, id_: int | None, sub: Subscription) -> None:
        self._reply(
            envelope(b"subscribed", encode({"channel": sub.channel, "sid": sub.sid}), id_=id_, sending_ts_ms=self._ts)
        )

    def _ack_markets(self, id_: int | None, sub: Subscription, *, skip_list: bool = False) -> None:
        """``ok`` with the subscription's full market list; it consumes the sid's next seq."""
        sub.seq += 1
        msg: bytes | None = None
        if not (sub.skip_ack or skip_list):
            markets = sorted(sub.markets) if sub.markets is not None else []
            if sub.by_ids:
                msg = encode({"market_ids": [self.markets.ids[t] for t in markets]})
            else:
                msg = encode({"market_tickers": markets})
        self._reply(envelope(b"ok", msg, id_=id_, sid=sub.sid, seq=sub.seq, sending_ts_ms=self._ts), sub)

    def _snapshots(self, sub: Subscription, tickers: Iterable[str], id_: int | None = None) -> None:
        for t in tickers:
            sub.seq += 1
            self._out.append(SendSnapshot(sub, t, id_, sub.seq))

    def _initial_data(self, sub: Subscription, tickers: Iterable[str], initial_ticker: bool) -> None:
        if sub.channel == "orderbook_delta":
            self._snapshots(sub, tickers)
        elif sub.channel == "ticker" and initial_ticker:
            self._out.extend(SendTicker(sub, t) for t in tickers)
