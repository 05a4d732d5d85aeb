"""Fuzzing (issue 12, item 8): hundreds of thousands of mutated real frames fed to ``decode_frame`` and ``Core.feed``.

The seeds are the frames of ``tests/fixtures/*.jsonl`` and, when ``../shared/kalshi/captures`` is there, the real
captures. A seeded ``random.Random`` mutates them: byte flips (invalid UTF-8 included), truncation, duplicated and
removed keys, numbers replaced by huge/negative/float/string values, strings replaced by numbers/null/lists/prices
at $0 and $1, deep nesting, lone surrogates in ``str`` frames. Valid snapshots and in-sequence deltas are interleaved
so that books exist, are usable and take deltas; the structural mutants carry the next ``seq`` of their sid, so a
mutant that decodes is applied to a usable book (the dangerous case). Asserted: ``decode_frame`` raises nothing but
``DecodeError``; ``Core.feed`` raises nothing and contains no handler error; no usable book ever holds a level at or
outside $0..$1 or a size that is not positive; books do get deltas applied while usable.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.kalshi import DecodeError, OrderbookDelta, decode_frame
from market_making_bot.storage.replay import iter_recording
from market_making_bot.units import PRICE_SCALE
from market_making_bot.views.output import LogOutput

from .paths import FIXTURES, SHARED

FUZZ_FRAMES = 300_000
"""Frames of the main run (log level ERROR: the decode-error line is not formatted). About 6 s on one core."""
LOGGED_FRAMES = 20_000
"""Frames of the run with DEBUG logging into an in-memory handler that formats and strictly encodes every line."""
CHECK_EVERY = 2_000
"""Frames between two checks of every book."""
SEED = 20261201

_ORDERBOOK = ("orderbook_snapshot", "orderbook_delta")


def _seed_frames() -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    paths = sorted(FIXTURES.glob("*.jsonl"))
    captures = SHARED / "kalshi" / "captures"
    if captures.is_dir():
        paths += sorted(captures.glob("prod-*"))
    for path in paths:
        for _, text in iter_recording(path):
            try:
                obj = json.loads(text)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("type"), str):
                frames.append(obj)
    return frames


def _dump(obj: Any, rng: random.Random, dup: bool) -> str:
    """JSON text of ``obj``; with ``dup``, some keys of some objects are written twice (the second value differs)."""
    if isinstance(obj, dict):
        parts = []
        for key, value in obj.items():
            parts.append(f"{json.dumps(key)}:{_dump(value, rng, dup)}")
            if dup and rng.random() < 0.15:
                parts.append(f"{json.dumps(key)}:{_dump(_other_value(value, rng), rng, False)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_dump(v, rng, dup) for v in obj) + "]"
    if isinstance(obj, _RawJson):
        return obj.text
    return json.dumps(obj)


class _RawJson:
    """A value written verbatim (numbers JSON allows but Python's json would not produce: 1e400, 400 digits)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_HUGE_NUMBERS = ["9" * 400, "-" + "9" * 30, "1e400", "-1e400", "1e-400", "18446744073709551616", "9223372036854775808"]
_ODD_STRINGS = [
    "0.0000",
    "1.0000",
    "0",
    "1",
    "-0.0100",
    "1.0001",
    "0.00001",
    "-1.00",
    "0.00",
    "1e3",
    "nan",
    "Infinity",
    "",
    " 0.5",
    "0.5 ",
    "٣.00",
    "1_000.00",
    "9" * 60,
    "0." + "0" * 50 + "1",
    "2026-08-07T06:46:28.97871Z",
    "1999-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "yes",
    "no",
    "bid",
    "ask",
    "\x00",
    "x" * 5000,
]


def _other_value(value: Any, rng: random.Random) -> Any:
    """A replacement of another type or range for ``value``."""
    r = rng.random()
    if isinstance(value, bool) or value is None:
        return rng.choice([0, 1, "true", [], {}, -1])
    if isinstance(value, int | float):
        if r < 0.35:
            return _RawJson(rng.choice(_HUGE_NUMBERS))
        if r < 0.55:
            return -value - rng.randint(0, 3)
        if r < 0.7:
            return value + 0.5
        if r < 0.85:
            return str(value)
        return rng.choice([None, [], {}, True, 0, 2**63 - 1, 2**63])
    if isinstance(value, str):
        if r < 0.55:
            return rng.choice(_ODD_STRINGS)
        if r < 0.75:
            return rng.choice([0, 1, 45, -1, 0.5, 1e300])
        if r < 0.9:
            return rng.choice([None, [value], {"v": value}, [[value, value]]])
        return value + rng.choice(["0", "00", ".5", "-", "1"])
    if isinstance(value, list):
        if r < 0.3:
            return []
        if r < 0.5:
            return value + value
        if r < 0.7:
            return [_other_value(v, rng) for v in value]
        return rng.choice([None, "[]", 0, {}])
    if isinstance(value, dict):
        return rng.choice([None, [], "{}", 0, {}])
    return None


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _structural(frame: dict[str, Any], rng: random.Random) -> Any:
    """A deep copy of ``frame`` with one to three values replaced, removed or nested deeply."""
    obj = json.loads(json.dumps(frame))
    paths = list(_paths(obj))
    if not paths:
        return obj
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        parent = obj
        try:
            for key in path[:-1]:
                parent = parent[key]
            key = path[-1]
            value = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, dict | list):  # an earlier replacement turned it into a scalar
            continue
        r = rng.random()
        if r < 0.2 and isinstance(parent, dict):
            del parent[key]
        elif r < 0.22:  # deeper than msgspec's limit on 3.10/3.11 (about 1,000); costly, so seldom
            parent[key] = _RawJson("[" * 1500 + "1" + "]" * 1500)
        else:
            parent[key] = _other_value(value, rng)
    return obj


def _byte_mutant(data: bytes, rng: random.Random) -> bytes | str:
    buf = bytearray(data)
    r = rng.random()
    if r < 0.3:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if r < 0.45:
        return bytes(buf[: rng.randrange(len(buf))])
    if r < 0.6:
        at = rng.randrange(len(buf))
        return bytes(
            buf[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]) + buf[at:]
        )
    if r < 0.75:
        text = data.decode("utf-8")
        at = rng.randrange(len(text))
        return text[:at] + rng.choice(["\ud800", "\udfff", "\udc80x", "\\ud800", "\\udc00"]) + text[at:]
    if r < 0.97:
        at = rng.randrange(len(buf))
        return bytes(buf[:at] + rng.choice([b"[", b"{", b"]", b"}", b",", b'"', b":", b"\\"]) + buf[at:])
    at = rng.randrange(len(buf))
    return bytes(buf[:at] + b"[" * 1500 + buf[at:])


_SEQ = b"987654321"
"""Placeholder of the ``seq`` in a frame template, replaced by the next seq of sid 1 when the frame is sent."""
_TS_MS = 1786085188978


def _decodable(frames: Iterable[bytes]) -> list[bytes]:
    """The frames that decode (the seeds include ``bad_frames.jsonl``): the valid part of the stream."""
    out = []
    for frame in frames:
        try:
            decode_frame(frame)
        except DecodeError:
            continue
        out.append(frame)
    return out


class Corpus:
    """The fuzzed stream. Valid frames: snapshots of the seed markets (renumbered onto sid 1) and deltas made up
    against the listener's current book, so that they keep it consistent (more size at a level it has or below its
    best bid, less at a level it has). Mutants: structural ones (a pool drawn up once from valid frames and from the
    other seed frames, sent with the next seq of sid 1) and byte-level ones, made on the fly from a valid frame.
    Each frame carries the seq that follows the listener's last one on sid 1: a rejected frame consumes no number, as
    garbage a hostile server slips between valid frames would not."""

    POOL = 6_000

    def __init__(self, seed: int, core: Core) -> None:
        self.rng = rng = random.Random(seed)
        self.core = core
        seeds = _seed_frames()
        snapshots = [f for f in seeds if f["type"] == "orderbook_snapshot" and f.get("msg", {}).get("market_ticker")]
        others = [f for f in seeds if f["type"] not in _ORDERBOOK]
        deltas = [f for f in seeds if f["type"] == "orderbook_delta"]
        assert snapshots and others and deltas
        self.tickers = sorted({f["msg"]["market_ticker"] for f in snapshots})
        self.snapshots = _decodable(self._template({**f, "sid": 1, "seq": int(_SEQ)}) for f in snapshots)
        self.valid = [*self.snapshots, *_decodable(json.dumps(f).encode() for f in others)]
        pool_bases = [
            *({**f, "sid": 1, "seq": int(_SEQ)} for f in snapshots),
            *({**f, "sid": 1, "seq": int(_SEQ)} for f in deltas),
            *others,
        ]
        self.pool = []
        for _ in range(self.POOL):
            mutant = _dump(_structural(rng.choice(pool_bases), rng), rng, rng.random() < 0.2).encode()
            self.pool.append(mutant)

    @staticmethod
    def _template(frame: dict[str, Any]) -> bytes:
        return json.dumps(frame, separators=(",", ":")).encode()

    def next_seq(self) -> bytes:
        last = getattr(self.core.sequence, "last_seq", {}).get(1)
        return b"%d" % (1 if last is None else last + 1)

    def delta(self) -> bytes:
        rng = self.rng
        ticker = rng.choice(self.tickers)
        side = rng.choice(("yes", "no"))
        market = self.core.state.markets.get(ticker)
        levels = (market.book.yes if side == "yes" else market.book.no) if market is not None else {}
        if levels and rng.random() < 0.4:
            price, size = rng.choice(list(levels.items()))
            change = -rng.randint(1, size)  # down to zero: the level goes
        else:
            best = max(levels) if levels else 5000
            price = rng.choice(list(levels)) if levels and rng.random() < 0.5 else max(1, best - rng.randint(0, 500))
            change = rng.randint(1, 5000)
        sign = "-" if change < 0 else ""
        return (
            b'{"type":"orderbook_delta","sid":1,"seq":%s,"msg":{"market_ticker":"%s","price_dollars":"0.%04d",'
            b'"delta_fp":"%s%d.%02d","side":"%s","ts":"2026-08-07T06:46:28.97871Z","ts_ms":%d}}'
            % (
                self.next_seq(),
                ticker.encode(),
                price,
                sign.encode(),
                abs(change) // 100,
                abs(change) % 100,
                side.encode(),
                _TS_MS,
            )
        )

    def frame(self) -> bytes | str:
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            return rng.choice(self.snapshots).replace(_SEQ, self.next_seq(), 1)
        if r < 0.5:
            return self.delta()
        if r < 0.53:
            return rng.choice(self.valid).replace(_SEQ, self.next_seq(), 1)
        if r < 0.78:
            out = rng.choice(self.pool).replace(_SEQ, self.next_seq(), 1)
            return out.decode() if rng.random() < 0.1 else out
        base = self.delta() if r < 0.9 else rng.choice(self.valid).replace(_SEQ, self.next_seq(), 1)
        return _byte_mutant(base, rng)

    def opening(self) -> Iterator[bytes]:
        yield b'{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}'
        for snap in self.snapshots:
            yield snap.replace(_SEQ, self.next_seq(), 1)


class _StrictHandler(logging.Handler):
    """Formats every record and encodes it as strict UTF-8, like a file handler; any failure fails the test."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record).encode("utf-8")
        self.lines += 1

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        import sys

        self.failures.append(f"{sys.exc_info()[1]!r} in {record.msg!r}")


def _check_books(core: Core) -> int:
    """Assert the invariant of every usable book; returns how many books are usable."""
    usable = 0
    for ticker, market in core.state.markets.items():
        if not market.usable:
            continue
        usable += 1
        for side, levels in (("yes", market.book.yes), ("no", market.book.no)):
            for price, size in levels.items():
                assert 0 < price < PRICE_SCALE, f"usable book {ticker}: {side} level at {price}"
                assert size > 0, f"usable book {ticker}: {side} size {size} at {price}"
    return usable


def _run(core: Core, count: int, seed: int) -> dict[str, int]:
    seen = {"frames": 0, "decoded": 0, "decode_errors": 0, "checks_with_usable_books": 0, "deltas_on_usable": 0}
    fuzz = Corpus(seed, core)
    feed = core.feed
    recv_ns = 1_786_085_188_000_000_000
    for data in fuzz.opening():
        feed(data, recv_ns)
    for i in range(count):
        data = fuzz.frame()
        try:
            msg = decode_frame(data)
        except DecodeError:
            seen["decode_errors"] += 1
        else:
            seen["decoded"] += 1
            if msg.__class__ is OrderbookDelta:
                market = core.state.markets.get(msg.market_ticker)  # type: ignore[union-attr]
                if market is not None and market.usable:
                    seen["deltas_on_usable"] += 1
        recv_ns += 1_000_000
        feed(data, recv_ns)  # raises nothing, or the test fails here
        seen["frames"] += 1
        if i % CHECK_EVERY == 0 and _check_books(core):
            seen["checks_with_usable_books"] += 1
    _check_books(core)
    return seen


def test_fuzzed_frames_never_escape_and_never_corrupt_a_usable_book(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("test_fuzz_frames.quiet")
    log.setLevel(logging.ERROR)  # handler errors (log.exception) would still show; decode errors are not formatted
    log.propagate = False
    handler = _StrictHandler()
    log.addHandler(handler)
    try:
        core = Core()  # every market (mutated tickers too), as a run without --ticker
        LogOutput(log).attach(core.bus, every_kind=True)
        started = time.perf_counter()
        seen = _run(core, FUZZ_FRAMES, SEED)
        elapsed = time.perf_counter() - started
    finally:
        log.removeHandler(handler)
    with capsys.disabled():
        print(f"\n  fuzz: {seen['frames']:,} frames in {elapsed:.1f} s ({elapsed / seen['frames'] * 1e6:.1f} us/frame)")
    counters = core.counters
    assert seen["frames"] == FUZZ_FRAMES and counters["frames"] > FUZZ_FRAMES
    assert counters["handler_errors"] == 0, handler.failures
    assert counters["decode_errors"] == seen["decode_errors"]
    # the corpus is what it says: plenty of both, and deltas did land on usable books
    assert seen["decode_errors"] > FUZZ_FRAMES // 5 and seen["decoded"] > FUZZ_FRAMES // 3, seen
    assert seen["deltas_on_usable"] > FUZZ_FRAMES // 30, seen
    assert seen["checks_with_usable_books"] > (FUZZ_FRAMES // CHECK_EVERY) // 2, seen
    assert not handler.failures


def test_fuzzed_frames_with_every_log_line_formatted() -> None:
    """The same corpus (another seed) at DEBUG: every log line of every kind is formatted and encoded strictly."""
    log = logging.getLogger("test_fuzz_frames.debug")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handler = _StrictHandler()
    log.addHandler(handler)
    try:
        core = Core()
        LogOutput(log).attach(core.bus, every_kind=True)
        seen = _run(core, LOGGED_FRAMES, SEED + 1)
    finally:
        log.removeHandler(handler)
    assert not handler.failures, handler.failures[:5]
    assert core.counters["handler_errors"] == 0
    assert handler.lines > LOGGED_FRAMES  # snapshots and deltas print several lines each
    assert seen["decode_errors"] > LOGGED_FRAMES // 5
