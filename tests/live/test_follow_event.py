"""``--event``/``--series`` over loopback: REST lists the event's markets, the WebSocket follows them, and a market
that opens mid-run is picked up with a usable book equal to the simulator's truth."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from market_making_bot.feed.follow import Follower, source_name
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.mm_ws_listener import main
from market_making_bot.runtime.follow import MarketPoller, resolve
from market_making_bot.runtime.rest import KalshiAPIClient
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from tests.live.support import WatchedCore, running_client, wait_until

EVENT = "KXFOL-26DEC31"
M1, M2, LATE = f"{EVENT}-A", f"{EVENT}-B", f"{EVENT}-LATE"
OTHER = "KXFOL-27JAN01-A"  # same series, another event: not followed


async def test_event_follows_every_open_market_and_picks_up_one_that_opens_mid_run() -> None:
    cfg = SimulatorConfig(
        tickers=[M1, M2, LATE, OTHER], rate=400, seed=5, start_paused=True, duration=1.0, opens_after={LATE: 3600}
    )
    async with ExchangeSimulator(cfg) as sim:
        assert sim.private_key is not None
        signer = Signer(sim.key_id, sim.private_key)
        async with KalshiAPIClient(sim.api_url, signer) as api:
            follower = Follower((source_name("event", EVENT),))
            tickers = await resolve(api, follower, [])
            assert tickers == [M1, M2]  # the unopened market is not listed open; the other event is not followed
            core = WatchedCore(None)
            session = Session(tickers, with_private=True)
            async with running_client(sim, core, session=session) as (client, _task, stop):
                poller = MarketPoller(api, follower, client.protocol, interval=0.05)
                markets = core.state.markets

                def usable(*ts: str) -> bool:
                    return all(t in markets and markets[t].usable for t in ts)

                await wait_until(core, lambda: usable(M1, M2), 10, "the event's open markets")
                assert await poller.poll_once() == []  # LATE is still unopened: nothing to add
                assert LATE not in session.tickers and LATE not in markets

                sim.open_market(LATE)
                sim.start_flow()  # the order flow now trades LATE too, for 1 s
                polling = asyncio.create_task(poller.run(stop))
                await wait_until(core, lambda: LATE in session.tickers, 10, "the poller to add the new market")
                assert poller.added == [LATE]
                ob = session.subs["orderbook_delta"]

                def converged() -> bool:
                    if not sim.flow_done or not usable(M1, M2, LATE):
                        return False
                    mine, truth = core.summary()["markets"], sim.truth()["markets"]
                    return all(mine[t][f] == truth[t][f] for t in (M1, M2, LATE) for f in ("yes", "no"))

                await wait_until(core, converged, 20, "every followed book equal to the truth")
                assert LATE in ob.markets and ob.sid == session.subs["orderbook_delta"].sid  # added to the live sid
                assert sim.model.market(LATE).clock > 0  # LATE traded after it opened: its deltas were applied
                assert OTHER not in markets
                assert core.counters["gaps"] == 0
                stop.set()
                await asyncio.wait_for(polling, 5)


async def test_rest_lists_an_unopened_market_as_initialized_until_it_opens() -> None:
    cfg = SimulatorConfig(tickers=[M1, LATE], start_paused=True, opens_after={LATE: 3600})
    async with ExchangeSimulator(cfg) as sim, KalshiAPIClient(sim.api_url) as api:
        assert [m.ticker async for m in api.markets(status="unopened")] == [LATE]
        late = await api.market(LATE)
        assert late.status == "initialized" and late.open_time is not None and late.open_time > late.created_time
        sim.open_market(LATE)
        assert [m.ticker async for m in api.markets(status="open")] == [M1, LATE]
        assert (await api.market(LATE)).status == "active"
        assert [m.ticker async for m in api.markets(status="unopened")] == []


def test_open_later_is_checked_and_parsed() -> None:
    from market_making_bot.simulator.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["--ticker", M1, "--ticker", LATE, "--open-later", f"{LATE}=2.5"])
    assert config_from_args(args).opens_after == {LATE: 2.5}
    with pytest.raises(ValueError, match="not one of the simulated markets"):
        SimulatorConfig(tickers=[M1], opens_after={LATE: 1}).validate()
    with pytest.raises(ValueError, match="at least one market must be open"):
        SimulatorConfig(tickers=[M1], opens_after={M1: 1}).validate()


def test_cli_simulate_event_follows_the_event_and_an_unknown_one_exits_5(tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    code = main(["--simulate", "--event", "KXSIM-26DEC31", "--follow-interval", "0.2", "--duration", "1.5",
                 "--sim-markets", "2", "--log-level", "WARNING", "--summary-json", str(summary)])  # fmt: skip
    assert code == 0
    markets = json.loads(summary.read_text())["markets"]
    assert sorted(markets) == ["KXSIM-26DEC31-M1", "KXSIM-26DEC31-M2"]
    assert all(m["usable"] for m in markets.values())
    assert main(["--simulate", "--event", "KXNOPE-1", "--duration", "1", "--log-level", "ERROR"]) == 5


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--simulate", "--follow-interval", "5"], "--follow-interval needs --event or --series"),
        (["--event", "E", "--follow-interval", "0"], "--follow-interval"),
        (["--replay", "x.jsonl", "--event", "E"], "--event and --series are for live runs"),
    ],
)
def test_cli_follow_options_are_checked_before_anything_starts(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
