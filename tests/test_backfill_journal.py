"""A backfilled REST fill reaches the journal (``--record``): ``encode_update`` must take every REST field's value.

Reproduces a defect seen in a ``--with-private --record`` run against the simulator with disconnects: REST fills
carry ``created_time`` (an RFC 3339 string decoded to ``kalshi.rest.TimeMs``, an ``int`` subclass), which
``fill_message`` passed on as the fill's ``ts_ms``; msgspec's encoder refuses ``int`` subclasses, so every backfill
failed with ``TypeError: Encoding objects of type TimeMs is unsupported`` and the fills made during disconnects were
lost. The conversions at the REST edge now give plain ``int``s.
"""

from __future__ import annotations

import json

from market_making_bot.feed.backfill import RestUpdate, decode_update, encode_update, fill_message, position_message
from market_making_bot.kalshi import rest

FILL = {
    "fill_id": "f1",
    "trade_id": "t1",
    "order_id": "o1",
    "ticker": "KXSIM-26DEC31-M2",
    "outcome_side": "no",
    "book_side": "ask",
    "count_fp": "15.05",
    "yes_price_dollars": "0.5900",
    "no_price_dollars": "0.4100",
    "is_taker": False,
    "fee_cost": "0.063800",
    "created_time": "2026-12-01T22:34:20.947Z",
}


def test_a_rest_fill_with_created_time_is_journaled_and_read_back() -> None:
    page = rest.decode(rest.FillsPage, json.dumps({"fills": [FILL], "cursor": ""}).encode())
    msg = fill_message(page.fills[0])
    assert type(msg.ts_ms) is int and msg.ts_ms == 1796164460947
    for value in (msg.yes_price, msg.count, msg.fee):
        assert type(value) is int
    update = RestUpdate(why="reconnect", fills=[msg])
    back = decode_update(encode_update(update))
    assert back == update
    assert back.fills[0].yes_price == 5900 and back.fills[0].count == 1505 and back.fills[0].fee == 63800


def test_a_rest_position_is_journaled_and_read_back() -> None:
    body = {
        "market_positions": [
            {
                "ticker": "KXSIM-26DEC31-M2",
                "position_fp": "-24.46",
                "market_exposure_dollars": "10.000000",
                "realized_pnl_dollars": "-1.250000",
                "fees_paid_dollars": "0.120000",
                "total_traded_dollars": "30.000000",
                "resting_orders_count": 0,
                "last_updated_ts": "2026-12-01T22:34:20.947Z",
            }
        ],
        "event_positions": [],
        "cursor": "",
    }
    page = rest.decode(rest.PositionsPage, json.dumps(body).encode())
    update = RestUpdate(why="start", positions=[position_message(p) for p in page.market_positions or []])
    assert decode_update(encode_update(update)) == update
