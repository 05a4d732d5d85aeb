"""The listener's REST calls (the decisions are ``feed.backfill``'s): tickers checked before subscribing, the account
loaded at start, fills backfilled and positions refreshed after every ``fill`` subscription, on a timer and once at the
end of the run (:meth:`RestAccount.final_backfill`, also when the run ends while disconnected), and with them the
balance and the resting orders (told on the bus as ``AccountRead``: the dashboard shows them).

Each call is awaited from the asyncio loop (aiohttp, never blocking the frame loop). A failed call degrades and says
so in one WARNING line; the stream goes on. A 401/403 is :class:`~market_making_bot.runtime.client.AuthenticationError`
(exit code 4, as for the WebSocket): raised by :meth:`RestAccount.check_tickers` and :meth:`RestAccount.load_start`,
and kept in :attr:`RestAccount.auth_error` (the run is stopped) when it comes from the background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from market_making_bot.feed.backfill import BACKFILL_INTERVAL, AccountSync, RestUpdate, check_tickers, encode_update
from market_making_bot.feed.core import Core
from market_making_bot.feed.events import AccountRead, ControlReply
from market_making_bot.kalshi.auth import shorten_key_id
from market_making_bot.kalshi.messages import Subscribed
from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError, Market
from market_making_bot.runtime.client import AuthenticationError
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError
from market_making_bot.units import format_money

__all__ = ["FINAL_BACKFILL_TIMEOUT", "TICKER_BATCH", "RestAccount"]

log = logging.getLogger("market_making_bot.runtime.account")

TICKER_BATCH = 100
"""Tickers per ``GET /markets?tickers=...`` request."""
FINAL_BACKFILL_TIMEOUT = 5.0
"""Seconds the last backfill at the end of a run may take (:meth:`RestAccount.final_backfill`)."""
FINAL_WHY = "at the end of the run"
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
_FAILURES = (KalshiAPIError, KalshiConnectionError, KalshiResponseError)


class RestAccount:
    """REST for one listener run. ``on_update(text, t_ns)``: the journal's hook for each applied update."""

    def __init__(
        self,
        api: KalshiAPIClient,
        core: Core,
        tickers: Sequence[str],
        *,
        with_private: bool,
        interval: float = BACKFILL_INTERVAL,
        on_update: Callable[[str, int], None] | None = None,
    ) -> None:
        self.api = api
        self.core = core
        self.with_private = with_private
        self.interval = interval
        self.on_update = on_update
        self.sync = AccountSync(core.bus, tickers, time.time_ns() // 1_000_000)
        self.auth_error: AuthenticationError | None = None
        self.failures = 0
        """REST calls that failed (each said in one WARNING line)."""
        self.backfills = 0
        """Backfills done (fills and positions read and merged)."""
        self.account = AccountRead(0, None, None, None, None)
        """The balance and resting orders as last read (also told on the bus: ``AccountRead``)."""
        self._due = asyncio.Event()
        core.bus.subscribe(ControlReply, self._on_reply)

    def _on_reply(self, event: ControlReply) -> None:
        msg = event.msg
        if isinstance(msg, Subscribed) and msg.channel == "fill":
            self._due.set()  # from this ack on a fill is on the stream; before it, in the backfill's answer

    def _auth(self, exc: KalshiAPIError, what: str) -> AuthenticationError | None:
        if exc.status in (401, 403):
            key = shorten_key_id(self.api.signer.key_id) if self.api.signer is not None else "?"
            return AuthenticationError(exc.status, self.api.base_url, key, f"the REST request {what}")
        return None

    def _failed(self, what: str, exc: Exception, consequence: str) -> None:
        self.failures += 1
        log.warning("REST %s failed (%s): %s; the stream goes on", what, exc, consequence)

    def _apply(self, update: RestUpdate) -> None:
        if not update.fills and not update.positions:
            return
        now = time.time_ns()
        if self.on_update is not None:
            self.on_update(encode_update(update), now)
        self.core.apply_rest(update, now)

    # -- at start ----------------------------------------------------------------------------------------------

    async def check_tickers(self, tickers: Sequence[str]) -> list[str]:
        """The tickers REST lists as open markets; each other one is reported once (WARNING) with the reason. On a
        failed call every ticker is kept (the WebSocket will say)."""
        found: list[Market] = []
        try:
            for i in range(0, len(tickers), TICKER_BATCH):
                batch = list(tickers[i : i + TICKER_BATCH])
                found.extend([m async for m in self.api.markets(tickers=batch, limit=1000)])
        except KalshiAPIError as exc:
            auth = self._auth(exc, "GET /markets")
            if auth is not None:
                raise auth from None
            self._failed("GET /markets", exc, "the tickers are not checked before subscribing")
            return list(tickers)
        except _FAILURES as exc:
            self._failed("GET /markets", exc, "the tickers are not checked before subscribing")
            return list(tickers)
        verdict = check_tickers(tickers, found)
        for ticker, reason in verdict.dropped.items():
            log.warning("ticker %s dropped: %s", ticker, reason)
        return verdict.keep

    async def load_start(self) -> None:
        """Positions, the balance and the resting orders before the first connection."""
        await self._positions("start", raise_auth=True)
        await self.read_account(raise_auth=True)
        account = self.account
        if account.read_ns is not None and account.balance is not None and account.resting is not None:
            log.info(
                "account: balance %s, %d resting orders in the followed markets",
                format_money(account.balance),
                len(account.resting),
            )

    async def read_account(self, *, raise_auth: bool = False) -> None:
        """The balance and the followed markets' resting orders, told on the bus as an :class:`AccountRead` (the
        dashboard's); after a failed read the last values are told again, with the error (stale, or unknown)."""
        try:
            balance = await self.api.balance()
            orders = [o async for o in self.api.orders(status="resting")]
        except KalshiAPIError as exc:
            auth = self._auth(exc, "GET /portfolio/balance, /portfolio/orders")
            if auth is not None and raise_auth:
                raise auth from None
            if auth is not None:
                self.auth_error = auth
                return
            self._account_failed(exc)
            return
        except _FAILURES as exc:
            self._account_failed(exc)
            return
        followed = set(self.sync.tickers)
        now = time.time_ns()
        resting = tuple(o for o in orders if not followed or o.ticker in followed)
        self.account = AccountRead(now, int(balance.balance), int(balance.portfolio_value), resting, now)
        self.core.bus.emit(self.account)

    def _account_failed(self, exc: Exception) -> None:
        last = self.account
        self._failed(
            "GET /portfolio/balance, /portfolio/orders",
            exc,
            "balance and resting orders " + ("unknown" if last.read_ns is None else "as last read (stale)"),
        )
        self.account = AccountRead(time.time_ns(), last.balance, last.portfolio_value, last.resting, last.read_ns,
                                   error=str(exc))  # fmt: skip
        self.core.bus.emit(self.account)

    async def _positions(self, why: str, *, raise_auth: bool = False) -> bool:
        mark = self.sync.mark()
        try:
            positions = [p async for p in self.api.positions()]
        except KalshiAPIError as exc:
            auth = self._auth(exc, "GET /portfolio/positions")
            if auth is not None and raise_auth:
                raise auth from None
            if auth is not None:
                self.auth_error = auth
                return False
            self._failed("GET /portfolio/positions", exc, "positions stay as the stream tells them")
            return False
        except _FAILURES as exc:
            self._failed("GET /portfolio/positions", exc, "positions stay as the stream tells them")
            return False
        self._apply(self.sync.update(why, (), positions, mark))
        return True

    # -- while running -----------------------------------------------------------------------------------------

    async def backfill(self, why: str) -> None:
        """Fills since the last one seen, merged; then the positions again."""
        since = self.sync.fills_since_s()
        try:
            fills = [f async for f in self.api.fills(min_ts=since, limit=1000)]
        except KalshiAPIError as exc:
            auth = self._auth(exc, "GET /portfolio/fills")
            if auth is not None:
                self.auth_error = auth
                return
            self._failed("GET /portfolio/fills", exc, "fills made while disconnected may be missing")
            fills = None
        except _FAILURES as exc:
            self._failed("GET /portfolio/fills", exc, "fills made while disconnected may be missing")
            fills = None
        new = 0
        if fills is not None:
            before = self._fill_total()
            self._apply(self.sync.update(why, fills, None))
            new = self._fill_total() - before
        positions = await self._positions(why)
        if positions:
            self.backfills += 1
        if fills is not None or positions:  # one line per backfill (after each fill ack, per timer round)
            log.info("backfill (%s): %s, positions %s", why,
                     "fills not read" if fills is None else f"{new} fills not seen on the stream merged",
                     "read" if positions else "not read")  # fmt: skip
        if self.auth_error is None:
            await self.read_account()

    async def final_backfill(self, timeout: float = FINAL_BACKFILL_TIMEOUT) -> bool:
        """One last backfill when the run ends (the WebSocket client has stopped, the journal is still open): the
        fills since the last one seen and the positions, in one journaled update, within ``timeout`` seconds. So a
        run that ends while disconnected (the reconnect backoff, a refusing server) still has every fill made
        until now. ``False`` if it failed or timed out, said in one WARNING line naming from when fills may be
        missing; never raises (a 401 here is that warning too: the stream, not this, decides the exit code)."""
        since_ms = self.sync.last_fill_ms
        try:
            await asyncio.wait_for(self._final(), timeout)
        except _TIMEOUTS:
            outcome = f"timed out after {timeout:g} s"
        except _FAILURES as exc:
            outcome = f"failed ({exc})"
        except Exception as exc:  # never the end of the summary: said like the others
            outcome = f"failed ({type(exc).__name__}: {exc})"
        else:
            return True
        self.failures += 1
        at = time.strftime("%H:%M:%S", time.localtime(since_ms / 1000))  # the log lines' clock
        log.warning("the last backfill at the end of the run %s: fills made after %s may be missing", outcome, at)
        return False

    async def _final(self) -> None:
        fills = [f async for f in self.api.fills(min_ts=self.sync.fills_since_s(), limit=1000)]
        mark = self.sync.mark()
        positions = [p async for p in self.api.positions()]
        before = self._fill_total()
        self._apply(self.sync.update(FINAL_WHY, fills, positions, mark))
        self.backfills += 1
        log.info("backfill (%s): %d fills not seen on the stream merged, positions read", FINAL_WHY,
                 self._fill_total() - before)  # fmt: skip

    def _fill_total(self) -> int:
        return sum(m.fill_count for m in self.core.state.markets.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Backfill after every ``fill`` subscription ack and every ``interval`` seconds, until ``stop``; a 401
        keeps :attr:`auth_error` and sets ``stop`` (the caller reports it: the listener raises it, exit code 4)."""
        while not stop.is_set():
            with contextlib.suppress(*_TIMEOUTS):
                await asyncio.wait_for(self._due.wait(), timeout=self.interval)
            if stop.is_set():
                return
            why = "after subscribing to fills" if self._due.is_set() else "timer"
            self._due.clear()
            try:
                await self.backfill(why)
            except Exception:  # never the end of the run: said, and tried again next time
                log.exception("REST backfill failed")
            if self.auth_error is not None:  # said once, by whoever raises it (the listener: exit code 4)
                stop.set()
                return
