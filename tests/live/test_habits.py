"""The real server's habits (issue 12 item 7), each over the loopback socket: replies out of order (also on the
resubscribe path), production's order-book frames (no ``clock``, no ``sending_ts_ms``, a ``ts`` with 1 to 6
fractional digits), and a repeated ``subscribe`` answered by ``ok``. Books are checked against the simulator's
history after every frame (tests/live/history.py) and against its truth at the end."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest

from market_making_bot.feed.session import Command, Notice, Session
from market_making_bot.runtime.client import ConnectionPolicy
from market_making_bot.simulator import FaultSpec, SimulatorConfig
from tests.live.history import CheckingCore, HistorySimulator
from tests.live.support import converged, running_client, wait_until

TICKERS = ["KXHAB-26DEC31-A", "KXHAB-26DEC31-B", "KXHAB-26DEC31-C"]
POLICY = ConnectionPolicy(backoff_base=0.05, backoff_cap=0.3, ping_interval=1.0, ping_timeout=1.0, tick=0.05)


def _sim(*faults: str, duration: float = 2.5, rate: float = 400, **kw: Any) -> HistorySimulator:
    cfg = SimulatorConfig(
        tickers=TICKERS, rate=rate, seed=21, duration=duration, faults=[FaultSpec.parse(f) for f in faults], **kw
    )
    return HistorySimulator(cfg)


class RecordingSession(Session):
    """A real session that logs, in order, the order-book commands it queues and the replies it is given."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.trail: list[str] = []

    def _command(self, c: Command, purpose: Any, channel: str) -> Command:
        if channel == "orderbook_delta":
            self.trail.append(c["cmd"] if c["cmd"] != "update_subscription" else "get_snapshot")
        return super()._command(c, purpose, channel)

    def on_unsubscribed(self, cmd_id: int | None, sid: int | None, now: float | None = None) -> list[Notice]:
        if self.channel_of(sid) == "orderbook_delta" if sid is not None else False:
            self.trail.append("unsubscribed")
        return super().on_unsubscribed(cmd_id, sid, now)


def _check_end(core: CheckingCore, sim: HistorySimulator) -> None:
    assert sim.mirror_matches_model()
    assert core.checks > 100, "the during-the-run check never looked at a usable book"
    assert core.violations == []


async def test_replies_out_of_order_also_on_the_resubscribe_path(caplog: pytest.LogCaptureFixture) -> None:
    """``reorder`` on every command plus gaps, with a resync timeout shorter than the delays: late snapshot replies
    push the listener onto the resubscribe path (unsubscribe, wait for ``unsubscribed``, subscribe), whose replies are
    themselves reordered."""
    sim = _sim("reorder:count=all:for=0.3", "gap:every=50")
    core = CheckingCore(sim)
    session = RecordingSession(TICKERS, resync_timeout=0.1, backoff_base=0.05, backoff_cap=0.3, rng=random.Random(2))
    with caplog.at_level(logging.INFO, logger="market_making_bot"):
        async with sim, running_client(sim, core, policy=POLICY, session=session):
            await sim.wait_quiet(timeout=30)
            await wait_until(core, lambda: converged(core, sim), timeout=20, what="books after reordered replies")
            faults = sim.truth()["faults"]
    assert faults["reorder"] >= 10 and faults["gap"] >= 3
    assert core.health()["reconnects"] == 0
    trail = session.trail
    assert "unsubscribe" in trail, trail
    # every unsubscribe is answered before the next subscribe of the channel
    for i, cmd in enumerate(trail):
        if cmd == "unsubscribe":
            rest = trail[i + 1 :]
            assert "subscribe" in rest and "unsubscribed" in rest[: rest.index("subscribe")], trail
    assert "resubscribing" in caplog.text
    _check_end(core, sim)


class BookOnlySession(Session):
    """Only the order-book channel: every feed-latency sample then comes from an order-book frame."""

    @property
    def channels(self) -> tuple[str, ...]:
        return ("orderbook_delta",)


class RawCore(CheckingCore):
    def __init__(self, sim: HistorySimulator) -> None:
        super().__init__(sim)
        self.deltas: list[dict[str, Any]] = []

    def feed(self, data: str | bytes, recv_ns: int) -> Any:
        if len(self.deltas) < 2000 and b'"orderbook_delta"' in (data if isinstance(data, bytes) else data.encode()):
            self.deltas.append(json.loads(data))
        return super().feed(data, recv_ns)


async def test_like_production_frames_give_the_true_books_and_a_feed_latency() -> None:
    sim = _sim(like_production=True)
    core = RawCore(sim)
    async with sim, running_client(sim, core, policy=POLICY, session=BookOnlySession(TICKERS)):
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what="books from production-like frames")
    deltas = [d for d in core.deltas if d.get("type") == "orderbook_delta"]
    assert len(deltas) > 100
    assert all("clock" not in d["msg"] and "sending_ts_ms" not in d for d in deltas)
    digits = {len(d["msg"]["ts"].rsplit(".", 1)[1].rstrip("Z")) for d in deltas if "." in d["msg"]["ts"]}
    assert len(digits) >= 3 and digits <= set(range(1, 7)), digits
    lat = core.health()["feed_latency_ms"]
    assert lat["p50"] is not None and -5 <= lat["p50"] < 2000, lat  # measured from the delta's own ts
    assert core.counters["decode_errors"] == 0
    _check_end(core, sim)


@pytest.mark.parametrize("reply", ["ok", "subscribed"])
async def test_repeated_subscribe_adds_markets_whose_books_become_right(reply: str) -> None:
    """A second ``subscribe`` of the order book on the same connection, with one market more: the real server
    answers ``ok`` (existing sid, a consumed seq, the full market list) and sends the new market's snapshot; the
    older simulator answered ``subscribed``. Either way the new book becomes usable and right, the old ones stay
    right, and the consumed seq is not a gap."""
    sim = _sim(duration=3.0, repeat_subscribe=reply)
    core = CheckingCore(sim)
    session = Session(TICKERS[:2], with_private=False)
    first, added = TICKERS[:2], TICKERS[2]

    def first_usable() -> bool:
        m = core.state.markets
        return all(t in m and m[t].usable for t in first)

    async with sim, running_client(sim, core, policy=POLICY, session=session) as (client, _, _):
        await wait_until(core, first_usable, timeout=10, what="the first two books")
        sid = session.subs["orderbook_delta"].sid
        assert added not in core.state.markets
        session.tickers.append(added)
        session._subscribe("orderbook_delta")  # what a repeated subscribe of the channel sends; flushed by a tick
        await wait_until(
            core, lambda: added in core.state.markets and core.state.markets[added].usable, 10, "the added book"
        )
        assert session.subs["orderbook_delta"].status == "active" and session.subs["orderbook_delta"].sid == sid
        await sim.wait_quiet(timeout=30)
        await wait_until(core, lambda: converged(core, sim), timeout=20, what="all three books")
        assert client.connections == 1
    assert core.by_type.get(reply, 0) >= (2 if reply == "subscribed" else 1)
    assert core.health()["gaps"] == 0 and core.health()["resyncs"] == 0
    _check_end(core, sim)
