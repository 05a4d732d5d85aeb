"""The compiled delta path (``feed/_hotpath.c``) against its pure-Python twin, the reference (issue 17).

The same seeded stream of frames (every modelled type, unknown types, acks and errors, sequence gaps, duplicates and
regressions, deltas for unknown markets, on other sids, crossing the book and taking levels below zero, and
malformed or merely unusual frames: escapes, legacy integer fields, keys in another order, whitespace, nulls,
repeated keys, non-canonical numbers, trailing garbage, str and bytes, connection losses and reopenings) goes through
a ``Core`` on each path; every returned message, every event and the final state must be identical. The million-frame
run is marked slow; a 60,000-frame run of the same stream is in the fast tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from market_making_bot.feed import core as core_module
from market_making_bot.feed import events as ev
from market_making_bot.feed import hotpath
from market_making_bot.feed.core import Core
from market_making_bot.marketdata.state import MarketState

pytestmark = pytest.mark.skipif(
    not hotpath.COMPILED, reason="the compiled hot path is not built (or MARKET_MAKING_BOT_PURE forces it off)"
)

MARKETS = [f"KXTWIN-26DEC31-M{i:02d}" for i in range(8)]
OPEN, LOST, UNTIMED, TIMED, LISTEN = "open", "lost", "untimed", "timed", "listen"
_T0_MS = 1_790_000_000_000


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _price(rng: random.Random) -> str:
    return f"0.{rng.randint(1, 99):02d}00" if rng.random() < 0.9 else f"0.{rng.randint(1, 9999):04d}"


def _size(rng: random.Random) -> str:
    return f"{rng.randint(1, 900)}.{rng.choice(['00', '00', '50', '25'])}"


def _units(size: str) -> int:
    whole, frac = size.split(".")
    return int(whole) * 100 + int(frac)


def _odd_delta(rng: random.Random, body: dict[str, Any], top: dict[str, Any]) -> str:
    """A delta frame the compiled path must hand back (or read exactly like the pure path)."""
    kind = rng.randrange(22)
    b = dict(body)
    t = dict(top)
    if kind == 0:
        b["market_ticker"] = b["market_ticker"].replace("M", "\\u004d", 1)
    elif kind == 1:
        b["price"] = int(b.pop("price_dollars")[2:4]) or 1
    elif kind == 2:
        b["delta"] = int(float(b.pop("delta_fp")))
    elif kind == 3:
        b.pop("ts_ms")
    elif kind == 4:
        b["market_id"] = None
    elif kind == 5:
        b["price_dollars"] = rng.choice(["0.45", "0.450000", "1.0000", "0.0000", "0.45x0", "-0.4500", ".4500", ""])
    elif kind == 6:
        b["delta_fp"] = rng.choice(["5", "-0.00", "1e3", "1.5", "+3.00", "12.001", "9999999999999.00", "--1.00"])
    elif kind == 7:
        t["sid"] = rng.choice([-1, 2**63, 2**64, 1.0, True, None, "1"])
    elif kind == 8:
        t["seq"] = rng.choice([0, 10**19, -5, None, 1.5])
    elif kind == 9:
        t["sending_ts_ms"] = rng.choice([_T0_MS, 5, 10**14, None])
    elif kind == 10:
        b["extra"] = {"nested": [1, 2, {"x": None}]}
    elif kind == 11:
        b["side"] = rng.choice(["YES", "maybe", "", None])
    elif kind == 12:
        b["client_order_id"] = rng.choice(["coid-1", "", "\u00e9t\u00e9", None])
    elif kind == 13:
        b["clock"] = rng.choice([0, 7, 2**63, -1, None])
    elif kind == 14:
        b["ts_ms"] = rng.choice([1, 10**13, _T0_MS, "1790000000000"])
    elif kind == 15:
        t["id"] = rng.choice([3, None, -2])
    t["msg"] = b
    text = _dumps(t)
    if kind == 16:
        text = text.replace(",", ", ").replace(":", " : ")
    elif kind == 17:
        text = text + rng.choice([" ", "\n", "x", "}", " {}"])
    elif kind == 18:
        text = text[: rng.randrange(1, len(text))]
    elif kind == 19:  # a repeated key: which one wins is msgspec's business; the compiled path hands it back
        text = text.replace('"side":', '"side":"yes","side":', 1)
    elif kind == 20:  # keys in another order
        items = list(b.items())
        rng.shuffle(items)
        text = _dumps({"msg": dict(items), **{k: v for k, v in t.items() if k != "msg"}})
    elif kind == 21:
        text = text.replace('"type":"orderbook_delta"', '"type":"orderbook_deltas"')
    return text


def stream(count: int, seed: int) -> Iterator[str | bytes]:
    """``count`` frames (and control words) of a seeded session over ``MARKETS``."""
    rng = random.Random(seed)
    seqs = {1: 0, 2: 0, 3: 0, 4: 0}
    books: dict[tuple[str, str], dict[str, int]] = {}
    ts = _T0_MS
    n = 0

    def nxt(sid: int) -> int:
        seqs[sid] += 1
        r = rng.random()
        if r < 0.002:
            seqs[sid] += rng.randint(1, 3)  # a gap
        elif r < 0.003:
            return seqs[sid] - 1  # a duplicate
        elif r < 0.0035:
            seqs[sid] = max(1, seqs[sid] - 5)  # a regression
        return seqs[sid]

    def snapshot(m: str) -> str:
        yes = [[_price(rng), _size(rng)] for _ in range(rng.randint(0, 6))]
        no = [[f"0.{rng.randint(1, 40):02d}00", _size(rng)] for _ in range(rng.randint(0, 6))]
        books[(m, "yes")] = {p: _units(z) for p, z in yes}
        books[(m, "no")] = {p: _units(z) for p, z in no}
        body: dict[str, Any] = {"market_ticker": m, "market_id": "id-" + m}
        if yes:
            body["yes_dollars_fp"] = yes
        if no:
            body["no_dollars_fp"] = no
        return _dumps({"type": "orderbook_snapshot", "sid": 1, "seq": nxt(1), "msg": body})

    yield from (snapshot(m) for m in MARKETS)
    while n < count:
        n += 1
        ts += rng.randint(0, 3)
        r = rng.random()
        m = rng.choice(MARKETS) if rng.random() < 0.97 else "KXTWIN-UNKNOWN"
        if r < 0.0004:
            yield rng.choice([OPEN, LOST, UNTIMED, TIMED, LISTEN])
            if rng.random() < 0.5:
                for sid, channel in ((1, "orderbook_delta"), (2, "ticker"), (3, "trade"), (4, "fill")):
                    seqs[sid] = 0
                    yield _dumps({"type": "subscribed", "id": sid, "msg": {"channel": channel, "sid": sid}})
                yield from (snapshot(mm) for mm in MARKETS)
            continue
        if r < 0.003:
            yield snapshot(m)
        elif r < 0.70:
            side = rng.choice(["yes", "no"])
            levels = books.setdefault((m, side), {})
            if levels and rng.random() < 0.6:
                price = rng.choice(list(levels))
            else:
                price = _price(rng) if side == "yes" else f"0.{rng.randint(1, 60):02d}00"
            have = levels.get(price, 0)
            edge = rng.random()
            if have and edge < 0.15:  # exactly what rests, one hundredth less, or one more: the level's boundaries
                change = -have + rng.choice([0, 0, 1, -1])
            elif edge < 0.45:
                change = -rng.randint(1, 90_000)
            else:
                change = rng.randint(1, 90_000)
            levels[price] = max(0, have + change)
            if not levels[price]:
                del levels[price]
            delta = f"{'-' if change < 0 else ''}{abs(change) // 100}.{abs(change) % 100:02d}"
            body = {
                "market_ticker": m,
                "market_id": "id-" + m,
                "clock": n,
                "price_dollars": price,
                "delta_fp": delta,
                "side": side,
                "ts": "2026-09-21T14:13:20.007000Z",
                "ts_ms": ts,
            }
            sid = 1 if rng.random() < 0.995 else 9
            top: dict[str, Any] = {"type": "orderbook_delta", "sid": sid, "seq": nxt(1) if sid == 1 else n}
            if rng.random() < 0.1:
                top["sending_ts_ms"] = ts + 2
            if rng.random() < 0.02:
                body["client_order_id"] = f"c{n}"
            text = _odd_delta(rng, body, top) if rng.random() < 0.06 else _dumps({**top, "msg": body})
            yield text.encode() if rng.random() < 0.7 else text
        elif r < 0.86:
            body = {
                "market_ticker": m,
                "price_dollars": _price(rng),
                "yes_bid_dollars": _price(rng),
                "yes_ask_dollars": rng.choice([_price(rng), "1.0000"]),
                "volume_fp": f"{n * 3}.00",
                "open_interest_fp": f"{n}.{n % 100:02d}",
                "dollar_volume": n,
                "yes_bid_size_fp": _size(rng),
                "ts_ms": ts,
            }
            if rng.random() < 0.03:
                body[rng.choice(["volume_fp", "yes_bid_size_fp", "price_dollars"])] = rng.choice(["-1.00", "x", "1e3"])
            yield _dumps({"type": "ticker", "sid": 2, "seq": nxt(2), "msg": body})
        elif r < 0.95:
            body = {
                "trade_id": f"t{n % 5000}",
                "market_ticker": m,
                "yes_price_dollars": _price(rng),
                "count_fp": _size(rng),
                "taker_outcome_side": rng.choice(["yes", "no"]),
                "ts_ms": ts,
            }
            yield _dumps({"type": "trade", "sid": 3, "seq": nxt(3), "msg": body})
        elif r < 0.97:
            fill = {
                "trade_id": f"f{n}",
                "order_id": "o1",
                "market_ticker": m,
                "yes_price_dollars": _price(rng),
                "count_fp": _size(rng),
                "outcome_side": "yes",
                "action": "buy",
                "fee_cost": "0.010000",
                "post_position_fp": _size(rng),
                "ts_ms": ts,
            }
            yield _dumps({"type": "fill", "sid": 4, "seq": nxt(4), "msg": fill})
        elif r < 0.98:
            position = {"market_ticker": m, "position_fp": _size(rng), "position_cost_dollars": f"{n}.500000"}
            yield _dumps({"type": "market_position", "sid": 4, "seq": nxt(4), "msg": position})
        elif r < 0.99:
            order = {
                "order_id": f"o{n}",
                "ticker": m,
                "status": "resting",
                "yes_price_dollars": _price(rng),
                "fill_count_fp": "0.00",
                "remaining_count_fp": "5.00",
                "initial_count_fp": "5.00",
                "book_side": "bid",
            }
            yield _dumps({"type": "user_order", "sid": 5, "msg": order})
        elif r < 0.993:
            group = {"event_type": "created", "order_group_id": f"g{n}", "contracts_limit_fp": "10.00"}
            yield _dumps({"type": "order_group_updates", "sid": 6, "msg": group})
        elif r < 0.995:
            yield _dumps({"type": "market_lifecycle_v2", "sid": 7, "seq": n, "msg": {"market_ticker": m}})
        elif r < 0.997:
            yield _dumps(
                {"type": "error", "sid": rng.choice([1, 2, 8]), "msg": {"code": rng.choice([6, 10]), "msg": "x"}}
            )
        elif r < 0.998:
            yield _dumps({"type": "ok", "sid": rng.choice([1, 2]), "seq": nxt(1), "msg": {"market_tickers": [m]}})
        else:
            yield rng.choice(["", "null", "[1]", "{", '{"type":7}', b"\xff\xfe", '{"type":"orderbook_delta"}'])


def _describe(value: Any) -> Any:
    if isinstance(value, MarketState):
        return ("market", value.market_ticker)
    return value


def _event_line(event: ev.Event) -> str:
    return repr((type(event).__name__, *(_describe(getattr(event, f.name)) for f in dataclasses.fields(event))))


def _final_state(core: Core) -> str:
    markets = []
    for ticker in sorted(core.state.markets):
        m = core.state.markets[ticker]
        spread = m.spread
        markets.append(
            (
                ticker,
                m.book.levels("yes"),
                m.book.levels("no"),
                m.book.best_yes_bid(),
                m.book.best_no_bid(),
                m.has_snapshot,
                m.sid,
                m.invalid_reason,
                m.last_recv_ns,
                repr(m.last_ticker),
                repr(m.last_position),
                [repr(t) for t in m.trades],
                [repr(f) for f in m.fills],
                m.position,
                [getattr(spread, name) for name in type(spread).__slots__],
            )
        )
    return repr(
        (
            markets,
            core.summary(),
            dict(core.sequence.last_seq),
            list(core.latencies_ms),
            core.latency_samples,
        )
    )


def run(frames: list[str | bytes], compiled: bool) -> tuple[list[str], str, int]:
    """Feed ``frames`` on one path; per-chunk digests of every returned message and event, the final state, and how
    many frames the compiled path took whole (0 on the pure path)."""
    saved = core_module._HOT_FRAME
    core_module._HOT_FRAME = saved if compiled else None
    try:
        core = Core()
        lines: list[str] = []

        def record(event: ev.Event) -> None:
            lines.append(_event_line(event))

        kinds = [c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event) and c is not ev.Event]
        for kind in kinds:
            if kind is not ev.BookChanged:
                core.bus.subscribe(kind, record)
        digests: list[str] = []
        h = hashlib.sha256()
        timed = True
        stop_listening: Callable[[], None] | None = None
        recv_ns = 0
        fast_before = 0
        for i, frame in enumerate(frames):
            recv_ns += 1_000_000
            if frame == OPEN:
                core.connection_opened(recv_ns)
            elif frame == LOST:
                core.connection_lost("test", recv_ns)
            elif frame == UNTIMED:
                timed = False
            elif frame == TIMED:
                timed = True
            elif frame == LISTEN:
                if stop_listening is not None:
                    stop_listening()
                    stop_listening = None
                else:
                    stop_listening = core.bus.subscribe(ev.BookChanged, record)
            else:
                msg = core.feed(frame, recv_ns, timed)
                lines.append(repr(msg))
            if len(lines) > 2000 or i == len(frames) - 1:
                h.update("\n".join(lines).encode())
                lines.clear()
            if i % 20_000 == 19_999:
                digests.append(h.hexdigest())
        digests.append(h.hexdigest())
        fast_before = core._fast_deltas
        return digests, _final_state(core), fast_before
    finally:
        core_module._HOT_FRAME = saved


def _check(count: int, seed: int) -> None:
    frames = list(stream(count, seed))
    pure_digests, pure_state, _ = run(frames, compiled=False)
    fast_digests, fast_state, _ = run(frames, compiled=True)
    for k, (a, b) in enumerate(zip(pure_digests, fast_digests, strict=True)):
        assert a == b, f"events differ from frame {k * 20_000} on"
    assert fast_state == pure_state


def test_compiled_path_takes_the_canonical_deltas() -> None:
    # The differential test means something only if the compiled path does the work: most deltas are its.
    core = Core()
    frames = list(stream(20_000, 3))
    taken = 0
    for i, frame in enumerate(frames):
        if isinstance(frame, bytes) and frame.startswith(b'{"type":"orderbook_delta"'):
            done = hotpath.delta(frame, i, core.sequence.last_seq, core.state.markets, False)
            taken += done is not None
        if frame not in (OPEN, LOST, UNTIMED, TIMED, LISTEN):
            core.feed(frame, i)
    assert taken > 8_000


def test_twin_60k_frames() -> None:
    _check(60_000, seed=11)


@pytest.mark.slow
def test_twin_million_frames() -> None:
    _check(1_000_000, seed=17)


@pytest.mark.slow
@pytest.mark.parametrize(("value", "expected"), [("1", "pure"), ("0", "compiled"), ("", "compiled")])
def test_environment_variable_forces_the_pure_path(value: str, expected: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, hotpath.PURE_ENV: value}
    code = "from market_making_bot.feed import core, hotpath; print(hotpath.path_name(), core._HOT_FRAME is None)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [expected, str(expected == "pure")]
