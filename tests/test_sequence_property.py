"""Property (issue 12 item 9): whatever happens to the frames of a connection (gaps, duplicates, reordering, dropped
or repeated acks, errors 10/25, unsubscribed, frames on unknown sids, reconnects), every book that Core marks usable
equals the true book.

The truth is computed here, independently of the listener: for each market, the frames of the one sid that
legitimately feeds it (acked, not ended) since its last snapshot on the current connection, provided that sid's
seqs ran without a gap or a repeat from that snapshot to the end (a repeated frame is dropped, but the books of
its sid wait for a new snapshot, as the README says). Session is fed the same
frames (it must never raise)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import BookUnusable, BookUsable
from market_making_bot.feed.session import Session
from market_making_bot.views.output import LogOutput

_QUIET = logging.getLogger("tests.sequence_property")
_QUIET.propagate = False
_QUIET.setLevel(logging.CRITICAL)
MARKETS = ["KXP-A", "KXP-B"]
SIDS = [1, 2]
PRICES = ["0.3000", "0.4000", "0.5000"]


def _events() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A server-side stream: per-sid seq counters are assigned later, when the stream is made into frames."""
    market = st.sampled_from(MARKETS)
    sid = st.sampled_from(SIDS)
    levels = st.lists(st.tuples(st.sampled_from(PRICES), st.integers(1, 5)), max_size=3)
    snap = st.tuples(st.just("snap"), sid, market, levels)
    delta = st.tuples(st.just("delta"), sid, market, st.sampled_from(PRICES), st.integers(-3, 3).filter(bool))
    ev = st.one_of(
        snap,
        delta,
        delta,
        delta,
        st.tuples(st.just("ack"), sid),
        st.tuples(st.just("ok"), sid),
        st.tuples(st.just("error"), sid, st.sampled_from([10, 25, 13])),
        st.tuples(st.just("unsub"), sid),
        st.tuples(st.just("reconnect")),
    )
    return st.lists(ev, max_size=30)


def _frames(events: list[tuple[Any, ...]], damage: list[tuple[int, int]]) -> list[tuple[str, Any]]:
    """Number the events per sid (a server would), then damage them: 0 keep, 1 drop, 2 duplicate, 3 swap with the
    next one. Returns (``"frame"``, text) and (``"reconnect"``, None) items."""
    seqs: dict[int, int] = {}
    out: list[tuple[str, Any]] = []
    for e in events:
        kind = e[0]
        if kind == "reconnect":
            seqs = {}
            out.append(("reconnect", None))
            continue
        sid = e[1]
        body: dict[str, Any]
        if kind == "ack":
            body = {"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": sid}}
        else:
            seq = seqs[sid] = seqs.get(sid, 0) + 1
            body = {"sid": sid, "seq": seq}
            if kind == "snap":
                levels = [[p, f"{n}.00"] for p, n in dict(e[3]).items()]
                body |= {"type": "orderbook_snapshot", "msg": {"market_ticker": e[2], "yes_dollars_fp": levels}}
            elif kind == "delta":
                body |= {
                    "type": "orderbook_delta",
                    "msg": {"market_ticker": e[2], "price_dollars": e[3], "delta_fp": f"{e[4]}.00", "side": "yes"},
                }
            elif kind == "ok":
                body |= {"type": "ok", "id": 2, "msg": {"market_tickers": MARKETS}}
            elif kind == "error":
                body |= {"type": "error", "msg": {"code": e[2], "msg": "x"}}
            else:
                body |= {"type": "unsubscribed"}
        out.append(("frame", json.dumps(body)))
    damaged: list[tuple[str, Any]] = []
    i = 0
    actions = dict(damage)
    while i < len(out):
        act = actions.get(i, 0)
        if act == 1 and out[i][0] == "frame":
            i += 1
            continue
        if act == 2:
            damaged += [out[i], out[i]]
        elif act == 3 and i + 1 < len(out):
            damaged += [out[i + 1], out[i]]
            i += 1
        else:
            damaged.append(out[i])
        i += 1
    return damaged


def _truth(items: list[tuple[str, Any]]) -> dict[str, dict[int, int] | None]:
    """market -> its true YES ladder (price units -> size units), or None when no book may be usable."""
    books: dict[str, dict[int, int]] = {}
    fed_by: dict[str, int] = {}  # market -> sid of its last snapshot
    spoiled: set[str] = set()  # a gap on its sid, or a delta that did not fit, since its last snapshot
    last_seq: dict[int, int] = {}
    acked: set[int] = set()
    ended: set[int] = set()

    def defined(m: str) -> bool:
        return m in books and fed_by.get(m) in acked and m not in spoiled

    for kind, text in items:
        if kind == "reconnect":
            fed_by, last_seq, acked, ended = {}, {}, set(), set()
            spoiled = set(books)
            continue
        f = json.loads(text)
        t, sid = f["type"], f.get("sid")
        if t == "subscribed":
            if f["msg"]["sid"] not in ended:
                acked.add(f["msg"]["sid"])
            continue
        seq, last = f["seq"], last_seq.get(sid)
        if last is not None and seq == last:
            # A frame repeated at once: dropped, and (the listener's policy) the sid's books re-baselined like a gap.
            spoiled |= {m for m, s in fed_by.items() if s == sid}
            continue
        last_seq[sid] = seq
        if last is not None and seq != last + 1:  # a gap or a regression: every book of the sid is spoiled
            spoiled |= {m for m, s in fed_by.items() if s == sid}
        if t == "ok" and sid not in ended:
            acked.add(sid)
        elif t == "unsubscribed" or (t == "error" and f["msg"]["code"] in (10, 25)):
            ended.add(sid)
            acked.discard(sid)
        elif t == "orderbook_snapshot":
            m = f["msg"]["market_ticker"]
            if sid in ended or (sid not in acked and defined(m) and fed_by[m] != sid):
                continue  # a dead sid, or an unacked one while a live one feeds the book: must change nothing
            books[m] = {round(float(p) * 10_000): round(float(q) * 100) for p, q in f["msg"]["yes_dollars_fp"]}
            fed_by[m] = sid
            spoiled.discard(m)
        elif t == "orderbook_delta":
            m = f["msg"]["market_ticker"]
            if fed_by.get(m) != sid:
                continue  # PROTOCOL.md 5.2: only the sid of the market's snapshot feeds it
            book = books[m]
            price = round(float(f["msg"]["price_dollars"]) * 10_000)
            size = book.get(price, 0) + round(float(f["msg"]["delta_fp"]) * 100)
            if size > 0:
                book[price] = size
            else:
                book.pop(price, None)
                if size < 0:
                    spoiled.add(m)
    return {m: (books[m] if defined(m) else None) for m in books}


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_events(), st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=6))
# The defects of issue 12 item 9, always tried: a gap right after early data and its ack; a gap hidden by a
# repeated ack; a delta on a sid other than its market's snapshot's.
@example(
    [
        ("snap", 1, "KXP-A", [("0.3000", 2)]),
        ("ack", 1),
        ("delta", 1, "KXP-A", "0.3000", 1),
        ("delta", 1, "KXP-A", "0.3000", 1),
    ],
    [(2, 1)],
)
@example(
    [
        ("ack", 1),
        ("snap", 1, "KXP-A", [("0.3000", 2)]),
        ("delta", 1, "KXP-A", "0.3000", 1),
        ("ack", 1),
        ("delta", 1, "KXP-A", "0.3000", 1),
    ],
    [(2, 1)],
)
@example([("ack", 1), ("snap", 1, "KXP-A", [("0.3000", 2)]), ("ack", 2), ("delta", 2, "KXP-A", "0.3000", 3)], [])
def test_no_book_is_ever_wrong_while_usable(events: list[tuple[Any, ...]], damage: list[tuple[int, int]]) -> None:
    items = _frames(events, damage)
    core = Core()
    LogOutput(_QUIET).attach(core.bus, every_kind=True)  # a logger of its own: never touch the shared one's state
    # The usable flips told as events must always equal ``MarketState.usable`` (checked after every frame).
    told: dict[str, bool] = {}
    core.bus.subscribe(BookUsable, lambda e: told.__setitem__(e.ticker, True))
    core.bus.subscribe(BookUnusable, lambda e: told.__setitem__(e.ticker, False))
    session = Session(MARKETS)
    core.connection_opened(0)
    session.connected(0.0)
    now = 0
    for kind, text in items:
        now += 1
        if kind == "reconnect":
            core.connection_lost("test")
            core.connection_opened(now)
            session.connected(now)
            assert all(told.get(t, False) == m.usable for t, m in core.state.markets.items()), items
            continue
        msg = core.feed(text, now)
        assert all(told.get(t, False) == m.usable for t, m in core.state.markets.items()), (text, items)
        if msg is not None and msg.type in ("subscribed", "unsubscribed", "error", "ok", "orderbook_snapshot"):
            session.handle(msg, float(now))
        session.tick(
            float(now), [m for m in MARKETS if m not in core.state.markets or not core.state.markets[m].usable]
        )
    truth = _truth(items)
    for m, market in core.state.markets.items():
        if market.usable:
            assert truth.get(m) is not None, f"{m} usable but its stream does not define it: {items}"
            assert market.book.yes == truth[m], f"{m}: {market.book.yes} != {truth[m]}: {items}"
    assert core.counters["handler_errors"] == 0
