"""The baseline: how most public Kalshi clients process a frame.

``json.loads`` into dicts, prices and sizes as ``decimal.Decimal``, one ``dict[Decimal, Decimal]`` per book side, a
per-sid ``seq`` check, the best bid and ask recomputed with ``max()`` after each book change (for the "current
spread" that such listeners show and monitor), the last ticker and the recent trades kept per market, and log calls
with lazy ``%`` arguments (cheaper than the f-strings many clients use, so the baseline is if anything flattered).
Same functionality as the project's pipeline at ``--log-level WARNING``: books, top of book and spread, ticker,
trades, sequence checks.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from decimal import Decimal
from typing import Any

__all__ = ["BaselinePipeline", "DecimalBook"]

log = logging.getLogger("bench.baseline")

ONE = Decimal(1)
ZERO = Decimal(0)


class DecimalBook:
    """YES and NO bids of one market: ``Decimal`` price -> ``Decimal`` size."""

    __slots__ = ("no", "yes")

    def __init__(self) -> None:
        self.yes: dict[Decimal, Decimal] = {}
        self.no: dict[Decimal, Decimal] = {}

    def apply_snapshot(self, msg: dict[str, Any]) -> None:
        self.yes = {Decimal(p): Decimal(s) for p, s in msg.get("yes_dollars_fp") or ()}
        self.no = {Decimal(p): Decimal(s) for p, s in msg.get("no_dollars_fp") or ()}

    def apply_delta(self, side: str, price: Decimal, delta: Decimal) -> None:
        levels = self.yes if side == "yes" else self.no
        size = levels.get(price, ZERO) + delta
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)

    def top(self) -> tuple[Decimal | None, Decimal | None]:
        """(best YES bid, best YES ask)."""
        bid = max(self.yes) if self.yes else None
        ask = ONE - max(self.no) if self.no else None
        return bid, ask


class _Market:
    __slots__ = ("book", "bid", "ask", "spread", "last_ticker", "trades")

    def __init__(self) -> None:
        self.book = DecimalBook()
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.spread: Decimal | None = None
        self.last_ticker: dict[str, Any] | None = None
        self.trades: deque[dict[str, Any]] = deque(maxlen=100)


class BaselinePipeline:
    """``feed(frame, recv_ns)``: the whole baseline pipeline for one frame."""

    def __init__(self) -> None:
        self.markets: dict[str, _Market] = {}
        self.last_seq: dict[int, int] = {}
        self.frames = 0
        self.gaps = 0

    def _market(self, ticker: str) -> _Market:
        market = self.markets.get(ticker)
        if market is None:
            market = self.markets[ticker] = _Market()
        return market

    def _update_top(self, market: _Market) -> None:
        bid, ask = market.book.top()
        market.bid, market.ask = bid, ask
        market.spread = None if bid is None or ask is None else ask - bid

    def feed(self, frame: str | bytes, recv_ns: int) -> None:
        self.frames += 1
        data = json.loads(frame)
        kind = data.get("type")
        sid = data.get("sid")
        seq = data.get("seq")
        if sid is not None and seq is not None:
            last = self.last_seq.get(sid)
            if last is not None and seq != last + 1:
                self.gaps += 1
                log.warning("sequence gap on sid %s: expected %s, got %s", sid, last + 1, seq)
            self.last_seq[sid] = seq
        msg = data.get("msg") or {}
        if kind == "orderbook_delta":
            market = self._market(msg["market_ticker"])
            side = msg["side"]
            price = Decimal(msg["price_dollars"])
            delta = Decimal(msg["delta_fp"])
            market.book.apply_delta(side, price, delta)
            self._update_top(market)
            log.info("[ORDERBOOK DELTA] %s | %s | Price: %s | Delta: %s", msg["market_ticker"], side, price, delta)
        elif kind == "orderbook_snapshot":
            market = self._market(msg["market_ticker"])
            market.book.apply_snapshot(msg)
            self._update_top(market)
            log.info("[ORDERBOOK SNAPSHOT] %s", msg["market_ticker"])
        elif kind == "ticker":
            market = self._market(msg["market_ticker"])
            ticker = dict(msg)
            for key in ("price_dollars", "yes_bid_dollars", "yes_ask_dollars", "volume_fp", "open_interest_fp"):
                value = msg.get(key)
                if value:
                    ticker[key] = Decimal(value)
            market.last_ticker = ticker
            log.info(
                "[TICKER] %s | Bid: %s | Ask: %s",
                msg["market_ticker"],
                ticker.get("yes_bid_dollars"),
                ticker.get("yes_ask_dollars"),
            )
        elif kind == "trade":
            market = self._market(msg["market_ticker"])
            trade = dict(msg)
            trade["yes_price_dollars"] = Decimal(msg["yes_price_dollars"])
            trade["no_price_dollars"] = Decimal(msg["no_price_dollars"])
            trade["count_fp"] = Decimal(msg["count_fp"])
            market.trades.append(trade)
            log.info("[TRADE] %s | %s", msg["market_ticker"], msg.get("taker_side"))
        elif kind == "error":
            log.error("[ERROR] %s", msg)
        else:
            log.info("[%s] %s", kind, msg)

    def books(self) -> dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]]:
        return {t: (m.book.yes, m.book.no) for t, m in self.markets.items()}
