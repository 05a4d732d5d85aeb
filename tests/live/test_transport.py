"""The socket seam (``runtime/transport.py``) on its own, over each transport, real loopback: the bounded receive
buffer (TCP backpressure, nothing lost), a close code and reason as the client logs them, a refused handshake's
status, and the transport's choice by name."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from market_making_bot.runtime.transport import (
    AUTO_ORDER,
    DEFAULT_TRANSPORT,
    ConnectOptions,
    HandshakeRefused,
    TransportClosed,
    available_transports,
    get_transport,
)

FRAME = 1024 * 1024
FRAMES = 48  # 48 MiB: far more than the socket buffers and either library's receive buffer hold


async def _poll(predicate: Any, timeout: float, what: str) -> None:
    """Re-check ``predicate`` on a short timer (no frame is received while the test waits: that is the point)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_reader_that_does_not_keep_up_holds_the_sender_back_and_loses_nothing(transport: str) -> None:
    sent = 0
    done = asyncio.Event()
    server_side: list[ServerConnection] = []

    async def flood(ws: ServerConnection) -> None:
        nonlocal sent
        server_side.append(ws)
        for i in range(FRAMES):
            await ws.send(bytes([i]) * FRAME)
            sent += 1
        done.set()
        await ws.wait_closed()

    async with serve(flood, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        options = ConnectOptions(ping_interval=None, max_queue=4)
        async with get_transport(transport).connect(f"ws://127.0.0.1:{port}/", {}, options) as conn:
            history: list[int] = []

            def sender_stuck() -> bool:  # the server's own buffer backs up and it has sent nothing for 0.2 s
                history.append(sent)
                buffered = server_side[0].transport.get_write_buffer_size() if server_side else 0
                return buffered > 0 and len(history) > 20 and history[-21] == sent

            await _poll(sender_stuck, 10, "the sender to be held back")
            assert conn.reading is (None if transport == "picows" else False)  # the client stopped reading
            held_back = FRAMES - sent
            assert held_back > 0 and not done.is_set()  # the sender is blocked: TCP backpressure
            got = [await conn.recv(False) for _ in range(FRAMES)]
            assert done.is_set() and sent == FRAMES
            assert [(len(g), g[0]) for g in got] == [(FRAME, i) for i in range(FRAMES)]  # every frame, in order
            await conn.close()


async def test_close_code_and_reason_reach_the_client(transport: str) -> None:
    async def closing(ws: ServerConnection) -> None:
        await ws.send('{"type":"hello"}')
        await ws.close(4001, "maintenance")

    async with serve(closing, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        options = ConnectOptions(ping_interval=None)
        with pytest.raises(TransportClosed) as info:
            async with get_transport(transport).connect(f"ws://127.0.0.1:{port}/", {}, options) as conn:
                assert await conn.recv(False) == b'{"type":"hello"}'  # text as UTF-8 bytes on each transport
                await conn.recv(False)
    exc = info.value
    assert exc.rcvd is not None and (exc.rcvd.code, exc.rcvd.reason) == (4001, "maintenance")
    assert not exc.clean and not exc.too_big and not exc.ping_timeout
    assert exc.describe() == "closed by server (code 4001, maintenance)"


async def test_a_normal_closure_is_clean(transport: str) -> None:
    async def closing(ws: ServerConnection) -> None:
        await ws.close(1000, "bye")

    async with serve(closing, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TransportClosed) as info:
            async with get_transport(transport).connect(
                f"ws://127.0.0.1:{port}/", {}, ConnectOptions(ping_interval=None)
            ) as conn:
                await conn.recv(False)
    assert info.value.clean


async def test_refused_handshake_carries_the_status_and_the_headers_are_sent(transport: str) -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Request, Response

    seen: list[str | None] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        seen.append(request.headers.get("KALSHI-ACCESS-KEY"))
        return connection.respond(401, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeRefused) as info:
            async with get_transport(transport).connect(
                f"ws://127.0.0.1:{port}/", Headers({"KALSHI-ACCESS-KEY": "k1"}), ConnectOptions()
            ):
                pass
    assert info.value.status == 401 and seen == ["k1"]


def test_choice_by_name() -> None:
    assert get_transport(None).name == get_transport(DEFAULT_TRANSPORT).name
    # auto: picows when the [fast] extra is installed, else websockets (the default and the fallback), never aiohttp
    assert get_transport("auto").name == ("picows" if "picows" in available_transports() else "websockets")
    assert AUTO_ORDER == ("picows", "websockets")
    assert available_transports() == [n for n in ("picows", "aiohttp", "websockets") if n in available_transports()]
    assert {"websockets", "aiohttp"} <= set(available_transports())  # both are dependencies
    for name in available_transports():
        assert get_transport(name).name == name
    with pytest.raises(ValueError, match="unknown WebSocket transport 'nope'"):
        get_transport("nope")


async def test_a_text_frame_that_is_not_utf8_is_delivered_not_fatal(transport: str) -> None:
    """Text frames reach the decoder as bytes, unchecked: one that is not UTF-8 is then counted as malformed by
    the Core, and the connection goes on (no transport closes it with 1007)."""

    async def bad_text(ws: ServerConnection) -> None:
        await ws.send(b'{"type":"ok","x":"\xff\xfe"}', text=True)
        await ws.send('{"type":"after"}')
        await ws.wait_closed()

    async with serve(bad_text, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with get_transport(transport).connect(
            f"ws://127.0.0.1:{port}/", {}, ConnectOptions(ping_interval=None)
        ) as conn:
            first = await conn.recv(False)
            assert first == b'{"type":"ok","x":"\xff\xfe"}'
            assert await conn.recv(False) == b'{"type":"after"}'
            await conn.close()
