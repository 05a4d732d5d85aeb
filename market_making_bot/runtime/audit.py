"""The book audit's asyncio shell (``--audit-interval S``; the rule is ``feed.audit``'s): every ``interval`` seconds
each followed market whose book is usable is read over REST (``GET /markets/{ticker}/orderbook``, all levels) and
compared with the stream's book; a difference is read again at once, and a difference that persists marks the book
not usable (``audit: REST book differs at ...``), is logged (WARNING) and counted, and the book is re-baselined from
a WebSocket snapshot (``FeedProtocol.resync_books``: ``get_snapshot``, then a resubscription if it does not come).

Every result is a ``rest`` journal record (``RestUpdate.audits``) applied with ``Core.apply_rest``, so a replay
counts the same audits and marks the same books at the same places without any REST. A failed read is one WARNING
and an ``audit_failures`` count; the stream goes on. A 401/403 is kept in :attr:`BookAuditor.auth_error` (the run
is stopped; exit code 4, as for the other REST calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from market_making_bot.feed.audit import (
    AUDIT_GRACE,
    AuditResult,
    AuditWindows,
    Difference,
    Level,
    mismatch_reason,
    persisting,
)
from market_making_bot.feed.backfill import RestUpdate, encode_update
from market_making_bot.feed.protocol import FeedProtocol
from market_making_bot.kalshi.auth import shorten_key_id
from market_making_bot.kalshi.rest import KalshiAPIError, KalshiResponseError, OrderBook
from market_making_bot.runtime.client import AuthenticationError
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError

__all__ = ["BookAuditor"]

log = logging.getLogger("market_making_bot.runtime.audit")

_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
_FAILURES = (KalshiAPIError, KalshiConnectionError, KalshiResponseError)


class _Failed:
    """A read whose REST call failed (said in one WARNING line)."""


_FAILED = _Failed()
_Read = dict[Level, Difference] | None | _Failed


class BookAuditor:
    """Audits the books of ``protocol`` (its session's markets) every ``interval`` seconds. ``grace``: the read
    window after each answer (``feed.audit.AUDIT_GRACE``). ``on_update(text, t_ns)``: the journal's hook."""

    def __init__(
        self,
        api: KalshiAPIClient,
        protocol: FeedProtocol,
        *,
        interval: float,
        grace: float = AUDIT_GRACE,
        on_update: Callable[[str, int], None] | None = None,
    ) -> None:
        self.api = api
        self.protocol = protocol
        self.core = protocol.core
        self.interval = interval
        self.grace = grace
        self.on_update = on_update
        self.windows = AuditWindows(self.core.bus)
        self.auth_error: AuthenticationError | None = None
        self.rounds = 0
        """Audit rounds done (every market with a usable book audited once)."""
        self.done = asyncio.Event()
        """Set after every round (tests wait on it)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Audit every ``interval`` seconds until ``stop``; a 401 keeps :attr:`auth_error` and sets ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(*_TIMEOUTS):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            if stop.is_set():
                return
            try:
                await self.audit_round()
            except Exception:  # never the end of the run: said, and tried again next round
                log.exception("book audit failed")
            if self.auth_error is not None:
                log.error("%s", self.auth_error)
                stop.set()
                return

    async def audit_round(self) -> list[AuditResult]:
        """Audit every followed market whose book is usable now (concurrently); the results (a read thrown away,
        because the book changed hands meanwhile, gives none)."""
        markets = self.core.state.markets
        tickers = [t for t in self.protocol.session.tickers if t in markets and markets[t].usable]
        results: list[AuditResult] = []
        if self.protocol.live and tickers:
            found = await asyncio.gather(*(self.audit(t) for t in tickers))
            results = [r for r in found if r is not None]
        self.rounds += 1
        self.done.set()
        return results

    async def audit(self, ticker: str) -> AuditResult | None:
        """One market's audit (``feed.audit``'s rule): read, and read again when something differs."""
        first = await self._read(ticker)
        if first is None or self.auth_error is not None:
            return None
        if isinstance(first, _Failed):
            return self._record(AuditResult(market_ticker=ticker, result="failed"))
        if not first:
            return self._record(AuditResult(market_ticker=ticker, result="ok"))
        second = await self._read(ticker)
        if second is None or self.auth_error is not None:
            return None
        if isinstance(second, _Failed):
            return self._record(AuditResult(market_ticker=ticker, result="failed"))
        flagged = persisting(first, second)
        if not flagged:
            log.debug("book audit %s: a difference on the first read only (the book was moving): ok", ticker)
            return self._record(AuditResult(market_ticker=ticker, result="ok"))
        return self._record(AuditResult(market_ticker=ticker, result="mismatch", reason=mismatch_reason(flagged)))

    async def _read(self, ticker: str) -> _Read:
        market = self.core.state.markets.get(ticker)
        if market is None or not market.usable:
            return None
        window = self.windows.open(ticker)
        book: OrderBook | None = None
        try:
            try:
                book = await self.api.orderbook(ticker)
            except KalshiAPIError as exc:
                if exc.status in (401, 403):
                    key = shorten_key_id(self.api.signer.key_id) if self.api.signer is not None else "?"
                    self.auth_error = AuthenticationError(exc.status, self.api.base_url, key)
                    return None
                self._failed(ticker, exc)
                return _FAILED
            except _FAILURES as exc:
                self._failed(ticker, exc)
                return _FAILED
            await asyncio.sleep(self.grace)  # the read window goes on: deltas still on their way touch levels
        finally:
            now = self.core.state.markets.get(ticker)
            stream, usable = (None, False) if now is None else (now.book, now.usable)
            found = self.windows.close(ticker, window, stream, usable, book)
        return found

    def _failed(self, ticker: str, exc: Exception) -> None:
        log.warning(
            "REST GET /markets/%s/orderbook failed (%s): book audit of %s skipped; the stream goes on", ticker, exc,
            ticker,
        )  # fmt: skip

    def _record(self, result: AuditResult) -> AuditResult:
        """Journal and apply ``result`` (one ``rest`` record); a mismatch is logged and the book resynced."""
        update = RestUpdate(why="audit", audits=[result])
        now = time.time_ns()
        if self.on_update is not None:
            self.on_update(encode_update(update), now)
        self.core.apply_rest(update, now)
        if result.result == "mismatch":
            log.warning(
                "book audit %s: %s on two reads; book not usable, resyncing it", result.market_ticker, result.reason
            )
            self.protocol.resync_books([result.market_ticker], now)
        return result
