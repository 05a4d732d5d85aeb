"""A small, seeded generator of realistic Kalshi frames (today's fixed-point format), used by the sub-benchmarks that
need a controlled input (the memory benchmark) and as a stand-in for the simulator's recording when the simulator is
not importable. It keeps its own books, so every delta is valid (no level goes negative, books never cross).

Mix: per market one snapshot, then about 88% ``orderbook_delta``, 8% ``ticker`` and 4% ``trade`` frames, over one
``orderbook_delta`` subscription (sid 1), one ``ticker`` (sid 2) and one ``trade`` (sid 3), with the envelope and
message fields the real server sends (``market_id``, ``clock``, ``ts``, ``ts_ms``, ...).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

__all__ = ["generate_frames", "market_tickers", "snapshot_frames"]

_START_MS = 1_790_000_000_000


def market_tickers(count: int) -> list[str]:
    return [f"KXBENCH-26DEC31-M{i:04d}" for i in range(count)]


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _price(cents: int) -> str:
    return f"{cents / 100:.4f}"


def _size(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _rfc3339(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


_ROUND_SIZES = (100, 200, 250, 500, 1000, 2000, 5000)


def _order_size(rng: random.Random) -> int:
    """Size of one order in 1/100 contract: mostly whole contracts, some round lots, a few fractional."""
    roll = rng.random()
    if roll < 0.7:
        return rng.randint(1, 150) * 100
    if roll < 0.97:
        return rng.choice(_ROUND_SIZES) * 100
    return rng.randint(1, 10_000)


class _Market:
    __slots__ = ("clock", "fair", "market_id", "no", "ticker", "yes")

    def __init__(self, ticker: str, rng: random.Random, levels: int) -> None:
        self.ticker = ticker
        self.market_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.fair = rng.randint(20, 80)
        self.clock = rng.randint(1_000, 100_000)
        # Bids in cents -> size in 1/100 contract. YES bids below fair, NO bids below 100 - fair: never crossed.
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}
        for book, top in ((self.yes, self.fair - 1), (self.no, 99 - self.fair)):
            for price in range(top, max(0, top - levels), -1):
                book[price] = rng.randint(1, 2000) * 100


def snapshot_frames(count: int, levels: int, seed: int = 7) -> list[str]:
    """One ``subscribed`` ack then one snapshot per market (``count`` markets, up to ``levels`` levels per side)."""
    rng = random.Random(seed)
    frames = [_dumps({"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}})]
    for seq, ticker in enumerate(market_tickers(count), start=1):
        market_id = str(uuid.UUID(int=rng.getrandbits(128)))
        # Deep books on a $0.001 grid (1/10,000 dollar units): YES bids 0.400..0.4xx, NO bids 0.500..0.5xx, so the
        # book is never crossed even with hundreds of levels per side.
        yes = [[f"{(4000 + 10 * k) / 10_000:.4f}", _size(rng.randint(1, 2000) * 100)] for k in range(levels)]
        no = [[f"{(5000 - 10 * k) / 10_000:.4f}", _size(rng.randint(1, 2000) * 100)] for k in range(levels)]
        no.reverse()
        frame = {
            "type": "orderbook_snapshot",
            "sid": 1,
            "seq": seq,
            "msg": {
                "market_ticker": ticker,
                "market_id": market_id,
                "clock": seq,
                "yes_dollars_fp": yes,
                "no_dollars_fp": no,
            },
        }
        frames.append(_dumps(frame))
    return frames


def _snapshot(m: _Market, sid: int, seq: int) -> str:
    return _dumps(
        {
            "type": "orderbook_snapshot",
            "sid": sid,
            "seq": seq,
            "msg": {
                "market_ticker": m.ticker,
                "market_id": m.market_id,
                "clock": m.clock,
                "yes_dollars_fp": [[_price(p), _size(s)] for p, s in sorted(m.yes.items())],
                "no_dollars_fp": [[_price(p), _size(s)] for p, s in sorted(m.no.items())],
            },
        }
    )


def generate_frames(total: int, markets: int = 50, seed: int = 1, levels: int = 20) -> Iterator[str]:
    """Yield ``total`` frames over ``markets`` markets (acks and snapshots included in the count)."""
    rng = random.Random(seed)
    ms = _START_MS
    book_seq = trade_seq = 0
    emitted = 0
    acks = [
        {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}},
        {"id": 1, "type": "subscribed", "msg": {"channel": "ticker", "sid": 2}},
        {"id": 1, "type": "subscribed", "msg": {"channel": "trade", "sid": 3}},
    ]
    for ack in acks:
        if emitted >= total:
            return
        yield _dumps(ack)
        emitted += 1
    state = [_Market(t, rng, levels) for t in market_tickers(markets)]
    for m in state:
        if emitted >= total:
            return
        book_seq += 1
        yield _snapshot(m, 1, book_seq)
        emitted += 1
    volume = dict.fromkeys(range(markets), 0)
    while emitted < total:
        i = rng.randrange(markets)
        m = state[i]
        ms += rng.randint(0, 2)
        roll = rng.random()
        if roll < 0.88:
            side = "yes" if rng.random() < 0.5 else "no"
            book = m.yes if side == "yes" else m.no
            top = (m.fair - 1) if side == "yes" else (99 - m.fair)
            price = max(1, top - min(int(rng.expovariate(0.25)), top - 1))
            size = book.get(price, 0)
            if size and rng.random() < 0.5:
                change = -size if rng.random() < 0.3 else -min(size, _order_size(rng))
            else:
                change = _order_size(rng)
            new = size + change
            if new > 0:
                book[price] = new
            else:
                book.pop(price, None)
            m.clock += rng.randint(1, 3)
            book_seq += 1
            sign = "-" if change < 0 else ""
            yield _dumps(
                {
                    "type": "orderbook_delta",
                    "sid": 1,
                    "seq": book_seq,
                    "msg": {
                        "market_ticker": m.ticker,
                        "market_id": m.market_id,
                        "clock": m.clock,
                        "price_dollars": _price(price),
                        "delta_fp": sign + _size(abs(change)),
                        "side": side,
                        "ts": _rfc3339(ms),
                        "ts_ms": ms,
                    },
                }
            )
        elif roll < 0.96:
            yes_bid = max(m.yes) if m.yes else 0
            yes_ask = 100 - max(m.no) if m.no else 100
            yield _dumps(
                {
                    "type": "ticker",
                    "sid": 2,
                    "msg": {
                        "market_ticker": m.ticker,
                        "market_id": m.market_id,
                        "price_dollars": _price(m.fair),
                        "yes_bid_dollars": _price(yes_bid),
                        "yes_ask_dollars": _price(yes_ask),
                        "volume_fp": _size(volume[i] * 100),
                        "open_interest_fp": _size(volume[i] * 50),
                        "dollar_volume": volume[i] // 2,
                        "dollar_open_interest": volume[i] // 4,
                        "yes_bid_size_fp": _size(m.yes.get(yes_bid, 0)),
                        "yes_ask_size_fp": _size(m.no.get(100 - yes_ask, 0)),
                        "last_trade_size_fp": "10.00",
                        "ts": ms // 1000,
                        "ts_ms": ms,
                        "time": _rfc3339(ms),
                    },
                }
            )
        else:
            count = rng.randint(1, 200)
            volume[i] += count
            taker = "yes" if rng.random() < 0.5 else "no"
            trade_seq += 1
            yield _dumps(
                {
                    "type": "trade",
                    "sid": 3,
                    "seq": trade_seq,
                    "msg": {
                        "trade_id": str(uuid.UUID(int=rng.getrandbits(128))),
                        "market_ticker": m.ticker,
                        "yes_price_dollars": _price(m.fair),
                        "no_price_dollars": _price(100 - m.fair),
                        "count_fp": _size(count * 100),
                        "taker_side": taker,
                        "taker_outcome_side": taker,
                        "taker_book_side": "bid" if taker == "yes" else "ask",
                        "is_block_trade": False,
                        "ts": ms // 1000,
                        "ts_ms": ms,
                    },
                }
            )
        emitted += 1
