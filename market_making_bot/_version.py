"""The package version (one place; ``market_making_bot.__version__`` re-exports it)."""

__version__ = "0.1.0"
