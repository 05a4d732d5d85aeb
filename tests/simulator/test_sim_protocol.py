"""Protocol behaviour over a real loopback WebSocket: acks, errors, seq, snapshots, updates."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

from market_making_bot.simulator.auth import auth_headers

from .helpers import DecBook, now_ms, rebuild, truth_books

M1, M2, M3 = "KXSIM-26DEC31-M1", "KXSIM-26DEC31-M2", "KXSIM-26DEC31-M3"


def of_type(frames: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") in types]


def assert_seq_continuous(frames: list[dict[str, Any]], sid: int) -> None:
    seqs = [f["seq"] for f in frames if f.get("sid") == sid and "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]


async def test_subscribe_one_ack_per_channel_same_id(make_sim, open_client):
    sim = await make_sim(rate=50)
    c = await open_client(sim)
    await c.send(
        "subscribe", {"channels": ["orderbook_delta", "ticker", "trade"], "market_tickers": [M1, M2]}, id_=7
    )
    acks = []
    while len(acks) < 3:
        f = await c.recv()
        if f["type"] == "subscribed":
            acks.append(f)
    assert [a["id"] for a in acks] == [7, 7, 7]
    assert [a["msg"]["channel"] for a in acks] == ["orderbook_delta", "ticker", "trade"]
    assert sorted(a["msg"]["sid"] for a in acks) == [1, 2, 3]


async def test_snapshot_then_deltas_with_continuous_seq_equal_truth(make_sim, open_client):
    sim = await make_sim(rate=600, duration=0.8, seed=5)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2, M3]})
    await sim.wait_quiet(timeout=10)
    frames = await c.drain()
    ob = [f for f in frames if f.get("sid") == 1]
    assert_seq_continuous(frames, 1)
    seen_snapshot: set[str] = set()
    for f in ob:
        t = f["msg"]["market_ticker"]
        if f["type"] == "orderbook_snapshot":
            seen_snapshot.add(t)
        else:
            assert f["type"] == "orderbook_delta"
            assert t in seen_snapshot, "delta before the market's snapshot"
    assert len(of_type(ob, "orderbook_delta")) > 100
    books = rebuild(frames)
    assert {t: b.as_truth() for t, b in books.items()} == truth_books(sim.truth())


@pytest.mark.parametrize(
    ("raw", "code", "has_id"),
    [
        ("this is not json", 1, False),
        ('["subscribe"]', 1, False),
        ('{"id": -3, "cmd": "subscribe"}', 1, False),
        ('{"id": 1, "cmd": "subscribe", "params": {"channels": "ticker"}}', 1, True),
        ('{"id": 2, "cmd": "subscribe"}', 2, True),
        ('{"id": 3, "cmd": "subscribe", "params": {}}', 3, True),
        ('{"id": 4, "cmd": "subscribe", "params": {"channels": []}}', 3, True),
        ('{"id": 5, "cmd": "unsubscribe", "params": {}}', 4, True),
        ('{"id": 6, "cmd": "hello"}', 5, True),
        ('{"id": 7, "cmd": "unsubscribe", "params": {"sids": [42]}}', 7, True),
        ('{"id": 8, "cmd": "update_subscription", "params": {"sid": 42, "action": "add_markets"}}', 7, True),
        ('{"id": 9, "cmd": "subscribe", "params": {"channels": ["ticker:KXSIM-26DEC31-M1"]}}', 8, True),
        (
            '{"id": 10, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}}',
            12,
            True,
        ),
        ('{"id": 11, "cmd": "update_subscription", "params": {"action": "add_markets"}}', 12, True),
        ('{"id": 12, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}', 14, True),
        ('{"id": 13, "cmd": "update_subscription", "params": {"sid": 1}}', 15, True),
        (
            '{"id": 14, "cmd": "subscribe", "params": {"channels": ["ticker"], "market_tickers": ["NO-1"]}}',
            11,
            True,
        ),
        (
            '{"id": 15, "cmd": "subscribe", "params": {"channels": ["communications"], "shard_key": 1}}',
            20,
            True,
        ),
        (
            '{"id": 16, "cmd": "subscribe", "params": {"channels": ["communications"], "shard_factor": 0}}',
            19,
            True,
        ),
        (
            '{"id": 17, "cmd": "subscribe", "params": {"channels": ["communications"], "shard_factor": 101}}',
            22,
            True,
        ),
        (
            '{"id": 18, "cmd": "subscribe", "params": {"channels": ["communications"], "shard_factor": 2, '
            '"shard_key": 2}}',
            21,
            True,
        ),
    ],
)
async def test_error_codes(make_sim, open_client, raw, code, has_id):
    sim = await make_sim(rate=1, start_paused=True)
    c = await open_client(sim)
    await c.send_raw(raw)
    f = await c.recv()
    assert f["type"] == "error", f
    assert f["msg"]["code"] == code, f
    assert isinstance(f["msg"]["msg"], str) and f["msg"]["msg"]
    if has_id:
        assert f["id"] == json.loads(raw)["id"]
    else:
        assert "id" not in f


async def test_update_subscription_errors_13_and_14(make_sim, open_client):
    sim = await make_sim(rate=1, start_paused=True)
    c = await open_client(sim)
    await c.send(
        "subscribe", {"channels": ["ticker", "market_lifecycle_v2", "orderbook_delta"], "market_ticker": M1}
    )
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot")
    # get_snapshot only exists on orderbook_delta
    await c.send("update_subscription", {"sid": 1, "action": "get_snapshot", "market_tickers": [M1]}, id_=50)
    f = await c.recv()
    assert (f["type"], f["msg"]["code"], f["id"], f["sid"]) == ("error", 13, 50, 1)
    # markets cannot be added to a channel without a market filter
    await c.send("update_subscription", {"sid": 2, "action": "add_markets", "market_tickers": [M2]}, id_=51)
    f = await c.recv()
    assert (f["msg"]["code"], f["id"]) == (13, 51)
    await c.send("update_subscription", {"sid": 3, "action": "do_something", "market_tickers": [M2]}, id_=52)
    assert (await c.recv())["msg"]["code"] == 13
    # get_snapshot takes market_tickers only
    await c.send("update_subscription", {"sid": 3, "action": "get_snapshot", "market_ticker": M1}, id_=53)
    assert (await c.recv())["msg"]["code"] == 14
    await c.send("update_subscription", {"sids": [3], "action": "add_markets"}, id_=54)
    assert (await c.recv())["msg"]["code"] == 14


async def test_error_9_for_private_channels_on_anonymous_session(make_sim):
    sim = await make_sim(rate=1, start_paused=True, allow_anonymous=True)
    async with connect(sim.url) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill", "ticker"]}}))
        first = json.loads(await ws.recv())
        second = json.loads(await ws.recv())
    assert first["type"] == "error" and first["msg"]["code"] == 9 and first["id"] == 1
    assert second["type"] == "subscribed" and second["msg"]["channel"] == "ticker"


async def test_add_and_delete_markets(make_sim, open_client):
    sim = await make_sim(rate=400, seed=2)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1]})
    await c.recv_until(lambda f: f.get("type") == "orderbook_delta")
    await c.send(
        "update_subscription", {"sids": [1], "action": "add_markets", "market_tickers": [M3, M2]}, id_=20
    )
    got = await c.recv_until(
        lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M2
    )
    ok = [f for f in got if f["type"] == "ok"]
    assert len(ok) == 1
    assert ok[0]["id"] == 20 and ok[0]["sid"] == 1
    assert ok[0]["msg"] == {"market_tickers": [M1, M2, M3]}
    after_ok = got[got.index(ok[0]) + 1 :]
    snaps = [f["msg"]["market_ticker"] for f in after_ok if f["type"] == "orderbook_snapshot"]
    assert snaps == [M3, M2]
    await c.send(
        "update_subscription", {"sid": 1, "action": "delete_markets", "market_tickers": [M1]}, id_=21
    )
    got = await c.recv_until(lambda f: f.get("type") == "ok" and f.get("id") == 21)
    assert got[-1]["msg"] == {"market_tickers": [M2, M3]}
    sim.stop_flow()
    await sim.wait_quiet(timeout=5)
    rest = await c.drain()
    assert all(f["msg"]["market_ticker"] != M1 for f in rest if f.get("type") == "orderbook_delta")
    assert_seq_continuous(c.frames, 1)  # the ok replies take seq numbers too
    books = rebuild(c.frames)
    truth = truth_books(sim.truth())
    assert books[M2].as_truth() == truth[M2] and books[M3].as_truth() == truth[M3]


async def test_get_snapshot_equals_rebuilt_book_and_echoes_id(make_sim, open_client):
    sim = await make_sim(rate=1500, seed=9)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2]})
    await c.recv_until(lambda f: f.get("seq", 0) > 200)
    await c.send(
        "update_subscription", {"sids": [1], "action": "get_snapshot", "market_tickers": [M2, M1]}, id_=33
    )
    books: dict[str, DecBook] = rebuild(c.frames)
    checked = 0
    while checked < 2:
        f = await c.recv()
        if f["type"] == "orderbook_snapshot" and f.get("id") == 33:
            t = f["msg"]["market_ticker"]
            fresh = DecBook()
            fresh.snapshot(f["msg"])
            assert fresh.as_truth() == books[t].as_truth(), "get_snapshot differs from the rebuilt book"
            checked += 1
        if f["type"] == "orderbook_snapshot":
            books.setdefault(f["msg"]["market_ticker"], DecBook()).snapshot(f["msg"])
        elif f["type"] == "orderbook_delta":
            books[f["msg"]["market_ticker"]].delta(f["msg"])
    assert not [f for f in c.frames if f.get("type") == "ok"], "get_snapshot sends no ok"


async def test_use_yes_price_reports_no_side_on_yes_scale(make_sim, open_client):
    sim = await make_sim(rate=800, duration=0.6, seed=4, start_paused=True)
    plain = await open_client(sim)
    yes_scale = await open_client(sim)
    await plain.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2]})
    await yes_scale.send(
        "subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2], "use_yes_price": True}
    )
    await plain.recv_until(
        lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M2
    )
    await yes_scale.recv_until(
        lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M2
    )
    sim.start_flow()
    await sim.wait_quiet(timeout=10)
    await plain.drain()
    await yes_scale.drain()
    a = rebuild(plain.frames)
    b = rebuild(yes_scale.frames)
    truth = truth_books(sim.truth())
    for t in (M1, M2):
        assert a[t].as_truth() == truth[t]
        assert b[t].yes == a[t].yes
        assert b[t].no == {Decimal(1) - p: s for p, s in a[t].no.items()}
    snap = next(f for f in yes_scale.frames if f.get("type") == "orderbook_snapshot")
    prices = [Decimal(p) for p, _ in snap["msg"].get("no_dollars_fp", [])]
    assert prices == sorted(prices), "levels ascending on the YES scale too"
    # on the YES scale the NO bids sit above the YES bids: best_yes_ask = min(no)
    assert min(b[M1].no) > max(b[M1].yes)


async def test_list_subscriptions_and_unsubscribe(make_sim, open_client):
    sim = await make_sim(rate=300)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta", "ticker"], "market_tickers": [M1]})
    await c.send("list_subscriptions", id_=9)
    got = await c.recv_until(lambda f: f.get("id") == 9 and f["type"] == "ok")
    assert got[-1]["msg"] == [{"channel": "orderbook_delta", "sid": 1}, {"channel": "ticker", "sid": 2}]
    await c.recv_until(lambda f: f.get("type") == "orderbook_delta")
    await c.send("unsubscribe", {"sids": [1]}, id_=10)
    got = await c.recv_until(lambda f: f["type"] == "unsubscribed")
    unsub = got[-1]
    assert (unsub["id"], unsub["sid"]) == (10, 1)
    last = max(f["seq"] for f in c.frames[:-1] if f.get("sid") == 1 and "seq" in f)
    assert unsub["seq"] == last + 1
    sim.stop_flow()
    await sim.wait_quiet(timeout=5)
    rest = await c.drain()
    assert not [f for f in rest if f.get("sid") == 1]
    await c.send("list_subscriptions", id_=11)
    assert (await c.recv())["msg"] == [{"channel": "ticker", "sid": 2}]


async def test_repeat_subscribe_is_answered_with_ok_like_the_real_server(make_sim, open_client):
    """PROTOCOL.md 10b item 1: ``ok`` on the existing sid, a consumed seq, the full sorted list."""
    sim = await make_sim(rate=1, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M3]})
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot")
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M2, M1]}, id_=5)
    ack = await c.recv()
    assert ack["type"] == "ok", ack
    assert ack["id"] == 5 and ack["sid"] == 1 and ack["seq"] == 2
    assert ack["msg"] == {"market_tickers": [M1, M2, M3]}
    snaps = [await c.recv(), await c.recv()]
    assert [(f["type"], f["sid"], f["seq"], f["msg"]["market_ticker"]) for f in snaps] == [
        ("orderbook_snapshot", 1, 3, M2),
        ("orderbook_snapshot", 1, 4, M1),
    ]
    # same markets again: an ok, a seq, no snapshot
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1]}, id_=6)
    again = await c.recv()
    assert again["type"] == "ok" and again["id"] == 6 and again["seq"] == 5
    assert again["msg"] == {"market_tickers": [M1, M2, M3]}
    assert await c.drain(0.2) == []
    # the data that follows continues the same numbering
    sim.start_flow()
    delta = (await c.recv_until(lambda f: f.get("type") == "orderbook_delta"))[-1]
    assert delta["sid"] == 1 and delta["seq"] == 6


async def test_repeat_subscribe_on_another_channel_is_just_an_ok(make_sim, open_client):
    sim = await make_sim(rate=1, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["ticker"], "market_tickers": [M1]})
    sub = await c.recv()
    assert sub["type"] == "subscribed" and sub["msg"]["sid"] == 1
    await c.send("subscribe", {"channels": ["ticker"], "market_tickers": [M2]}, id_=8)
    ack = await c.recv()
    assert ack == {
        "type": "ok",
        "id": 8,
        "sid": 1,
        "seq": 1,
        "msg": {"market_tickers": [M1, M2]},
        "sending_ts_ms": ack["sending_ts_ms"],
    }
    assert await c.drain(0.2) == []


async def test_repeat_subscribe_old_behaviour_on_request(make_sim, open_client):
    sim = await make_sim(rate=1, start_paused=True, repeat_subscribe="subscribed")
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1]})
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot")
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2]}, id_=5)
    ack = await c.recv()
    assert ack["type"] == "subscribed" and ack["id"] == 5 and ack["msg"]["sid"] == 1 and "seq" not in ack
    snap = await c.recv()
    assert snap["type"] == "orderbook_snapshot" and snap["msg"]["market_ticker"] == M2 and snap["seq"] == 2
    assert await c.drain(0.2) == []


async def test_ticker_carries_the_top_of_the_book_it_follows(make_sim, open_client):
    sim = await make_sim(rate=1500, duration=0.5, seed=11, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta", "ticker"], "market_tickers": [M1, M2, M3]})
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M3)
    sim.start_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain()
    books: dict[str, DecBook] = {}
    tickers = 0
    for f in c.frames:
        if f["type"] == "orderbook_snapshot":
            books.setdefault(f["msg"]["market_ticker"], DecBook()).snapshot(f["msg"])
        elif f["type"] == "orderbook_delta":
            books[f["msg"]["market_ticker"]].delta(f["msg"])
        elif f["type"] == "ticker":
            b = books[f["msg"]["market_ticker"]]
            m = f["msg"]
            best_yes = max(b.yes) if b.yes else Decimal(0)
            best_no = max(b.no) if b.no else Decimal(0)
            assert Decimal(m["yes_bid_dollars"]) == best_yes
            assert Decimal(m["yes_ask_dollars"]) == Decimal(1) - best_no
            assert Decimal(m["yes_bid_size_fp"]) == b.yes.get(best_yes, Decimal(0))
            assert Decimal(m["yes_ask_size_fp"]) == b.no.get(best_no, Decimal(0))
            assert best_yes + best_no < 1, "crossed book"
            tickers += 1
    assert tickers > 50


async def test_trades_consume_the_resting_size_they_hit(make_sim, open_client):
    sim = await make_sim(rate=3000, duration=0.6, seed=12, start_paused=True)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta", "trade"], "market_tickers": [M1, M2, M3]})
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M3)
    sim.start_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain()
    books: dict[str, DecBook] = {}
    last: dict[str, Any] | None = None
    consumed = Decimal(0)
    trades = 0
    for f in c.frames:
        if f["type"] in ("orderbook_snapshot", "orderbook_delta"):
            if consumed:
                assert last is not None and consumed == -Decimal(last["delta_fp"]), "trades != consumed size"
            consumed = Decimal(0)
            if f["type"] == "orderbook_snapshot":
                books.setdefault(f["msg"]["market_ticker"], DecBook()).snapshot(f["msg"])
            else:
                books[f["msg"]["market_ticker"]].delta(f["msg"])
                last = f["msg"]
        elif f["type"] == "trade":
            m = f["msg"]
            assert last is not None and last["market_ticker"] == m["market_ticker"]
            assert Decimal(m["yes_price_dollars"]) + Decimal(m["no_price_dollars"]) == 1
            # a YES taker hits the NO bids at the trade's NO price, and vice versa
            maker_side = "no" if m["taker_outcome_side"] == "yes" else "yes"
            maker_price = m["no_price_dollars"] if maker_side == "no" else m["yes_price_dollars"]
            assert (last["side"], Decimal(last["price_dollars"])) == (maker_side, Decimal(maker_price))
            assert m["taker_book_side"] == ("bid" if m["taker_outcome_side"] == "yes" else "ask")
            consumed += Decimal(m["count_fp"])
            trades += 1
    assert trades > 10
    assert_seq_continuous(c.frames, 2)  # trade channel carries seq


async def test_send_initial_snapshot_on_ticker_channel(make_sim, open_client):
    sim = await make_sim(rate=1, start_paused=True)
    c = await open_client(sim)
    market_id = sim.model.markets[M2].market_id
    await c.send(
        "subscribe", {"channels": ["ticker"], "market_ids": [market_id], "send_initial_snapshot": True}
    )
    ack = await c.recv()
    tick = await c.recv()
    assert ack["type"] == "subscribed" and tick["type"] == "ticker"
    assert tick["msg"]["market_ticker"] == M2 and tick["msg"]["market_id"] == market_id
    m1_id = sim.model.markets[M1].market_id
    await c.send(
        "update_subscription",
        {"sid": 1, "action": "add_markets", "market_ids": [m1_id], "send_initial_snapshot": True},
    )
    ok = await c.recv()
    assert ok["type"] == "ok" and ok["msg"] == {"market_ids": [m1_id, market_id]}  # ordered by ticker
    tick = await c.recv()
    assert tick["type"] == "ticker" and tick["msg"]["market_ticker"] == M1


async def test_ping_heartbeat_payload(make_sim):
    """The server pings with payload ``heartbeat`` (checked at the frame level with a sans-I/O client)."""
    import asyncio

    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.uri import parse_uri

    sim = await make_sim(rate=1, start_paused=True, ping_interval=0.1)
    proto = ClientProtocol(parse_uri(sim.url))
    request = proto.connect()
    assert sim.private_key is not None
    for k, v in auth_headers("k", sim.private_key, now_ms()).items():
        request.headers[k] = v
    proto.send_request(request)
    reader, writer = await asyncio.open_connection(sim.config.host, sim.port)
    try:
        for data in proto.data_to_send():
            writer.write(data)
        pings = []
        while len(pings) < 2:
            data = await asyncio.wait_for(reader.read(65536), 3)
            assert data, "connection closed"
            proto.receive_data(data)
            for ev in proto.events_received():
                if getattr(ev, "opcode", None) is Opcode.PING:
                    pings.append(ev.data)
            for out in proto.data_to_send():  # our pongs
                writer.write(out)
        assert pings == [b"heartbeat", b"heartbeat"]
    finally:
        writer.close()
