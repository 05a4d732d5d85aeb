"""Per-subscription (``sid``) sequence checking, in the style of kalshi-sdk's ``kalshi/ws/sequence.py``.

Kalshi numbers the frames of one subscription 1, 2, 3, ...; snapshots, deltas and the ``ok``/``unsubscribed``/
``error`` replies scoped to that sid all take numbers from the same counter (PROTOCOL.md section 5.1). A new
subscription, including one on a new connection that reuses an old sid number, starts afresh: the feed renews the
tracker with each connection, and ``reset`` forgets one sid (a subscription restarted on the same sid number).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = ["SID_WIDE_KINDS", "ProblemKind", "SeqResult", "SequenceProblem", "SequenceTracker"]


class SeqResult(enum.Enum):
    OK = "ok"
    """``seq`` is the expected next number."""
    FIRST = "first"
    """First ``seq`` seen on this sid since it started (any value is accepted as the baseline)."""
    GAP = "gap"
    """``seq`` is above the expected one: frames were lost. The tracker moves on from ``seq``."""
    DUPLICATE = "duplicate"
    """``seq`` equals the last one: the frame was already received; drop it."""
    REGRESSION = "regression"
    """``seq`` is below the last one: the server restarted the stream. The tracker restarts from ``seq``."""


class SequenceTracker:
    """Last ``seq`` per sid. After every ``check``, ``expected`` holds the seq that was expected (``None`` when the
    sid had no baseline), so a caller can report what a GAP, DUPLICATE or REGRESSION should have been."""

    __slots__ = ("expected", "last_seq")

    def __init__(self) -> None:
        self.last_seq: dict[int, int] = {}
        """sid -> last seq accepted (read-only for callers; a caller may store ``seq`` for ``sid`` itself only when
        ``seq == last_seq[sid] + 1``, the OK case of ``check``)."""
        self.expected: int | None = None

    def reset(self, sid: int) -> None:
        """Forget ``sid``: its next ``check`` is FIRST."""
        self.last_seq.pop(sid, None)

    def last(self, sid: int) -> int | None:
        return self.last_seq.get(sid)

    def check(self, sid: int, seq: int) -> SeqResult:
        last_seen = self.last_seq
        last = last_seen.get(sid)
        if last is None:
            self.expected = None
            last_seen[sid] = seq
            return SeqResult.FIRST
        expected = self.expected = last + 1
        if seq == expected:
            last_seen[sid] = seq
            return SeqResult.OK
        if seq == last:
            return SeqResult.DUPLICATE
        last_seen[sid] = seq
        return SeqResult.GAP if seq > expected else SeqResult.REGRESSION


ProblemKind = Literal["gap", "duplicate", "regression", "delta_without_snapshot", "crossed_book", "negative_level"]
SID_WIDE_KINDS: frozenset[ProblemKind] = frozenset({"gap", "duplicate", "regression"})
"""The sequence kinds: a gap on a multi-market sid may have hit any of its markets."""


@dataclass(frozen=True, slots=True)
class SequenceProblem:
    """Something that makes books untrustworthy, for a recovery layer to act on.

    Sequence kinds (``gap``, ``duplicate``, ``regression``) concern every market of the subscription ``sid``: a gap
    on a multi-market sid may have hit any of them. Book kinds (``delta_without_snapshot``, ``crossed_book``,
    ``negative_level``) concern ``market_ticker`` only. ``expected``/``got`` are seq numbers where they apply.
    """

    kind: ProblemKind
    sid: int | None
    expected: int | None
    got: int | None
    market_ticker: str | None = None

    @property
    def sid_wide(self) -> bool:
        """The problem concerns every market of ``sid`` (a sequence kind), not ``market_ticker`` alone."""
        return self.kind in SID_WIDE_KINDS
