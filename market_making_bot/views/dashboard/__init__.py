"""views.dashboard: see the README's architecture section."""
