"""storage: see the README's architecture section."""
