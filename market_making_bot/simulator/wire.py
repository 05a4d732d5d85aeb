"""Frame encoding in both wire formats.

* **fixed-point** (default, today's Kalshi): prices as 4-decimal dollar strings (``price_dollars``,
  ``yes_dollars_fp``...), counts as 2-decimal strings (``delta_fp``, ``count_fp``...), money as
  6-decimal strings, ``clock`` on order-book messages, ``ts_ms`` and ``sending_ts_ms``, as in the
  newest AsyncAPI spec (Oct 2026).
* **like production** (``--like-production``, fixed point only): what real recordings show
  (PROTOCOL.md 10b items 3 and 4): order-book messages carry no ``clock`` (and the server leaves
  ``sending_ts_ms`` off their envelopes), and the ``ts`` of a delta has 1 to 6 fractional digits,
  trailing zeros trimmed. The digits are drawn from the run's seed, weighted towards 6 as in the
  recordings (6: 10/16, 5: 2/16, 4, 3, 2, 1: 1/16 each); the time is cut, never rounded up, to that
  many digits and ``ts_ms`` is that time cut to the millisecond, so the two always agree (a 1-digit
  ``ts`` is up to 99 ms earlier than the event).
* **legacy cents** (``--legacy-cents``): the integer-cent shapes of the seed README and of Kalshi's
  pre-2026-03 payloads: ``yes``/``no`` ``[[cents, count]]``, ``price``/``delta``, ticker ``price``,
  ``yes_bid``, ``yes_ask``, ``volume``..., trade ``yes_price``/``no_price``/``count``, fill
  ``yes_price``/``count``/``post_position``, market_position money in centi-cents.

A message body (``msg``) is encoded once per event and wire variant and cached on the event; the
envelope (``type``, ``sid``, ``seq``, ``id``) is spliced around it per subscription.
"""

from __future__ import annotations

import random
from enum import IntEnum
from typing import Any

import msgspec

from market_making_bot.simulator.book import Market
from market_making_bot.simulator.events import BookDelta, Fill, GroupUpdate, OrderUpdate, Position, Ticker, Trade
from market_making_bot.simulator.units import (
    ONE,
    centi_cents,
    cents,
    fmt_money,
    fmt_price,
    fmt_size,
    rfc3339_ms,
    rfc3339_us,
    whole,
)

_TS_DIGITS = (1, 2, 3, 4, 5, 6)
_TS_WEIGHTS = (1, 1, 1, 1, 2, 10)

_encode = msgspec.json.Encoder().encode


class ErrorCode(IntEnum):
    """The error codes a Kalshi WebSocket server answers with (``msg.code`` of an ``error`` frame)."""

    UNPROCESSABLE = 1
    PARAMS_REQUIRED = 2
    CHANNELS_REQUIRED = 3
    SIDS_REQUIRED = 4
    UNKNOWN_COMMAND = 5
    UNKNOWN_SID = 7
    UNKNOWN_CHANNEL = 8
    AUTH_REQUIRED = 9
    CHANNEL_ERROR = 10
    INVALID_PARAMETER = 11
    ONE_SID_REQUIRED = 12
    UNSUPPORTED_ACTION = 13
    TICKER_REQUIRED = 14
    ACTION_REQUIRED = 15
    COMMAND_TIMEOUT = 18
    SHARD_FACTOR_NOT_POSITIVE = 19
    SHARD_FACTOR_REQUIRED = 20
    SHARD_KEY_OUT_OF_RANGE = 21
    SHARD_FACTOR_TOO_LARGE = 22
    INDEX_IDS_REQUIRED = 24
    BUFFER_OVERFLOW = 25
    MARKET_LIMIT = 26
    TOO_MANY_REQUESTS = 27
    UNDERLYINGS_REQUIRED = 28


ERROR_TEXT: dict[int, str] = {
    ErrorCode.UNPROCESSABLE: "Unable to process message",
    ErrorCode.PARAMS_REQUIRED: "Params required",
    ErrorCode.CHANNELS_REQUIRED: "Channels required",
    ErrorCode.SIDS_REQUIRED: "Subscription IDs required",
    ErrorCode.UNKNOWN_COMMAND: "Unknown command",
    ErrorCode.UNKNOWN_SID: "Unknown subscription ID",
    ErrorCode.UNKNOWN_CHANNEL: "Unknown channel name",
    ErrorCode.AUTH_REQUIRED: "Authentication required",
    ErrorCode.CHANNEL_ERROR: "Channel error",
    ErrorCode.INVALID_PARAMETER: "Invalid parameter",
    ErrorCode.ONE_SID_REQUIRED: "Exactly one subscription ID is required",
    ErrorCode.UNSUPPORTED_ACTION: "Unsupported action",
    ErrorCode.TICKER_REQUIRED: "Market Ticker required",
    ErrorCode.ACTION_REQUIRED: "Action required",
    ErrorCode.COMMAND_TIMEOUT: "Command timeout",
    ErrorCode.SHARD_FACTOR_NOT_POSITIVE: "shard_factor must be > 0",
    ErrorCode.SHARD_FACTOR_REQUIRED: "shard_factor is required when shard_key is set",
    ErrorCode.SHARD_KEY_OUT_OF_RANGE: "shard_key must be >= 0 and < shard_factor",
    ErrorCode.SHARD_FACTOR_TOO_LARGE: "shard_factor must be <= 100",
    ErrorCode.INDEX_IDS_REQUIRED: "Index IDs required",
    ErrorCode.BUFFER_OVERFLOW: "Subscription buffer overflow",
    ErrorCode.MARKET_LIMIT: "Subscription market limit exceeded",
    ErrorCode.TOO_MANY_REQUESTS: "Too many requests",
    ErrorCode.UNDERLYINGS_REQUIRED: "Underlying tickers required",
}


def encode(obj: Any) -> bytes:
    return _encode(obj)


def envelope(
    type_: bytes,
    msg: bytes | None,
    *,
    sid: int | None = None,
    seq: int | None = None,
    id_: int | None = None,
    sending_ts_ms: int | None = None,
) -> bytes:
    """``{"type":..,"id":..,"sid":..,"seq":..,"msg":..,"sending_ts_ms":..}`` with absent keys left out."""
    parts = [b'{"type":"', type_, b'"']
    if id_ is not None:
        parts.append(b',"id":%d' % id_)
    if sid is not None:
        parts.append(b',"sid":%d' % sid)
    if seq is not None:
        parts.append(b',"seq":%d' % seq)
    if msg is not None:
        parts.append(b',"msg":')
        parts.append(msg)
    if sending_ts_ms is not None:
        parts.append(b',"sending_ts_ms":%d' % sending_ts_ms)
    parts.append(b"}")
    return b"".join(parts)


def error_frame(
    code: int,
    *,
    id_: int | None = None,
    sid: int | None = None,
    seq: int | None = None,
    sending_ts_ms: int | None = None,
    market_tickers: list[str] | None = None,
    text: str | None = None,
) -> bytes:
    body: dict[str, Any] = {"code": int(code), "msg": text or ERROR_TEXT.get(code, "Error")}
    if market_tickers:
        body["market_tickers"] = market_tickers
    return envelope(b"error", encode(body), id_=id_, sid=sid, seq=seq, sending_ts_ms=sending_ts_ms)


class Wire:
    """Encodes message bodies for one wire format."""

    def __init__(
        self,
        *,
        legacy_cents: bool = False,
        empty_sides: str = "omit",
        like_production: bool = False,
        seed: int = 1,
    ) -> None:
        if empty_sides not in ("omit", "empty"):
            raise ValueError("empty_sides must be 'omit' or 'empty'")
        if like_production and legacy_cents:
            raise ValueError("like_production describes the fixed-point shapes, not legacy cents")
        self.legacy = legacy_cents
        self.empty_sides = empty_sides
        self.like_production = like_production
        self._rng = random.Random(f"ts-{seed}")  # its own stream: the order flow stays the same

    def production_ts(self, ts_ms: int) -> tuple[str, int]:
        """``(ts, ts_ms)`` of an event at ``ts_ms`` as production writes them (see the module doc)."""
        rng = self._rng
        digits = rng.choices(_TS_DIGITS, _TS_WEIGHTS)[0]
        us = ts_ms * 1000 + rng.randrange(1000)
        unit = 10 ** (6 - digits)
        cut = us - us % unit
        if cut % 1_000_000 == 0:  # a whole second would be written without any fraction
            cut = us if us % 1_000_000 else us + 1
        return rfc3339_us(cut), cut // 1000

    # ---- order book ------------------------------------------------------------------------------

    def snapshot_msg(
        self,
        m: Market,
        yes: list[tuple[int, int]],
        no: list[tuple[int, int]],
        clock: int,
        use_yes_price: bool,
    ) -> bytes:
        if use_yes_price:
            no = sorted((ONE - p, s) for p, s in no)
        body: dict[str, Any] = {"market_ticker": m.ticker, "market_id": m.market_id}
        if self.legacy:
            if yes or self.empty_sides == "empty":
                body["yes"] = [[cents(p), whole(s)] for p, s in yes]
            if no or self.empty_sides == "empty":
                body["no"] = [[cents(p), whole(s)] for p, s in no]
            return encode(body)
        if not self.like_production:
            body["clock"] = clock
        if yes or self.empty_sides == "empty":
            body["yes_dollars_fp"] = [[fmt_price(p), fmt_size(s)] for p, s in yes]
        if no or self.empty_sides == "empty":
            body["no_dollars_fp"] = [[fmt_price(p), fmt_size(s)] for p, s in no]
        return encode(body)

    def delta_msg(self, ev: BookDelta, use_yes_price: bool) -> bytes:
        key = use_yes_price and ev.side == "no"
        cached = ev.cache.get(key)
        if cached is not None:
            return cached
        price = ONE - ev.price if key else ev.price
        m = ev.market
        body: dict[str, Any]
        if self.legacy:
            body = {
                "market_ticker": m.ticker,
                "market_id": m.market_id,
                "price": cents(price),
                "delta": whole(ev.delta),
                "side": ev.side,
            }
        else:
            body = {"market_ticker": m.ticker, "market_id": m.market_id}
            if not self.like_production:
                body["clock"] = ev.clock
            body["price_dollars"] = fmt_price(price)
            body["delta_fp"] = fmt_size(ev.delta)
            body["side"] = ev.side
            if ev.client_order_id is not None:
                body["client_order_id"] = ev.client_order_id
            if self.like_production:
                if ev.wire_ts is None:  # once per event: every subscription sees the same ts
                    ev.wire_ts = self.production_ts(ev.ts_ms)
                body["ts"], body["ts_ms"] = ev.wire_ts
            else:
                body["ts"] = rfc3339_ms(ev.ts_ms)
                body["ts_ms"] = ev.ts_ms
        out = ev.cache[key] = encode(body)
        return out

    # ---- public data -----------------------------------------------------------------------------

    def ticker_msg(self, ev: Ticker) -> bytes:
        cached = ev.cache.get(0)
        if cached is not None:
            return cached
        m = ev.market
        body: dict[str, Any]
        if self.legacy:
            body = {
                "market_id": m.market_id,
                "market_ticker": m.ticker,
                "price": cents(ev.last_price),
                "yes_bid": cents(ev.yes_bid),
                "yes_ask": cents(ev.yes_ask),
                "volume": whole(ev.volume),
                "open_interest": whole(ev.open_interest),
                "dollar_volume": ev.dollar_volume,
                "dollar_open_interest": ev.dollar_open_interest,
                "ts": ev.ts_ms // 1000,
            }
        else:
            body = {
                "market_id": m.market_id,
                "market_ticker": m.ticker,
                "price_dollars": fmt_price(ev.last_price),
                "yes_bid_dollars": fmt_price(ev.yes_bid),
                "yes_ask_dollars": fmt_price(ev.yes_ask),
                "volume_fp": fmt_size(ev.volume),
                "open_interest_fp": fmt_size(ev.open_interest),
                "dollar_volume": ev.dollar_volume,
                "dollar_open_interest": ev.dollar_open_interest,
                "yes_bid_size_fp": fmt_size(ev.yes_bid_size),
                "yes_ask_size_fp": fmt_size(ev.yes_ask_size),
                "last_trade_size_fp": fmt_size(ev.last_trade_size),
                "ts": ev.ts_ms // 1000,
                "ts_ms": ev.ts_ms,
                "time": rfc3339_ms(ev.ts_ms),
            }
        out = ev.cache[0] = encode(body)
        return out

    def trade_msg(self, ev: Trade) -> bytes:
        cached = ev.cache.get(0)
        if cached is not None:
            return cached
        m = ev.market
        body: dict[str, Any]
        if self.legacy:
            body = {
                "trade_id": ev.trade_id,
                "market_ticker": m.ticker,
                "yes_price": cents(ev.yes_price),
                "no_price": cents(ONE - ev.yes_price),
                "count": whole(ev.count),
                "taker_side": ev.taker_side,
                "ts": ev.ts_ms // 1000,
            }
        else:
            body = {
                "trade_id": ev.trade_id,
                "market_ticker": m.ticker,
                "yes_price_dollars": fmt_price(ev.yes_price),
                "no_price_dollars": fmt_price(ONE - ev.yes_price),
                "count_fp": fmt_size(ev.count),
                "taker_side": ev.taker_side,
                "taker_outcome_side": ev.taker_side,
                "taker_book_side": "bid" if ev.taker_side == "yes" else "ask",
                "is_block_trade": False,
                "ts": ev.ts_ms // 1000,
                "ts_ms": ev.ts_ms,
            }
        out = ev.cache[0] = encode(body)
        return out

    # ---- private data ----------------------------------------------------------------------------

    def fill_msg(self, ev: Fill) -> bytes:
        cached = ev.cache.get(0)
        if cached is not None:
            return cached
        m = ev.market
        body: dict[str, Any]
        if self.legacy:
            body = {
                "trade_id": ev.trade_id,
                "order_id": ev.order_id,
                "market_ticker": m.ticker,
                "is_taker": ev.is_taker,
                "side": ev.side,
                "yes_price": cents(ev.yes_price),
                "count": whole(ev.count),
                "action": "buy",
                "ts": ev.ts_ms // 1000,
                "post_position": whole(ev.post_position),
                "purchased_side": ev.side,
            }
            if ev.client_order_id is not None:
                body["client_order_id"] = ev.client_order_id
        else:
            body = {"trade_id": ev.trade_id, "order_id": ev.order_id}
            if ev.client_order_id is not None:
                body["client_order_id"] = ev.client_order_id
            body.update(
                {
                    "market_ticker": m.ticker,
                    "exchange_index": 0,
                    "is_taker": ev.is_taker,
                    "side": ev.side,
                    "yes_price_dollars": fmt_price(ev.yes_price),
                    "count_fp": fmt_size(ev.count),
                    "fee_cost": fmt_money(ev.fee),
                    "action": "buy",
                    "ts": ev.ts_ms // 1000,
                    "ts_ms": ev.ts_ms,
                    "post_position_fp": fmt_size(ev.post_position),
                    "purchased_side": ev.side,
                    "outcome_side": ev.side,
                    "book_side": "bid" if ev.side == "yes" else "ask",
                }
            )
        out = ev.cache[0] = encode(body)
        return out

    def position_msg(self, ev: Position, user_id: str) -> bytes:
        cached = ev.cache.get(0)
        if cached is not None:
            return cached
        m = ev.market
        body: dict[str, Any]
        if self.legacy:
            body = {
                "user_id": user_id,
                "market_ticker": m.ticker,
                "position": whole(ev.position),
                "position_cost": centi_cents(ev.cost),
                "realized_pnl": centi_cents(ev.realized_pnl),
                "fees_paid": centi_cents(ev.fees_paid),
                "position_fee_cost": centi_cents(ev.position_fee_cost),
                "volume": whole(ev.volume),
            }
        else:
            body = {
                "user_id": user_id,
                "market_ticker": m.ticker,
                "position_fp": fmt_size(ev.position),
                "position_cost_dollars": fmt_money(ev.cost),
                "realized_pnl_dollars": fmt_money(ev.realized_pnl),
                "fees_paid_dollars": fmt_money(ev.fees_paid),
                "position_fee_cost_dollars": fmt_money(ev.position_fee_cost),
                "volume_fp": fmt_size(ev.volume),
            }
        out = ev.cache[0] = encode(body)
        return out

    def order_msg(self, ev: OrderUpdate | GroupUpdate) -> bytes:
        """``user_order`` and ``order_group_updates`` bodies: built in wire spelling by :mod:`.matching`."""
        cached = ev.cache.get(0)
        if cached is not None:
            return cached
        out = ev.cache[0] = encode(ev.body)
        return out
