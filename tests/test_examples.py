"""The examples, run as a user runs them: ``python examples/top_of_book.py --replay FILE`` prints the top-of-book
changes that an independent ``Decimal`` rebuild of the same recording finds, and nothing else on standard output."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).parent / "fixtures"


def _frames(path: Path) -> list[dict[str, Any]]:
    """The frames of a recording, in order (the formats the listener replays: JSONL, ';;'-separated, JSON array,
    ``{"frames": [...]}``, and journals)."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = json.loads(text)
    elif stripped.startswith("{") and '"frames"' in stripped[:200] and stripped.count("\n") < 3:
        items = [e.get("frame", e) for e in json.loads(text)["frames"]]
    elif ";;" in text:
        items = [json.loads(part) for part in text.split(";;") if part.strip()]
    else:
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = [e.get("frame", e) for e in whole["frames"]] if isinstance(whole, dict) else [whole]
    out = []
    for item in items:
        if isinstance(item, dict) and "frame" in item and "type" not in item:  # a journal record or a wrapped frame
            item = item["frame"]
        if isinstance(item, str):
            item = json.loads(item)
        if isinstance(item, dict):
            out.append(item)
    return out


def _levels(body: dict[str, Any], side: str) -> dict[Decimal, Decimal]:
    if f"{side}_dollars_fp" in body:
        return {Decimal(p): Decimal(s) for p, s in body[f"{side}_dollars_fp"]}
    if f"{side}_dollars" in body:
        return {Decimal(p): Decimal(s) for p, s in body[f"{side}_dollars"]}
    return {Decimal(p) / 100: Decimal(s) for p, s in body.get(side, [])}


def rebuild_top_changes(frames: list[dict[str, Any]]) -> list[str]:
    """``TICKER BID ASK`` each time a market's best YES bid or ask (1 - best NO bid) changes, from the first
    snapshot on; ``-`` for an empty side. Independent of the project's code: Decimal arithmetic on the raw frames."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    last: dict[str, tuple[str, str]] = {}
    lines = []
    for f in frames:
        kind, body = f.get("type"), f.get("msg") or {}
        ticker = body.get("market_ticker")
        if kind == "orderbook_snapshot":
            books[ticker] = {"yes": _levels(body, "yes"), "no": _levels(body, "no")}
        elif kind == "orderbook_delta" and ticker in books:
            price = Decimal(body["price_dollars"]) if "price_dollars" in body else Decimal(body["price"]) / 100
            change = Decimal(body["delta_fp"]) if "delta_fp" in body else Decimal(body["delta"])
            side = books[ticker][body["side"]]
            size = side.get(price, Decimal(0)) + change
            if size > 0:
                side[price] = size
            else:
                side.pop(price, None)
        else:
            continue
        book = books[ticker]
        bid = f"{max(book['yes']):.4f}" if book["yes"] else "-"
        ask = f"{1 - max(book['no']):.4f}" if book["no"] else "-"
        if last.get(ticker) != (bid, ask):
            last[ticker] = (bid, ask)
            lines.append(f"{ticker} {bid} {ask}")
    return lines





def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _captures() -> list[Path]:
    folder = ROOT.parent / "shared" / "kalshi" / "captures"
    return sorted(p for p in folder.glob("*") if p.suffix in (".json", ".jsonl", ".txt")) if folder.is_dir() else []


@pytest.mark.parametrize(
    "recording",
    [FIXTURES / "fixed_point_session.jsonl", FIXTURES / "legacy_cents_session.jsonl", *_captures()],
    ids=lambda p: p.name,
)
def test_top_of_book_replay_prints_the_changes_an_independent_rebuild_finds(recording: Path) -> None:
    done = _run(str(EXAMPLES / "top_of_book.py"), "--replay", str(recording))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines() == rebuild_top_changes(_frames(recording))


def test_top_of_book_of_a_capture_with_books_prints_something() -> None:
    captures = [p for p in _captures() if "orderbook" in p.name]
    if not captures:
        pytest.skip("../shared/kalshi/captures is not available")
    done = _run(str(EXAMPLES / "top_of_book.py"), "--replay", str(captures[0]))
    assert len(done.stdout.splitlines()) > 10


def test_flow_imbalance_prints_one_line_per_trade_with_a_bounded_imbalance() -> None:
    recording = FIXTURES / "fixed_point_session.jsonl"
    trades = {f["msg"].get("trade_id") for f in _frames(recording) if f.get("type") == "trade"}
    done = _run(str(EXAMPLES / "flow_imbalance.py"), "--replay", str(recording), "--window", "30")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(trades) > 0
    for line in lines:
        fields = dict(part.split("=") for part in line.split()[1:])
        assert -1 <= float(fields["imbalance"]) <= 1 and int(fields["trades"]) >= 1


def test_examples_name_a_bad_input_in_one_line() -> None:
    done = _run(str(EXAMPLES / "top_of_book.py"), "--replay", "no/such/file.jsonl")
    assert done.returncode == 1 and "no/such/file.jsonl" in done.stderr and "Traceback" not in done.stderr
