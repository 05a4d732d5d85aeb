"""Kalshi market-data foundation for market makers: decode, books, state, client and a local exchange simulator."""

__version__ = "0.1.0"
