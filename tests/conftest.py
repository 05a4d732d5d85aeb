"""Shared test helpers: fixture paths and the optional ``../shared`` data (Kalshi captures, AsyncAPI examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_kalshi() -> Path:
    """``../shared/kalshi`` next to the repository; the test is skipped when it is absent."""
    path = SHARED / "kalshi"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path
