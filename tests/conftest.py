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


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """``main()`` calls ``setup_logging``, which installs a root handler: remove it after each test."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
