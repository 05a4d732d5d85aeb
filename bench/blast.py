"""A minimal Kalshi-like WebSocket sender for the loopback benchmark: it accepts any client (no auth check), answers
each ``subscribe`` with one ``subscribed`` ack per channel (with the sids the recording uses), then pushes the frames
of a recording, each stamped with ``sending_ts_ms`` at the moment it is written, either as fast as the socket takes
them (``rate`` 0) or paced at ``rate`` frames per second. The frames are written raw to the socket (``--framing
raw``, the default; websockets' framing through ``ws.send`` cost the sender 9 to 12 us a frame, as much as the
listener's) and on SIGTERM it prints its own figures as the last line of stdout (``{"sender_stats": ...}``).

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
import signal
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


def _ws_header(length: int) -> bytes:
    """The header of an unmasked, final text frame (server to client) of ``length`` bytes (RFC 6455 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


def _cpu_ns() -> int:
    return time.process_time_ns()


def _run_delay_ns() -> int:
    """Time this process spent runnable but waiting for a CPU (``/proc/self/schedstat``, Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


async def _stream(ws: ServerConnection, frames: list[str], rate: float, stats: dict[str, Any], framing: str) -> None:
    """Send ``frames``, each stamped with the wall clock at the moment it is written (not once per batch: a frame
    written after the socket blocked must not carry the older stamp), paced at ``rate`` (0: as fast as the socket
    takes them). ``framing`` ``raw`` (the default) writes each frame's bytes (header and stamped payload) straight
    to the connection's transport, with websockets' own flow control (``drain`` once the write buffer is over its
    high-water mark: nothing queues without bound); ``websockets`` goes through ``ws.send``, whose pure-Python
    framing costs the sender about as much CPU a frame as the listener's own parsing."""
    clock = time.time_ns
    perf = time.perf_counter
    sent = 0
    start = perf()
    batch = 64
    blocked = 0.0  # seconds spent waiting for the socket to take more (backpressure from the listener)
    behind = 0.0  # the worst lateness against the pace schedule, in seconds
    samples: list[tuple[float, int, int, int]] = []  # (elapsed s, frames sent, CPU ns, run-queue wait ns)
    transport = ws.transport
    paused = ws  # websockets' protocol: .paused is set by pause_writing() (the transport's buffer over 32 KiB)
    for i in range(0, len(frames), batch):
        chunk = frames[i : i + batch]
        if framing == "raw":
            write = transport.write
            for body in chunk:
                # One stamp a frame: the clock call and the formatting cost ~0.3 us, the stamp stays exact.
                payload = ('{"sending_ts_ms":%d,' % (clock() // 1_000_000) + body).encode()  # noqa: UP031
                write(_ws_header(len(payload)) + payload)
            if paused.paused:
                t = perf()
                await ws.drain()
                blocked += perf() - t
        else:
            for body in chunk:
                t = perf()
                await ws.send('{"sending_ts_ms":%d,' % (clock() // 1_000_000) + body)  # noqa: UP031
                blocked += perf() - t  # includes the framing's own CPU: an upper bound
        sent += len(chunk)
        if not sent & 1023:
            samples.append((perf() - start, sent, _cpu_ns(), _run_delay_ns()))
        if rate:
            ahead = sent / rate - (perf() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
            else:
                behind = max(behind, -ahead)
        elif i % (batch * 16) == 0:
            await asyncio.sleep(0)
        stats.update(sent=sent, send_seconds=perf() - start, blocked_s=blocked, behind_s=behind, samples=samples)


def _sender_stats(stats: dict[str, Any], rate: float, skip_s: float = 1.0) -> dict[str, Any]:
    """The sender's own figures over its run after the first ``skip_s`` seconds: frames offered per second, CPU per
    frame, the share of the time it waited for a CPU (another process held it) and for the socket (the listener's
    backpressure), and how far behind the pace it fell."""
    samples = [s for s in stats.get("samples", []) if s[0] >= skip_s]
    out: dict[str, Any] = {"sent": stats.get("sent", 0), "rate_asked": rate, "framing": stats.get("framing")}
    if len(samples) >= 2:
        (t0, n0, c0, w0), (t1, n1, c1, w1) = samples[0], samples[-1]
        span = t1 - t0
        out.update(
            offered_rate=(n1 - n0) / span if span > 0 else 0.0,
            cpu_us_per_frame=(c1 - c0) / max(1, n1 - n0) / 1000,
            cpu_share=(c1 - c0) / 1e9 / span if span > 0 else 0.0,
            run_queue_wait_share=(w1 - w0) / 1e9 / span if span > 0 else 0.0,
        )
    out["blocked_share"] = stats.get("blocked_s", 0.0) / max(1e-9, stats.get("send_seconds", 0.0))
    out["max_behind_pace_ms"] = stats.get("behind_s", 0.0) * 1000
    return out


async def _handler(
    ws: ServerConnection, frames: list[str], rate: float, stats: dict[str, Any], framing: str = "raw"
) -> None:
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
                    streaming = asyncio.create_task(_stream(ws, frames, rate, stats, framing))
            else:
                await ws.send(json.dumps({"id": cmd.get("id"), "type": "ok", "msg": {}}))
    finally:
        if streaming is not None:
            streaming.cancel()


async def _main(path: str, rate: float, port: int, framing: str) -> None:
    frames = _data_frames(load_frames(__import__("pathlib").Path(path)))
    stats: dict[str, Any] = {"framing": framing}

    async def handler(ws: ServerConnection) -> None:
        await _handler(ws, frames, rate, stats, framing)

    stop = asyncio.get_running_loop().create_future()
    with contextlib.suppress(NotImplementedError):  # SIGTERM (bench/e2e.py stops the sender so): report, then end
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else port
        print(f"ws://127.0.0.1:{port}/trade-api/ws/v2", flush=True)
        await stop
    # The last line of stdout: the sender's own figures (bench/e2e.py reads them).
    print(json.dumps({"sender_stats": _sender_stats(stats, rate)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.blast")
    parser.add_argument("recording")
    parser.add_argument("--rate", type=float, default=0.0, help="frames per second (0: as fast as possible)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--framing",
        choices=("raw", "websockets"),
        default="raw",
        help="raw (default): frames written straight to the socket; websockets: through ws.send (slower sender)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.recording, args.rate, args.port, args.framing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
