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
