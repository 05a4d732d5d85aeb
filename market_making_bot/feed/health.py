"""Health: one value, computed in one place, from the feed's counters, latency samples and books.

:class:`Health` is a frozen snapshot. :meth:`Health.of` builds it (the protocol object's ``health(now_ns)`` calls
it; a bare ``Core`` can too, for a replay); every view reads its fields instead of deriving them again:

=====================  ========================================================================================
``state``              the connection state (``ClientState`` value as a string: ``connected``, ``reconnecting``,
                       ...; ``replay`` when no connection is involved)
``uptime_s``           seconds since the protocol object was made (0.0 for a bare ``Core``)
``frames``             frames received (each one, decodable or not)
``reconnects``         reconnection attempts after a lost or failed connection
``gaps``               sequence gaps plus regressions (a regression is a restarted stream)
``resyncs``            recovery actions: snapshot requests and resubscriptions
``duplicates_dropped`` frames dropped as duplicates: repeated ``seq`` plus trades/fills repeated by ``trade_id``
``malformed``          frames that could not be decoded (counted, never applied)
``handler_errors``     bugs contained: a handler, hook or timer raised
``latency_p50_ms``     feed latency percentiles (receive time minus Kalshi's stamp) over the sampled frames,
``latency_p99_ms``     in ms; ``None`` before any sample
``books_usable``       markets whose book can be trusted now
``books_total``        markets known
``unusable``           ``(ticker, reason)`` of every market whose book cannot be trusted, by ticker
``audits_ok``          book audits (``--audit-interval``) that found no difference that persists
``audit_mismatches``   book audits that found the stream's book wrong (marked not usable, resynced)
``audit_failures``     book audits whose REST read failed
=====================  ========================================================================================

:meth:`Health.summary_block` is the ``"health"`` block of ``--summary-json`` (README, "Summary format"), and
:func:`health_line` the text of the periodic ``[HEALTH]`` log line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from market_making_bot.marketdata.state import MarketState

__all__ = ["Health", "health_line"]


@dataclass(frozen=True, slots=True)
class Health:
    """The feed's health at one moment; see the module docstring for the fields."""

    state: str
    uptime_s: float
    frames: int
    reconnects: int
    gaps: int
    resyncs: int
    duplicates_dropped: int
    malformed: int
    handler_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    books_usable: int
    books_total: int
    unusable: tuple[tuple[str, str], ...]
    audits_ok: int = 0
    audit_mismatches: int = 0
    audit_failures: int = 0

    @classmethod
    def of(
        cls,
        counters: Mapping[str, int],
        latencies_ms: Iterable[int],
        markets: Mapping[str, MarketState],
        *,
        state: str = "replay",
        uptime_s: float = 0.0,
    ) -> Health:
        """Build the snapshot from a ``Core``'s ``counters``, ``latencies_ms`` and ``state.markets``."""
        lat = sorted(latencies_ms)  # bounded samples: no overflow in the percentiles
        unusable = tuple((t, m.unusable_reason or "") for t, m in sorted(markets.items()) if not m.usable)
        c = counters
        return cls(
            state=state,
            uptime_s=uptime_s,
            frames=c.get("frames", 0),
            reconnects=c.get("reconnects", 0),
            gaps=c.get("gaps", 0) + c.get("regressions", 0),
            resyncs=c.get("resyncs", 0),
            duplicates_dropped=c.get("duplicates", 0) + c.get("trade_duplicates", 0),
            malformed=c.get("decode_errors", 0),
            handler_errors=c.get("handler_errors", 0),
            latency_p50_ms=_percentile(lat, 50),
            latency_p99_ms=_percentile(lat, 99),
            books_usable=len(markets) - len(unusable),
            books_total=len(markets),
            unusable=unusable,
            audits_ok=c.get("audits_ok", 0),
            audit_mismatches=c.get("audit_mismatches", 0),
            audit_failures=c.get("audit_failures", 0),
        )

    def summary_block(self) -> dict[str, Any]:
        """The ``"health"`` block of the summary (same keys as ``Core.health()``)."""
        return {
            "reconnects": self.reconnects,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "duplicates_dropped": self.duplicates_dropped,
            "malformed": self.malformed,
            "handler_errors": self.handler_errors,
            "feed_latency_ms": {"p50": self.latency_p50_ms, "p99": self.latency_p99_ms},
        }


def health_line(h: Health) -> str:
    """The ``[HEALTH]`` log line (README, "Never silently wrong")."""
    not_usable = ", ".join(f"{t} ({reason})" for t, reason in h.unusable)
    audits = ""
    if h.audits_ok or h.audit_mismatches or h.audit_failures:  # only with --audit-interval
        audits = f" | audits ok {h.audits_ok} mismatch {h.audit_mismatches} failed {h.audit_failures}"
    return (
        f"[HEALTH] {h.state} | up {h.uptime_s:.0f} s | frames {h.frames} | reconnects {h.reconnects} | "
        f"gaps {h.gaps} | resyncs {h.resyncs} | duplicates {h.duplicates_dropped} | malformed {h.malformed} | "
        f"handler errors {h.handler_errors} | latency p50 {_ms(h.latency_p50_ms)} ms p99 {_ms(h.latency_p99_ms)} ms"
        f" | books usable {h.books_usable}/{h.books_total}{audits}"
        + (f" | not usable: {not_usable}" if not_usable else "")
    )


def _percentile(ordered: list[int], pct: int) -> float | None:
    """Nearest-rank percentile of an ascending list; ``None`` when empty."""
    if not ordered:
        return None
    rank = max(1, -(-pct * len(ordered) // 100))
    return float(ordered[rank - 1])


def _ms(value: float | None) -> str:
    return "--" if value is None else f"{value:.0f}"
