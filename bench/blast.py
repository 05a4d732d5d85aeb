"""A minimal Kalshi-like WebSocket sender for the loopback benchmark: it accepts any client (no auth check), answers
each ``subscribe`` with one ``subscribed`` ack per channel (with the sids the recording uses), then pushes the frames
of a recording, each stamped with ``sending_ts_ms`` at the moment it is sent, either as fast as the socket takes them
(``rate`` 0) or paced at ``rate`` frames per second.

Run: ``python -m bench.blast RECORDING [--rate N] [--port P]``; it prints ``ws://127.0.0.1:PORT/trade-api/ws/v2``.
It exists because the loopback benchmark also needs a sender that is certainly faster than the listener; the
exchange simulator is used for the row named after it when it is available.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from .recording import load_frames

CHANNEL_SIDS = {"orderbook_delta": 1, "ticker": 2, "trade": 3}


_RECORDED_STAMP = re.compile(r'"sending_ts_ms":[0-9]+,|,"sending_ts_ms":[0-9]+')


def _data_frames(frames: list[str]) -> list[str]:
    """The recording without its own ``subscribed`` acks, each frame without the leading ``{`` (for stamping) and
    without the ``sending_ts_ms`` it was recorded with (JSON's last duplicate key wins: the old stamp would)."""
    out = []
    for frame in frames:
        if '"subscribed"' in frame[:40]:
            continue
        out.append(_RECORDED_STAMP.sub("", frame)[1:])
    return out


async def _stream(ws: ServerConnection, frames: list[str], rate: float, stats: dict[str, Any]) -> None:
    clock = time.time_ns
    send = ws.send
    sent = 0
    start = time.perf_counter()
    batch = 64
    for i in range(0, len(frames), batch):
        chunk = frames[i : i + batch]
        now_ms = clock() // 1_000_000
        prefix = '{"sending_ts_ms":%d,' % now_ms  # noqa: UP031 - the cheapest way on this hot path
        for body in chunk:
            await send(prefix + body)
        sent += len(chunk)
        if rate:
            ahead = sent / rate - (time.perf_counter() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
        elif i % (batch * 16) == 0:
            await asyncio.sleep(0)
    stats["sent"] = sent
    stats["send_seconds"] = time.perf_counter() - start


async def _handler(ws: ServerConnection, frames: list[str], rate: float, stats: dict[str, Any]) -> None:
    streaming: asyncio.Task[None] | None = None
    try:
        async for raw in ws:
            cmd = json.loads(raw)
            if cmd.get("cmd") == "subscribe":
                for channel in cmd.get("params", {}).get("channels", []):
                    sid = CHANNEL_SIDS.get(channel)
                    if sid is None:
                        reply = {"id": cmd["id"], "type": "error", "msg": {"code": 9, "msg": "not in this benchmark"}}
                    else:
                        reply = {"id": cmd["id"], "type": "subscribed", "msg": {"channel": channel, "sid": sid}}
                    await ws.send(json.dumps(reply))
                if streaming is None and "orderbook_delta" in cmd.get("params", {}).get("channels", []):
                    streaming = asyncio.create_task(_stream(ws, frames, rate, stats))
            else:
                await ws.send(json.dumps({"id": cmd.get("id"), "type": "ok", "msg": {}}))
    finally:
        if streaming is not None:
            streaming.cancel()


async def _main(path: str, rate: float, port: int) -> None:
    frames = _data_frames(load_frames(__import__("pathlib").Path(path)))
    stats: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        await _handler(ws, frames, rate, stats)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else port
        print(f"ws://127.0.0.1:{port}/trade-api/ws/v2", flush=True)
        await asyncio.Future()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.blast")
    parser.add_argument("recording")
    parser.add_argument("--rate", type=float, default=0.0, help="frames per second (0: as fast as possible)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.recording, args.rate, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
