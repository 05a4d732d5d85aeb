"""A loopback TCP proxy for the listener's WebSocket that can cut every connection and refuse new ones."""

from __future__ import annotations

import asyncio
import contextlib


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of the simulator's WebSocket. :meth:`refuse` aborts every open connection
    and from then on answers every new handshake ``HTTP 503`` (no upgrade), as a server that keeps refusing."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refusing = False
        self.refused = 0
        self._refused_changed = asyncio.Event()
        self._open: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.refuse()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_refused(self, n: int, timeout: float) -> None:
        """Wait until ``n`` handshakes were refused."""

        async def wait() -> None:
            while self.refused < n:
                self._refused_changed.clear()
                await self._refused_changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def refuse(self) -> None:
        self.refusing = True
        for writer in self._open:
            writer.transport.abort()  # no close frame: a lost connection
        self._open.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                self.refused += 1
                self._refused_changed.set()
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._open += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    if self.refusing:
                        return
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
