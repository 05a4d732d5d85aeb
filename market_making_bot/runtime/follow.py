"""The asyncio side of ``--event`` / ``--series``: list the open markets over REST, at start and every interval.

* :func:`resolve` (before connecting): the open markets of every followed event or series, for the first subscribe.
  A source with no open market is told apart from an unknown one (``GET /events/{e}``, ``GET /series/{s}``): each is
  one line; the run goes on with the others.
* :class:`MarketPoller` (a task beside the WebSocket client, for the whole run): every ``interval`` seconds (default
  :data:`DEFAULT_FOLLOW_INTERVAL`) lists each source again and hands the listing to the pure
  :class:`~market_making_bot.feed.follow.Follower`; new markets go to ``Session.add_markets`` (the client's
  housekeeping sends the commands within its tick, 0.5 s), closed ones are reported, both as ``Notice`` events on the
  feed's bus (so in the log and every view). The listing awaits the HTTP client between frames: it never blocks the
  stream, and the Session is only touched between two awaits, on the one event loop.

A failed listing (HTTP error, connection error, bad reply) is one WARNING line per failure streak and changes
nothing; the next round tries again, and a recovery is logged too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from market_making_bot.feed.events import Notice, NoticeKind
from market_making_bot.feed.follow import Follower, FollowPlan
from market_making_bot.feed.protocol import FeedProtocol
from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError

__all__ = ["DEFAULT_FOLLOW_INTERVAL", "MarketPoller", "list_open", "resolve"]

log = logging.getLogger("market_making_bot.runtime.follow")

DEFAULT_FOLLOW_INTERVAL = 30.0
"""Seconds between two listings of a followed event or series (``--follow-interval``): one ``GET /markets`` per
source and round, 10 read tokens each, far inside the basic tier's 200 reads/s."""

_REST_ERRORS = (KalshiAPIError, KalshiConnectionError, KalshiResponseError, asyncio.TimeoutError, TimeoutError)


async def list_open(api: KalshiAPIClient, source: str) -> list[str]:
    """The tickers of the open markets of ``source`` (``event:E`` or ``series:S``), every page."""
    kind, _, ticker = source.partition(":")
    if kind == "event":
        return [m.ticker async for m in api.markets(event_ticker=ticker, status="open")]
    return [m.ticker async for m in api.markets(series_ticker=ticker, status="open")]


async def _why_empty(api: KalshiAPIClient, source: str) -> str:
    kind, _, ticker = source.partition(":")
    try:
        if kind == "event":
            await api.event(ticker, with_nested_markets=False)
        else:
            await api.series(ticker)
    except KalshiAPIError as exc:
        if exc.status == 404:
            return f"unknown {kind} (HTTP 404)"
        return f"no open market, and the {kind} could not be read: {exc}"
    except _REST_ERRORS as exc:
        return f"no open market, and the {kind} could not be read: {exc}"
    return "no open market right now (its markets are followed when they open)"


async def resolve(api: KalshiAPIClient, follower: Follower, current: Sequence[str]) -> list[str]:
    """The first listing of every source: returns the open markets that ``current`` lacks, in listing order."""
    add: dict[str, None] = {}
    for source in follower.sources:
        try:
            listed = await list_open(api, source)
        except _REST_ERRORS as exc:
            log.error("--%s %s: cannot list its markets: %s", *source.split(":", 1), exc)
            continue
        plan = follower.update(source, listed, [*current, *add])
        add.update(dict.fromkeys(plan.add))
        if listed:
            log.info("following %s: %d open markets: %s", source, len(listed), ", ".join(listed))
        else:
            log.warning("following %s: %s", source, await _why_empty(api, source))
    return list(add)


class MarketPoller:
    """Lists every followed source each ``interval`` seconds and adds the markets that opened (module docstring)."""

    def __init__(
        self,
        api: KalshiAPIClient,
        follower: Follower,
        protocol: FeedProtocol,
        interval: float = DEFAULT_FOLLOW_INTERVAL,
    ) -> None:
        self.api = api
        self.follower = follower
        self.protocol = protocol
        self.interval = interval
        self.rounds = 0
        """Rounds completed (every source listed or failed once)."""
        self.added: list[str] = []
        """Every market added since the start, in order."""
        self._failing: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a round that raises something unexpected is counted and the task goes on."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            if stop.is_set():
                return
            try:
                await self.poll_once()
            except Exception:
                self.protocol.handler_error("follow", time.time_ns())

    async def poll_once(self) -> list[FollowPlan]:
        """One round: list each source and act on what changed; returns the plans that changed something."""
        plans: list[FollowPlan] = []
        for source in self.follower.sources:
            try:
                listed = await list_open(self.api, source)
            except _REST_ERRORS as exc:
                if source not in self._failing:
                    self._failing.add(source)
                    log.warning("following %s: listing its markets failed (%s); trying again in %g s",
                                source, exc, self.interval)  # fmt: skip
                continue
            if source in self._failing:
                self._failing.discard(source)
                log.info("following %s: listing its markets works again", source)
            plan = self.follower.update(source, listed, self.protocol.session.tickers)
            if plan:
                self._act(plan)
                plans.append(plan)
        self.rounds += 1
        return plans

    def _act(self, plan: FollowPlan) -> None:
        now_ns = time.time_ns()
        session = self.protocol.session
        notices: list[Notice] = []
        if plan.add:
            session.at_ns(now_ns)
            new = session.add_markets(plan.add)
            self.added.extend(new)
            if new:
                text = f"following {plan.source}: new open market {', '.join(new)}; subscribing"
                notices.append(Notice(now_ns, logging.INFO, text, NoticeKind.INFO))
        if plan.closed:
            text = f"following {plan.source}: market {', '.join(plan.closed)} no longer open (closed or paused)"
            notices.append(Notice(now_ns, logging.WARNING, text, NoticeKind.INFO))
        for n in notices:
            self.protocol.bus.emit(n)
