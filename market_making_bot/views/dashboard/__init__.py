"""The terminal dashboard: view model, exact P&L, layout for a terminal size, rich rendering, and the app loop."""
