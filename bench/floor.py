"""The decode floor: msgspec decoding each frame into typed structs, and nothing else.

The structs hold exactly the wire fields that the project's pipeline reads (today's fixed-point format), as a tagged
union on ``type``; unknown keys are skipped, as in the project's decoder. No unit conversion, no message building, no
state: this is what any typed decoder must pay per frame, the floor that the whole pipeline is compared to.
"""

from __future__ import annotations

from typing import Union

import msgspec

__all__ = ["decode"]


class _Env(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    sid: int | None = None
    seq: int | None = None
    id: int | None = None


class _SubBody(msgspec.Struct, gc=False):
    channel: str
    sid: int


class _Subscribed(_Env, tag="subscribed", kw_only=True, gc=False):
    msg: _SubBody


class _OkBody(msgspec.Struct, gc=False):
    market_tickers: list[str] | None = None


class _Ok(_Env, tag="ok", kw_only=True, gc=False):
    msg: _OkBody | None = None


class _SnapBody(msgspec.Struct, gc=False):
    market_ticker: str
    yes_dollars_fp: list[tuple[str, str]] | None = None
    no_dollars_fp: list[tuple[str, str]] | None = None


class _Snapshot(_Env, tag="orderbook_snapshot", kw_only=True, gc=False):
    msg: _SnapBody


class _DeltaBody(msgspec.Struct, gc=False):
    market_ticker: str
    side: str
    price_dollars: str
    delta_fp: str


class _Delta(_Env, tag="orderbook_delta", kw_only=True, gc=False):
    msg: _DeltaBody


class _TickerBody(msgspec.Struct, gc=False):
    market_ticker: str
    price_dollars: str | None = None
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    volume_fp: str | None = None
    open_interest_fp: str | None = None
    dollar_volume: int | None = None
    dollar_open_interest: int | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    last_trade_size_fp: str | None = None
    ts_ms: int | None = None


class _Ticker(_Env, tag="ticker", kw_only=True, gc=False):
    msg: _TickerBody


class _TradeBody(msgspec.Struct, gc=False):
    market_ticker: str
    yes_price_dollars: str
    no_price_dollars: str | None = None
    count_fp: str | None = None
    taker_outcome_side: str | None = None
    trade_id: str | None = None
    ts_ms: int | None = None


class _Trade(_Env, tag="trade", kw_only=True, gc=False):
    msg: _TradeBody


class _FillBody(msgspec.Struct, gc=False):
    market_ticker: str
    yes_price_dollars: str
    count_fp: str
    post_position_fp: str | None = None


class _Fill(_Env, tag="fill", kw_only=True, gc=False):
    msg: _FillBody


class _PositionBody(msgspec.Struct, gc=False):
    market_ticker: str
    position_fp: str


class _Position(_Env, tag="market_position", kw_only=True, gc=False):
    msg: _PositionBody


_Frame = Union[_Delta, _Snapshot, _Ticker, _Trade, _Ok, _Subscribed, _Fill, _Position]  # noqa: UP007

_decoder = msgspec.json.Decoder(_Frame)


def decode(frame: str | bytes) -> object:
    """Decode one frame; a frame of another type or shape falls back to an untyped decode (as rare as errors)."""
    try:
        return _decoder.decode(frame)
    except msgspec.ValidationError:
        return msgspec.json.decode(frame)
