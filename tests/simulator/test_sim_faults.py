"""Each fault does what it says, fires when it says, and is counted in the truth."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from market_making_bot.simulator import FaultSpec
from market_making_bot.simulator.auth import auth_headers

from .helpers import Client, DecBook, now_ms, rebuild, truth_books

M1, M2, M3 = "KXSIM-26DEC31-M1", "KXSIM-26DEC31-M2", "KXSIM-26DEC31-M3"
MARKETS = [M1, M2, M3]


async def subscribe_book(c: Client, *channels: str) -> None:
    await c.send("subscribe", {"channels": ["orderbook_delta", *channels], "market_tickers": MARKETS})


async def recv_raw(c: Client, n: int, timeout: float = 5.0) -> list[str]:
    out = []
    for _ in range(n):
        text = await asyncio.wait_for(c.ws.recv(), timeout)
        assert isinstance(text, str)
        out.append(text)
    return out


def seqs(frames: list[dict[str, Any]], sid: int) -> list[int]:
    return [f["seq"] for f in frames if f.get("sid") == sid and "seq" in f]


def missing(seq_list: list[int]) -> list[int]:
    present = set(seq_list)
    return [s for s in range(1, max(seq_list) + 1) if s not in present]


async def test_gap_every_n_skips_a_delta_seq_each_time(make_sim, open_client):
    sim = await make_sim(rate=2000, duration=1.3, faults=[FaultSpec.parse("gap:every=40")], start_paused=True)
    c = await open_client(sim)
    await subscribe_book(c)
    await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot" and f["msg"]["market_ticker"] == M3)
    t_start = now_ms()
    sim.start_flow()
    await sim.wait_quiet(timeout=15)
    await c.drain()
    s = seqs(c.frames, 1)
    gaps = missing(s)
    assert len(gaps) >= 3, "every=N repeats"
    assert sim.truth()["faults"] == {"gap": len(gaps)}
    assert len(s) == len(set(s)), "a gap drops, it does not duplicate"
    # what was dropped was a delta: the books differ from the truth only because of the drops
    # ... and no gap fired in the last second before the duration ended
    by_seq = {f["seq"]: f for f in c.frames if f.get("sid") == 1}
    for g in gaps:
        after = by_seq[g + 1]["msg"]["ts_ms"]
        assert after < t_start + 300 + 150, f"gap at seq {g} in the quiet period"


async def test_gap_at_n_fires_once(make_sim, open_client):
    sim = await make_sim(rate=2000, faults=[FaultSpec.parse("gap:at=30")])
    c = await open_client(sim)
    await subscribe_book(c)
    await c.recv_until(lambda f: f.get("seq", 0) >= 100)
    sim.stop_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain()
    assert len(missing(seqs(c.frames, 1))) == 1
    assert sim.truth()["faults"]["gap"] == 1


async def test_duplicate_repeats_a_sequenced_book_frame(make_sim, open_client):
    sim = await make_sim(rate=2000, faults=[FaultSpec.parse("duplicate:at=25")])
    c = await open_client(sim)
    await subscribe_book(c, "ticker")
    await c.recv_until(lambda f: f.get("sid") == 1 and f.get("seq", 0) >= 100)
    sim.stop_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain()
    s = seqs(c.frames, 1)
    dups = [x for i, x in enumerate(s) if i and s[i - 1] == x]
    assert len(dups) == 1 and not missing(s)
    i = c.raw.index(
        next(r for r in c.raw if json.loads(r).get("seq") == dups[0] and json.loads(r).get("sid") == 1)
    )
    assert c.raw[i] == c.raw[i + 1], "the same frame, byte for byte"
    assert json.loads(c.raw[i])["type"] in ("orderbook_delta", "orderbook_snapshot")
    assert sim.truth()["faults"] == {"duplicate": 1}


async def test_disconnect_aborts_without_close_frame_once_per_run(make_sim, open_client):
    sim = await make_sim(rate=1000, faults=[FaultSpec.parse("disconnect:at=20")])
    c = await open_client(sim)
    await subscribe_book(c)
    with pytest.raises(ConnectionClosedError) as info:
        for _ in range(10_000):
            await c.recv()
    assert info.value.rcvd is None, "abrupt: no close frame"
    data = [f for f in c.frames if f.get("type") in ("orderbook_snapshot", "orderbook_delta")]
    assert 20 <= len(data) <= 22
    assert sim.truth()["faults"] == {"disconnect": 1}
    again = await open_client(sim)  # at=N fires once per run
    await subscribe_book(again)
    got = await again.recv_until(lambda f: f.get("seq", 0) >= 40)
    assert len(got) >= 40
    assert sim.truth()["faults"] == {"disconnect": 1}


async def test_stall_stops_frames_and_pongs_then_resumes(make_sim, open_client):
    sim = await make_sim(rate=800, faults=[FaultSpec.parse("stall:at=15:for=1.0")])
    c = await open_client(sim)
    await subscribe_book(c)
    await c.recv_until(lambda f: f.get("seq") == 15)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    pong = await c.ws.ping()
    with pytest.raises((TimeoutError, asyncio.TimeoutError)):
        await c.recv(0.5)  # silence while the exchange keeps trading
    assert not pong.done(), "a stalled connection does not answer pings"
    f = await c.recv(3)
    assert f["seq"] == 16 and loop.time() - t0 >= 0.9  # resumes where it stopped, nothing lost
    while not pong.done():  # the pong comes once the server reads again (keep reading to reach it)
        await c.recv(3)
    await c.recv_until(lambda f: f.get("seq", 0) > 40)
    assert not missing(seqs(c.frames, 1))
    assert sim.truth()["faults"] == {"stall": 1}


async def test_malformed_adds_a_frame_that_is_not_json(make_sim, open_client):
    sim = await make_sim(rate=1000, faults=[FaultSpec.parse("malformed:at=10")])
    c = await open_client(sim)
    await subscribe_book(c)
    raw = await recv_raw(c, 40)
    bad = []
    frames = []
    for text in raw:
        try:
            frames.append(json.loads(text))
        except ValueError:
            bad.append(text)
    assert len(bad) == 1
    s = seqs(frames, 1)
    assert s == list(range(1, len(s) + 1)), "added, not replacing a frame"
    assert sim.truth()["faults"] == {"malformed": 1}


@pytest.mark.parametrize(("kind", "code"), [("error25", 25), ("error10", 10)])
async def test_terminal_error_kills_the_orderbook_subscription(make_sim, open_client, kind, code):
    sim = await make_sim(rate=1500, faults=[FaultSpec.parse(f"{kind}:at=30")])
    c = await open_client(sim)
    await subscribe_book(c, "ticker")
    got = await c.recv_until(lambda f: f.get("type") == "error")
    err = got[-1]
    assert err["msg"]["code"] == code and err["sid"] == 1
    assert err["seq"] == max(seqs(c.frames[:-1], 1)) + 1
    more = [await c.recv() for _ in range(30)]
    assert not [f for f in more if f.get("sid") == 1], "the sid is dead"
    assert any(f["type"] == "ticker" for f in more), "other subscriptions go on"
    await c.send("list_subscriptions", id_=99)
    lst = await c.recv_until(lambda f: f.get("id") == 99)
    assert lst[-1]["msg"] == [{"channel": "ticker", "sid": 2}]
    await subscribe_book(c)  # resubscribing works: a new sid and a fresh snapshot
    got = await c.recv_until(lambda f: f.get("type") == "orderbook_snapshot")
    assert got[-1]["sid"] == 3 and got[-1]["seq"] == 1
    assert sim.truth()["faults"] == {kind: 1}


async def test_early_data_sends_snapshots_before_the_ack(make_sim, open_client):
    sim = await make_sim(rate=200, faults=[FaultSpec.parse("early-data:at=0")])
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1, M2]}, id_=4)
    first = [await c.recv() for _ in range(3)]
    assert [f["type"] for f in first] == ["orderbook_snapshot", "orderbook_snapshot", "subscribed"]
    assert first[0]["sid"] == first[2]["msg"]["sid"]
    other = await open_client(sim)
    await other.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1]})
    assert (await other.recv())["type"] == "subscribed", "fires once"
    assert sim.truth()["faults"] == {"early-data": 1}


async def test_auth_reject_with_disconnect_refuses_the_reconnect(make_sim, open_client):
    sim = await make_sim(
        rate=1000, faults=[FaultSpec.parse("disconnect:at=20"), FaultSpec.parse("auth-reject:at=20")]
    )
    c = await open_client(sim)
    await subscribe_book(c)
    with pytest.raises(ConnectionClosedError):
        for _ in range(10_000):
            await c.recv()
    assert sim.private_key is not None
    with pytest.raises(InvalidStatus) as info:
        await connect(sim.url, additional_headers=auth_headers("k", sim.private_key, now_ms()))
    assert info.value.response.status_code == 401
    again = await open_client(sim)  # count=1 by default: the next handshake is accepted
    await again.send("list_subscriptions")
    assert (await again.recv())["type"] == "ok"
    assert sim.truth()["faults"] == {"auth-reject": 1, "disconnect": 1}


async def test_deny_private_answers_error_9_and_keeps_public_channels(make_sim, open_client):
    sim = await make_sim(rate=500, faults=[FaultSpec.parse("deny-private")])
    c = await open_client(sim)
    await c.send(
        "subscribe", {"channels": ["orderbook_delta", "fill", "market_positions"], "market_tickers": [M1]}
    )
    got = await c.recv_until(lambda f: f.get("type") == "orderbook_delta")
    errors = [f for f in got if f["type"] == "error"]
    assert [e["msg"]["code"] for e in errors] == [9, 9]
    assert [f["msg"]["channel"] for f in got if f["type"] == "subscribed"] == ["orderbook_delta"]
    assert not sim.model.user_active
    assert sim.truth()["faults"] == {"deny-private": 2}


async def test_reorder_answers_commands_out_of_order_and_keeps_each_sid_in_seq_order(
    make_sim, open_client
):
    """Twelve one-market subscribes sent at once, as in the production recording of PROTOCOL.md 10b."""
    tickers = [f"KXSIM-26DEC31-M{i}" for i in range(1, 13)]
    sim = await make_sim(markets=12, rate=800, seed=3, faults=[FaultSpec.parse("reorder:for=0.3")])
    c = await open_client(sim)
    for i, t in enumerate(tickers, 1):
        await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [t]}, id_=i)
    replies: list[dict[str, Any]] = []

    def is_reply(f: dict[str, Any]) -> bool:
        if f["type"] in ("ok", "subscribed", "error"):
            replies.append(f)
        return len(replies) == 12

    await c.recv_until(is_reply, timeout=10)
    await c.recv_until(lambda f: f.get("type") == "orderbook_delta" and f["seq"] > 40, timeout=10)
    ids = [f["id"] for f in replies]
    assert sorted(ids) == list(range(1, 13)) and ids != sorted(ids), ids
    assert [f["type"] for f in replies] == ["subscribed"] + ["ok"] * 11
    # whichever command came first made the subscription; every later one is an ok on its sid
    # whose list grows by one market each time
    lists = [f["msg"]["market_tickers"] for f in replies[1:]]
    assert [len(m) for m in lists] == list(range(2, 13))
    assert lists[-1] == sorted(tickers)
    # one sid; its frames (snapshots, deltas and the ok replies) are numbered 1, 2, 3, ... in order
    assert {f["sid"] for f in c.frames if "sid" in f} == {1}
    numbered = [f["seq"] for f in c.frames if "seq" in f]
    assert numbered == list(range(1, len(numbered) + 1))
    snaps = [f["msg"]["market_ticker"] for f in c.frames if f["type"] == "orderbook_snapshot"]
    assert sorted(snaps) == sorted(tickers)
    assert sim.truth()["faults"] == {"reorder": 12}


async def test_reorder_count_limits_the_commands_held_back(make_sim, open_client):
    sim = await make_sim(rate=1, start_paused=True, faults=[FaultSpec.parse("reorder:count=1:for=0.2")])
    c = await open_client(sim)
    await c.send("list_subscriptions", id_=1)
    await c.send("list_subscriptions", id_=2)
    await c.send("list_subscriptions", id_=3)
    got = [await c.recv(), await c.recv(), await c.recv()]
    assert [f["id"] for f in got] == [2, 3, 1]
    assert sim.truth()["faults"] == {"reorder": 1}


def test_reorder_spec_round_trips() -> None:
    spec = FaultSpec.parse("reorder:count=5:for=0.05")
    assert (spec.kind, spec.count, spec.seconds, spec.at) == ("reorder", 5, 0.05, 0)
    assert str(spec) == "reorder:at=0:count=5:for=0.05"
    assert FaultSpec.parse("reorder").count is None


async def test_inject_and_add_at_run_time(make_sim, open_client):
    sim = await make_sim(rate=1000)
    c = await open_client(sim)
    await subscribe_book(c)
    await c.recv_until(lambda f: f.get("seq", 0) >= 10)
    sim.faults.add("gap:every=15")
    await c.recv_until(lambda f: f.get("seq", 0) >= 100)
    assert missing(seqs(c.frames, 1))
    assert sim.faults.inject("disconnect") == 1
    with pytest.raises(ConnectionClosedError):
        for _ in range(10_000):
            await c.recv()
    assert sim.truth()["faults"]["disconnect"] == 1
    assert sim.truth()["faults"]["gap"] >= 1


async def test_books_still_converge_to_the_truth_after_a_resync(make_sim, open_client):
    """A client that re-baselines with get_snapshot after each gap ends equal to the truth."""
    sim = await make_sim(rate=1500, duration=1.4, faults=[FaultSpec.parse("gap:every=60")])
    c = await open_client(sim)
    await subscribe_book(c)
    books: dict[str, DecBook] = {}
    stale: set[str] = set()
    last = 0
    while True:
        try:
            f = await c.recv(0.3)
        except (TimeoutError, asyncio.TimeoutError):
            if sim.flow_done:
                break
            continue
        if f.get("sid") != 1 or "seq" not in f:
            continue
        if f["seq"] != last + 1:  # a gap: every book of the sid is suspect until its fresh snapshot
            stale = set(MARKETS)
            await c.send(
                "update_subscription", {"sid": 1, "action": "get_snapshot", "market_tickers": MARKETS}
            )
        last = f["seq"]
        if f["type"] == "orderbook_snapshot":
            books.setdefault(f["msg"]["market_ticker"], DecBook()).snapshot(f["msg"])
            stale.discard(f["msg"]["market_ticker"])
        elif f["type"] == "orderbook_delta" and f["msg"]["market_ticker"] not in stale:
            books[f["msg"]["market_ticker"]].delta(f["msg"])
    assert sim.truth()["faults"]["gap"] >= 2
    assert not stale
    assert {t: b.as_truth() for t, b in books.items()} == truth_books(sim.truth())


async def test_a_reconnecting_client_converges_through_disconnects_gaps_and_errors(make_sim, open_client):
    """Soak in miniature: random-ish faults on every connection; a client that resyncs on gaps and
    reconnects on drops ends with the truth, and the truth accounts for what it saw."""
    sim = await make_sim(
        rate=2000,
        duration=2.0,
        seed=91,
        faults=[
            FaultSpec.parse("gap:every=97"),
            FaultSpec.parse("disconnect:every=450"),
            FaultSpec.parse("error25:at=300"),
            FaultSpec.parse("duplicate:every=301"),
        ],
    )
    books: dict[str, DecBook] = {}
    seen = {"gaps": 0, "drops": 0, "errors": 0, "dups": 0}
    while True:
        c = await open_client(sim)
        await subscribe_book(c)
        sid, last, stale = 0, 0, set(MARKETS)
        try:
            while True:
                try:
                    f = await c.recv(0.3)
                except (TimeoutError, asyncio.TimeoutError):
                    if sim.flow_done and not stale:
                        break
                    continue
                if f["type"] == "subscribed":
                    sid, last = f["msg"]["sid"], 0
                    continue
                if f["type"] == "error" and f["msg"]["code"] in (10, 25):
                    seen["errors"] += 1
                    stale = set(MARKETS)
                    await subscribe_book(c)
                    continue
                if f.get("sid") != sid or "seq" not in f:
                    continue
                if f["seq"] == last:
                    seen["dups"] += 1
                    continue
                if f["seq"] != last + 1:
                    seen["gaps"] += 1
                    stale = set(MARKETS)
                    await c.send(
                        "update_subscription",
                        {"sid": sid, "action": "get_snapshot", "market_tickers": MARKETS},
                    )
                last = f["seq"]
                t = f["msg"]["market_ticker"] if isinstance(f.get("msg"), dict) else None
                if f["type"] == "orderbook_snapshot":
                    books.setdefault(t, DecBook()).snapshot(f["msg"])
                    stale.discard(t)
                elif f["type"] == "orderbook_delta" and t not in stale:
                    books[t].delta(f["msg"])
        except ConnectionClosedError:
            seen["drops"] += 1
            continue
        break
    truth = sim.truth()
    assert {t: b.as_truth() for t, b in books.items()} == truth_books(truth)
    faults = truth["faults"]
    assert seen["drops"] == faults["disconnect"] >= 2
    assert seen["errors"] == faults.get("error25", 0) == 1
    assert seen["dups"] == faults.get("duplicate", 0)
    # a gap hidden behind a disconnect is never seen; every gap seen was injected
    assert 1 <= seen["gaps"] <= faults["gap"]


async def test_corrupt_book_sends_one_delta_off_by_a_contract_with_the_seq_kept(make_sim, open_client):
    sim = await make_sim(rate=2000, faults=[FaultSpec.parse("corrupt-book:at=30")])
    c = await open_client(sim)
    await subscribe_book(c)
    await c.recv_until(lambda f: f.get("seq", 0) >= 300)
    sim.stop_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain()
    assert sim.truth()["faults"] == {"corrupt-book": 1}
    assert missing(seqs(c.frames, 1)) == []  # nothing dropped, nothing that a sequence check could see
    books = {t: b.as_truth() for t, b in rebuild([f for f in c.frames if f.get("sid") == 1]).items()}
    truth = truth_books(sim.truth())
    wrong = {
        (t, side, p): (s, dict(truth[t][side]).get(p))
        for t in MARKETS
        for side in ("yes", "no")
        for p, s in books[t][side]
        if [p, s] not in truth[t][side]
    }
    wrong |= {  # a level the truth removed and the stream kept
        (t, side, p): (dict(books[t][side]).get(p), s)
        for t in MARKETS
        for side in ("yes", "no")
        for p, s in truth[t][side]
        if [p, s] not in books[t][side]
    }
    assert len(wrong) == 1, wrong  # one level, by exactly +1.00 contract
    ((mine, theirs),) = wrong.values()
    assert Decimal(mine) - Decimal(theirs or "0") == 1


def test_corrupt_book_spec_parses() -> None:
    spec = FaultSpec.parse("corrupt-book:every=500")
    assert (spec.kind, spec.every, str(spec)) == ("corrupt-book", 500, "corrupt-book:every=500")
