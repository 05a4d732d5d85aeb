"""The asyncio shells: the WebSocket client (socket, timers, reconnects; no policy) and the configuration it is
started with."""
