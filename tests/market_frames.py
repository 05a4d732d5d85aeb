"""A small known market state for the dashboard and metrics tests, built by feeding frames into a ``Core``."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from market_making_bot.feed.core import Core

A, B = "KXTEST-26DEC31-A", "KXTEST-26DEC31-B"
T0_MS = 1_786_085_188_000
T0_NS = T0_MS * 1_000_000

# Market A: 13 YES bids 33¢..45¢ (the ladder shows the top 10), NO bids 53¢ / 52¢ / 50.5¢ = YES asks 47¢ / 48¢ / 49.5¢
A_YES = [[f"0.{c:02d}00", "10.00"] for c in range(33, 44)] + [["0.4400", "100.00"], ["0.4500", "12.50"]]
A_NO = [["0.5050", "3.00"], ["0.5200", "7.25"], ["0.5300", "40.00"]]


def frame(kind: str, msg: dict[str, Any], sid: int | None = None, seq: int | None = None, **env: Any) -> str:
    out: dict[str, Any] = {"type": kind, **env, "msg": msg}
    if sid is not None:
        out["sid"] = sid
    if seq is not None:
        out["seq"] = seq
    return json.dumps(out)


def delta(market: str, price: str, change: str, sid: int, seq: int, side: str = "yes") -> str:
    return frame(
        "orderbook_delta", {"market_ticker": market, "price_dollars": price, "delta_fp": change, "side": side}, sid, seq
    )


def frames() -> list[str]:
    return [
        frame("subscribed", {"channel": "orderbook_delta", "sid": 1}, id=1),
        frame("subscribed", {"channel": "orderbook_delta", "sid": 2}, id=2),
        frame("orderbook_snapshot", {"market_ticker": A, "yes_dollars_fp": A_YES, "no_dollars_fp": A_NO}, 1, 1),
        frame("orderbook_snapshot", {"market_ticker": B, "yes_dollars_fp": [["0.2000", "5.00"]]}, 2, 1),
        delta(A, "0.4400", "5.00", 1, 2),
        # seq 3 is missing on sid 2: B's book is no longer trusted
        delta(B, "0.2000", "1.00", 2, 3),
        frame(
            "trade",
            {
                "trade_id": "t-1",
                "market_ticker": A,
                "yes_price_dollars": "0.4500",
                "no_price_dollars": "0.5500",
                "count_fp": "2.50",
                "taker_side": "yes",
                "ts_ms": T0_MS + 1000,
            },
            3,
            1,
        ),
        frame(
            "trade",
            {
                "trade_id": "t-2",
                "market_ticker": A,
                "yes_price_dollars": "0.4600",
                "no_price_dollars": "0.5400",
                "count_fp": "10.00",
                "taker_side": "no",
                "ts_ms": T0_MS + 2000,
            },
            3,
            2,
        ),
        frame(
            "ticker",
            {"market_ticker": A, "price_dollars": "0.4600", "volume_fp": "1234.00", "open_interest_fp": "99.00"},
            4,
        ),
        frame(
            "fill",
            {
                "trade_id": "t-1",
                "order_id": "o-1",
                "market_ticker": A,
                "is_taker": False,
                "side": "yes",
                "action": "buy",
                "yes_price_dollars": "0.4500",
                "count_fp": "2.50",
                "fee_cost": "0.013000",
                "post_position_fp": "2.50",
                "ts_ms": T0_MS + 1000,
            },
            5,
        ),
        frame(
            "market_position",
            {
                "market_ticker": A,
                "position_fp": "2.50",
                "position_cost_dollars": "1.1250",
                "realized_pnl_dollars": "0.5000",
                "fees_paid_dollars": "0.0130",
            },
            6,
        ),
    ]


def known_core() -> Core:
    core = Core()
    for i, data in enumerate(frames()):
        core.feed(data, T0_NS + i * 1_000_000)
    core.latencies_ms.clear()
    core.latencies_ms.extend([3, 5, 7, 100])
    core.counters["reconnects"] = 2
    core.counters["resyncs"] = 1
    return core


def fake_client(state: str = "connected") -> SimpleNamespace:
    return SimpleNamespace(state=state, reconnects=2, connections=3, session=SimpleNamespace(with_private=True))
