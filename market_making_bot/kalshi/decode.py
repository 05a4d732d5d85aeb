"""Frame -> typed message. One entry point, ``decode_frame``, and one error type, ``DecodeError``.

The JSON is decoded by msgspec straight into private wire structs (a tagged union on ``type``), which validates JSON
types on the way; a converter per type then turns wire values into integer units and builds the public message.

Both wire formats are read: today's fixed-point strings (``price_dollars``, ``delta_fp``, ``yes_dollars_fp``, ...)
and the legacy integer cents and counts (``price``, ``delta``, ``yes``, ...). When both are present the fixed-point
field wins. The unit is decided by the field name only: an integer is never read as dollars and a dollar string is
never read as cents (msgspec rejects the wrong JSON type for each field).

Required are only the fields the listener uses (e.g. a delta's market, side, price and change); real frames lack
fields that the newest spec marks required (``clock``, ``exchange_index``), so everything else is optional.
Production order-book frames carry neither ``clock`` nor ``sending_ts_ms`` (PROTOCOL.md 10b.3), an empty snapshot
side is omitted (10b.5: the same as ``[]``), and a delta's deprecated RFC 3339 ``ts`` has 0 to 6 fractional digits
(10b.4; up to 9 are read): a delta without ``ts_ms`` takes its time from ``ts``; trade, fill and ticker ``ts`` is
integer seconds or, if a string, RFC 3339.

**Never anything but DecodeError.** ``decode_frame`` raises ``DecodeError`` and nothing else for any input: invalid
UTF-8, a ``str`` holding lone surrogates (msgspec raised UnicodeEncodeError), nesting deeper than msgspec's limit
(RecursionError), numbers beyond a float (1e400), a non-text input (TypeError). A frame is rejected as a whole: a
message is only built once every field has passed, so nothing is half-applied.

**Ranges** (a value outside is a decode error; the limits live in ``market_making_bot.units`` and here):

* ``sid``, ``seq``, ``id``, ``clock``: 0 .. 2^63 - 1 (``INT64_MAX``); an error ``code``: a signed 64-bit integer.
* timestamps (``sending_ts_ms``, ``ts_ms``, ``ts`` seconds, RFC 3339 ``ts``): 2000-01-01 .. 2100-01-01 UTC
  (``TS_MS_MIN`` .. ``TS_MS_MAX``). A 400-digit ``sending_ts_ms`` or a ``ts_ms`` in the year 30000 never reaches the
  latency statistics.
* prices of book levels (snapshot levels, a delta's price), trades and fills: strictly between $0 and $1
  (``0.0001`` .. ``0.9999``; legacy cents 1 .. 99). A bid at $0 buys nothing and one at $1 can win nothing, and no
  contract trades at either; a level at 0 or 1 would make a book quietly wrong.
* prices of tickers (last price, best bid and ask): $0 .. $1 inclusive. Real tickers send ``"0.0000"`` for "no bid"
  and "never traded" and ``"1.0000"`` for "no ask" (captures/prod-2026-02-ticker.jsonl; the AsyncAPI gives no bound).
* sizes: at most 10^12 contracts (``MAX_CONTRACTS``) either way. A snapshot level's size must be positive; a delta's
  change is signed (0 is a no-op); trade and fill counts, ticker sizes, volume and open interest are not negative;
  positions and ticker_v2 changes are signed.
* money (fees, costs, P&L) and whole-dollar ticker fields: at most 10^12 dollars (``MAX_DOLLARS``) either way.
* ``user_order`` (PROTOCOL.md 4.7): ``status`` one of ``resting|canceled|executed|unknown``, ``book_side``
  ``bid|ask`` (else from ``outcome_side`` or the deprecated ``is_yes``), a price strictly inside $0..$1, counts not
  negative, times in the range above, ``subaccount_number`` 0..63; ``order_group_updates``: ``event_type`` one of
  ``created|triggered|reset|deleted|limit_updated``, a limit not negative.
* decimal strings: at most 40 characters (``MAX_DECIMAL_TEXT``); messages quote at most 40 characters of a value.

The integer ranges are ``msgspec.Meta`` constraints, checked in C while decoding; the string ranges are checked by
the unit parsers, whose caches only hold values that passed, so a cache hit on the hot path needs no check at all.
Unmodelled frames (``UnknownMessage``) have their envelope integers range-checked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import msgspec

from market_making_bot.kalshi.messages import (
    KNOWN_TYPES,
    ErrorMsg,
    Fill,
    MarketPosition,
    Message,
    Ok,
    OrderbookDelta,
    OrderbookSnapshot,
    OrderGroupUpdate,
    Side,
    Subscribed,
    Ticker,
    TickerV2,
    Trade,
    UnknownMessage,
    Unsubscribed,
    UserOrder,
)
from market_making_bot.units import (
    MAX_DOLLARS,
    PRICE_SCALE,
    TS_MS_MAX,
    TS_MS_MIN,
    cached_book_price,
    cached_price,
    cached_size,
    centicents_to_money,
    cents_to_book_price,
    cents_to_price,
    count_to_size,
    parse_book_price,
    parse_money_dollars,
    parse_price_dollars,
    parse_size_fp,
    parse_total_fp,
    rfc3339_to_ms,
    show,
)

__all__ = ["DecodeError", "decode_frame"]


class DecodeError(ValueError):
    """A frame that is not JSON, not an object, misses a required field or holds an ill-typed, off-grid or
    out-of-range value."""


# --------------------------------------------------------------------------------------------------------------
# Ranges of the integer fields, checked by msgspec while it decodes (in C: a comparison per field). A value outside
# fails validation like a wrong JSON type does. See the module docstring.

INT64_MAX = 2**63 - 1
TS_S_MIN = TS_MS_MIN // 1000
TS_S_MAX = TS_MS_MAX // 1000
_Counter = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
"""sid, seq, id, clock: not negative, at most 2^63 - 1."""
_Int64 = Annotated[int, msgspec.Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
_Dollars = Annotated[int, msgspec.Meta(ge=-MAX_DOLLARS, le=MAX_DOLLARS)]
_TsMs = Annotated[int, msgspec.Meta(ge=TS_MS_MIN, le=TS_MS_MAX)]
_TsS = Annotated[int, msgspec.Meta(ge=TS_S_MIN, le=TS_S_MAX)]


# --------------------------------------------------------------------------------------------------------------
# Wire shapes (private). Unknown keys are ignored; ``None`` means absent (or JSON null).


class _Wire(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    sid: _Counter | None = None
    seq: _Counter | None = None
    id: _Counter | None = None
    sending_ts_ms: _TsMs | None = None


class _SubscribedBody(msgspec.Struct, gc=False):
    channel: str
    sid: _Counter


class _WireSubscribed(_Wire, tag="subscribed", kw_only=True, gc=False):
    msg: _SubscribedBody


class _WireUnsubscribed(_Wire, tag="unsubscribed", kw_only=True, gc=False):
    pass


class _OkBody(msgspec.Struct, gc=False):
    market_tickers: list[str] | None = None


class _WireOk(_Wire, tag="ok", kw_only=True, gc=False):
    # The market list sits in ``msg`` (current spec) or at the top level (Feb-2026 spec); list_subscriptions
    # replies with an array in ``msg`` (current) or in ``subscriptions`` (Feb-2026).
    msg: _OkBody | list[dict[str, Any]] | None = None
    market_tickers: list[str] | None = None
    subscriptions: list[dict[str, Any]] | None = None


class _ErrorBody(msgspec.Struct, gc=False):
    code: _Int64
    msg: str = ""
    market_ticker: str | None = None
    market_tickers: list[str] | None = None


class _WireError(_Wire, tag="error", kw_only=True, gc=False):
    msg: _ErrorBody


class _SnapshotBody(msgspec.Struct, gc=False):
    market_ticker: str
    market_id: str | None = None
    clock: _Counter | None = None
    yes_dollars_fp: list[tuple[str, str]] | None = None
    no_dollars_fp: list[tuple[str, str]] | None = None
    # Short-lived intermediate format (Jan-Mar 2026): dollar-string price, integer contract count.
    yes_dollars: list[tuple[str, int]] | None = None
    no_dollars: list[tuple[str, int]] | None = None
    # Legacy: integer cents, integer contract count.
    yes: list[tuple[int, int]] | None = None
    no: list[tuple[int, int]] | None = None


class _WireSnapshot(_Wire, tag="orderbook_snapshot", kw_only=True, gc=False):
    msg: _SnapshotBody


class _DeltaBody(msgspec.Struct, gc=False):
    market_ticker: str
    side: Literal["yes", "no"]
    price_dollars: str | None = None
    delta_fp: str | None = None
    price: int | None = None
    delta: int | None = None
    # The deprecated RFC 3339 ``ts`` is not decoded here (a string per delta): only a delta without ``ts_ms`` reads
    # it, with ``_delta_ts``.
    ts_ms: _TsMs | None = None
    clock: _Counter | None = None
    client_order_id: str | None = None


class _WireDelta(_Wire, tag="orderbook_delta", kw_only=True, gc=False):
    msg: _DeltaBody


class _TickerBody(msgspec.Struct, gc=False):
    market_ticker: str
    price_dollars: str | None = None
    price: int | None = None
    yes_bid_dollars: str | None = None
    yes_bid: int | None = None
    yes_ask_dollars: str | None = None
    yes_ask: int | None = None
    volume_fp: str | None = None
    volume: int | None = None
    open_interest_fp: str | None = None
    open_interest: int | None = None
    dollar_volume: _Dollars | None = None
    dollar_open_interest: _Dollars | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    last_trade_size_fp: str | None = None
    ts_ms: _TsMs | None = None
    ts: _TsS | str | None = None


class _WireTicker(_Wire, tag="ticker", kw_only=True, gc=False):
    msg: _TickerBody


class _TickerV2Body(msgspec.Struct, gc=False):
    market_ticker: str
    price_dollars: str | None = None
    price: int | None = None
    yes_bid_dollars: str | None = None
    yes_bid: int | None = None
    yes_ask_dollars: str | None = None
    yes_ask: int | None = None
    volume_delta_fp: str | None = None
    volume_delta: int | None = None
    open_interest_delta_fp: str | None = None
    open_interest_delta: int | None = None
    dollar_volume_delta: _Dollars | None = None
    dollar_open_interest_delta: _Dollars | None = None
    ts_ms: _TsMs | None = None
    ts: _TsS | str | None = None


class _WireTickerV2(_Wire, tag="ticker_v2", kw_only=True, gc=False):
    msg: _TickerV2Body


class _TradeBody(msgspec.Struct, gc=False):
    market_ticker: str
    trade_id: str | None = None
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price: int | None = None
    no_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    taker_outcome_side: str | None = None
    taker_side: str | None = None
    taker_book_side: str | None = None
    ts_ms: _TsMs | None = None
    ts: _TsS | str | None = None


class _WireTrade(_Wire, tag="trade", kw_only=True, gc=False):
    msg: _TradeBody


class _FillBody(msgspec.Struct, gc=False):
    market_ticker: str
    trade_id: str | None = None
    order_id: str | None = None
    client_order_id: str | None = None
    outcome_side: str | None = None
    purchased_side: str | None = None
    side: str | None = None
    action: str | None = None
    yes_price_dollars: str | None = None
    # The seed README's example fill: ``price_dollars`` and ``fee_dollars`` as JSON numbers.
    price_dollars: str | float | None = None
    yes_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    fee_cost: str | None = None
    fee_dollars: str | float | None = None
    is_taker: bool | None = None
    post_position_fp: str | None = None
    post_position: int | None = None
    ts_ms: _TsMs | None = None
    ts: _TsS | str | None = None


class _WireFill(_Wire, tag="fill", kw_only=True, gc=False):
    msg: _FillBody


class _PositionBody(msgspec.Struct, gc=False):
    market_ticker: str
    position_fp: str | None = None
    position: int | None = None
    position_cost_dollars: str | None = None
    position_cost: int | None = None
    realized_pnl_dollars: str | None = None
    realized_pnl: int | None = None
    fees_paid_dollars: str | None = None
    fees_paid: int | None = None
    position_fee_cost_dollars: str | None = None
    position_fee_cost: int | None = None
    volume_fp: str | None = None
    volume: int | None = None


class _WirePosition(_Wire, tag="market_position", kw_only=True, gc=False):
    msg: _PositionBody


class _UserOrderBody(msgspec.Struct, gc=False):
    order_id: str
    ticker: str
    status: Literal["resting", "canceled", "executed", "unknown"]
    yes_price_dollars: str
    fill_count_fp: str
    remaining_count_fp: str
    initial_count_fp: str
    book_side: Literal["bid", "ask"] | None = None
    outcome_side: Literal["yes", "no"] | None = None
    is_yes: bool | None = None
    client_order_id: str | None = None
    taker_fill_cost_dollars: str | None = None
    maker_fill_cost_dollars: str | None = None
    taker_fees_dollars: str | None = None
    maker_fees_dollars: str | None = None
    order_group_id: str | None = None
    last_updated_ts_ms: _TsMs | None = None
    last_update_reason: str | None = None
    created_ts_ms: _TsMs | None = None
    expiration_ts_ms: _TsMs | None = None
    exchange_index: Annotated[int, msgspec.Meta(ge=-1, le=INT64_MAX)] | None = None
    subaccount_number: Annotated[int, msgspec.Meta(ge=0, le=63)] | None = None


class _WireUserOrder(_Wire, tag="user_order", kw_only=True, gc=False):
    msg: _UserOrderBody


class _OrderGroupBody(msgspec.Struct, gc=False):
    event_type: Literal["created", "triggered", "reset", "deleted", "limit_updated"]
    order_group_id: str
    contracts_limit_fp: str | None = None
    ts_ms: _TsMs | None = None


class _WireOrderGroup(_Wire, tag="order_group_updates", kw_only=True, gc=False):
    msg: _OrderGroupBody


_WireFrame = Union[  # noqa: UP007 - msgspec needs a runtime Union object here
    _WireDelta,
    _WireSnapshot,
    _WireTicker,
    _WireTrade,
    _WireOk,
    _WireSubscribed,
    _WireUnsubscribed,
    _WireError,
    _WireFill,
    _WirePosition,
    _WireTickerV2,
    _WireUserOrder,
    _WireOrderGroup,
]

_frame_decoder = msgspec.json.Decoder(_WireFrame)
_any_decoder = msgspec.json.Decoder()


class _TsBody(msgspec.Struct, gc=False):
    ts: str | None = None


class _TsFrame(msgspec.Struct, gc=False):
    msg: _TsBody


_ts_decoder = msgspec.json.Decoder(_TsFrame)

_DECODER_ERRORS = (msgspec.DecodeError, UnicodeError, RecursionError, TypeError, OverflowError)
"""What msgspec's decode itself may raise besides ValidationError: malformed JSON (``msgspec.DecodeError``);
UnicodeEncodeError for a ``str`` frame holding a lone surrogate (msgspec encodes it to UTF-8 first: this is what
escaped ``Core.feed`` for about 1% of fuzzed frames); RecursionError for nesting deeper than its limit (also inside
fields that are otherwise skipped); TypeError for an input that is neither text nor bytes."""


def _undecodable(exc: BaseException, data: object) -> DecodeError:
    """The DecodeError for one of ``_DECODER_ERRORS`` (or a ValidationError of the untyped decode)."""
    if isinstance(exc, UnicodeError):
        return DecodeError(f"not UTF-8 text: {getattr(exc, 'reason', exc)}")
    if isinstance(exc, RecursionError):
        return DecodeError("not JSON: nested too deeply")
    if isinstance(exc, TypeError):
        return DecodeError(f"not a text or bytes frame: {type(data).__name__}")
    return DecodeError(f"not JSON: {str(exc)[:200]}")


# --------------------------------------------------------------------------------------------------------------
# Field helpers: fixed-point field first, legacy integer field second.


def _price(new: str | None, legacy: int | None) -> int | None:
    # An empty string was seen on never-traded markets (price_dollars "" with price 0): treat it as absent.
    if new:
        hit = cached_price(new)
        return parse_price_dollars(new) if hit is None else hit
    if legacy is not None:
        return cents_to_price(legacy)
    return None


def _book_price(new: str | None, legacy: int | None) -> int | None:
    """A price a contract rests or trades at: strictly between $0 and $1 (``parse_book_price``)."""
    if new:
        hit = cached_book_price(new)
        return parse_book_price(new) if hit is None else hit
    if legacy is not None:
        return cents_to_book_price(legacy)
    return None


def _size(new: str | None, legacy: int | None) -> int | None:
    if new is not None:
        hit = cached_size(new)
        return parse_size_fp(new) if hit is None else hit
    if legacy is not None:
        return count_to_size(legacy)
    return None


def _total(new: str | None, legacy: int | None) -> int | None:
    """A running total (volume, open interest): sizes with a parse cache of their own."""
    if new is not None:
        return parse_total_fp(new)
    if legacy is not None:
        return count_to_size(legacy)
    return None


def _money(new: str | None, legacy_centicents: int | None) -> int | None:
    if new is not None:
        return parse_money_dollars(new)
    if legacy_centicents is not None:
        return centicents_to_money(legacy_centicents)
    return None


def _ts_ms(ts_ms: int | None, ts: int | str | None) -> int | None:
    """``ts_ms``, else the deprecated ``ts``: integer seconds (range-checked by msgspec) or an RFC 3339 string."""
    if ts_ms is not None:
        return ts_ms
    if ts is None:
        return None
    if ts.__class__ is int:
        return ts * 1000
    return rfc3339_to_ms(ts)  # type: ignore[arg-type]


def _delta_ts(data: str | bytes) -> int | None:
    """The RFC 3339 ``ts`` of a delta that has no ``ts_ms`` (frames before 2026-04-15), in Unix ms, or None. The
    frame is decoded a second time for this one field, so that the deltas that carry ``ts_ms`` (all current ones)
    never build the string."""
    ts = _ts_decoder.decode(data).msg.ts
    return None if ts is None else rfc3339_to_ms(ts)


def _not_negative(value: int | None, what: str) -> None:
    if value is not None and value < 0:
        raise ValueError(f"negative {what}")


def _required(value: int | None, what: str) -> int:
    if value is None:
        raise ValueError(f"missing {what}")
    return value


_YES_NO = {"yes": "yes", "no": "no"}
_BOOK_SIDE = {"bid": "yes", "ask": "no"}


def _levels(
    fp: list[tuple[str, str]] | None,
    mixed: list[tuple[str, int]] | None,
    legacy: list[tuple[int, int]] | None,
) -> list[tuple[int, int]]:
    if fp is not None:
        levels = [(parse_book_price(p), parse_size_fp(s)) for p, s in fp]
    elif mixed is not None:
        levels = [(parse_book_price(p), count_to_size(c)) for p, c in mixed]
    elif legacy is not None:
        levels = [(cents_to_book_price(p), count_to_size(c)) for p, c in legacy]
    else:
        return []
    for price, size in levels:
        if size <= 0:
            raise ValueError(f"size {size / 100:.2f} at level {price / 10_000:.4f} is not positive")
    return levels


# --------------------------------------------------------------------------------------------------------------
# Converters, one per wire type.


def _subscribed(w: _WireSubscribed) -> Subscribed:
    return Subscribed(sid=w.msg.sid, seq=w.seq, id=w.id, sending_ts_ms=w.sending_ts_ms, channel=w.msg.channel)


def _unsubscribed(w: _WireUnsubscribed) -> Unsubscribed:
    if w.sid is None:
        raise ValueError("missing sid")
    return Unsubscribed(sid=w.sid, seq=w.seq, id=w.id, sending_ts_ms=w.sending_ts_ms)


def _ok(w: _WireOk) -> Ok:
    tickers = w.market_tickers
    subscriptions = w.subscriptions
    if isinstance(w.msg, _OkBody):
        if w.msg.market_tickers is not None:
            tickers = w.msg.market_tickers
    elif w.msg is not None:
        subscriptions = w.msg
    return Ok(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_tickers=tickers,
        subscriptions=subscriptions,
    )


def _error(w: _WireError) -> ErrorMsg:
    b = w.msg
    return ErrorMsg(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        code=b.code,
        message=b.msg,
        market_ticker=b.market_ticker,
        market_tickers=b.market_tickers,
    )


def _snapshot(w: _WireSnapshot) -> OrderbookSnapshot:
    b = w.msg
    return OrderbookSnapshot(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_ticker=b.market_ticker,
        yes=_levels(b.yes_dollars_fp, b.yes_dollars, b.yes),
        no=_levels(b.no_dollars_fp, b.no_dollars, b.no),
        market_id=b.market_id,
        clock=b.clock,
    )


def _delta_fields(b: Any, price: int | None, delta: int | None, data: str | bytes) -> tuple[int, int, int | None]:
    """The rest of the one delta decoder (``decode_frame``), for a delta the caches do not cover: a price or size
    string not seen before, the legacy integer fields, or a frame without ``ts_ms`` (its time is in ``ts``)."""
    if price is None:
        text = b.price_dollars
        if text is not None:
            price = parse_book_price(text)
        elif b.price is not None:
            price = cents_to_book_price(b.price)
        else:
            raise ValueError("missing price_dollars/price")
    if delta is None:
        text = b.delta_fp
        if text is not None:
            delta = parse_size_fp(text)
        elif b.delta is not None:
            delta = count_to_size(b.delta)
        else:
            raise ValueError("missing delta_fp/delta")
    ts_ms = b.ts_ms
    return price, delta, _delta_ts(data) if ts_ms is None else ts_ms


_TOTAL_SHAPE = re.compile(r"[0-9]{1,12}\.[0-9]{2}").fullmatch
"""The canonical shape of a running total (volume, open interest): at most 12 digits, 2 decimals. Any string of this
shape is a valid total (not negative, below ``MAX_CONTRACTS``); anything else goes through ``parse_total_fp``."""


def _ticker(w: _WireTicker) -> Ticker:
    """A ticker is checked now and converted on first read (``Ticker._lazy``; issue 17): every field's shape is
    checked here, cheaply (a price or size seen before is a cache hit, a running total a regular-expression match),
    so that a malformed ticker is refused when it arrives and a later read cannot fail. Legacy integer fields and a
    missing ``ts_ms`` are rare: such a ticker is converted at once."""
    b = w.msg
    if (
        b.ts_ms is None
        or b.price is not None
        or b.yes_bid is not None
        or b.yes_ask is not None
        or b.volume is not None
        or b.open_interest is not None
    ):
        msg = Ticker._lazy(w.sid, w.seq, w.id, w.sending_ts_ms, b.market_ticker, b)
        msg._load()  # raises ValueError for a bad field
        return msg
    # Prices (fixed-point; an empty string is absent): a cache hit is a valid price, a miss is parsed (and cached).
    text = b.price_dollars
    if text and cached_price(text) is None:
        parse_price_dollars(text)
    text = b.yes_bid_dollars
    if text and cached_price(text) is None:
        parse_price_dollars(text)
    text = b.yes_ask_dollars
    if text and cached_price(text) is None:
        parse_price_dollars(text)
    # Sizes at the top of the book and of the last trade: not negative (the size cache also holds signed deltas).
    text = b.yes_bid_size_fp
    if text is not None and (cached_size(text) or parse_size_fp(text)) < 0:  # a hit of 0 parses again: still 0
        raise ValueError("negative size")
    text = b.yes_ask_size_fp
    if text is not None and (cached_size(text) or parse_size_fp(text)) < 0:
        raise ValueError("negative size")
    text = b.last_trade_size_fp
    if text is not None and (cached_size(text) or parse_size_fp(text)) < 0:
        raise ValueError("negative size")
    text = b.volume_fp
    if text is not None and _TOTAL_SHAPE(text) is None:
        parse_total_fp(text)  # raises unless a valid total in another notation
    text = b.open_interest_fp
    if text is not None and _TOTAL_SHAPE(text) is None:
        parse_total_fp(text)
    # ``Ticker._lazy`` inlined: no __init__, six stores instead of seventeen.
    msg = _new_ticker(Ticker)
    msg.sid = w.sid
    msg.seq = w.seq
    msg.id = w.id
    msg.sending_ts_ms = w.sending_ts_ms
    msg.market_ticker = b.market_ticker
    msg._wire = b
    return msg


_new_ticker = object.__new__


def _load_ticker(t: Ticker, b: _TickerBody) -> None:
    """The lazy fields of a decoded ticker (``Ticker._load``), converted from its wire body ``b``."""
    t._price = _price(b.price_dollars, b.price)
    t._yes_bid = _price(b.yes_bid_dollars, b.yes_bid)
    t._yes_ask = _price(b.yes_ask_dollars, b.yes_ask)
    volume = parse_total_fp(b.volume_fp) if b.volume_fp is not None else _total(None, b.volume)
    text = b.open_interest_fp
    open_interest = parse_total_fp(text) if text is not None else _total(None, b.open_interest)
    bid_size = _size(b.yes_bid_size_fp, None)
    ask_size = _size(b.yes_ask_size_fp, None)
    last_size = _size(b.last_trade_size_fp, None)
    if (
        (bid_size is not None and bid_size < 0)
        or (ask_size is not None and ask_size < 0)
        or (last_size is not None and last_size < 0)
        or (volume is not None and volume < 0)
        or (open_interest is not None and open_interest < 0)
    ):
        raise ValueError("negative size, volume or open interest")
    t._volume = volume
    t._open_interest = open_interest
    t._dollar_volume = b.dollar_volume
    t._dollar_open_interest = b.dollar_open_interest
    t._yes_bid_size = bid_size
    t._yes_ask_size = ask_size
    t._last_trade_size = last_size
    t._ts_ms = b.ts_ms if b.ts_ms is not None else _ts_ms(None, b.ts)


Ticker._loader = _load_ticker


def _ticker_v2(w: _WireTickerV2) -> TickerV2:
    b = w.msg
    return TickerV2(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_ticker=b.market_ticker,
        price=_price(b.price_dollars, b.price),
        yes_bid=_price(b.yes_bid_dollars, b.yes_bid),
        yes_ask=_price(b.yes_ask_dollars, b.yes_ask),
        volume_delta=_size(b.volume_delta_fp, b.volume_delta),
        open_interest_delta=_size(b.open_interest_delta_fp, b.open_interest_delta),
        dollar_volume_delta=b.dollar_volume_delta,
        dollar_open_interest_delta=b.dollar_open_interest_delta,
        ts_ms=_ts_ms(b.ts_ms, b.ts),
    )


def _taker_side(b: _TradeBody) -> Side | None:
    side = _YES_NO.get(b.taker_outcome_side or "") or _YES_NO.get(b.taker_side or "")
    if side is None:
        side = _BOOK_SIDE.get(b.taker_book_side or "")
    return side  # type: ignore[return-value]  # values of the two maps are "yes"/"no"


def _trade(w: _WireTrade) -> Trade:
    b = w.msg
    yes_price = cached_book_price(b.yes_price_dollars)  # type: ignore[arg-type]
    if yes_price is None:
        yes_price = _book_price(b.yes_price_dollars, b.yes_price)
    no_price = cached_book_price(b.no_price_dollars)  # type: ignore[arg-type]
    if no_price is None:
        no_price = _book_price(b.no_price_dollars, b.no_price)
    count = cached_size(b.count_fp)  # type: ignore[arg-type]
    if count is None:
        count = _required(_size(b.count_fp, b.count), "count_fp/count")
    if count < 0:
        raise ValueError("negative count")
    if yes_price is None:
        yes_price = PRICE_SCALE - _required(no_price, "yes_price_dollars/yes_price")
    if no_price is None:
        no_price = PRICE_SCALE - yes_price
    return Trade(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_ticker=b.market_ticker,
        yes_price=yes_price,
        no_price=no_price,
        count=count,
        taker_side=_taker_side(b),
        trade_id=b.trade_id,
        ts_ms=_ts_ms(b.ts_ms, b.ts),
    )


_MONEY_SHAPE = re.compile(r"-?[0-9]{1,12}\.[0-9]{6}").fullmatch
"""The canonical shape of an amount of money (fees, costs, P&L): at most 12 digits, 6 decimals, signed. Any string of
this shape is a valid amount (within ``MAX_DOLLARS``), and its value is the integer of its digits; anything else goes
through ``parse_money_dollars``."""
_POSITION_SHAPE = re.compile(r"(?:-?[0-9]{1,12}\.[0-9]{6} ){4}[0-9]{1,12}\.[0-9]{2}").fullmatch
"""A position's four amounts and its volume (``_TOTAL_SHAPE``), joined by spaces, checked in one call. A match means
each of the five has its shape: none of the five patterns holds a space, so the match has exactly the four joining
spaces and the fields cannot have shifted."""


_SIGNED_SIZE_SHAPE = re.compile(r"-?[0-9]{1,12}\.[0-9]{2}").fullmatch
"""The canonical shape of a signed size (a position): any string of this shape is valid (within ``MAX_CONTRACTS``)
and its value is the integer of its digits. Positions seldom repeat, so a cache miss is read this way, without
filling the size cache that the book's deltas need; anything else goes through ``parse_size_fp``."""


def _fill(w: _WireFill) -> Fill:
    """A fill: what the hot consumers read per fill is converted now, the rest (``fee``, ``is_taker``,
    ``client_order_id``, ``ts_ms``) on first read (``Fill`` is lazy; issue 17) after a shape check here, so that a
    malformed fill is refused when it arrives. A fee in another notation, a fee in ``fee_dollars``, a deprecated
    ``ts`` without ``ts_ms`` or legacy integer fields: converted at once (``_fill_now``)."""
    b = w.msg
    fee = b.fee_cost
    text = b.yes_price_dollars
    if (
        not text
        or b.ts_ms is None
        or (fee is None and b.fee_dollars is not None)
        or (fee is not None and _MONEY_SHAPE(fee) is None)
    ):
        return _fill_now(w)
    yes_price = cached_book_price(text)
    if yes_price is None:
        yes_price = parse_book_price(text)
    text = b.count_fp
    if text is None:
        count = _required(_size(None, b.count), "count_fp/count")
    else:
        hit = cached_size(text)
        count = parse_size_fp(text) if hit is None else hit
    if count < 0:
        raise ValueError("negative count")
    text = b.post_position_fp
    if text is not None:
        post_position: int | None = cached_size(text)
        if post_position is None:
            post_position = int(text.replace(".", "", 1)) if _SIGNED_SIZE_SHAPE(text) else parse_size_fp(text)
    else:
        post_position = None if b.post_position is None else count_to_size(b.post_position)
    side = b.outcome_side or b.purchased_side or b.side
    action = b.action
    if action is None and side in ("buy", "sell"):
        action, side = side, None  # the seed README's example puts the action in ``side``
    # ``Fill.__init__`` skipped: the lazy fields stay unset until ``_load_fill``.
    msg = _new_message(Fill)
    msg.sid = w.sid
    msg.seq = w.seq
    msg.id = w.id
    msg.sending_ts_ms = w.sending_ts_ms
    msg.market_ticker = b.market_ticker
    msg.yes_price = yes_price
    msg.count = count
    msg.side = side
    msg.action = action
    msg.post_position = post_position
    msg.trade_id = b.trade_id
    msg.order_id = b.order_id
    msg._wire = b
    return msg


_new_message = object.__new__


def _load_fill(f: Fill, b: _FillBody) -> None:
    """The lazy fields of a decoded fill (``Fill._load``), from its wire body ``b`` checked by ``_fill``."""
    fee = b.fee_cost
    f._fee = None if fee is None else int(fee.replace(".", "", 1))  # the checked shape: its digits are the value
    f._is_taker = b.is_taker
    f._client_order_id = b.client_order_id
    f._ts_ms = b.ts_ms


Fill._loader = _load_fill


def _fill_now(w: _WireFill) -> Fill:
    """A fill converted at once (the general converter; ``_fill`` for the usual shape)."""
    b = w.msg
    if b.yes_price_dollars:
        yes_price: int | None = parse_book_price(b.yes_price_dollars)
    elif b.price_dollars is not None and b.price_dollars != "":
        yes_price = parse_book_price(b.price_dollars)
    else:
        yes_price = _book_price(None, b.yes_price)
    side = b.outcome_side or b.purchased_side or b.side
    action = b.action
    if action is None and side in ("buy", "sell"):
        # The seed README's example puts the action in ``side``.
        action, side = side, None
    if b.fee_cost is not None:
        fee: int | None = parse_money_dollars(b.fee_cost)
    elif b.fee_dollars is not None:
        fee = parse_money_dollars(b.fee_dollars)
    else:
        fee = None
    count = _required(_size(b.count_fp, b.count), "count_fp/count")
    if count < 0:
        raise ValueError("negative count")
    return Fill(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_ticker=b.market_ticker,
        yes_price=_required(yes_price, "yes_price_dollars/yes_price"),
        count=count,
        side=side,
        action=action,
        fee=fee,
        is_taker=b.is_taker,
        post_position=_size(b.post_position_fp, b.post_position),
        trade_id=b.trade_id,
        order_id=b.order_id,
        client_order_id=b.client_order_id,
        ts_ms=_ts_ms(b.ts_ms, b.ts),
    )


def _position(w: _WirePosition) -> MarketPosition:
    """A position: ``position`` converted now, the money fields and volume on first read (``MarketPosition`` is
    lazy; issue 17) after one shape check of all five here (``_POSITION_SHAPE``), so that a malformed position is
    refused when it arrives. Anything else (a field absent, another notation, legacy integers): ``_position_now``."""
    b = w.msg
    cost = b.position_cost_dollars
    pnl = b.realized_pnl_dollars
    fees = b.fees_paid_dollars
    fee_cost = b.position_fee_cost_dollars
    volume = b.volume_fp
    text = b.position_fp
    if (
        text is None
        or cost is None
        or pnl is None
        or fees is None
        or fee_cost is None
        or volume is None
        or _POSITION_SHAPE(f"{cost} {pnl} {fees} {fee_cost} {volume}") is None
    ):
        return _position_now(w)
    position = cached_size(text)
    if position is None:
        position = int(text.replace(".", "", 1)) if _SIGNED_SIZE_SHAPE(text) else parse_size_fp(text)
    # ``MarketPosition.__init__`` skipped: the lazy fields stay unset until ``_load_position``.
    msg = _new_message(MarketPosition)
    msg.sid = w.sid
    msg.seq = w.seq
    msg.id = w.id
    msg.sending_ts_ms = w.sending_ts_ms
    msg.market_ticker = b.market_ticker
    msg.position = position
    msg._wire = b
    return msg


def _load_position(p: MarketPosition, b: _PositionBody) -> None:
    """The lazy fields of a decoded position (``MarketPosition._load``), from its body ``b`` checked by
    ``_position``: each has its canonical shape, so its value is the integer of its digits."""
    p._position_cost = int(b.position_cost_dollars.replace(".", "", 1))  # type: ignore[union-attr]
    p._realized_pnl = int(b.realized_pnl_dollars.replace(".", "", 1))  # type: ignore[union-attr]
    p._fees_paid = int(b.fees_paid_dollars.replace(".", "", 1))  # type: ignore[union-attr]
    p._position_fee_cost = int(b.position_fee_cost_dollars.replace(".", "", 1))  # type: ignore[union-attr]
    p._volume = int(b.volume_fp.replace(".", "", 1))  # type: ignore[union-attr]


MarketPosition._loader = _load_position


def _position_now(w: _WirePosition) -> MarketPosition:
    """A position converted at once (the general converter; ``_position`` for the usual shape)."""
    b = w.msg
    volume = _size(b.volume_fp, b.volume)
    _not_negative(volume, "volume")
    return MarketPosition(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        market_ticker=b.market_ticker,
        position=_required(_size(b.position_fp, b.position), "position_fp/position"),
        position_cost=_money(b.position_cost_dollars, b.position_cost),
        realized_pnl=_money(b.realized_pnl_dollars, b.realized_pnl),
        fees_paid=_money(b.fees_paid_dollars, b.fees_paid),
        position_fee_cost=_money(b.position_fee_cost_dollars, b.position_fee_cost),
        volume=volume,
    )


def _count(text: str, what: str) -> int:
    """An order's contract count: a size string, not negative."""
    value = parse_size_fp(text)
    if value < 0:
        raise ValueError(f"negative {what}")
    return value


def _user_order(w: _WireUserOrder) -> UserOrder:
    b = w.msg
    # book_side first, then outcome_side (bid = yes), then the deprecated is_yes.
    book_side = b.book_side
    if book_side is None:
        if b.outcome_side is not None:
            book_side = "bid" if b.outcome_side == "yes" else "ask"
        elif b.is_yes is not None:
            book_side = "bid" if b.is_yes else "ask"
        else:
            raise ValueError("missing book_side/outcome_side")
    if not b.order_id or not b.ticker:
        raise ValueError("empty order_id or ticker")
    return UserOrder(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        order_id=b.order_id,
        ticker=b.ticker,
        status=b.status,
        book_side=book_side,
        yes_price=parse_book_price(b.yes_price_dollars),
        fill_count=_count(b.fill_count_fp, "fill_count_fp"),
        remaining_count=_count(b.remaining_count_fp, "remaining_count_fp"),
        initial_count=_count(b.initial_count_fp, "initial_count_fp"),
        client_order_id=b.client_order_id,
        taker_fill_cost=_money(b.taker_fill_cost_dollars, None),
        maker_fill_cost=_money(b.maker_fill_cost_dollars, None),
        taker_fees=_money(b.taker_fees_dollars, None),
        maker_fees=_money(b.maker_fees_dollars, None),
        order_group_id=b.order_group_id,
        last_updated_ts_ms=b.last_updated_ts_ms,
        last_update_reason=b.last_update_reason,
        created_ts_ms=b.created_ts_ms,
        expiration_ts_ms=b.expiration_ts_ms,
        exchange_index=b.exchange_index,
        subaccount=b.subaccount_number,
    )


def _order_group(w: _WireOrderGroup) -> OrderGroupUpdate:
    b = w.msg
    limit = None if b.contracts_limit_fp is None else _count(b.contracts_limit_fp, "contracts_limit_fp")
    return OrderGroupUpdate(
        sid=w.sid,
        seq=w.seq,
        id=w.id,
        sending_ts_ms=w.sending_ts_ms,
        event_type=b.event_type,
        order_group_id=b.order_group_id,
        contracts_limit=limit,
        ts_ms=b.ts_ms,
    )


_CONVERTERS: dict[type, Callable[[Any], Message]] = {  # every type but the delta (decoded in ``decode_frame``)
    _WireSnapshot: _snapshot,
    _WireTicker: _ticker,
    _WireTrade: _trade,
    _WireOk: _ok,
    _WireSubscribed: _subscribed,
    _WireUnsubscribed: _unsubscribed,
    _WireError: _error,
    _WireFill: _fill,
    _WirePosition: _position,
    _WireTickerV2: _ticker_v2,
    _WireUserOrder: _user_order,
    _WireOrderGroup: _order_group,
}


def _optional_int(obj: dict[str, Any], key: str, low: int = 0, high: int = INT64_MAX) -> int | None:
    """An envelope integer of an unmodelled frame: None if absent or not an integer, an error if out of range."""
    value = obj.get(key)
    if type(value) is not int:
        return None
    if not low <= value <= high:
        raise DecodeError(f"{key} {show(value)} is out of range")
    return value


def _not_modelled(data: str | bytes, reason: msgspec.ValidationError) -> UnknownMessage:
    """Slow path after a validation failure: an unknown ``type`` becomes UnknownMessage, anything else an error."""
    try:
        obj = _any_decoder.decode(data)
    except (msgspec.ValidationError, *_DECODER_ERRORS) as exc:
        # The typed decode skipped parts that the untyped one builds: a number beyond a float, deeper nesting.
        raise _undecodable(exc, data) from None
    if not isinstance(obj, dict):
        raise DecodeError(f"frame is a JSON {type(obj).__name__}, not an object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise DecodeError("frame has no string 'type'")
    if kind in KNOWN_TYPES:
        raise DecodeError(f"{kind}: {reason}")
    return UnknownMessage(
        type=kind,
        raw=obj,
        sid=_optional_int(obj, "sid"),
        seq=_optional_int(obj, "seq"),
        id=_optional_int(obj, "id"),
        sending_ts_ms=_optional_int(obj, "sending_ts_ms", TS_MS_MIN, TS_MS_MAX),
    )


def decode_frame(data: str | bytes) -> Message:
    """Decode one WebSocket text frame. Raises ``DecodeError`` (a ``ValueError``) with a short reason."""
    try:
        wire = _frame_decoder.decode(data)
    except msgspec.ValidationError as exc:
        return _not_modelled(data, exc)
    except _DECODER_ERRORS as exc:  # no cost unless raised
        raise _undecodable(exc, data) from None
    if wire.__class__ is _WireDelta:
        # The one delta decoder, inline (most frames are deltas): a price string seen before is known valid
        # (strictly inside $0..$1) and so is a cached size (within +-MAX_CONTRACTS); integer ranges were checked by
        # msgspec. Anything the caches do not cover goes through ``_delta_fields``.
        b = wire.msg
        price = cached_book_price(b.price_dollars)  # type: ignore[arg-type]  # None is simply not in the cache
        delta = cached_size(b.delta_fp)  # type: ignore[arg-type]
        ts_ms = b.ts_ms
        if price is None or delta is None or ts_ms is None:
            try:
                price, delta, ts_ms = _delta_fields(b, price, delta, data)
            except ValueError as exc:
                raise DecodeError(f"orderbook_delta: {exc}") from None
            except Exception as exc:  # a belt, as for the other types
                raise DecodeError(f"orderbook_delta: {type(exc).__name__}: {str(exc)[:200]}") from None
        ident = wire.id
        client_order_id = b.client_order_id
        if ident is None and client_order_id is None:
            # The usual delta: the two fields left at their default (None); each keyword costs ~17 ns in msgspec.
            return OrderbookDelta(
                sid=wire.sid,
                seq=wire.seq,
                sending_ts_ms=wire.sending_ts_ms,
                market_ticker=b.market_ticker,
                side=b.side,
                price=price,
                delta=delta,
                ts_ms=ts_ms,
                clock=b.clock,
            )
        return OrderbookDelta(
            sid=wire.sid,
            seq=wire.seq,
            id=ident,
            sending_ts_ms=wire.sending_ts_ms,
            market_ticker=b.market_ticker,
            side=b.side,
            price=price,
            delta=delta,
            ts_ms=ts_ms,
            clock=b.clock,
            client_order_id=client_order_id,
        )
    try:
        msg = _CONVERTERS[wire.__class__](wire)
    except ValueError as exc:
        raise DecodeError(f"{wire.__struct_config__.tag}: {exc}") from None
    except Exception as exc:  # a belt: whatever a converter raises, the caller sees a DecodeError
        raise DecodeError(f"{wire.__struct_config__.tag}: {type(exc).__name__}: {str(exc)[:200]}") from None
    return msg
