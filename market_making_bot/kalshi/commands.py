"""Pure builders of client -> server commands (PROTOCOL.md section 3). Each returns the JSON object as a dict."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["list_subscriptions", "subscribe", "unsubscribe", "update_subscription"]


def _check_id(command_id: int) -> None:
    # id 0 means "no id" to the server, so replies could not be matched.
    if type(command_id) is not int or command_id < 1:
        raise ValueError(f"command id must be a positive int, got {command_id!r}")


def subscribe(
    id: int,
    channels: Iterable[str],
    market_tickers: Iterable[str] | None = None,
    use_yes_price: bool = False,
) -> dict[str, Any]:
    """``subscribe`` to ``channels``, optionally filtered to ``market_tickers``.

    For the ``orderbook_delta`` channel ``use_yes_price`` is always sent explicitly (Kalshi announced that its default
    will flip): with ``False`` NO levels are quoted in NO prices, which is what ``OrderBook`` expects.
    """
    _check_id(id)
    channel_list = list(channels)
    if not channel_list:
        raise ValueError("subscribe needs at least one channel")
    params: dict[str, Any] = {"channels": channel_list}
    if market_tickers is not None:
        tickers = list(market_tickers)
        if not tickers:
            raise ValueError("market_tickers, when given, must not be empty")
        params["market_tickers"] = tickers
    if "orderbook_delta" in channel_list:
        params["use_yes_price"] = use_yes_price
    return {"id": id, "cmd": "subscribe", "params": params}


def unsubscribe(id: int, sids: Iterable[int]) -> dict[str, Any]:
    """``unsubscribe`` from the subscriptions ``sids``; the server answers one ``unsubscribed`` per sid."""
    _check_id(id)
    sid_list = list(sids)
    if not sid_list:
        raise ValueError("unsubscribe needs at least one sid")
    return {"id": id, "cmd": "unsubscribe", "params": {"sids": sid_list}}


def update_subscription(id: int, sid: int, action: str, market_tickers: Iterable[str] | None = None) -> dict[str, Any]:
    """``update_subscription`` of one sid: ``action`` is ``add_markets``, ``delete_markets`` or ``get_snapshot``
    (the last one re-sends the snapshots of ``market_tickers`` without changing the subscription)."""
    _check_id(id)
    params: dict[str, Any] = {"sids": [sid], "action": action}
    if market_tickers is not None:
        params["market_tickers"] = list(market_tickers)
    return {"id": id, "cmd": "update_subscription", "params": params}


def list_subscriptions(id: int) -> dict[str, Any]:
    """``list_subscriptions``; the reply is an ``ok`` whose ``subscriptions`` lists ``{"channel", "sid"}``."""
    _check_id(id)
    return {"id": id, "cmd": "list_subscriptions"}
