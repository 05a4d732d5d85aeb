"""Where the tests find their data: the project's own fixtures and the optional ``../shared`` folder."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
