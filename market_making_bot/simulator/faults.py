"""Fault injection: what can go wrong on a Kalshi WebSocket, on demand.

A fault is written ``KIND[:every=N|:at=N][:count=N|all][:for=S]`` (``--fault`` on the command line,
:meth:`FaultSpec.parse` from Python):

``every=N``
    fire after every N-th data frame sent on a connection (each connection counts its own frames);
``at=N``
    fire once per run, after the N-th data frame sent on a connection (``at=0``: at once, i.e. on the
    first connection for connection faults, at start for the handshake/subscription faults);
neither
    same as ``at=0``.

Kinds:

=============== ===================================================================================
``gap``         the next ``orderbook_delta`` of the connection is not sent (its ``seq`` is skipped)
``duplicate``   the next sequenced order-book frame is sent twice
``disconnect``  the TCP connection is aborted (no close frame)
``stall``       the connection stops sending and stops answering pings (reading is paused), socket
                left open; it resumes after ``for=S`` seconds (default 30)
``malformed``   a frame that is not valid JSON is sent (in addition to the normal frames)
``error25``     the connection's order-book subscription is killed with error 25 (buffer overflow)
``error10``     the same with error 10 (channel error)
``corrupt-book``the next ``orderbook_delta`` of the connection at a level 3 or more ticks below its
                side's best bid is sent with 1.00 contract more than the exchange's change (``seq``
                and everything else kept): the client's book silently differs from the truth (and
                REST's book) at that level, by +1.00, until a snapshot replaces it; only a
                comparison with REST (``--audit-interval``) can see it
``early-data``  the next subscription to ``orderbook_delta`` (any connection) gets its snapshots
                before its ``subscribed`` ack
``auth-reject`` the next ``count`` handshakes (default 1, ``count=all``: every one) are refused with
                401; combine with ``disconnect`` at the same N to test a refused reconnect
``deny-private``subscriptions to private channels (fill, market_positions, user_orders,
                order_group_updates, communications) are answered with error 9, ``count`` times
                (default: every one from then on)
``reorder``     the next ``count`` commands (any connection; default: every one from then on) are
                each handled after a random delay of 0 to ``for=S`` seconds (default 0.2, drawn
                from the run's seed), so commands sent close together are answered out of order,
                as the real server does (ids 2, 4, 3, 6, 5, 1, ... for commands 1 to 6)
=============== ===================================================================================

``rest-429``    REST requests are answered 429 ``{"error":"too many requests"}`` (no ``Retry-After``,
                as Kalshi)
``rest-503``    REST requests are answered 503 with Kalshi's nested error body
``rest-slow``   REST requests are answered ``ms=N`` milliseconds late (default 1000)
``rest-drop``   the connection is closed in the middle of the reply (headers and half the body sent)
``rest-401``    signed requests (``/portfolio/*``) are refused with 401 ``authentication_error`` /
                ``INCORRECT_API_KEY_SIGNATURE``, as for a key REST does not accept, while the WebSocket
                still accepts it; public requests pass (a public request inside the window uses none)
``order-429``   an order write (create, batch, cancel, amend, decrease, order-group write) is answered
                429 ``{"error":"too many requests"}`` and **not** processed (a retry is safe)
``order-timeout`` the order write **is** processed (its frames are sent) but the reply never comes: the
                connection is held ``for=S`` seconds (default: none) and then closed without a reply, an
                unknown outcome for the client (REST.md 4.8)
``order-reject``an order write is refused with 503 ``service_unavailable`` (Kalshi's nested body) and
                not processed
=============== ===================================================================================

The REST faults count REST requests, not frames: ``every=N`` hits every N-th request, ``at=N``
(default 0) the ``count`` requests after the N-th (default 1; ``rest-slow``: every one from then
on), ``rate=R`` each request with probability R (0 < R <= 1, drawn from the run's seed). The
``order-*`` faults count order writes the same way (only writes: reads are not counted), default
``count=1``; a REST fault and an order fault may both hit one write (the REST fault acts first).

``reorder`` delays the *handling* of a command, not the sending of frames: a reply is made, and
numbered, when its command is handled, in the same per-connection order as the data. So a reply
that takes a ``seq`` (``ok``, ``unsubscribed``, the snapshots of ``add_markets``/``get_snapshot``
or of a repeated ``subscribe``) takes the sid's next number at that moment, data frames of a sid
always arrive in ``seq`` order with no hole, and a later command's reply may carry the lower
``seq`` (the production recording of PROTOCOL.md 10b shows ``ok`` id 4 with seq 2, then id 3 with
seq 4). Two commands that touch the same subscription may take effect in either order (an
``unsubscribe`` and a ``subscribe`` sent back to back, for example).

Counting: ``faults[KIND]`` in the truth is the number of times the fault *reached a client*: a
dropped delta, a corrupted delta, a duplicated frame, an aborted connection, a started stall, a malformed frame, a
terminal error sent, a subscription answered early, a refused handshake, an error 9 sent, a
command held back by ``reorder``. Every
one is logged at INFO on the ``market_making_bot.simulator`` logger.

With a ``duration``, triggers stop firing one second before it ends (and faults armed by triggers
but not yet delivered are dropped then), so that every injected fault can still be noticed by a
client while the books are changing. :meth:`FaultController.inject` always acts.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

log = logging.getLogger("market_making_bot.simulator")

CONNECTION_KINDS = ("gap", "duplicate", "disconnect", "stall", "malformed", "error25", "error10", "corrupt-book")
GLOBAL_KINDS = ("early-data", "auth-reject", "deny-private", "reorder")
REST_KINDS = ("rest-429", "rest-503", "rest-slow", "rest-drop", "rest-401")
ORDER_KINDS = ("order-429", "order-timeout", "order-reject")
KINDS = CONNECTION_KINDS + GLOBAL_KINDS + REST_KINDS + ORDER_KINDS
COUNTED_KINDS = REST_KINDS + ORDER_KINDS  # triggered by requests, not by frames
_ONCE_KINDS = ("auth-reject", "rest-429", "rest-503", "rest-drop", "rest-401", *ORDER_KINDS)  # count=1 unless given
DEFAULT_REST_SLOW_MS = 1000

DEFAULT_STALL_S = 30.0
DEFAULT_REORDER_S = 0.2


@dataclass
class FaultSpec:
    """One fault and its trigger. ``count=None`` means unlimited (``count=all``)."""

    kind: str
    every: int | None = None
    at: int | None = None
    count: int | None = -1
    seconds: float | None = None
    ms: int | None = None
    rate: float | None = None
    fired: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.every is not None and self.at is not None:
            raise ValueError("give every=N or at=N, not both")
        if self.every is not None and self.every < 1:
            raise ValueError("every=N needs N >= 1")
        if self.at is not None and self.at < 0:
            raise ValueError("at=N needs N >= 0")
        if self.ms is not None and self.kind != "rest-slow":
            raise ValueError("ms=N is only for rest-slow")
        if self.ms is not None and self.ms < 0:
            raise ValueError("ms=N needs N >= 0")
        if self.rate is not None:
            if self.kind not in COUNTED_KINDS:
                raise ValueError("rate=R is only for the rest-* and order-* faults")
            if not 0 < self.rate <= 1:
                raise ValueError("rate=R needs 0 < R <= 1")
            if self.every is not None or self.at is not None:
                raise ValueError("give rate=R or every=N or at=N, not two of them")
        if self.every is None and self.at is None and self.rate is None:
            self.at = 0
        if self.count == -1:
            self.count = 1 if self.kind in _ONCE_KINDS else None
        if self.count is not None and self.count < 1:
            raise ValueError("count=N needs N >= 1 (or count=all)")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError("for=S needs S > 0")

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``"gap:every=50"``, ``"disconnect:at=1000"``, ``"stall:at=10:for=2"``, ``"auth-reject"``,
        ``"rest-429:count=5"``, ``"rest-503:rate=0.1"``, ``"rest-slow:ms=200"``."""
        kind, *opts = [p.strip() for p in text.strip().split(":")]
        kwargs: dict[str, int | float | None] = {}
        for opt in opts:
            key, eq, value = opt.partition("=")
            if not eq:
                raise ValueError(f"bad fault option {opt!r} in {text!r} (expected key=value)")
            if key not in ("every", "at", "count", "for", "ms", "rate"):
                raise ValueError(
                    f"bad fault spec {text!r}: unknown option {key!r} (every, at, count, for, ms, rate)"
                )
            try:
                if key in ("every", "at", "ms"):
                    kwargs[key] = int(value)
                elif key == "rate":
                    rate = float(value)
                    if not math.isfinite(rate):
                        raise ValueError(value)
                    kwargs["rate"] = rate
                elif key == "count":
                    kwargs["count"] = None if value == "all" else int(value)
                else:
                    seconds = float(value)
                    if not math.isfinite(seconds):
                        raise ValueError(value)
                    kwargs["seconds"] = seconds
            except ValueError:
                what = (
                    "a number of seconds"
                    if key == "for"
                    else "a number"
                    if key == "rate"
                    else "an integer" + (" or all" if key == "count" else "")
                )
                raise ValueError(f"bad fault spec {text!r}: {key}={value!r} is not {what}") from None
        try:
            return cls(kind, **kwargs)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"bad fault spec {text!r}: {exc}") from None

    def __str__(self) -> str:
        out = self.kind
        if self.every is not None:
            out += f":every={self.every}"
        elif self.rate is not None:
            out += f":rate={self.rate:g}"
        else:
            out += f":at={self.at}"
        default_count = 1 if self.kind in _ONCE_KINDS else None
        if self.count != default_count and self.kind in ("auth-reject", "deny-private", "reorder", *COUNTED_KINDS):
            out += f":count={'all' if self.count is None else self.count}"
        if self.seconds is not None:
            out += f":for={self.seconds:g}"
        if self.ms is not None:
            out += f":ms={self.ms}"
        return out


class FaultTarget(Protocol):
    """What the controller needs from a connection."""

    conn_id: int
    data_sent: int

    def apply_fault(self, kind: str, spec: FaultSpec) -> None: ...

    def clear_pending_faults(self) -> None: ...


class FaultController:
    """Holds the fault triggers of one simulator run, fires them, and counts what reached clients."""

    def __init__(
        self,
        specs: Iterable[FaultSpec] = (),
        *,
        connections: Callable[[], Iterable[FaultTarget]] = lambda: (),
        seed: int = 1,
    ) -> None:
        self.specs: list[FaultSpec] = []
        self.counts: dict[str, int] = {}
        self._connections = connections
        self.enabled = True  # triggers may fire (False in the last second of a duration)
        self._auth_reject: int | None = 0  # handshakes still to refuse (None: all)
        self._deny_private: int | None = 0
        self._early_data = 0
        self._reorder: int | None = 0  # commands still to hold back (None: all)
        self._reorder_max_s = DEFAULT_REORDER_S
        self._rng = random.Random(f"reorder-{seed}")  # its own stream: the order flow stays the same
        self._started = False
        self._seen_connection = False
        self.rest_requests = 0  # REST requests seen (the REST faults count these)
        self._rest_rng = random.Random(f"rest-{seed}")
        self.order_writes = 0  # order writes seen (the order faults count these)
        self._order_rng = random.Random(f"order-{seed}")
        for spec in specs:
            self.add(spec)

    # ---- configuration ---------------------------------------------------------------------------

    def add(self, spec: FaultSpec | str) -> FaultSpec:
        """Add a trigger (at start or at run time); returns the controller's own copy of it."""
        spec = FaultSpec.parse(spec) if isinstance(spec, str) else replace(spec, fired=False)
        self.specs.append(spec)
        self.counts.setdefault(spec.kind, 0)
        if self._started and spec.at == 0 and spec.kind in GLOBAL_KINDS:
            self._fire(spec, None)
        if self._seen_connection and spec.at == 0 and spec.kind in CONNECTION_KINDS:
            for conn in list(self._connections()):
                self._fire(spec, conn)
                break
        return spec

    def inject(self, kind: str, *, count: int | None = -1, seconds: float | None = None) -> int:
        """Fire ``kind`` now, on every open connection for connection faults.

        Returns the number of connections it was applied to (1 for the global kinds).
        """
        if kind in REST_KINDS:  # from the next REST request on
            self.add(FaultSpec(kind, at=self.rest_requests, count=count, seconds=seconds))
            return 1
        if kind in ORDER_KINDS:  # from the next order write on
            self.add(FaultSpec(kind, at=self.order_writes, count=count, seconds=seconds))
            return 1
        spec = FaultSpec(kind, at=0, count=count, seconds=seconds)
        spec.fired = True
        self.counts.setdefault(kind, 0)
        if kind in GLOBAL_KINDS:
            self._arm_global(spec)
            return 1
        conns = list(self._connections())
        for conn in conns:
            log.info("fault %s injected on connection %d (by API)", kind, conn.conn_id)
            conn.apply_fault(kind, spec)
        return len(conns)

    # ---- triggers --------------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        for spec in self.specs:
            if spec.at == 0 and spec.kind in GLOBAL_KINDS and not spec.fired:
                self._fire(spec, None)

    def on_connection_open(self, conn: FaultTarget) -> None:
        self._seen_connection = True
        for spec in self.specs:
            if spec.at == 0 and spec.kind in CONNECTION_KINDS and not spec.fired:
                self._fire(spec, conn)

    def rest_faults(self) -> list[FaultSpec]:
        """The REST faults that act on the request just received (each call counts one request)."""
        self.rest_requests += 1
        return self._counted(REST_KINDS, self.rest_requests, self._rest_rng)

    def order_faults(self) -> list[FaultSpec]:
        """The order faults that act on the order write just received (each call counts one write)."""
        self.order_writes += 1
        return self._counted(ORDER_KINDS, self.order_writes, self._order_rng)

    def _counted(self, kinds: tuple[str, ...], n: int, rng: random.Random) -> list[FaultSpec]:
        if not self.enabled:
            return []
        hits: list[FaultSpec] = []
        for spec in self.specs:
            if spec.kind not in kinds:
                continue
            if spec.rate is not None:
                hit = rng.random() < spec.rate
            elif spec.every is not None:
                hit = n % spec.every == 0
            else:
                at = spec.at or 0
                hit = n > at and (spec.count is None or n <= at + spec.count)
            if hit:
                hits.append(spec)
        return hits

    def after_data_frame(self, conn: FaultTarget) -> None:
        n = conn.data_sent
        for spec in self.specs:
            if spec.kind in COUNTED_KINDS:
                continue
            if spec.every is not None:
                if n % spec.every == 0:
                    self._fire(spec, conn)
            elif spec.at == n and not spec.fired:
                self._fire(spec, conn)

    def _fire(self, spec: FaultSpec, conn: FaultTarget | None) -> None:
        if not self.enabled:
            return
        if spec.at is not None:
            spec.fired = True
        if spec.kind in GLOBAL_KINDS:
            self._arm_global(spec)
        elif conn is not None:
            log.info(
                "fault %s triggered on connection %d after %d data frames (%s)",
                spec.kind,
                conn.conn_id,
                conn.data_sent,
                spec,
            )
            conn.apply_fault(spec.kind, spec)

    def _arm_global(self, spec: FaultSpec) -> None:
        log.info("fault %s armed (%s)", spec.kind, spec)
        if spec.kind == "early-data":
            self._early_data += 1
        elif spec.kind == "auth-reject":
            self._auth_reject = (
                None
                if (spec.count is None or self._auth_reject is None)
                else (self._auth_reject + spec.count)
            )
        elif spec.kind == "deny-private":
            self._deny_private = (
                None
                if (spec.count is None or self._deny_private is None)
                else (self._deny_private + spec.count)
            )
        elif spec.kind == "reorder":
            self._reorder = (
                None
                if (spec.count is None or self._reorder is None)
                else (self._reorder + spec.count)
            )
            self._reorder_max_s = spec.seconds if spec.seconds is not None else DEFAULT_REORDER_S

    def disable(self) -> None:
        """Stop firing triggers and drop faults armed by triggers but not delivered yet."""
        if not self.enabled:
            return
        self.enabled = False
        self._auth_reject = 0
        self._deny_private = 0
        self._early_data = 0
        self._reorder = 0
        for conn in list(self._connections()):
            conn.clear_pending_faults()
        log.info("fault triggers disabled (quiet period)")

    # ---- delivery (called where the fault takes effect) ------------------------------------------

    def record(self, kind: str, detail: str = "") -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        log.info("fault %s delivered%s (total %d)", kind, f": {detail}" if detail else "", self.counts[kind])

    def take_auth_reject(self) -> bool:
        if self._auth_reject == 0:
            return False
        if self._auth_reject is not None:
            self._auth_reject -= 1
        self.record("auth-reject", "handshake refused with 401")
        return True

    def take_deny_private(self) -> bool:
        if self._deny_private == 0:
            return False
        if self._deny_private is not None:
            self._deny_private -= 1
        self.record("deny-private", "private channel answered with error 9")
        return True

    def take_early_data(self) -> bool:
        if not self._early_data:
            return False
        self._early_data -= 1
        self.record("early-data", "snapshots sent before the subscribed ack")
        return True

    def take_reorder(self, conn_id: int) -> float | None:
        """The delay (seconds) before the command just received is handled; None: handle it now."""
        if self._reorder == 0:
            return None
        if self._reorder is not None:
            self._reorder -= 1
        delay = self._rng.uniform(0.0, self._reorder_max_s)
        self.record("reorder", f"connection {conn_id}: command handled {delay * 1000:.0f} ms late")
        return delay

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))
