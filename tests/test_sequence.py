from __future__ import annotations

from market_making_bot.marketdata.sequence import SeqResult, SequenceTracker


def test_first_ok_gap_duplicate_regression() -> None:
    t = SequenceTracker()
    assert t.check(1, 1) is SeqResult.FIRST and t.expected is None
    assert t.check(1, 2) is SeqResult.OK and t.expected == 2
    assert t.check(1, 2) is SeqResult.DUPLICATE and t.expected == 3
    assert t.last(1) == 2
    assert t.check(1, 5) is SeqResult.GAP and t.expected == 3
    assert t.check(1, 6) is SeqResult.OK  # moves on from the gap
    assert t.check(1, 3) is SeqResult.REGRESSION and t.expected == 7
    assert t.check(1, 4) is SeqResult.OK  # restarted from the regression


def test_sids_are_independent_and_reset_starts_afresh() -> None:
    t = SequenceTracker()
    assert t.check(1, 10) is SeqResult.FIRST
    assert t.check(2, 1) is SeqResult.FIRST
    assert t.check(1, 11) is SeqResult.OK
    assert t.check(2, 2) is SeqResult.OK
    t.reset(1)
    assert t.last(1) is None
    assert t.check(1, 1) is SeqResult.FIRST  # e.g. a new connection reusing sid 1
    t.reset(99)  # unknown sid: no error
