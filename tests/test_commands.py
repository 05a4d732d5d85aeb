from __future__ import annotations

import json

import pytest

from market_making_bot.kalshi import list_subscriptions, subscribe, unsubscribe, update_subscription


def test_subscribe_pins_use_yes_price_for_the_order_book() -> None:
    assert subscribe(2, ["orderbook_delta", "ticker"], ["FED-23DEC-T3.00", "CORIVER-2024-T1030"]) == {
        "id": 2,
        "cmd": "subscribe",
        "params": {
            "channels": ["orderbook_delta", "ticker"],
            "market_tickers": ["FED-23DEC-T3.00", "CORIVER-2024-T1030"],
            "use_yes_price": False,
        },
    }
    assert subscribe(3, ["fill"]) == {"id": 3, "cmd": "subscribe", "params": {"channels": ["fill"]}}
    assert subscribe(4, ("orderbook_delta",), ("A",), use_yes_price=True)["params"]["use_yes_price"] is True


def test_other_commands() -> None:
    assert unsubscribe(124, [1, 2]) == {"id": 124, "cmd": "unsubscribe", "params": {"sids": [1, 2]}}
    assert update_subscription(124, 456, "add_markets", ["NEW-1"]) == {
        "id": 124,
        "cmd": "update_subscription",
        "params": {"sids": [456], "action": "add_markets", "market_tickers": ["NEW-1"]},
    }
    assert update_subscription(5, 1, "get_snapshot", iter(["A", "B"]))["params"]["market_tickers"] == ["A", "B"]
    assert list_subscriptions(3) == {"id": 3, "cmd": "list_subscriptions"}
    json.dumps(subscribe(1, ["ticker"]))


@pytest.mark.parametrize(
    "call",
    [
        lambda: subscribe(0, ["ticker"]),
        lambda: subscribe(1, []),
        lambda: subscribe(1, ["ticker"], []),
        lambda: unsubscribe(1, []),
        lambda: list_subscriptions(-1),
    ],
)
def test_invalid_commands(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]
