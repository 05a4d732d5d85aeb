"""Issue 12, item 8 on the decoding side: no frame makes ``decode_frame`` raise anything but ``DecodeError``, values
out of range are decode errors (the frame is rejected and counted, nothing half-applied), and the real server's
habits (item 7, PROTOCOL.md 10b) decode. Each reported defect is reproduced here first."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.kalshi import (
    DecodeError,
    Fill,
    OrderbookDelta,
    OrderbookSnapshot,
    Ticker,
    Trade,
    UnknownMessage,
    decode_frame,
)
from market_making_bot.storage.replay import iter_recording
from market_making_bot.units import MAX_SIZE, TS_MS_MAX, TS_MS_MIN, rfc3339_to_ms
from market_making_bot.views.output import LogOutput

TS_MS = 1786085188978
SNAPSHOT = {
    "type": "orderbook_snapshot",
    "sid": 1,
    "seq": 1,
    "msg": {"market_ticker": "M", "yes_dollars_fp": [["0.4000", "10.00"]], "no_dollars_fp": [["0.5000", "5.00"]]},
}
DELTA = {
    "type": "orderbook_delta",
    "sid": 1,
    "seq": 2,
    "msg": {"market_ticker": "M", "price_dollars": "0.4000", "delta_fp": "1.00", "side": "yes", "ts_ms": TS_MS},
}


def with_msg(base: dict[str, Any], **fields: Any) -> str:
    """``base`` with its ``msg`` fields updated (a value of ``None`` removes the field)."""
    out = json.loads(json.dumps(base))
    for key, value in fields.items():
        if value is None:
            out["msg"].pop(key, None)
        else:
            out["msg"][key] = value
    return json.dumps(out)


def with_envelope(base: dict[str, Any], **fields: Any) -> str:
    out = json.loads(json.dumps(base))
    out.update(fields)
    return json.dumps(out)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# -- anything but DecodeError ----------------------------------------------------------------------------------


HOSTILE: list[tuple[str, str | bytes]] = [
    # RecursionError out of msgspec: at the top, inside a modelled field, inside a skipped field, in an unknown type
    ("nested array", nested(100_000)),
    ("nested objects", '{"a":' * 50_000 + "1" + "}" * 50_000),
    ("nested inside msg", '{"type":"ticker","sid":1,"msg":' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}"),
    ("nested in a skipped key", '{"type":"orderbook_delta","x":' + nested(50_000) + ',"msg":{}}'),
    ("nested in an unknown type", '{"type":"zzz","x":' + nested(50_000) + "}"),
    ("nested in ok.subscriptions", '{"type":"ok","subscriptions":[' + nested(50_000) + "]}"),
    # UnicodeEncodeError out of msgspec: a str frame with a lone surrogate (msgspec encodes a str to UTF-8 first)
    ("lone surrogate in a str", '{"type":"ticker","sid":1,"msg":{"market_ticker":"A\ud800"}}'),
    ("lone low surrogate alone", "\udc80"),
    ("surrogate-escaped bytes", b'{"type":"ticker","msg":{"market_ticker":"\xff"}}'.decode("utf-8", "surrogateescape")),
    # escaped lone surrogates and invalid UTF-8 (msgspec refuses them: a DecodeError already, kept as a guard)
    ("escaped lone surrogate", '{"type":"ticker","sid":1,"msg":{"market_ticker":"A\\ud800"}}'),
    ("escaped lone low surrogate", '{"type":"ticker","sid":1,"msg":{"market_ticker":"\\udc00"}}'),
    ("invalid UTF-8", b'{"type":"ticker","sid":1,"msg":{"market_ticker":"A\xff\xfe"}}'),
    ("truncated UTF-8", b'{"type":"ticker","sid":1,"msg":{"market_ticker":"\xe2\x82'),
    # numbers beyond any range
    ("400-digit seq", with_envelope(DELTA, seq=None).replace('"seq": null', '"seq": ' + "9" * 400)),
    ("float beyond a double", '{"type":"fill","msg":{"market_ticker":"A","price_dollars":1e400,"count":1}}'),
    ("5000-digit size", with_msg(DELTA, delta_fp="9" * 5000)),
    ("5000-digit integer", '{"type":"zzz","x":' + "9" * 5000 + "}"),
    ("empty", ""),
    ("empty bytes", b""),
    ("NUL bytes", b"\x00" * 64),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_hostile_frames_raise_only_decode_error(name: str, data: str | bytes) -> None:
    with pytest.raises(DecodeError):
        decode_frame(data)


@pytest.mark.parametrize("data", [None, 5, 1.5, ["{}"], object()])
def test_input_that_is_not_text_is_a_decode_error(data: Any) -> None:
    with pytest.raises(DecodeError, match="not a text or bytes frame"):
        decode_frame(data)


def test_lone_surrogate_reason_says_what_is_wrong() -> None:
    with pytest.raises(DecodeError, match="not UTF-8 text"):
        decode_frame('{"type":"ticker","msg":{"market_ticker":"\ud800"}}')
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_frame(nested(100_000))


def test_core_feed_counts_hostile_frames_and_its_log_line_never_raises() -> None:
    """The decode-error line at WARNING, written to a strict UTF-8 stream (as a file handler does): every hostile
    frame is counted, none raises, and each line is bounded (a 1 MB frame is not copied into the log)."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    handler = logging.StreamHandler(stream)
    handler.handleError = lambda record: (_ for _ in ()).throw(AssertionError("the log line failed"))  # type: ignore[method-assign]
    log = logging.getLogger("test_decode_limits.hostile")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        core = Core()
        LogOutput(log).attach(core.bus, every_kind=True)
        frames = [data for _, data in HOSTILE] + [b'{"x":"' + b"\xff" * 1_000_000 + b'"}', "\ud800" * 1_000_000]
        for data in frames:
            assert core.feed(data, 0) is None
        assert core.counters["decode_errors"] == len(frames)
        handler.flush()
        lines = stream.buffer.getvalue().decode("utf-8").splitlines()  # type: ignore[attr-defined]
        assert len(lines) == len(frames) and all(line.startswith("[DECODE ERROR]") for line in lines)
        assert max(len(line) for line in lines) < 600
    finally:
        log.removeHandler(handler)


def test_huge_timestamps_never_reach_the_health_statistics() -> None:
    """Reproduction: a huge ``ts_ms`` made the feed-latency percentile raise OverflowError (float of a huge int)."""
    core = Core()
    core.feed(json.dumps(SNAPSHOT), 0)
    for seq, frame in enumerate(
        [
            with_envelope(DELTA, sending_ts_ms=None).replace('"sending_ts_ms": null', '"sending_ts_ms": ' + "9" * 400),
            with_msg(DELTA, ts_ms=10**30),
            with_msg(DELTA, ts_ms=-1),
        ],
        start=2,
    ):
        assert core.feed(frame.replace('"seq": 2', f'"seq": {seq}'), 1_786_085_189_000_000_000) is None
    assert core.counters["decode_errors"] == 3
    assert core.health()["malformed"] == 3
    assert core.state.markets["M"].book.yes == {4000: 1000}  # nothing was applied


# -- ranges ----------------------------------------------------------------------------------------------------


OUT_OF_RANGE: list[tuple[str, str, str]] = [
    # envelope integers
    ("negative sid", with_envelope(SNAPSHOT, sid=-1), ">= 0"),
    ("sid above 2^63", with_envelope(SNAPSHOT, sid=2**63), "<= 9223372036854775807"),
    ("negative seq", with_envelope(DELTA, seq=-5), ">= 0"),
    ("seq above 2^63", with_envelope(DELTA, seq=2**64), "<="),
    ("negative id", with_envelope(SNAPSHOT, id=-1), ">= 0"),
    ("clock above 2^63", with_msg(DELTA, clock=2**63), "<="),
    ("subscribed sid negative", '{"type":"subscribed","id":1,"msg":{"channel":"ticker","sid":-3}}', ">= 0"),
    ("unknown type with a negative sid", '{"type":"rfq_created","sid":-1,"msg":{}}', "out of range"),
    ("unknown type with a huge seq", '{"type":"rfq_created","sid":1,"seq":' + "9" * 400 + "}", "out of range"),
    ("error code beyond int64", '{"type":"error","msg":{"code":' + "9" * 30 + ',"msg":"x"}}', "<="),
    # timestamps
    ("400-digit sending_ts_ms", with_envelope(SNAPSHOT, sending_ts_ms=int("9" * 400)), "<= 4102444800000"),
    ("sending_ts_ms in 1970", with_envelope(SNAPSHOT, sending_ts_ms=1000), ">= 946684800000"),
    ("ts_ms in the year 30000", with_msg(DELTA, ts_ms=10**15), "<= 4102444800000"),
    ("negative ts_ms", with_msg(DELTA, ts_ms=-1), ">= 946684800000"),
    (
        "trade ts seconds in 1970",
        '{"type":"trade","msg":{"market_ticker":"M","yes_price_dollars":"0.5","count_fp":"1.00","ts":5}}',
        ">= 946684800",
    ),
    ("ticker ts seconds too big", '{"type":"ticker","msg":{"market_ticker":"M","ts":' + "9" * 20 + "}}", "<="),
    ("delta RFC 3339 ts in 1999", with_msg(DELTA, ts_ms=None, ts="1999-12-31T23:59:59.5Z"), "2000..2100"),
    ("delta RFC 3339 ts malformed", with_msg(DELTA, ts_ms=None, ts="2026-08-07 noon"), "RFC 3339"),
    ("delta RFC 3339 ts impossible date", with_msg(DELTA, ts_ms=None, ts="2026-02-30T00:00:00Z"), "valid date"),
    # book prices: strictly inside $0..$1
    ("delta at $0", with_msg(DELTA, price_dollars="0.0000"), "strictly between"),
    ("delta at $1", with_msg(DELTA, price_dollars="1.0000"), "strictly between"),
    ("delta at $0 (short form)", with_msg(DELTA, price_dollars="0"), "strictly between"),
    ("delta above $1", with_msg(DELTA, price_dollars="1.5000"), "outside"),
    ("delta negative price", with_msg(DELTA, price_dollars="-0.1000"), "outside"),
    ("legacy delta at 0 cents", with_msg(DELTA, price_dollars=None, delta_fp=None, price=0, delta=1), "strictly"),
    ("legacy delta at 100 cents", with_msg(DELTA, price_dollars=None, delta_fp=None, price=100, delta=1), "strictly"),
    ("snapshot level at $0", with_msg(SNAPSHOT, yes_dollars_fp=[["0.0000", "1.00"]]), "strictly between"),
    ("snapshot level at $1", with_msg(SNAPSHOT, no_dollars_fp=[["1.0000", "1.00"]]), "strictly between"),
    ("legacy snapshot at 0", with_msg(SNAPSHOT, yes_dollars_fp=None, no_dollars_fp=None, yes=[[0, 5]]), "strictly"),
    ("legacy snapshot at 100", with_msg(SNAPSHOT, yes_dollars_fp=None, no_dollars_fp=None, no=[[100, 5]]), "strictly"),
    ("mixed snapshot at $1", with_msg(SNAPSHOT, yes_dollars_fp=None, yes_dollars=[["1.0000", 5]]), "strictly"),
    # sizes
    ("snapshot level of size 0", with_msg(SNAPSHOT, yes_dollars_fp=[["0.4000", "0.00"]]), "not positive"),
    ("snapshot level negative", with_msg(SNAPSHOT, yes_dollars_fp=[["0.4000", "-1.00"]]), "not positive"),
    ("snapshot level huge", with_msg(SNAPSHOT, yes_dollars_fp=[["0.4000", "1000000000000.01"]]), "out of range"),
    ("delta change beyond 10^12", with_msg(DELTA, delta_fp="-1000000000001.00"), "out of range"),
    ("legacy delta beyond 10^12", with_msg(DELTA, price_dollars=None, delta_fp=None, price=40, delta=10**13), "range"),
    ("delta size as long string", with_msg(DELTA, delta_fp="1" + "0" * 50 + ".00"), "longer than 40"),
    ("delta size not finite", with_msg(DELTA, delta_fp="nan"), "not a plain decimal"),
    ("delta size infinite", with_msg(DELTA, delta_fp="Infinity"), "not a plain decimal"),
    (
        "trade count negative",
        '{"type":"trade","msg":{"market_ticker":"M","yes_price_dollars":"0.5","count_fp":"-1.00"}}',
        "negative count",
    ),
    (
        "trade at $1",
        '{"type":"trade","msg":{"market_ticker":"M","yes_price_dollars":"1.0000","count_fp":"1.00"}}',
        "strictly",
    ),
    (
        "trade at no price $0",
        '{"type":"trade","msg":{"market_ticker":"M","no_price_dollars":"0.0000","count_fp":"1.00"}}',
        "strictly",
    ),
    (
        "fill count negative",
        '{"type":"fill","msg":{"market_ticker":"M","yes_price_dollars":"0.5","count_fp":"-2.00"}}',
        "negative count",
    ),
    (
        "fill at $0",
        '{"type":"fill","msg":{"market_ticker":"M","yes_price_dollars":"0.0000","count_fp":"2.00"}}',
        "strictly",
    ),
    (
        "fill fee beyond 10^12 dollars",
        '{"type":"fill","msg":{"market_ticker":"M","price_dollars":0.5,"count":1,"fee_dollars":1e300}}',
        "money",
    ),
    ("ticker volume negative", '{"type":"ticker","msg":{"market_ticker":"M","volume_fp":"-1.00"}}', "out of range"),
    ("ticker legacy volume negative", '{"type":"ticker","msg":{"market_ticker":"M","volume":-1}}', "negative"),
    ("ticker bid size negative", '{"type":"ticker","msg":{"market_ticker":"M","yes_bid_size_fp":"-1.00"}}', "negative"),
    (
        "ticker dollar volume huge",
        '{"type":"ticker","msg":{"market_ticker":"M","dollar_volume":' + "9" * 20 + "}}",
        "<=",
    ),
    (
        "position volume negative",
        '{"type":"market_position","msg":{"market_ticker":"M","position_fp":"1.00","volume_fp":"-1.00"}}',
        "negative volume",
    ),
    (
        "position cost beyond 10^12 dollars",
        '{"type":"market_position","msg":{"market_ticker":"M","position_fp":"1",'
        '"position_cost_dollars":"1000000000000.000001"}}',
        "out of range",
    ),
]


@pytest.mark.parametrize(("name", "data", "reason"), OUT_OF_RANGE, ids=[n for n, _, _ in OUT_OF_RANGE])
def test_out_of_range_values_are_decode_errors(name: str, data: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_frame(data)


def test_out_of_range_values_are_refused_on_the_hot_path_too() -> None:
    """The delta fast path reads the book-price cache: a price valid for a ticker (cached there) is still refused."""
    decode_frame('{"type":"ticker","msg":{"market_ticker":"M","yes_bid_dollars":"0.0000","yes_ask_dollars":"1.0000"}}')
    for price in ("0.0000", "1.0000"):
        for _ in range(3):
            with pytest.raises(DecodeError, match="strictly between"):
                decode_frame(with_msg(DELTA, price_dollars=price))


def test_values_at_the_edges_of_their_ranges_decode() -> None:
    low = decode_frame(with_msg(DELTA, price_dollars="0.0001", delta_fp="-1000000000000.00", ts_ms=TS_MS_MIN))
    high = decode_frame(with_envelope(with_msg_dict(DELTA, price_dollars="0.9999"), seq=2**63 - 1, sid=0))
    assert isinstance(low, OrderbookDelta) and isinstance(high, OrderbookDelta)
    assert (low.price, low.delta, low.ts_ms) == (1, -MAX_SIZE, TS_MS_MIN)
    assert (high.price, high.seq, high.sid) == (9999, 2**63 - 1, 0)
    assert decode_frame(with_msg(DELTA, delta_fp="0.00")).delta == 0  # type: ignore[union-attr]  # a no-op
    # a ticker's 0 and 1 mean "no bid", "no ask", "never traded" (real tickers send them)
    ticker = decode_frame(
        '{"type":"ticker","msg":{"market_ticker":"M","price_dollars":"0.0000","yes_bid_dollars":"0.0000",'
        f'"yes_ask_dollars":"1.0000","yes_bid_size_fp":"0.00","ts_ms":{TS_MS_MAX}}}}}'
    )
    assert isinstance(ticker, Ticker)
    assert (ticker.price, ticker.yes_bid, ticker.yes_ask, ticker.yes_bid_size) == (0, 0, 10000, 0)
    legacy = decode_frame('{"type":"ticker","msg":{"market_ticker":"M","price":0,"yes_bid":0,"yes_ask":100}}')
    assert isinstance(legacy, Ticker) and (legacy.yes_bid, legacy.yes_ask) == (0, 10000)
    unknown = decode_frame('{"type":"rfq_created","sid":3,"seq":' + str(2**63 - 1) + ',"msg":{}}')
    assert isinstance(unknown, UnknownMessage) and unknown.seq == 2**63 - 1


def with_msg_dict(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(with_msg(base, **fields))
    return out


def test_a_rejected_snapshot_is_not_half_applied() -> None:
    core = Core()
    core.feed(json.dumps(SNAPSHOT), 0)
    bad = with_envelope(with_msg_dict(SNAPSHOT, yes_dollars_fp=[["0.3000", "5.00"], ["1.0000", "5.00"]]), seq=2, sid=1)
    assert core.feed(bad, 1) is None
    market = core.state.markets["M"]
    assert market.book.yes == {4000: 1000} and market.usable
    assert core.counters["decode_errors"] == 1


# -- the real server's habits (PROTOCOL.md 10b) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        ("2026-08-07T06:46:28Z", 1786085188000),
        ("2026-08-07T06:46:28.9Z", 1786085188900),
        ("2026-08-07T06:46:28.25Z", 1786085188250),
        ("2026-08-07T06:46:28.978Z", 1786085188978),
        ("2026-08-07T06:46:28.9787Z", 1786085188978),
        ("2026-08-07T06:46:28.97871Z", 1786085188978),
        ("2026-08-07T06:46:28.978715Z", 1786085188978),
        ("2026-08-07T06:46:28.978715123Z", 1786085188978),
        ("2026-08-07T08:46:28.5+02:00", 1786085188500),
    ],
)
def test_delta_ts_with_any_number_of_fractional_digits(ts: str, expected_ms: int) -> None:
    assert rfc3339_to_ms(ts) == expected_ms
    # without ts_ms the delta's time comes from ts (frames before 2026-04-15); with it, ts_ms wins
    for _ in range(2):  # the second time the price and size are cached: the fast path
        msg = decode_frame(with_msg(DELTA, ts_ms=None, ts=ts))
        assert isinstance(msg, OrderbookDelta) and msg.ts_ms == expected_ms
        both = decode_frame(with_msg(DELTA, ts=ts))
        assert isinstance(both, OrderbookDelta) and both.ts_ms == TS_MS
    body = {"market_ticker": "M", "yes_price_dollars": "0.5", "count_fp": "1", "ts": ts}
    trade = decode_frame(json.dumps({"type": "trade", "msg": body}))
    assert isinstance(trade, Trade) and trade.ts_ms == expected_ms


def test_production_order_book_frames_without_clock_or_sending_ts_ms() -> None:
    """10b.3 and 10b.5: no ``clock``, no ``sending_ts_ms``, an empty side omitted (or both)."""
    snapshot = decode_frame(
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","market_id":"x",'
        '"yes_dollars_fp":[["0.4100","20.00"]]}}'
    )
    assert isinstance(snapshot, OrderbookSnapshot)
    assert (snapshot.clock, snapshot.sending_ts_ms, snapshot.yes, snapshot.no) == (None, None, [(4100, 2000)], [])
    empty = decode_frame('{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","market_id":"x"}}')
    assert isinstance(empty, OrderbookSnapshot) and (empty.yes, empty.no) == ([], [])
    delta = decode_frame(
        '{"type":"orderbook_delta","sid":1,"seq":24,"msg":{"market_ticker":"M","market_id":"x",'
        '"price_dollars":"0.4300","delta_fp":"-100.00","side":"yes","ts":"2026-08-07T06:46:28.97871Z",'
        '"ts_ms":1786085188978}}'
    )
    assert isinstance(delta, OrderbookDelta)
    assert (delta.clock, delta.sending_ts_ms, delta.ts_ms, delta.delta) == (None, None, TS_MS, -10000)
    fill = decode_frame(
        '{"type":"fill","sid":13,"msg":{"market_ticker":"M","yes_price_dollars":"0.7500","count_fp":"2.00",'
        '"ts":"2026-07-01T10:00:00.5Z"}}'
    )
    assert isinstance(fill, Fill) and fill.ts_ms == rfc3339_to_ms("2026-07-01T10:00:00.500Z")


def test_every_captured_frame_decodes(shared_kalshi: Path) -> None:
    frames = 0
    for path in sorted((shared_kalshi / "captures").glob("prod-*")):
        for _, text in iter_recording(path):
            decode_frame(text)  # raises on the first frame that does not decode
            frames += 1
    assert frames > 800


def test_every_fixture_frame_meant_to_be_valid_decodes() -> None:
    from .paths import FIXTURES

    for path in sorted(FIXTURES.glob("*.jsonl")):
        if path.name.startswith("bad_"):
            continue
        for _, text in iter_recording(path):
            decode_frame(text)
