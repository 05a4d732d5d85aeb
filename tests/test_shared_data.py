"""Real Kalshi traffic and Kalshi's own examples, read from ``../shared/kalshi`` (skipped when absent).

The order books built by the project are compared with an independent rebuild written here with ``Decimal`` and the
``json`` module, sharing no code with the project.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.cli.listener import main
from market_making_bot.feed.core import Core
from market_making_bot.kalshi import KNOWN_TYPES, UnknownMessage, decode_frame
from market_making_bot.storage.replay import iter_recording

ORDERBOOK_CAPTURES = ("prod-2026-08-mlb-orderbook.json", "prod-2025-05-legacy-cents-book.jsonl")

Book = dict[str, dict[Decimal, Decimal]]


def test_every_asyncapi_server_example_decodes(shared_kalshi: Path) -> None:
    seen = set()
    for line in (shared_kalshi / "asyncapi-examples.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        if "cmd" in raw:
            continue  # client -> server command
        msg = decode_frame(line)
        assert msg.type == raw["type"]
        if raw["type"] in KNOWN_TYPES:
            assert not isinstance(msg, UnknownMessage)
            seen.add(raw["type"])
        else:
            assert isinstance(msg, UnknownMessage) and msg.raw == raw
    # ticker_v2 was retired before these examples were written; every other modelled type has an example.
    assert seen == KNOWN_TYPES - {"ticker_v2"}


def capture_files(shared_kalshi: Path) -> list[Path]:
    files = sorted(p for p in (shared_kalshi / "captures").iterdir() if p.name.startswith("prod-"))
    assert files, "no capture files"
    return files


def _levels(body: dict[str, Any], side: str) -> dict[Decimal, Decimal]:
    if f"{side}_dollars_fp" in body:
        return {Decimal(p): Decimal(s) for p, s in body[f"{side}_dollars_fp"]}
    return {Decimal(p) / 100: Decimal(s) for p, s in body.get(side, [])}


def decimal_rebuild(frames: list[dict[str, Any]]) -> tuple[dict[str, Book], list[tuple[int, int, int]]]:
    """Books from snapshots and deltas with Decimal arithmetic, and the seq gaps per sid (sid, expected, got);
    a ``subscribed`` ack restarts its sid."""
    books: dict[str, Book] = {}
    last_seq: dict[int, int] = {}
    gaps = []
    for f in frames:
        kind = f.get("type")
        if kind == "subscribed":
            last_seq.pop(f["msg"]["sid"], None)
        elif "sid" in f and "seq" in f:
            sid, seq = f["sid"], f["seq"]
            if sid in last_seq and seq > last_seq[sid] + 1:
                gaps.append((sid, last_seq[sid] + 1, seq))
            last_seq[sid] = seq
        body = f.get("msg")
        if kind == "orderbook_snapshot":
            books[body["market_ticker"]] = {"yes": _levels(body, "yes"), "no": _levels(body, "no")}
        elif kind == "orderbook_delta":
            price = Decimal(body["price_dollars"]) if "price_dollars" in body else Decimal(body["price"]) / 100
            change = Decimal(body["delta_fp"]) if "delta_fp" in body else Decimal(body["delta"])
            side = books[body["market_ticker"]][body["side"]]
            size = side.get(price, Decimal(0)) + change
            assert size >= 0, f"negative level in the recording itself: {body}"
            if size > 0:
                side[price] = size
            else:
                side.pop(price, None)
    return books, gaps


def expected_summary(book: Book) -> dict[str, Any]:
    def levels(side: str) -> list[list[str]]:
        return [[f"{p:.4f}", f"{s:.2f}"] for p, s in sorted(book[side].items())]

    best_yes = max(book["yes"]) if book["yes"] else None
    best_no = max(book["no"]) if book["no"] else None
    ask = None if best_no is None else 1 - best_no
    return {
        "yes": levels("yes"),
        "no": levels("no"),
        "best_yes_bid": None if best_yes is None else f"{best_yes:.4f}",
        "best_yes_ask": None if ask is None else f"{ask:.4f}",
        "spread": None if best_yes is None or ask is None else f"{ask - best_yes:.4f}",
    }


def replay_checking_every_frame(path: Path) -> Core:
    """Replay ``path`` and check after every frame: no crossed book, no level <= 0, no decode error."""
    core = Core()
    for recv_ns, text in iter_recording(path):
        core.feed(text, recv_ns or 0)
        for ticker, market in core.state.markets.items():
            book = market.book
            assert not book.is_crossed(), f"{path.name}: crossed book {ticker}"
            assert all(size > 0 for size in (*book.yes.values(), *book.no.values())), f"{path.name}: {ticker}"
    counters = core.counters
    assert counters["decode_errors"] == 0 and counters["handler_errors"] == 0, (path.name, counters)
    assert counters["negative_levels"] == 0 and counters["deltas_without_snapshot"] == 0, (path.name, counters)
    return core


def test_every_capture_replays_cleanly_and_books_match_decimal_rebuild(shared_kalshi: Path) -> None:
    for path in capture_files(shared_kalshi):
        core = replay_checking_every_frame(path)
        frames = [json.loads(text) for _, text in iter_recording(path)]
        books, gaps = decimal_rebuild(frames)
        assert core.counters["gaps"] == len(gaps), path.name
        summary = core.summary()["markets"]
        for ticker, book in books.items():
            got = {k: summary[ticker][k] for k in ("yes", "no", "best_yes_bid", "best_yes_ask", "spread")}
            assert got == expected_summary(book), f"{path.name}: {ticker}"
        assert core.counters["frames"] == len(frames)


@pytest.mark.parametrize("name", ORDERBOOK_CAPTURES)
def test_orderbook_captures_have_no_gap(shared_kalshi: Path, name: str) -> None:
    path = shared_kalshi / "captures" / name
    core = replay_checking_every_frame(path)
    assert core.counters["gaps"] == core.counters["duplicates"] == core.counters["regressions"] == 0
    _, gaps = decimal_rebuild([json.loads(text) for _, text in iter_recording(path)])
    assert gaps == []


def test_cli_summary_of_the_mlb_capture_equals_decimal_rebuild(shared_kalshi: Path, tmp_path: Path) -> None:
    path = shared_kalshi / "captures" / "prod-2026-08-mlb-orderbook.json"
    out = tmp_path / "summary.json"
    assert main(["--replay", str(path), "--summary-json", str(out), "--log-level", "WARNING"]) == 0
    summary = json.loads(out.read_text())
    frames = [entry["frame"] for entry in json.loads(path.read_text())["frames"]]
    books, gaps = decimal_rebuild(frames)
    assert len(books) == 12 and gaps == []
    assert sorted(summary["markets"]) == sorted(books)
    for ticker, book in books.items():
        market = summary["markets"][ticker]
        assert {k: market[k] for k in ("yes", "no", "best_yes_bid", "best_yes_ask", "spread")} == expected_summary(book)
        assert (market["trades"], market["fills"], market["position"]) == (0, 0, None)
    counters = summary["counters"]
    assert counters["frames"] == 269 and counters["decode_errors"] == 0 and counters["gaps"] == 0
    assert counters["by_type"] == {"subscribed": 1, "ok": 11, "orderbook_snapshot": 12, "orderbook_delta": 245}


def test_legacy_ticker_capture_prices_are_cents(shared_kalshi: Path) -> None:
    core = Core()
    path = shared_kalshi / "captures" / "prod-2025-01-ticker-legacy-cents.json"
    frames = json.loads(path.read_text())
    for recv_ns, text in iter_recording(path):
        core.feed(text, recv_ns or 0)
    last = {f["msg"]["market_ticker"]: f["msg"] for f in frames}
    for ticker, body in last.items():
        ticker_msg = core.state.markets[ticker].last_ticker
        assert ticker_msg is not None
        assert ticker_msg.yes_bid == body["yes_bid"] * 100 and ticker_msg.price == body["price"] * 100
        assert ticker_msg.volume == body["volume"] * 100
        assert ticker_msg.dollar_volume == body["dollar_volume"]


def test_dual_format_captures_agree_with_both_fields(shared_kalshi: Path) -> None:
    """The Feb-2026 captures carry cents and dollars side by side: the decoded value matches both."""
    for name in ("prod-2026-02-ticker.jsonl", "prod-2026-02-trade.jsonl"):
        for _, text in iter_recording(shared_kalshi / "captures" / name):
            raw = json.loads(text)["msg"]
            msg = decode_frame(text)
            if raw.get("yes_bid") is not None:
                assert msg.yes_bid == raw["yes_bid"] * 100 == int(Decimal(raw["yes_bid_dollars"]) * 10000)  # type: ignore[union-attr]
            if raw.get("count") is not None:
                assert msg.count == raw["count"] * 100 == int(Decimal(raw["count_fp"]) * 100)  # type: ignore[union-attr]
