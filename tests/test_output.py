from __future__ import annotations

import json
import logging
import re

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.kalshi import OrderbookDelta, Ticker
from market_making_bot.views.output import LogOutput, Output, setup_logging

from .paths import FIXTURES

T = "KXEPSTEINLIST-26-HKIS"


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def feed(core: Core, obj: dict[str, object]) -> None:
    core.feed(json.dumps(obj), 0)


def test_seed_sample_output(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="market_making_bot")
    core = Core()
    LogOutput().attach(core.bus, every_kind=True)
    yes = [[c, 10] for c in range(34, 44)] + [[44, 500], [45, 1000]]  # 12 levels, best 45¢ x 1000
    no = [[c, 10] for c in range(48, 55)] + [[55, 750]]  # 8 levels, best 55¢ x 750
    feed(core, {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": T, "yes": yes, "no": no}})
    assert messages(caplog)[:5] == [
        f"[ORDERBOOK SNAPSHOT] {T}",
        "  YES Orders: 12 levels",
        "    Level 1: 45¢ x 1000",
        "    Level 2: 44¢ x 500",
        "    Level 3: 43¢ x 10",
    ]
    assert "  NO Orders: 8 levels" in messages(caplog)
    assert "    Level 1: 55¢ x 750" in messages(caplog)
    assert sum(m.startswith("    Level") for m in messages(caplog)) == 10  # top 5 per side
    caplog.clear()
    feed(
        core,
        {
            "type": "orderbook_snapshot",
            "sid": 1,
            "seq": 2,
            "msg": {"market_ticker": T, "yes": [[44, 5], [45, 100]], "no": [[54, 5]]},
        },
    )
    caplog.clear()
    feed(
        core,
        {
            "type": "orderbook_delta",
            "sid": 1,
            "seq": 3,
            "msg": {"market_ticker": T, "price": 45, "delta": -100, "side": "yes"},
        },
    )
    assert messages(caplog) == [
        f"[ORDERBOOK DELTA] {T} | YES | Price: 45¢ | Delta: -100",
        "  Current YES: 44¢ / 46¢ (spread: 2¢)",
        "  Current NO: 54¢ / 56¢ (spread: 2¢)",
    ]
    caplog.clear()
    feed(
        core,
        {
            "type": "trade",
            "sid": 2,
            "msg": {"market_ticker": T, "yes_price": 45, "no_price": 55, "count": 50, "taker_side": "yes"},
        },
    )
    feed(
        core,
        {
            "type": "ticker",
            "sid": 3,
            "msg": {"market_ticker": T, "yes_bid": 44, "yes_ask": 46, "price": 45, "volume": 1234},
        },
    )
    assert messages(caplog) == [
        f"[TRADE] {T} | YES | YES: 45¢ | NO: 55¢ | Size: 50",
        f"[TICKER] {T} | Bid: 44¢ | Ask: 46¢ | Last: 45¢ | Volume: 1234",
    ]


def test_subpenny_and_fractional_output(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="market_making_bot")
    core = Core()
    LogOutput().attach(core.bus, every_kind=True)
    for frame in (FIXTURES / "fixed_point_session.jsonl").read_text().splitlines():
        if '"orderbook_' in frame:
            core.feed(frame, 0)
    msgs = messages(caplog)
    assert "    Level 1: 45¢ x 12.50" in msgs
    assert "    Level 1: 54.5¢ x 7.25" in msgs
    assert "[ORDERBOOK DELTA] KXTEST-26DEC31-A | YES | Price: 45.2¢ | Delta: 3" in msgs
    assert "  Current YES: 45.2¢ / 45.5¢ (spread: 0.3¢)" in msgs


def test_fill_position_and_control_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="market_making_bot")
    core = Core()
    LogOutput().attach(core.bus, every_kind=True)
    for frame in (FIXTURES / "fixed_point_session.jsonl").read_text().splitlines():
        if frame.strip():
            core.feed(frame, 0)
    msgs = messages(caplog)
    assert "[SUBSCRIBED] orderbook_delta | sid: 1 | id: 1" in msgs
    assert "[OK] id: 6 | sid: 1 | markets: 2" in msgs
    assert (
        "[FILL] KXTEST-26DEC31-A | BUY YES | Price: 45.2¢ | Size: 2.50 | Fee: $0.013 | Maker | Position: 2.50" in msgs
    )
    assert "[POSITION] KXTEST-26DEC31-A | Position: 2.50 | Cost: $1.13 | Realized P&L: $0.00 | Fees: $0.013" in msgs
    assert "[ERROR] code 13: Unsupported action | id: 9 | sid: 3 | market: --" in msgs
    assert "[UNSUBSCRIBED] sid: 1 | seq: 8 | id: 10" in msgs
    assert "[UNKNOWN] market_lifecycle_v2 | sid: 6 | seq: 1" in msgs
    assert "[ORDERBOOK DELTA] KXTEST-26DEC31-B | NO | Price: 1¢ | Delta: -1000" in msgs
    assert "  Current YES: -- / -- (spread: --)" in msgs


def test_list_subscriptions_and_sequence_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="market_making_bot")
    core = Core()
    LogOutput().attach(core.bus, every_kind=True)
    core.feed('{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1},{"channel":"ticker","sid":2}]}', 0)
    core.feed(
        '{"type":"trade","sid":2,"seq":1,"msg":{"market_ticker":"M","yes_price_dollars":"0.5","count_fp":"1"}}', 0
    )
    core.feed(
        '{"type":"trade","sid":2,"seq":3,"msg":{"market_ticker":"M","yes_price_dollars":"0.5","count_fp":"1"}}', 0
    )
    msgs = messages(caplog)
    assert "[OK] id: 3 | subscriptions: orderbook_delta=1, ticker=2" in msgs
    assert "[SEQUENCE GAP] sid: 2 | expected: 2 | got: 3 | market: M" in msgs
    assert "[TRADE] M | ? | YES: 50¢ | NO: 50¢ | Size: 1" in msgs


class ExplodingBook:
    def __getattr__(self, name: str) -> object:
        raise AssertionError("formatting work done while INFO is disabled")


def test_nothing_is_formatted_when_info_is_disabled() -> None:
    logger = logging.getLogger("test.quiet")
    logger.setLevel(logging.WARNING)
    out = Output(logger)
    delta = OrderbookDelta(market_ticker="M", side="yes", price=4500, delta=100)
    out.orderbook_delta(delta, ExplodingBook())  # type: ignore[arg-type]
    out.orderbook_snapshot(None, ExplodingBook())  # type: ignore[arg-type]
    out.ticker(Ticker(market_ticker="M"))


def test_setup_logging_uses_the_seed_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = root.handlers[:]
    setup_logging("info")
    setup_logging(logging.INFO)  # idempotent: one handler of ours
    assert len([h for h in root.handlers if h not in before]) == 1
    Output().ticker(Ticker(market_ticker="M", yes_bid=4400, yes_ask=4600, price=4500, volume=123400))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - INFO - output\.py:\d+ - "
        r"\[TICKER\] M \| Bid: 44¢ \| Ask: 46¢ \| Last: 45¢ \| Volume: 1234",
        err[0],
    ), err[0]
