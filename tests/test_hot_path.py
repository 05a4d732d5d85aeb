"""The hot-path shortcuts (issue 7) give exactly what the general code gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market_making_bot.feed.core import LATENCY_EVERY, Core
from market_making_bot.kalshi import OrderbookDelta, decode_frame
from market_making_bot.kalshi.decode import _delta_fields, _frame_decoder
from market_making_bot.units import (
    _parse_canonical,
    _parse_decimal,
    cached_price,
    cached_size,
    parse_price_dollars,
    parse_size_fp,
)

FIXTURES = Path(__file__).parent / "fixtures"

WEIRD = [
    "0.4500",
    "-54.00",
    "54.00",
    "0.00",
    "-0.00",
    "-.00",
    ".00",
    "-",
    "",
    "1.0",
    "1.000",
    "+1.00",
    "--1.00",
    "1_0.00",
    " 1.00",
    "1.00 ",
    "1.0 ",
    "\u0661.00",  # Arabic-Indic digit one: int() would accept it
    "1.\u00b2\u00b2",  # superscript two: str.isdigit() would accept it
    "1e2.00",
    "0x1.00",
    "12.3a",
    "007.50",
    "966425.00",
    "-5.00",
    "0.0001",
    "-0.0000",
    "5.-00",
    "-5.-0",
]


@pytest.mark.parametrize("text", WEIRD)
@pytest.mark.parametrize("places", [2, 4])
def test_canonical_parse_agrees_with_the_regular_expression(text: str, places: int) -> None:
    fast = _parse_canonical(text, places)
    try:
        slow: int | None = _parse_decimal(text, places, "value")
    except ValueError:
        slow = None
    if fast is not None:
        assert fast == slow, text
    # The fast path may decline (None) a valid value, never accept an invalid one; the canonical shape it takes.
    if text.count(".") == 1 and len(text.split(".")[1]) == places and slow is not None and text[0] in "-0123456789":
        assert fast == slow, text


def test_price_cache_holds_only_valid_prices() -> None:
    with pytest.raises(ValueError):
        parse_price_dollars("1.5000")
    assert cached_price("1.5000") is None
    with pytest.raises(ValueError):
        parse_price_dollars("1.5000")  # still refused the second time
    assert parse_price_dollars("0.4321") == 4321
    assert cached_price("0.4321") == 4321
    assert parse_size_fp("-12.34") == -1234
    assert cached_size("-12.34") == -1234


def _general_decode(text: str) -> tuple[int, int, int | None]:
    """A delta's price, size and time by the uncached path of the one delta decoder (as if no string was seen)."""
    wire = _frame_decoder.decode(text)
    return _delta_fields(wire.msg, None, None, text)


@pytest.mark.parametrize("name", ["fixed_point_session.jsonl", "legacy_cents_session.jsonl"])
def test_delta_fast_path_equals_general_converter(name: str) -> None:
    frames = [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]
    deltas = [f for f in frames if json.loads(f).get("type") == "orderbook_delta"]
    assert deltas
    for frame in deltas:
        first = decode_frame(frame)  # may fill the caches
        second = decode_frame(frame)  # now the fast path when the strings were seen
        assert isinstance(second, OrderbookDelta)
        assert first == second and (second.price, second.delta, second.ts_ms) == _general_decode(frame)


def test_delta_with_both_formats_prefers_fixed_point_on_the_fast_path() -> None:
    frame = (
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"M","side":"no",'
        '"price_dollars":"0.4100","delta_fp":"3.00","price":40,"delta":9}}'
    )
    for _ in range(2):
        msg = decode_frame(frame)
        assert isinstance(msg, OrderbookDelta)
        assert (msg.price, msg.delta) == (4100, 300)


def test_feed_latency_is_sampled() -> None:
    core = Core()
    frames = [
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"sending_ts_ms":1790000000000,'
        '"msg":{"market_ticker":"M","yes_dollars_fp":[["0.4000","10.00"]],"no_dollars_fp":[]}}'
    ]
    delta = {"market_ticker": "M", "side": "yes", "price_dollars": "0.3000", "delta_fp": "1.00"}
    frames += [
        json.dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "sending_ts_ms": 1790000000000, "msg": delta})
        for seq in range(2, 2 + 4 * LATENCY_EVERY)
    ]
    for frame in frames:
        core.feed(frame, 1_790_000_000_005_000_000)  # received 5 ms after it was sent
    assert len(core.latencies_ms) == -(-len(frames) // LATENCY_EVERY)
    assert set(core.latencies_ms) == {5}
    assert core.health()["feed_latency_ms"] == {"p50": 5.0, "p99": 5.0}


def test_recent_ids_forget_the_oldest_first() -> None:
    from market_making_bot.marketdata.state import RecentIds

    ids = RecentIds(capacity=3)
    assert [ids.add(k) for k in "abc"] == [True, True, True]
    assert not ids.add("a")
    assert ids.add("d")  # forgets "a"
    assert ids.add("a")  # forgets "b"
    assert not ids.add("c") and not ids.add("d")
    assert ids.add("b")


def test_running_totals_are_not_cached() -> None:
    # Volume and open interest seldom repeat: a cache of them only evicted itself (issue 17).
    from market_making_bot import units
    from market_making_bot.units import _size_cache, parse_total_fp

    assert parse_total_fp("123456.00") == 12345600
    assert "123456.00" not in _size_cache and not hasattr(units, "_total_cache")
    msg = decode_frame(
        '{"type":"ticker","sid":2,"msg":{"market_ticker":"M","volume_fp":"777.00","open_interest_fp":"5.50"}}'
    )
    assert (msg.volume, msg.open_interest) == (77700, 550)  # type: ignore[union-attr]


def test_full_cache_forgets_its_older_half() -> None:
    from market_making_bot import units

    cache: dict[str, int] = {}
    limit = units._CACHE_LIMIT
    for i in range(limit + 1):
        units._parse_cached(f"{i}.00", 2, "size", cache, 0, units.MAX_SIZE)
    assert len(cache) == limit - limit // 2 + 1
    assert f"{limit}.00" in cache and f"{limit - 1}.00" in cache and "0.00" not in cache


def test_ticker_and_fill_keep_the_envelope_id() -> None:
    ticker = decode_frame('{"type":"ticker","sid":2,"id":7,"msg":{"market_ticker":"M","price_dollars":"0.5000"}}')
    fill = decode_frame(
        '{"type":"fill","sid":4,"id":8,"msg":{"market_ticker":"M","yes_price_dollars":"0.5000","count_fp":"1.00"}}'
    )
    assert (ticker.id, ticker.price) == (7, 5000)  # type: ignore[union-attr]
    assert (fill.id, fill.count) == (8, 100)  # type: ignore[union-attr]
    assert decode_frame('{"type":"ticker","sid":2,"msg":{"market_ticker":"M"}}').id is None


def test_lazy_ticker_is_checked_on_arrival_and_converted_on_read() -> None:
    from market_making_bot.kalshi import DecodeError, Ticker

    frame = (
        '{"type":"ticker","sid":2,"msg":{"market_ticker":"M","price_dollars":"0.4800","yes_bid_dollars":"0.4500",'
        '"yes_ask_dollars":"0.5300","volume_fp":"%s","open_interest_fp":"20422.00","dollar_volume":16948,'
        '"yes_bid_size_fp":"%s","ts_ms":1669149841000}}'
    )
    msg = decode_frame(frame % ("33896.00", "300.00"))
    assert isinstance(msg, Ticker) and msg._wire is not None  # not converted yet
    assert (msg.price, msg.yes_bid, msg.yes_ask, msg.volume, msg.open_interest) == (4800, 4500, 5300, 3389600, 2042200)
    assert msg._wire is None and msg.yes_bid_size == 30000 and msg.ts_ms == 1669149841000
    assert msg == Ticker(
        sid=2, market_ticker="M", price=4800, yes_bid=4500, yes_ask=5300, volume=3389600, open_interest=2042200,
        dollar_volume=16948, yes_bid_size=30000, ts_ms=1669149841000,
    )
    assert "volume=3389600" in repr(msg)
    # Another notation of a valid total still decodes (the shape check is a fast path, not the rule).
    assert decode_frame(frame % ("33896.5", "300.00")).volume == 3389650  # type: ignore[union-attr]
    # A malformed field is refused when the frame arrives, not when someone reads it.
    for volume, size in (("-1.00", "300.00"), ("1e5", "300.00"), ("\u0663.00", "300.00"), ("1.00", "-3.00")):
        with pytest.raises(DecodeError):
            decode_frame(frame % (volume, size))
    msg = decode_frame(frame % ("1.00", "2.00"))
    msg.volume = 5  # type: ignore[union-attr]  # a lazy field can be set, like any struct field
    assert (msg.volume, msg.price) == (5, 4800)  # type: ignore[union-attr]
