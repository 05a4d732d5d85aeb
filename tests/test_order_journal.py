"""``OrderManager``'s journal hook (issue 15 item 4): every order request and answer in the journal as an ``order``
record (integer units, the coid, never a header or a signature), the journal still replays, and the export's
``orders`` table gives each order's final state as the simulator holds it."""

from __future__ import annotations

import csv
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from market_making_bot.feed.core import Core
from market_making_bot.kalshi.auth import Signer, load_private_key
from market_making_bot.kalshi.orders import BookSide
from market_making_bot.kalshi.rest import Backoff
from market_making_bot.runtime.orders import OrderManager
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.storage.export import collect, order_rows, write_csv
from market_making_bot.storage.journal import JournalWriter, iter_journal
from market_making_bot.storage.replay import run_replay
from market_making_bot.trading.order_log import decode_order_record
from market_making_bot.trading.orders import OrderState, OrderTracker

from .keys import write_key

FAST = Backoff(base=0.001, cap=0.004, retries=3)
LOW = 100


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[ExchangeSimulator]:
    public = write_key(tmp_path / "k.pem", "ed25519")
    s = ExchangeSimulator(
        SimulatorConfig(
            public_key=public,
            markets=2,
            rate=1,
            start_paused=True,
            ping_interval=None,
            faults=[FaultSpec.parse("order-timeout:at=1"), FaultSpec.parse("order-reject:at=2")],
        )
    )
    await s.start()
    yield s
    await s.stop()


def _records(path: Path) -> list[dict[str, Any]]:
    return [decode_order_record(r.text) for r in iter_journal(path) if r.dir == "order" and r.text is not None]


async def test_order_records_replay_and_export(sim: ExchangeSimulator, tmp_path: Path) -> None:
    signer = Signer("journal-key-0123", load_private_key(tmp_path / "k.pem", variable="K"))
    ticker = sim.model.market_list[0].ticker
    path = tmp_path / "run.jsonl"
    n = itertools.count(1)
    tracker = OrderTracker("jr", rest_lag_ms=50, make_id=lambda: f"{next(n):04d}")
    with JournalWriter(path) as journal:
        async with KalshiAPIClient(sim.api_url, signer, backoff=FAST, timeout=5.0) as api:
            orders = OrderManager(api, tracker, armed=True, journal=journal)
            a = await orders.place(ticker, BookSide.BID, LOW, 300)  # write 1: fine
            b = await orders.place(ticker, BookSide.BID, LOW, 200)  # write 2: applied, the reply never comes
            c = await orders.place(ticker, BookSide.ASK, 9900, 100)  # write 3: 503, not processed: re-sent
            await orders.amend(a.client_order_id, price=2 * LOW)
            await orders.cancel(b.client_order_id)
            truth = {o.client_order_id: o async for o in api.orders()}
    assert b.resent == 0 and c.resent == 1
    records = _records(path)
    ops = [(r["op"], r.get("phase")) for r in records if r["op"] != "update"]
    assert ops.count(("create", "unknown")) == 2 and ("read", "reply") in ops
    assert [r.get("status") for r in records if r.get("phase") == "unknown"] == [None, 503]
    assert ("amend", "reply") in ops and ("cancel", "reply") in ops
    first = next(r for r in records if r["op"] == "create" and r["phase"] == "request")
    assert first["body"]["price"] == LOW and first["body"]["count"] == 300  # integer units, not "0.0100"
    assert first["body"]["client_order_id"] == first["coid"] == a.client_order_id
    text = path.read_text()
    assert "KALSHI-ACCESS" not in text and "signature" not in text.lower() and "BEGIN" not in text
    # one coid per order in the simulator: the unknown one was not duplicated, the 503 one was re-sent once
    creates = [r["coid"] for r in records if r["op"] == "create" and r["phase"] == "request"]
    assert creates.count(c.client_order_id) == 2 and creates.count(b.client_order_id) == 1
    # the journal still replays (order records are skipped) and the export's orders table is the truth
    core = Core([ticker])
    run_replay([path], core)
    rows = {r["client_order_id"]: r for r in order_rows([path])}
    assert set(rows) == set(truth) == {a.client_order_id, b.client_order_id, c.client_order_id}
    for coid, t in truth.items():
        row = rows[coid]
        assert (row["order_id"], row["state"], row["market"]) == (t.order_id, t.status, t.ticker)
        assert (row["price"], row["fill_count"], row["remaining"]) == (
            t.yes_price_dollars,
            t.fill_count_fp,
            t.remaining_count_fp,
        )
        assert row["fees"] == t.maker_fees_dollars + t.taker_fees_dollars
    assert rows[c.client_order_id]["requests"] == 2 and rows[a.client_order_id]["requests"] == 1
    assert rows[a.client_order_id]["state"] == OrderState.RESTING.value
    out = tmp_path / "tables"
    out.mkdir()
    write_csv(collect([path]), out)
    with open(out / "orders.csv", newline="") as f:
        table = {r["client_order_id"]: r for r in csv.DictReader(f)}
    assert table[a.client_order_id]["price"] == "0.0200" and table[b.client_order_id]["state"] == "canceled"
    assert table[a.client_order_id]["count"] == "3.00"


async def test_a_failing_journal_never_stops_order_entry(sim: ExchangeSimulator, tmp_path: Path) -> None:
    class Broken:
        def order(self, text: str, t_ns: int) -> None:
            raise OSError("disk full")

    signer = Signer("journal-key-0123", load_private_key(tmp_path / "k.pem", variable="K"))
    ticker = sim.model.market_list[1].ticker
    sim.faults.specs.clear()
    async with KalshiAPIClient(sim.api_url, signer, backoff=FAST) as api:
        orders = OrderManager(api, OrderTracker("jb", rest_lag_ms=50), armed=True, journal=Broken())
        o = await orders.place(ticker, BookSide.BID, LOW, 100)
        assert o.state is OrderState.RESTING
        assert [s async for s in _held(api, o.client_order_id)] == ["resting"]


async def _held(api: KalshiAPIClient, coid: str) -> AsyncIterator[str]:
    async for o in api.orders():
        if o.client_order_id == coid:
            yield o.status
