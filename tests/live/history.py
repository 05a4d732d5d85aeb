"""A check *during* a run, not only at its end: every book the listener marks usable equals one of the states the
true book has been in.

:class:`HistorySimulator` is the real simulator plus an independent mirror of each market's book, built from the
``BookDelta`` events it dispatches (one state per delta, so the states in between the deltas of one model step are
there too), starting from the seeded books. :class:`CheckingCore` is the real core; after every frame it compares
each usable book with that history. A usable book that equals no state the market has ever been in is wrong:
recorded in :attr:`CheckingCore.violations`, with the frame number and the reason the book was trusted.

Matching *a* past state rather than the state "at that seq" is what a listener running behind the server can be held
to at an arbitrary moment; a book built from a lost or doubled delta, a stale snapshot or a delta from another
subscription matches none of them in practice (the sizes are random).
"""

from __future__ import annotations

from typing import Any

from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.model import BookDelta, Event
from tests.live.support import WatchedCore

BookKey = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


class HistorySimulator(ExchangeSimulator):
    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self._mirror: dict[str, dict[str, dict[int, int]]] = {}
        self.history: dict[str, set[BookKey]] = {}
        for t in config.resolved_tickers():
            yes, no, _ = self.model.book_levels(t)
            self._mirror[t] = {"yes": dict(yes), "no": dict(no)}
            self.history[t] = {self._key(t)}

    def _key(self, ticker: str) -> BookKey:
        m = self._mirror[ticker]
        return tuple(sorted(m["yes"].items())), tuple(sorted(m["no"].items()))

    def _dispatch(self, events: list[Event]) -> None:
        super()._dispatch(events)
        for ev in events:
            if type(ev) is BookDelta:
                t = ev.market.ticker
                side = self._mirror[t][ev.side]
                size = side.get(ev.price, 0) + ev.delta
                if size:
                    side[ev.price] = size
                else:
                    side.pop(ev.price, None)
                self.history[t].add(self._key(t))

    def mirror_matches_model(self) -> bool:
        """The mirror's sanity check: its current state is the model's."""
        for t in self._mirror:
            yes, no, _ = self.model.book_levels(t)
            if self._key(t) != (tuple(yes), tuple(no)):
                return False
        return True


class CheckingCore(WatchedCore):
    """Checks every usable book against the simulator's history after each frame (``every`` frames)."""

    def __init__(self, sim: HistorySimulator, *args: Any, every: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sim = sim
        self.every = every
        self.checks = 0  # usable books compared
        self.violations: list[str] = []
        self._n = 0

    def feed(self, data: str | bytes, recv_ns: int) -> Any:
        msg = super().feed(data, recv_ns)
        self._n += 1
        if self._n % self.every == 0:
            self.check()
        return msg

    def check(self) -> None:
        history = self.sim.history
        for ticker, market in self.state.markets.items():
            if not market.usable:
                continue
            self.checks += 1
            book = market.book
            key = (tuple(book.levels("yes")), tuple(book.levels("no")))
            if key not in history.get(ticker, ()) and len(self.violations) < 20:  # the first 20 are enough
                self.violations.append(f"frame {self._n}: usable book of {ticker} (sid {market.sid}) is wrong")
