"""What the listener asks Kalshi's REST API, when, and how the answers become state: pure, no I/O.

The asyncio shell (``runtime/account.py``) makes the calls; this module decides and converts:

* **Tickers before subscribing** (:func:`check_tickers`): a ticker REST does not know is dropped ("unknown"), one
  whose market is not ``active`` is dropped with its status ("closed", "initialized", ...).
* **At start** (``--with-private``): positions of the followed markets; a followed market absent from the answer has
  position 0 (Kalshi lists every market the account ever traded).
* **After every fill-channel subscription** (each connection: the ``subscribed`` ack of the ``fill`` channel, so
  that a fill is either before the REST read and in its answer, or after the ack and on the stream) **and every
  ``BACKFILL_INTERVAL`` seconds**: the fills since the last one seen (``min_ts`` its second, or the run's start),
  and the positions again.

Everything REST tells that changes the state is one :class:`RestUpdate`: fills (as the WebSocket ``Fill`` messages
they would have been, oldest first, ``post_position`` unknown) and positions (as ``MarketPosition`` messages). The
shell journals it (``dir: "rest"``) and applies it with ``Core.apply_rest``, which deduplicates fills by trade id and
emits the same events as the stream (``FillSeen`` with ``backfill=True``; ``PositionChanged``); a replay applies the
same records at the same places, so it reproduces the live summary.

Positions read while the stream told something newer: :class:`AccountSync` counts the stream's fills and positions
per market; a REST position for a market whose count changed while the request was in flight is left out (the
stream's value is newer than the REST read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from market_making_bot.feed.audit import AuditResult
from market_making_bot.feed.events import EventBus, FillSeen, PositionChanged
from market_making_bot.kalshi import rest
from market_making_bot.kalshi.messages import Fill, MarketPosition

__all__ = [
    "BACKFILL_INTERVAL",
    "OPEN_STATUSES",
    "AccountSync",
    "RestUpdate",
    "TickerVerdict",
    "check_tickers",
    "decode_update",
    "encode_update",
    "fill_message",
    "position_message",
]

BACKFILL_INTERVAL = 60.0
"""Seconds between two fill backfills and position refreshes while connected (also after every reconnect)."""
OPEN_STATUSES = frozenset({"active", "open"})
"""``Market.status`` values a ticker may be followed in."""


class RestUpdate(msgspec.Struct, kw_only=True, gc=False):
    """State REST told the listener: ``fills`` oldest first, ``positions`` per market, ``audits`` (book audits,
    ``feed.audit``; absent from journals written before them, which still read); ``why`` for the log."""

    why: str
    fills: list[Fill] = []
    positions: list[MarketPosition] = []
    audits: list[AuditResult] = []


class _FillRecord(msgspec.Struct, kw_only=True, gc=False):
    """A ``Fill`` in a journal: the fields, types and order of the msgspec struct ``Fill`` was before it became lazy
    (issue 17; msgspec cannot encode or decode that class itself), so journals keep their bytes both ways."""

    sid: int | None = None
    seq: int | None = None
    id: int | None = None
    sending_ts_ms: int | None = None
    market_ticker: str
    yes_price: int
    count: int
    side: str | None = None
    action: str | None = None
    fee: int | None = None
    is_taker: bool | None = None
    post_position: int | None = None
    trade_id: str | None = None
    order_id: str | None = None
    client_order_id: str | None = None
    ts_ms: int | None = None


class _PositionRecord(msgspec.Struct, kw_only=True, gc=False):
    """A ``MarketPosition`` in a journal (see ``_FillRecord``)."""

    sid: int | None = None
    seq: int | None = None
    id: int | None = None
    sending_ts_ms: int | None = None
    market_ticker: str
    position: int
    position_cost: int | None = None
    realized_pnl: int | None = None
    fees_paid: int | None = None
    position_fee_cost: int | None = None
    volume: int | None = None


_RECORDS: dict[type, type[_FillRecord] | type[_PositionRecord]] = {Fill: _FillRecord, MarketPosition: _PositionRecord}


def _enc_hook(value: object) -> object:
    record = _RECORDS.get(value.__class__)
    if record is None:
        raise NotImplementedError(f"cannot journal a {type(value).__name__}")
    return record(**{name: getattr(value, name) for name in record.__struct_fields__})


def _dec_hook(kind: type, obj: object) -> object:
    record = _RECORDS.get(kind)
    if record is None:
        raise NotImplementedError(f"cannot read a {kind.__name__}")
    return kind(**msgspec.structs.asdict(msgspec.convert(obj, record)))


_encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode
_decode = msgspec.json.Decoder(RestUpdate, dec_hook=_dec_hook).decode


def encode_update(update: RestUpdate) -> str:
    """The journal's text of ``update`` (``dir: "rest"`` records)."""
    return _encode(update).decode()


def decode_update(text: str | bytes) -> RestUpdate:
    """``encode_update``'s inverse; ``msgspec.DecodeError`` on a damaged record."""
    return _decode(text)


def fill_message(fill: rest.Fill) -> Fill:
    """A REST fill as the WebSocket ``fill`` it stands for (``post_position`` unknown: REST does not say it)."""
    # int(): the REST models' values are int subclasses (TimeMs, Money, ...), which the journal's encoder refuses
    if fill.created_time is not None:
        ts_ms: int | None = int(fill.created_time)
    else:
        ts_ms = int(fill.ts) * 1000 if fill.ts is not None else None
    return Fill(
        market_ticker=fill.ticker,
        yes_price=int(fill.yes_price_dollars),
        count=int(fill.count_fp),
        # ``outcome_side`` names what was bought (an ask on the YES book buys NO): the pair is (outcome, "buy"),
        # never "sell NO" for an ask, which would read as a bid (portfolio.book_side_of).
        side="yes" if fill.book_side == "bid" else "no" if fill.book_side == "ask" else fill.outcome_side,
        action="buy",
        fee=int(fill.fee_cost),
        is_taker=fill.is_taker,
        trade_id=fill.trade_id or fill.fill_id,
        order_id=fill.order_id,
        ts_ms=ts_ms,
    )


def position_message(position: rest.MarketPosition) -> MarketPosition:
    """A REST market position as the WebSocket ``market_position`` it stands for."""
    return MarketPosition(
        market_ticker=position.ticker,
        position=int(position.position_fp),
        position_cost=int(position.market_exposure_dollars),
        realized_pnl=int(position.realized_pnl_dollars),
        fees_paid=int(position.fees_paid_dollars),
    )


@dataclass(frozen=True)
class TickerVerdict:
    """The tickers to subscribe to, and each dropped one with its reason."""

    keep: list[str]
    dropped: dict[str, str]


def check_tickers(wanted: Sequence[str], markets: Iterable[rest.Market]) -> TickerVerdict:
    """Keep the tickers whose market REST lists as open; the others are dropped with the reason."""
    found = {m.ticker: m for m in markets}
    keep: list[str] = []
    dropped: dict[str, str] = {}
    for ticker in wanted:
        market = found.get(ticker)
        if market is None:
            dropped[ticker] = "unknown market (GET /markets does not list it)"
        elif market.status not in OPEN_STATUSES:
            dropped[ticker] = f"market is {market.status}, not open"
        else:
            keep.append(ticker)
    return TickerVerdict(keep, dropped)


class AccountSync:
    """The backfill's bookkeeping: since when to ask for fills, and which REST positions are still news.

    Subscribes to the bus's ``FillSeen`` and ``PositionChanged``. ``start_ms``: the run's start (Unix ms), the
    lower bound of the first backfill. ``tickers``: the followed markets (empty: every market)."""

    def __init__(self, bus: EventBus, tickers: Iterable[str], start_ms: int) -> None:
        self.tickers = list(tickers)
        self.last_fill_ms = start_ms
        """The latest fill time seen (stream or backfill), or the run's start."""
        self._stream_changes: dict[str, int] = {}
        bus.subscribe(FillSeen, self._on_fill)
        bus.subscribe(PositionChanged, self._on_position)

    def _on_fill(self, event: FillSeen) -> None:
        ts = event.msg.ts_ms
        if ts is not None and ts > self.last_fill_ms:
            self.last_fill_ms = ts
        if not event.backfill:
            self._stream_changes[event.ticker] = self._stream_changes.get(event.ticker, 0) + 1

    def _on_position(self, event: PositionChanged) -> None:
        if event.msg.sid is not None:  # from the stream (a REST position carries no sid)
            self._stream_changes[event.ticker] = self._stream_changes.get(event.ticker, 0) + 1

    def fills_since_s(self) -> int:
        """``min_ts`` of the next fills request (Unix seconds, inclusive: the overlap is deduplicated)."""
        return self.last_fill_ms // 1000

    def mark(self) -> dict[str, int]:
        """Taken when a positions request is sent: pass it to :meth:`update`."""
        return dict(self._stream_changes)

    def update(
        self,
        why: str,
        fills: Iterable[rest.Fill],
        positions: Iterable[rest.MarketPosition] | None,
        mark: dict[str, int] | None = None,
    ) -> RestUpdate:
        """The :class:`RestUpdate` for what REST answered: the followed markets' fills, oldest first (ties by trade
        id), and, if ``positions`` were read, every followed market's position (0 if absent), except markets the
        stream changed since ``mark``."""
        follow = set(self.tickers)
        chosen = [fill_message(f) for f in fills if not follow or f.ticker in follow]
        chosen.sort(key=lambda f: (f.ts_ms or 0, f.trade_id or ""))
        out: list[MarketPosition] = []
        if positions is not None:
            by_ticker = {p.ticker: position_message(p) for p in positions if not follow or p.ticker in follow}
            for ticker in self.tickers:
                by_ticker.setdefault(ticker, MarketPosition(market_ticker=ticker, position=0))
            before = mark or {}
            for ticker in sorted(by_ticker):
                if self._stream_changes.get(ticker, 0) == before.get(ticker, 0):
                    out.append(by_ticker[ticker])
        return RestUpdate(why=why, fills=chosen, positions=out)
