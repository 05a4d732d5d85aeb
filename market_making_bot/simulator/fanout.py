"""The fan-out: the order flow's events, encoded once per wire variant, onto every subscription that covers them.

:class:`FanOut` keeps the live subscriptions of every connection by channel. :meth:`FanOut.dispatch`
turns one batch of :mod:`.events` into numbered frames appended to each subscriber's outbound queue
(:meth:`~.connection.Connection.push`); :meth:`FanOut.send_snapshot` and :meth:`FanOut.send_ticker`
build the frames a command asked for from the model's current state. Everything runs synchronously
between commands, so a snapshot is exactly the book after every delta queued before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.events import BookDelta, Event, Fill, GroupUpdate, OrderUpdate, Position, Ticker, Trade
from market_making_bot.simulator.model import ExchangeModel
from market_making_bot.simulator.subscriptions import CHANNELS, Subscription
from market_making_bot.simulator.units import now_ms
from market_making_bot.simulator.wire import Wire, envelope

# flags of an outbound queue item
F_DATA = 1  # a data frame (snapshot, delta, ticker, trade, fill, market_position): counted for faults
F_DELTA = 2  # an orderbook_delta (a gap drops one)
F_OBSEQ = 4  # a sequenced order-book frame (a duplicate repeats one)


class FanOut:
    def __init__(self, model: ExchangeModel, wire: Wire, config: SimulatorConfig) -> None:
        self.model = model
        self.wire = wire
        self.legacy_cents = config.legacy_cents
        self.like_production = config.like_production
        self.subs: dict[str, list[Subscription]] = {c: [] for c in CHANNELS}
        # event type -> (channel, frame type, numbered with the sid's seq?, message encoder)
        self._routes: dict[type, tuple[str, bytes, bool, Callable[[Any], bytes]]] = {
            Ticker: ("ticker", b"ticker", False, wire.ticker_msg),
            Trade: ("trade", b"trade", True, wire.trade_msg),
            Fill: ("fill", b"fill", False, wire.fill_msg),
            Position: ("market_positions", b"market_position", False, lambda ev: wire.position_msg(ev, model.user_id)),
            OrderUpdate: ("user_orders", b"user_order", False, wire.order_msg),
            GroupUpdate: ("order_group_updates", b"order_group_updates", True, wire.order_msg),
        }

    def sending_ts(self) -> int | None:
        """The ``sending_ts_ms`` of a frame sent now (none in the legacy format)."""
        return None if self.legacy_cents else now_ms()

    def add(self, sub: Subscription) -> None:
        self.subs[sub.channel].append(sub)

    def remove(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self.subs[sub.channel].remove(sub)

    def dispatch(self, events: list[Event]) -> None:
        subs = self.subs
        wire = self.wire
        routes = self._routes
        ts = self.sending_ts()
        book_ts = None if self.like_production else ts  # production: none on book frames
        for ev in events:
            if type(ev) is BookDelta:  # most events: its own loop, and only filtered subscriptions
                ticker = ev.market.ticker
                for sub in subs["orderbook_delta"]:
                    if sub.markets is not None and ticker in sub.markets:
                        sub.seq += 1
                        sub.conn.push(
                            F_DATA | F_DELTA | F_OBSEQ,
                            sub.sid,
                            sub.seq,
                            envelope(
                                b"orderbook_delta",
                                wire.delta_msg(ev, sub.use_yes_price),
                                sid=sub.sid,
                                seq=sub.seq,
                                sending_ts_ms=book_ts,
                            ),
                        )
                continue
            channel, type_, numbered, encode = routes[type(ev)]
            ticker = ev.market.ticker if ev.market is not None else ""  # an order group has no market
            msg: bytes | None = None  # encoded for the first subscriber only (the wire caches it on the event too)
            for sub in subs[channel]:
                if sub.markets is None or ticker in sub.markets:
                    if msg is None:
                        msg = encode(ev)
                    seq = 0
                    if numbered:
                        sub.seq += 1
                        seq = sub.seq
                    sub.conn.push(
                        F_DATA, sub.sid, seq, envelope(type_, msg, sid=sub.sid, seq=seq or None, sending_ts_ms=ts)
                    )

    def send_snapshot(self, sub: Subscription, ticker: str, id_: int | None, seq: int) -> None:
        """The book of ``ticker`` now, numbered ``seq`` on ``sub`` (the command protocol took the seq)."""
        m = self.model.markets[ticker]
        yes, no, clock = self.model.book_levels(ticker)
        frame = envelope(
            b"orderbook_snapshot",
            self.wire.snapshot_msg(m, yes, no, clock, sub.use_yes_price),
            id_=id_,
            sid=sub.sid,
            seq=seq,
            sending_ts_ms=None if self.like_production else self.sending_ts(),
        )
        sub.conn.push(F_DATA | F_OBSEQ, sub.sid, seq, frame)

    def send_ticker(self, sub: Subscription, ticker: str) -> None:
        ev = Ticker(self.model.markets[ticker], now_ms())
        sub.conn.push(
            F_DATA,
            sub.sid,
            0,
            envelope(b"ticker", self.wire.ticker_msg(ev), sid=sub.sid, sending_ts_ms=self.sending_ts()),
        )
