"""The event bus: per-type lists that emitters keep, subscribe-all, unsubscribe."""

from __future__ import annotations

import dataclasses

import pytest

from market_making_bot.feed.events import BookUnusable, BookUsable, Event, EventBus
from market_making_bot.marketdata.state import MarketState

M = MarketState("A")


def test_listeners_list_is_live_and_empty_when_nobody_listens() -> None:
    bus = EventBus()
    kept = bus.listeners(BookUsable)
    assert kept == []
    seen: list[Event] = []
    off = bus.subscribe(BookUsable, seen.append)
    assert kept == [seen.append]  # the emitter's own list grew in place
    bus.emit(BookUsable(1, "A", M))
    bus.emit(BookUnusable(2, "A", "gap", M))
    assert seen == [BookUsable(1, "A", M)]
    off()
    assert kept == []


def test_subscribe_to_every_event_reaches_types_asked_before_and_after() -> None:
    bus = EventBus()
    early = bus.listeners(BookUsable)
    seen: list[Event] = []
    off = bus.subscribe(Event, seen.append)
    bus.emit(BookUsable(1, "A", M))
    bus.emit(BookUnusable(2, "A", "gap", M))  # a type first asked for after the subscription
    assert seen == [BookUsable(1, "A", M), BookUnusable(2, "A", "gap", M)] and early == [seen.append]
    off()
    assert bus.listeners(BookUnusable) == [] and early == []


def test_events_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BookUsable(1, "A", M).ticker = "B"  # type: ignore[misc]
