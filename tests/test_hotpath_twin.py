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
from market_making_bot.kalshi.messages import Trade
from market_making_bot.marketdata.state import MarketState

pytestmark = pytest.mark.skipif(
    not hotpath.COMPILED, reason="the compiled hot path is not built (or MARKET_MAKING_BOT_PURE forces it off)"
)

MARKETS = [f"KXTWIN-26DEC31-M{i:02d}" for i in range(8)]
OPEN, LOST, UNTIMED, TIMED, LISTEN, QUIET = "open", "lost", "untimed", "timed", "listen", "quiet"
CONTROLS = (OPEN, LOST, UNTIMED, TIMED, LISTEN, QUIET)
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


def _odd_text(rng: random.Random, top: dict[str, Any], body: dict[str, Any], kind: str) -> str:
    """A ticker or trade frame made unusual in a way both kinds share (the text, the envelope, the key order)."""
    odd = rng.randrange(14)
    t = dict(top)
    b = dict(body)
    if odd == 0:
        b["market_ticker"] = b["market_ticker"].replace("M", "\\u004d", 1)
    elif odd == 1:
        t["sid"] = rng.choice([-1, 2**63, 1.0, True, None, "2"])
    elif odd == 2:
        t["seq"] = rng.choice([0, 10**19, -5, None, 1.5])
    elif odd == 3:
        t["sending_ts_ms"] = rng.choice([5, 10**14, None, "1790000000000"])
    elif odd == 4:
        b["ts_ms"] = rng.choice([1, 10**13, None, "1790000000000", 1.5])
    elif odd == 5:
        b[rng.choice(["extra", "market_id", "Clock"])] = rng.choice(
            [{"nested": [1]}, [1, 2], 1.5, 1e3, True, False, None, -7, "\u00e9t\u00e9", 10**20, ""]
        )
    elif odd == 6:
        b["ts"] = rng.choice([1_790_000_000, 5, "2026-09-21T14:13:20Z", None, 1.5, 10**10])
        if rng.random() < 0.5:
            b.pop("ts_ms", None)
    elif odd == 7:
        t["extra"] = 1
    t["msg"] = b
    text = _dumps(t)
    if odd == 8:
        text = text.replace(",", ", ").replace(":", " : ")
    elif odd == 9:
        text = text + rng.choice([" ", "\n", "x", "}", " {}"])
    elif odd == 10:
        text = text[: rng.randrange(1, len(text))]
    elif odd == 11:  # a repeated key
        key = rng.choice(list(b))
        text = text.replace(f'"{key}":', f'"{key}":{_dumps(b[key])},"{key}":', 1)
    elif odd == 12:  # keys in another order, the body before the type
        items = list(b.items())
        rng.shuffle(items)
        text = _dumps({"msg": dict(items), **{k: v for k, v in t.items() if k != "msg"}})
    elif odd == 13:
        text = text.replace(f'"type":"{kind}"', f'"type":"{kind}s"')
    return text


_TICKER_ODD_VALUES: dict[str, list[Any]] = {
    "price_dollars": ["", "0.4350", "0.43", "1.0000", "0.0000", "1.0001", "-0.4300", "1e3", None, 43],
    "yes_bid_dollars": ["", "0.0001", "0.9999", "00.4300", "0.43000"],
    "yes_ask_dollars": ["", "1.0000", "2.0000", "0.4300 "],
    "volume_fp": ["999999999999.99", "1000000000000.00", "-1.00", "-0.00", "0.00", "12.5", "1e3", "007.00", ""],
    "open_interest_fp": ["999999999999.99", "-3.00", "+3.00", "3.001", "3.000"],
    "dollar_volume": [0, 10**12, 10**12 + 1, -5, 2**63, 1.5, "7", None],
    "dollar_open_interest": [0, 10**12, -1, 10**13],
    "yes_bid_size_fp": ["-1.00", "-0.00", "0.00", "1.5", "999999999999.99", "9999999999999.00", ""],
    "yes_ask_size_fp": ["-5.00", "12.34", "abc"],
    "last_trade_size_fp": ["-0.01", "0.01", "113.00"],
    "price": [43, 0, 100],  # legacy integer fields
    "yes_bid": [4],
    "yes_ask": [95],
    "volume": [13446],
    "open_interest": [892],
}

_TRADE_ODD_VALUES: dict[str, list[Any]] = {
    "yes_price_dollars": ["", "0.0000", "1.0000", "0.4350", "0.43", "-0.4300", None, 43],
    "no_price_dollars": ["", "0.5700", "0.0000", "0.5650", "0.57"],
    "count_fp": ["-1.00", "-0.00", "0.00", "", "1e3", "999999999999.99", "1000000000000.00", None, 5],
    "trade_id": ["", "\u00e9", None, 7, "t1"],
    "taker_outcome_side": ["YES", "", "maybe", None, "no"],
    "taker_side": ["yes", "no", "", None],
    "taker_book_side": ["bid", "ask", "BID", None],
    "is_block_trade": [True, False, None, {"x": 1}],
    "yes_price": [43],  # legacy integer fields
    "no_price": [57],
    "count": [3],
}


_FILL_ODD_VALUES: dict[str, list[Any]] = {
    "yes_price_dollars": ["", "0.0000", "1.0000", "0.45", "-0.4500", None, 0.45, "0.4500 ", "0.0001", "0.9999"],
    "count_fp": ["-1.00", "-0.00", "0.00", "", "1e3", "999999999999.99", "1000000000000.00", None, 5],
    "fee_cost": ["0.0175", "-0.010000", "0.000000", "999999999999.999999", "1000000000000.000000", "1e-3", "", None],
    "fee_dollars": ["0.017500", 0.0175, None],
    "price_dollars": ["0.4500", 0.45, None, ""],
    "post_position_fp": ["-0.00", "-999999999999.99", "1000000000000.00", "12.5", "", None, "-5.00"],
    "post_position": [5, -5, None],  # legacy integer fields
    "yes_price": [45, 0, None],
    "count": [3, -1],
    "is_taker": [True, False, None, 1, "true"],
    "trade_id": ["", "\u00e9", None, 7, "f1"],
    "order_id": ["", None, "o2", 5],
    "client_order_id": ["c1", "", None, "\u00e9"],
    "outcome_side": ["", "yes", "no", None, "buy"],
    "purchased_side": ["", "yes", "sell", None],
    "side": ["buy", "sell", "", "yes", None],
    "action": ["", "buy", "sell", None, "BUY"],
    "ts_ms": [None, 1, 10**13, "x"],
    "ts": [1_790_000_000, "2026-09-21T14:13:20Z", 5, None, 1.5],
    "exchange_index": [0, None, {"x": 1}],
}

_POSITION_ODD_VALUES: dict[str, list[Any]] = {
    "position_fp": ["-0.00", "12.5", "", "999999999999.99", "-1000000000000.00", None, 5, "-999999999999.99"],
    "position_cost_dollars": ["1.5", "-0.000000", "999999999999.999999", "", None, "1e3", 1.5],
    "realized_pnl_dollars": ["-1.500000", "0.0000001", "-999999999999.999999"],
    "fees_paid_dollars": ["0.010000", "x"],
    "position_fee_cost_dollars": ["-0.010000", None],
    "volume_fp": ["-0.00", "-1.00", "0.00", "12.5", "1e3", None, "999999999999.99"],
    "position": [5, -3],  # legacy integer fields
    "position_cost": [100],
    "volume": [7],
    "user_id": ["u", None, 5],
}


def _money(rng: random.Random) -> str:
    micro = rng.choice([0, rng.randint(1, 99), rng.randint(0, 10**7), rng.randint(0, 10**18 - 1)])
    sign = "-" if rng.random() < 0.2 else ""
    return f"{sign}{micro // 10**6}.{micro % 10**6:06d}"


def _signed_size(rng: random.Random) -> str:
    return rng.choice(["", "-"]) + _size(rng)


def _odd_fields(rng: random.Random, body: dict[str, Any], values: dict[str, list[Any]]) -> dict[str, Any]:
    b = dict(body)
    for _ in range(rng.choice([1, 1, 1, 2])):
        key = rng.choice(list(values))
        if rng.random() < 0.15:
            b.pop(key, None)  # a missing field
        else:
            b[key] = rng.choice(values[key])
    return b


def stream(count: int, seed: int) -> Iterator[str | bytes]:
    """``count`` frames (and control words) of a seeded session over ``MARKETS``."""
    rng = random.Random(seed)
    seqs = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    recent_fills: list[tuple[str, str]] = []
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
            yield rng.choice(CONTROLS)
            if rng.random() < 0.5:
                for sid, channel in (
                    (1, "orderbook_delta"),
                    (2, "ticker"),
                    (3, "trade"),
                    (4, "fill"),
                    (5, "market_positions"),
                ):
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
                "market_id": "id-" + m,
                "market_ticker": m,
                "price_dollars": _price(rng),
                "yes_bid_dollars": _price(rng),
                "yes_ask_dollars": rng.choice([_price(rng), "1.0000"]),
                "volume_fp": f"{n * 3}.00",
                "open_interest_fp": f"{n}.{n % 100:02d}",
                "dollar_volume": n,
                "dollar_open_interest": n // 3,
                "yes_bid_size_fp": _size(rng),
                "yes_ask_size_fp": _size(rng),
                "last_trade_size_fp": _size(rng),
                "ts": ts // 1000,
                "ts_ms": ts,
                "time": "2026-09-21T14:13:20.007Z",
            }
            for key in ("dollar_open_interest", "yes_ask_size_fp", "last_trade_size_fp", "ts", "time", "market_id"):
                if rng.random() < 0.2:
                    body.pop(key)
            top = {"type": "ticker", "sid": 2}
            if rng.random() < 0.3:  # the simulator and Kalshi send tickers without seq; the twin stream also with
                top["seq"] = nxt(2)
            if rng.random() < 0.5:
                top["sending_ts_ms"] = ts + rng.randint(0, 3)
            roll = rng.random()
            if roll < 0.08:
                text = _dumps({**top, "msg": _odd_fields(rng, body, _TICKER_ODD_VALUES)})
            elif roll < 0.12:
                text = _odd_text(rng, top, body, "ticker")
            else:
                text = _dumps({**top, "msg": body})
            yield text.encode() if rng.random() < 0.5 else text
        elif r < 0.95:
            price = _price(rng)
            body = {
                "trade_id": f"t{n % 5000}",
                "market_ticker": m,
                "yes_price_dollars": price,
                "no_price_dollars": f"0.{10_000 - int(price[2:]):04d}",
                "count_fp": _size(rng),
                "taker_side": rng.choice(["yes", "no"]),
                "taker_outcome_side": rng.choice(["yes", "no"]),
                "taker_book_side": rng.choice(["bid", "ask"]),
                "is_block_trade": False,
                "ts": ts // 1000,
                "ts_ms": ts,
            }
            for key in ("no_price_dollars", "taker_side", "taker_book_side", "is_block_trade", "ts"):
                if rng.random() < 0.2:
                    body.pop(key)
            if rng.random() < 0.1:  # only the NO price
                body.pop("yes_price_dollars")
                body.setdefault("no_price_dollars", "0.3300")
            top = {"type": "trade", "sid": 3, "seq": nxt(3)}
            if rng.random() < 0.5:
                top["sending_ts_ms"] = ts + rng.randint(0, 3)
            roll = rng.random()
            if roll < 0.08:
                text = _dumps({**top, "msg": _odd_fields(rng, body, _TRADE_ODD_VALUES)})
            elif roll < 0.12:
                text = _odd_text(rng, top, body, "trade")
            else:
                text = _dumps({**top, "msg": body})
            yield text.encode() if rng.random() < 0.5 else text
        elif r < 0.975:
            # a fill as the simulator sends it (or its legacy spelling), or the near-canonical one Kalshi documents
            if recent_fills and rng.random() < 0.1:
                trade_id, order_id = rng.choice(recent_fills)  # delivered twice (around a reconnect)
            else:
                trade_id, order_id = f"f{n}", rng.choice(["o1", "o2", f"o{n}"])
                recent_fills.append((trade_id, order_id))
                del recent_fills[:-50]
            side = rng.choice(["yes", "no"])
            shape = rng.random()
            if shape < 0.6:
                fill = {"trade_id": trade_id, "order_id": order_id}
                if rng.random() < 0.3:
                    fill["client_order_id"] = f"c{n}"
                fill.update(
                    {
                        "market_ticker": m,
                        "exchange_index": 0,
                        "is_taker": rng.random() < 0.5,
                        "side": side,
                        "yes_price_dollars": _price(rng),
                        "count_fp": _size(rng),
                        "fee_cost": _money(rng),
                        "action": rng.choice(["buy", "sell"]),
                        "ts": ts // 1000,
                        "ts_ms": ts,
                        "post_position_fp": _signed_size(rng),
                        "purchased_side": side,
                        "outcome_side": side,
                        "book_side": "bid" if side == "yes" else "ask",
                    }
                )
            elif shape < 0.7:  # the simulator's legacy spelling: integers only (the pure path)
                fill = {
                    "trade_id": trade_id,
                    "order_id": order_id,
                    "market_ticker": m,
                    "is_taker": True,
                    "side": side,
                    "yes_price": rng.randint(1, 99),
                    "count": rng.randint(1, 50),
                    "action": "buy",
                    "ts": ts // 1000,
                    "post_position": rng.randint(-50, 50),
                    "purchased_side": side,
                }
            else:  # near-canonical: fewer fields, legacy integers beside, the action in ``side``
                fill = {
                    "market_ticker": m,
                    "yes_price_dollars": _price(rng),
                    "count_fp": _size(rng),
                    "ts_ms": ts,
                }
                if rng.random() < 0.8:
                    fill["trade_id"] = trade_id
                if rng.random() < 0.7:
                    fill["order_id"] = order_id
                if rng.random() < 0.5:
                    fill["side"] = rng.choice(["buy", "sell", side])
                if rng.random() < 0.5:
                    fill["fee_cost"] = _money(rng)
                if rng.random() < 0.5:
                    fill["post_position_fp"] = _signed_size(rng)
                if rng.random() < 0.2:
                    fill.update({"yes_price": 45, "count": 3, "post_position": -2})
                items = list(fill.items())
                rng.shuffle(items)
                fill = dict(items)
            top = {"type": "fill", "sid": 4}
            if rng.random() < 0.5:
                top["seq"] = nxt(4)
            if rng.random() < 0.3:
                top["sending_ts_ms"] = ts + rng.randint(0, 3)
            roll = rng.random()
            if roll < 0.1:
                text = _dumps({**top, "msg": _odd_fields(rng, fill, _FILL_ODD_VALUES)})
            elif roll < 0.14:
                text = _odd_text(rng, top, fill, "fill")
            else:
                text = _dumps({**top, "msg": fill})
            yield text.encode() if rng.random() < 0.5 else text
        elif r < 0.985:
            position = {
                "user_id": "u1",
                "market_ticker": m,
                "position_fp": _signed_size(rng),
                "position_cost_dollars": _money(rng),
                "realized_pnl_dollars": _money(rng),
                "fees_paid_dollars": _money(rng),
                "position_fee_cost_dollars": _money(rng),
                "volume_fp": _size(rng),
            }
            if rng.random() < 0.1:  # the legacy integers beside (real frames), or instead (the simulator's legacy)
                position.update({"position": 3, "position_cost": 100, "volume": 7})
                if rng.random() < 0.5:
                    for key in ("position_fp", "position_cost_dollars", "volume_fp"):
                        position.pop(key)
            top = {"type": "market_position", "sid": 5}
            if rng.random() < 0.3:
                top["seq"] = nxt(5)
            roll = rng.random()
            if roll < 0.1:
                text = _dumps({**top, "msg": _odd_fields(rng, position, _POSITION_ODD_VALUES)})
            elif roll < 0.14:
                text = _odd_text(rng, top, position, "market_position")
            else:
                text = _dumps({**top, "msg": position})
            yield text.encode() if rng.random() < 0.5 else text
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


def _trade_state(m: MarketState) -> tuple[Any, ...]:
    """What ``add_trade`` keeps beyond the trades themselves: the dedupe's ids in their order, the count, both volume
    totals and the window's entries."""
    volume = m.volume
    totals = [[getattr(t, name) for name in type(t).__slots__] for t in (volume.total, volume._window)]
    ids = m._trade_ids
    maxlen = getattr(m.trades, "maxlen", None)
    return (m.trade_count, totals, list(volume._recent), list(ids._order), sorted(ids._ids), maxlen)


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
                _trade_state(m),
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
        # the events whose listeners keep frames off C
        quiet = (ev.BookChanged, ev.TickerSeen, ev.TradeSeen, ev.FillSeen, ev.PositionChanged)
        for kind in kinds:
            if kind not in quiet:
                core.bus.subscribe(kind, record)
        stop_quiet: list[Callable[[], None]] = []
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
            elif frame == QUIET:
                if stop_quiet:
                    for stop in stop_quiet:
                        stop()
                    stop_quiet.clear()
                else:
                    stop_quiet.extend(core.bus.subscribe(kind, record) for kind in quiet[1:])
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
        if frame not in CONTROLS:
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


def test_compiled_path_takes_the_canonical_tickers_and_trades() -> None:
    # As above, for tickers and trades: with nobody listening for their events most are applied in C whole.
    assert hotpath.frame is not None
    core = Core()
    done: dict[str, int] = {"ticker": 0, "trade": 0}
    seen: dict[str, int] = {"ticker": 0, "trade": 0}
    for i, frame in enumerate(stream(20_000, 5)):
        if frame in CONTROLS:
            continue
        text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
        kind = next((k for k in ("ticker", "trade") if text.startswith(f'{{"type":"{k}"')), "")
        if kind:
            seen[kind] += 1
            before = core.by_type.get(kind, 0)
            result = hotpath.frame(
                frame, i, core.sequence.last_seq, core.state.markets, True, core._by_type, [], [], core._restart_at
            )
            if result is not None and result.__class__ is not tuple:
                done[kind] += 1
                assert core.by_type[kind] == before + 1
                continue
            if result is not None and len(result) == 1:
                core.process(result[0], i)
                continue
        core.feed(frame, i)
    assert done["ticker"] > seen["ticker"] * 0.6
    assert done["trade"] > seen["trade"] * 0.5


def test_real_kalshi_tickers_and_trades_are_taken_and_read_alike(shared_kalshi: Any) -> None:
    # Real frames carry the legacy integer fields beside the fixed-point ones, and tickers only an integer ``ts``:
    # the compiled path takes them whole and every message reads exactly as the pure path's.
    assert hotpath.frame is not None
    captures = shared_kalshi / "captures"
    lines = [
        line
        for name in ("prod-2026-02-ticker.jsonl", "prod-2026-02-trade.jsonl")
        for line in (captures / name).read_text().splitlines()
        if line.strip()
    ]
    assert len(lines) >= 10
    pure, fast = Core(), Core()
    saved = core_module._HOT_FRAME
    for i, line in enumerate(lines):
        for core in (pure, fast):
            core.state.market(json.loads(line)["msg"]["market_ticker"])  # known markets: the simple case
        core_module._HOT_FRAME = None
        try:
            a = pure.feed(line, 1_770_897_990_000_000_000 + i)
        finally:
            core_module._HOT_FRAME = saved
        result = hotpath.frame(line, 0, {}, {}, True, {}, [], [], {})  # no market: decoded only, as C reads it
        assert result is not None and len(result) == 1, line
        b = fast.feed(line, 1_770_897_990_000_000_000 + i)
        assert repr(a) == repr(b) == repr(result[0])
    assert _final_state(pure) == _final_state(fast)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_failing_add_trade_is_counted_alike_on_both_paths(compiled: bool) -> None:
    # A market whose trades deque is broken: the compiled path leaves it to the pure ``_on_trade``, whose
    # ``add_trade`` raises; counted as a handler error and reported (``HandlerFailed``), its seq taken, alike.
    saved = core_module._HOT_FRAME
    core_module._HOT_FRAME = saved if compiled else None
    try:
        core = Core()
        failed: list[ev.HandlerFailed] = []
        core.bus.subscribe(ev.HandlerFailed, failed.append)
        market = core.state.market("KX-A")
        market.trades = None  # type: ignore[assignment]  # add_trade's append raises AttributeError
        body = {"market_ticker": "KX-A", "yes_price_dollars": "0.4200", "count_fp": "3.00", "taker_side": "yes"}
        for seq in (1, 2):
            frame = _dumps({"type": "trade", "sid": 1, "seq": seq, "msg": {**body, "trade_id": f"t{seq}"}})
            msg = core.feed(frame, 1_000_000 * seq)
            assert isinstance(msg, Trade) and msg.seq == seq
        assert core.counters["handler_errors"] == 2
        assert [f.msg_type for f in failed] == ["trade", "trade"]
        assert core.sequence.last_seq[1] == 2 and core.counters["gaps"] == 0
        assert core.by_type["trade"] == 2
    finally:
        core_module._HOT_FRAME = saved


def _spread_frames() -> list[tuple[str, int]]:
    """A snapshot and deltas that move the spread (and empty a ladder, cross the book, take a level below zero) at
    receive times that go forward, repeat and go back, then past 64 bits: ``SpreadStats.update``'s every branch."""
    snap = {
        "market_ticker": "KX-S",
        "yes_dollars_fp": [["0.4000", "10.00"]],
        "no_dollars_fp": [["0.5000", "10.00"]],
    }
    frames = [(_dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": snap}), 1_000)]
    moves = [
        ("yes", "0.4200", "5.00", 2_000),  # spread 1000 -> 800
        ("no", "0.5100", "5.00", 2_000),  # same receive time: no time weighted
        ("yes", "0.4200", "-5.00", 1_500),  # backwards: none either
        ("yes", "0.4000", "-10.00", 9_000),  # the YES ladder empties: spread None
        ("yes", "0.3000", "1.00", 12_000),  # back from None: nothing weighted for the gap
        ("no", "0.7500", "1.00", 15_000),  # crossed: 10000 - 7500 - 3000 < 0, reported by Core._delta_tail
        ("no", "0.7500", "-1.00", 16_000),
        ("no", "0.5100", "-9.00", 17_000),  # a level below zero: the (msg, size, spread) tail
        ("yes", "0.3500", "2.00", 2**63 + 5),  # past 64 bits: Python's ints (the pure path)
        ("yes", "0.3600", "2.00", 2**64 + 7),
        ("yes", "0.3700", "2.00", 2**64 + 9),
    ]
    for seq, (side, price, delta, recv_ns) in enumerate(moves, start=2):
        body = {"market_ticker": "KX-S", "price_dollars": price, "delta_fp": delta, "side": side, "ts_ms": _T0_MS}
        frames.append((_dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": body}), recv_ns))
    return frames


def test_spread_statistics_alike_on_both_paths() -> None:
    # The spread statistics are updated in C (issue 17): the same slots, the same problems reported, as the pure
    # ``SpreadStats.update`` for receive times that repeat, go back and leave 64 bits.
    def run_once(hot: bool) -> tuple[list[Any], str, list[str]]:
        saved = core_module._HOT_FRAME
        core_module._HOT_FRAME = saved if hot else None
        try:
            core = Core()
            problems: list[str] = []
            core.bus.subscribe(ev.SequenceProblemSeen, lambda e: problems.append(e.problem.kind))
            slots: list[Any] = []
            stats = None
            for frame, recv_ns in _spread_frames():
                core.feed(frame, recv_ns, False)
                stats = core.state.markets["KX-S"].spread
                slots.append([getattr(stats, name) for name in type(stats).__slots__])
            assert stats is not None
            return slots, _final_state(core), problems
        finally:
            core_module._HOT_FRAME = saved

    pure = run_once(False)
    assert pure == run_once(True)
    assert pure[2] == ["crossed_book"]  # the level below zero after it is the crossing's consequence: not news
    assert pure[0][-1][type(Core().state.market("X").spread).__slots__.index("min")] == -500  # the crossing


def test_spread_change_finishes_in_c() -> None:
    # A delta that moves the spread without a problem is done in C whole (no ``(msg, size, spread)`` tail).
    assert hotpath.frame is not None
    core = Core()
    frames = _spread_frames()
    core.feed(frames[0][0], frames[0][1])
    args = (core.sequence.last_seq, core.state.markets, True, core._by_type, [], [], core._restart_at)
    done = hotpath.frame(frames[1][0], frames[1][1], *args)
    assert done is not None and done.__class__ is not tuple
    stats = core.state.markets["KX-S"].spread
    got = (stats.current, stats.min, stats.max, stats.duration_ns, stats._weighted)
    assert got == (800, 800, 1000, 1000, 1_000_000)
    crossed = hotpath.frame(frames[6][0].replace('"seq":7', '"seq":3'), 20_000, *args)
    assert crossed.__class__ is tuple and len(crossed) == 3 and crossed[2] == stats.current


@pytest.mark.parametrize("kind", ["delta", "trade"])
def test_scanner_finds_every_stop_byte_at_every_position(kind: str) -> None:
    # The scanner skips 8 bytes of a string at a time (SWAR): a quote, a backslash, a control character or a
    # non-ASCII byte at any position of a string (so at every offset in its 8-byte words) must still stop it and
    # hand the frame back, and a plain character there must not. The pure decoder is the reference.
    from market_making_bot.kalshi.decode import DecodeError, decode_frame

    assert hotpath.frame is not None
    if kind == "delta":
        body = {"market_ticker": "KX-S", "market_id": "M" * 40, "price_dollars": "0.4200", "delta_fp": "5.00"}
        body |= {"side": "yes", "ts_ms": _T0_MS}
        top = {"type": "orderbook_delta", "sid": 1, "seq": 2}
    else:
        body = {"market_ticker": "KX-S", "trade_id": "M" * 40, "yes_price_dollars": "0.4200", "count_fp": "3.00"}
        body |= {"taker_side": "yes", "ts_ms": _T0_MS}
        top = {"type": "trade", "sid": 1, "seq": 2}
    base = _dumps({**top, "msg": body}).encode()
    start = base.index(b"M" * 40)
    taken = handed_back = 0
    for i in range(start, start + 40):
        for insert in (b"\x01", b"\x1f", b"\\n", b'\\"', b"\xc3\xa9", b"\x7f", b"a", b" "):
            frame = base[:i] + insert + base[i:]
            result = hotpath.frame(frame, 0, {}, {}, True, {}, [], [], {})
            try:
                pure: Any = decode_frame(frame)
            except DecodeError:
                pure = None
            if insert in (b"a", b" ", b"\x7f"):  # plain printable ASCII (0x7f included, as the byte loop has it)
                assert result is not None and repr(result[0]) == repr(pure), (i, insert)
                taken += 1
            else:
                assert result is None, (i, insert)  # the pure path decides (an escape, a control char, UTF-8)
                handed_back += 1
    assert taken == 40 * 3 and handed_back == 40 * 5


def test_compiled_path_takes_the_canonical_fills_and_positions() -> None:
    # With nobody listening for FillSeen / PositionChanged, most fills and positions of the stream are done in C,
    # duplicates included ((msg, False)); each message reads exactly as the pure path's decode of the same frame.
    assert hotpath.frame is not None
    from market_making_bot.kalshi.decode import decode_frame

    core = Core()
    done = {"fill": 0, "market_position": 0, "duplicate": 0}
    seen = {"fill": 0, "market_position": 0}
    for i, frame in enumerate(stream(30_000, 7)):
        if frame in CONTROLS:
            continue
        text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
        kind = next((k for k in ("fill", "market_position") if text.startswith(f'{{"type":"{k}"')), "")
        if kind:
            seen[kind] += 1
            result = hotpath.frame(
                frame, i, core.sequence.last_seq, core.state.markets, True, core._by_type, [], [],
                core._restart_at, [], [],
            )  # fmt: skip
            if result is not None:
                msg = result if result.__class__ is not tuple else result[0]
                assert repr(msg) == repr(decode_frame(frame)) and msg == decode_frame(frame)
                if result.__class__ is not tuple:
                    done[kind] += 1
                    continue
                if len(result) == 2 and result[1] is False:
                    done["duplicate"] += 1
                    continue
                core.process(result[0], i)
                continue
        core.feed(frame, i)
    assert done["fill"] > seen["fill"] * 0.5
    assert done["market_position"] > seen["market_position"] * 0.5
    assert done["duplicate"] > 0


@pytest.mark.parametrize("compiled", [False, True])
def test_fill_ids_forgotten_oldest_first_alike(compiled: bool) -> None:
    # The dedupe's bound (RecentIds' capacity) on both paths: the oldest key is forgotten, so a fill delivered again
    # after it is recorded again; one still remembered is a duplicate.
    from market_making_bot.marketdata.state import RecentIds

    saved = core_module._HOT_FRAME
    core_module._HOT_FRAME = saved if compiled else None
    try:
        core = Core(["KXF-1"])
        market = core.state.market("KXF-1")
        assert market is not None
        market._fill_ids = RecentIds(3)

        def fill(trade_id: str, order: str | None) -> str:
            body = {"trade_id": trade_id, "market_ticker": "KXF-1", "yes_price_dollars": "0.4500", "count_fp": "1.00"}
            if order is not None:
                body["order_id"] = order
            return _dumps({"type": "fill", "sid": 4, "msg": {**body, "ts_ms": _T0_MS, "post_position_fp": "-1.00"}})

        for i, (t, o) in enumerate([("a", "x"), ("b", None), ("c", "x"), ("a", "x"), ("d", "x"), ("a", "x")]):
            core.feed(fill(t, o), i + 1)
        core.feed(fill("b", None), 10)  # b/None went when the second a/x came: recorded again
        core.feed(fill("d", "x"), 11)  # still remembered: a duplicate
    finally:
        core_module._HOT_FRAME = saved
    assert [f.trade_id for f in market.fills] == ["a", "b", "c", "d", "a", "b"]
    assert market.fill_count == 6 and market.position == -100 and market.last_recv_ns == 11
    assert core.counters["trade_duplicates"] == 2
    assert list(market._fill_ids._order) == ["d/x", "a/x", "b/None"]


def _trade_frames(seed: int, window_ns: int) -> list[tuple[str | bytes, int, bool, bool]]:
    """(frame, recv_ns, timed, listen) for a stream of trades only, made to exercise ``add_trade``: trade ids repeated
    at distances around the dedupe's bound (1024) and beyond it, none at all, every taker side (none, yes, no, from
    ``taker_side`` or ``taker_outcome_side``), recv_ns repeating, going backwards, jumping past the volume window and
    landing exactly on its edge (an entry ``window_ns`` old leaves it), timed and untimed frames, and ``TradeSeen``
    listened to for two stretches."""
    rng = random.Random(seed)
    markets = ["KXTR-A", "KXTR-B"]
    history: dict[str, list[str]] = {m: [] for m in markets}
    recv_ns = 10_000_000
    times = [recv_ns]
    out: list[tuple[str | bytes, int, bool, bool]] = []
    for n in range(4_000):
        m = markets[0] if rng.random() < 0.8 else markets[1]
        past = history[m]
        roll = rng.random()
        body: dict[str, Any] = {"market_ticker": m, "yes_price_dollars": _price(rng), "count_fp": _size(rng)}
        if roll < 0.1:
            pass  # no trade_id: never deduplicated
        elif roll < 0.3 and past:
            distance = rng.choice([1, 2, 7, 99, 100, 101, 1023, 1024, 1025, 1026, 1500, 3000])
            body["trade_id"] = past[-min(distance, len(past))]
        else:
            body["trade_id"] = f"x{n}"
        if "trade_id" in body:
            past.append(body["trade_id"])
        side = rng.random()
        if side < 0.3:
            body["taker_side"] = rng.choice(["yes", "no"])
        elif side < 0.6:
            body["taker_outcome_side"] = rng.choice(["yes", "no"])
        step = rng.random()
        if step < 0.1:
            pass  # the same recv_ns again
        elif step < 0.15:
            recv_ns -= rng.randint(1, 40_000_000)  # backwards (a replay's clock, a merge)
        elif step < 0.17:
            recv_ns += rng.randint(100_000_000, 500_000_000)  # past the whole window
        elif step < 0.25:
            recv_ns = rng.choice(times[-20:]) + window_ns  # on the edge of an earlier trade's window
        else:
            recv_ns += rng.randint(1, 8_000_000)
        listen = 1_000 <= n < 1_300 or 2_500 <= n < 2_550
        times.append(recv_ns)
        text = _dumps({"type": "trade", "sid": 7, "seq": n + 1, "msg": body})
        out.append((text.encode() if rng.random() < 0.3 else text, recv_ns, rng.random() < 0.8, listen))
    return out


def test_trades_recorded_alike_on_both_paths() -> None:
    # ``add_trade``'s C twin against the pure one: every returned message, every event, the dedupe (within and
    # beyond its bound, its eviction order), the trades deque at its maxlen, trade_count, both volume totals and the
    # window (a short one: many expiries, with recv_ns repeating and going backwards), per frame.
    window_ns = 50_000_000
    frames = _trade_frames(17, window_ns)

    def run_once(compiled: bool) -> tuple[list[str], int]:
        saved = core_module._HOT_FRAME
        core_module._HOT_FRAME = saved if compiled else None
        try:
            core = Core(volume_window_ns=window_ns)
            for m in ("KXTR-A", "KXTR-B"):
                core.state.market(m)
            lines: list[str] = []
            in_python = 0
            on_trade = core._handlers[Trade]

            def counted(msg: Any, recv_ns: int) -> None:
                nonlocal in_python
                in_python += 1
                on_trade(msg, recv_ns)

            core._handlers[Trade] = counted
            core.bus.subscribe(ev.HandlerFailed, lambda e: lines.append(_event_line(e)))
            stop: Callable[[], None] | None = None
            for text, recv_ns, timed, listen in frames:
                if listen and stop is None:
                    stop = core.bus.subscribe(ev.TradeSeen, lambda e: lines.append(_event_line(e)))
                elif not listen and stop is not None:
                    stop()
                    stop = None
                lines.append(repr(core.feed(text, recv_ns, timed)))
                market = core.state.markets["KXTR-A"]
                lines.append(repr((_trade_state(market), len(market.trades), core.counters["trade_duplicates"])))
            lines.append(_final_state(core))
            return lines, in_python
        finally:
            core_module._HOT_FRAME = saved

    pure, pure_python = run_once(False)
    fast, fast_python = run_once(True)
    assert pure_python == len(frames)
    for k, (a, b) in enumerate(zip(pure, fast, strict=True)):
        assert a == b, f"line {k} differs"
    assert "'trade_duplicates': 0" not in pure[-1]
    listened = sum(listen for *_, listen in frames)
    assert fast_python == listened + 1  # the listened-to stretches and the sid's first frame: the rest was in C


def _big_total(m: MarketState) -> None:
    m.volume.total.contracts = 2**70  # an int that is not small


def _odd_entry(m: MarketState) -> None:
    m.volume._recent.append((0, None, 2**70))


def _no_window(m: MarketState) -> None:
    m.volume.window_ns = 0  # every trade leaves the window at once


def _list_trades(m: MarketState) -> None:
    m.trades = []  # type: ignore[assignment]


def _tiny_bound(m: MarketState) -> None:
    m._trade_ids._capacity = 2


def _other_side(m: MarketState) -> None:
    m.volume._recent.append((0, "maybe", 300))  # a side that is neither: counted in the overall numbers only
    m.volume._window.count = m.volume._window.contracts = 300


@pytest.mark.parametrize(
    ("odd", "in_python"),
    [
        (_big_total, 3),
        (_odd_entry, 3),
        (_no_window, 3),
        (_list_trades, 5),
        (_tiny_bound, 1),
        (_other_side, 1),
    ],
)
def test_an_unusual_market_is_left_to_the_pure_path(odd: Callable[[MarketState], None], in_python: int) -> None:
    # An unusual structure goes back to the pure ``_on_trade`` before anything changes (the same result on both
    # paths); a usual one with other values is recorded in C.
    body = {"market_ticker": "KX-O", "yes_price_dollars": "0.4200", "count_fp": "3.00"}
    frames = [
        _dumps({"type": "trade", "sid": 1, "seq": seq, "msg": {**body, "trade_id": tid, "taker_side": side}})
        for seq, (tid, side) in enumerate([("a", "yes"), ("b", "no"), ("a", "no"), ("c", "yes"), ("a", "yes")], 1)
    ]

    def run_once(compiled: bool) -> tuple[list[str], int]:
        saved = core_module._HOT_FRAME
        core_module._HOT_FRAME = saved if compiled else None
        try:
            core = Core()
            market = core.state.market("KX-O")
            assert market is not None
            odd(market)
            calls = 0
            on_trade = core._handlers[Trade]

            def counted(msg: Any, recv_ns: int) -> None:
                nonlocal calls
                calls += 1
                on_trade(msg, recv_ns)

            core._handlers[Trade] = counted
            lines = [repr(core.feed(text, 1_000_000_000 * i)) for i, text in enumerate(frames, 1)]
            lines.append(repr((_trade_state(market), list(market.trades), dict(core.counters))))
            return lines, calls
        finally:
            core_module._HOT_FRAME = saved

    pure, _ = run_once(False)
    fast, calls = run_once(True)
    assert fast == pure
    # The sid's first frame always; with an odd volume the two new trades too (a duplicate touches only the dedupe,
    # in C); with odd trades all of them.
    assert calls == in_python


def test_keys_near_the_fast_literals_read_as_the_pure_decoder_reads_them() -> None:
    # The scanner matches a key whole ('"ts_ms":') before its general way: a key that only starts like one
    # ("ts_msx", "sidx"), whitespace before its ':' or an escape in it must read as the pure decoder reads it (the
    # frame handed back, or the same message).
    from market_making_bot.kalshi.decode import DecodeError, decode_frame

    assert hotpath.frame is not None
    body = {"market_ticker": "KX-S", "market_id": "M1", "price_dollars": "0.4200", "delta_fp": "5.00"}
    body |= {"side": "yes", "clock": 7, "ts": "x", "ts_ms": _T0_MS}
    base = _dumps({"type": "orderbook_delta", "sid": 1, "seq": 2, "id": 3, "msg": body, "sending_ts_ms": _T0_MS})
    taken = 0
    for key in ["type", "sid", "seq", "id", "sending_ts_ms", "msg", *body]:
        old = f'"{key}":'
        assert old in base
        for new in (f'"{key}" :', f'"{key}x":', f'"{key[:-1]}":', f'"{key[:-1]}\\u00{ord(key[-1]):x}":'):
            frame = base.replace(old, new, 1).encode()
            result = hotpath.frame(frame, 0, {}, {}, True, {}, [], [], {})
            try:
                pure: Any = decode_frame(frame)
            except DecodeError:
                pure = None
            if result is not None:
                assert repr(result[0]) == repr(pure), frame
                taken += 1
    assert taken >= 14  # the ' :' variants at least: the general way reads those
