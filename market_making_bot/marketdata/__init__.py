"""marketdata: see the README's architecture section."""
