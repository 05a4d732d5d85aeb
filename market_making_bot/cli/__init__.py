"""cli: see the README's architecture section."""
