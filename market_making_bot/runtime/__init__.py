"""runtime: see the README's architecture section."""
