"""Following events and series (``--event``, ``--series``): which markets to add and which have closed, free of I/O.

The poller (``runtime.follow``) lists the open markets of every followed event or series over REST and hands each
listing to :meth:`Follower.update` with the tickers followed right now; the :class:`FollowPlan` it gets back says

* ``add``: markets listed open that are not followed yet (new, or opened since the last listing), in listing order;
* ``closed``: markets an earlier listing of that source had open and that no source lists open any more (closed,
  settled or paused); each is reported once. Their subscription is left as it is: the server stops sending for them
  and their book keeps its last state.

A listing that failed is simply not given (the source's last good listing stands), so a REST outage never looks like
every market closing. Sources are named ``event:TICKER`` or ``series:TICKER`` (:func:`source_name`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

__all__ = ["FollowPlan", "Follower", "source_name"]


def source_name(kind: str, ticker: str) -> str:
    """``event:KXSIM-26DEC31`` or ``series:KXSIM``: a followed source's name in plans and log lines."""
    if kind not in ("event", "series"):
        raise ValueError(f"a followed source is an event or a series, not {kind!r}")
    return f"{kind}:{ticker}"


@dataclass(frozen=True)
class FollowPlan:
    """What one listing means: markets to subscribe to, markets that closed since the source's last listing."""

    source: str
    add: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.closed)


@dataclass
class Follower:
    """The open markets each followed source listed last (see the module docstring)."""

    sources: tuple[str, ...]
    _open: dict[str, set[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    """Every market reported closed so far."""

    def update(self, source: str, open_markets: Iterable[str], current: Collection[str]) -> FollowPlan:
        """``open_markets``: what the REST listing of ``source`` has open now; ``current``: the tickers followed."""
        if source not in self.sources:
            raise ValueError(f"{source!r} is not followed (followed: {', '.join(self.sources)})")
        listed = list(dict.fromkeys(open_markets))
        now_open = set(listed)
        before = self._open.get(source, set())
        self._open[source] = now_open
        add = tuple(t for t in listed if t not in current)
        open_elsewhere = set().union(*(v for k, v in self._open.items() if k != source))
        gone = sorted(t for t in before - now_open if t not in open_elsewhere and t not in self.closed)
        self.closed.update(gone)
        self.closed.difference_update(now_open)  # reopened (a paused market that resumed): report it again later
        return FollowPlan(source, add, tuple(gone))

    def open_markets(self) -> list[str]:
        """Every market some source listed open last, in source order."""
        out: dict[str, None] = {}
        for s in self.sources:
            out.update(dict.fromkeys(sorted(self._open.get(s, ()))))
        return list(out)
