"""views: see the README's architecture section."""
