"""Export of journals to tables (issue 6)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from market_making_bot.cli.export import main
from market_making_bot.storage.journal import JournalWriter

T0 = 1_732_449_000_000_000_000
FRAMES = [
    '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}',
    '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes_dollars_fp":[["0.4000","10.00"],'
    '["0.4150","2.50"]],"no_dollars_fp":[["0.5500","5.00"]]}}',
    '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"M","price_dollars":"0.4000","delta_fp":"1.00",'
    '"side":"yes"}}',  # below the top: no top_of_book row
    '{"type":"orderbook_delta","sid":1,"seq":3,"msg":{"market_ticker":"M","price_dollars":"0.4150","delta_fp":"-2.50",'
    '"side":"yes"}}',  # the best bid goes: a row
    '{"type":"trade","sid":2,"seq":1,"msg":{"trade_id":"t1","market_ticker":"M","yes_price_dollars":"0.4150",'
    '"no_price_dollars":"0.5850","count_fp":"2.50","taker_outcome_side":"no","ts_ms":1732449000500}}',
    '{"type":"trade","sid":2,"seq":2,"msg":{"trade_id":"t1","market_ticker":"M","yes_price_dollars":"0.4150",'
    '"no_price_dollars":"0.5850","count_fp":"2.50","taker_outcome_side":"no","ts_ms":1732449000500}}',  # duplicate
    '{"type":"fill","sid":3,"msg":{"trade_id":"t1","order_id":"o1","market_ticker":"M","side":"yes","action":"buy",'
    '"yes_price_dollars":"0.4150","count_fp":"2.50","fee_cost":"0.004550","is_taker":false,'
    '"post_position_fp":"2.50","ts_ms":1732449000500}}',
]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.jsonl.gz"
    with JournalWriter(path) as w:
        w.connected(1, T0)
        for i, frame in enumerate(FRAMES):
            w.frame_in(frame, T0 + i * 1000, 1)
    return path


def test_parquet_tables_open_in_pandas_with_types(journal: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    assert main([str(journal), "--to", "parquet", "--out", str(out)]) == 0
    trades = pd.read_parquet(out / "trades.parquet")
    assert len(trades) == 1  # the duplicate trade is dropped, as in the live state
    assert trades["yes_price"][0] == Decimal("0.4150") and trades["count"][0] == Decimal("2.50")
    assert str(trades["recv_time"].dtype) == "datetime64[ns, UTC]"
    assert trades["recv_time"][0].value == T0 + 4000
    fills = pd.read_parquet(out / "fills.parquet")
    assert fills["fee"][0] == Decimal("0.004550") and fills["post_position"][0] == Decimal("2.50")
    top = pd.read_parquet(out / "top_of_book.parquet")
    assert [str(b) for b in top["best_yes_bid"]] == ["0.4150", "0.4000"]
    assert [str(a) for a in top["best_yes_ask"]] == ["0.4500", "0.4500"]
    snaps = pd.read_parquet(out / "snapshots.parquet")
    assert sorted(zip(snaps["side"], snaps["price"].map(str), snaps["size"].map(str), strict=True)) == [
        ("no", "0.5500", "5.00"), ("yes", "0.4000", "10.00"), ("yes", "0.4150", "2.50")
    ]


def test_csv_tables(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    assert main([str(journal), "--to", "csv", "--out", str(out)]) == 0
    with open(out / "top_of_book.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["best_yes_bid"] for r in rows] == ["0.4150", "0.4000"] and rows[0]["usable"] == "True"
    with open(out / "trades.csv", newline="") as f:
        (trade,) = list(csv.DictReader(f))
    assert trade["recv_time"].endswith("Z") and trade["taker_side"] == "no" and trade["count"] == "2.50"


def test_missing_journal_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "none.jsonl"), "--to", "csv", "--out", str(tmp_path / "o")]) == 1
    assert "no such recording" in capsys.readouterr().err
