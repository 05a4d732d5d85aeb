"""Shared fixtures: the optional ``../shared/kalshi`` data, and a clean root logger for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from .paths import SHARED


@pytest.fixture
def shared_kalshi() -> Path:
    """``../shared/kalshi`` next to the repository; the test is skipped when it is absent."""
    path = SHARED / "kalshi"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path


_OUR_LOGGERS = ("market_making_bot", "market_making_bot.simulator", "websockets")


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """``main()`` calls ``setup_logging``, which installs a root handler and sets a few loggers' levels: undo both
    after each test, so that no test depends on which ran before it."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    levels = {name: logging.getLogger(name).level for name in _OUR_LOGGERS}
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


# Tests that start servers or processes (loopback simulator, listener subprocesses): marked ``slow`` and run after
# the fast ones, so that ``pytest -q`` shows the fast tests' progress first and ``-m "not slow"`` is a quick check.
_SLOW_PARTS = ("live", "simulator")
_SLOW_FILES = ("test_views_simulated.py", "test_bench_harness.py")


def _is_slow(item: pytest.Item) -> bool:
    path = Path(str(item.path))
    parts = path.relative_to(Path(__file__).parent).parts if path.is_relative_to(Path(__file__).parent) else ()
    return (
        (len(parts) > 1 and parts[0] in _SLOW_PARTS)
        or path.name in _SLOW_FILES
        or item.get_closest_marker("slow") is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    flags = [_is_slow(item) for item in items]
    for item, is_slow in zip(items, flags, strict=True):
        if is_slow:
            item.add_marker(slow)
    order = {id(item): is_slow for item, is_slow in zip(items, flags, strict=True)}
    items.sort(key=lambda item: order[id(item)])  # stable: fast tests first, each group in collection order
