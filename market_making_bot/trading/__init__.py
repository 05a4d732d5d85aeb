"""The trading layer: orders and their state, fees, positions and P&L, risk, strategies.

Pure and synchronous like the feed (no sockets, no clocks of its own): REST replies and stream
events go in, order intents and typed events come out. The asyncio shells that send the orders
live in :mod:`market_making_bot.runtime`. Imports flow one way: ``trading`` may import ``feed``,
``marketdata``, ``kalshi`` and the leaf modules; only ``runtime``, ``storage``, ``views``, ``cli``
and ``api`` import ``trading``.
"""
