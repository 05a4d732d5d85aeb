"""Read recorded frames from files and feed them through a ``Core``, as fast as possible, with no network.

Accepted recording formats (detected from the content):

* raw JSONL: one frame per line, blank lines ignored;
* frames separated by lines holding only ``;;`` (a frame may span several lines);
* a JSON array of frames (objects, or strings holding the frame text);
* a JSON object whose ``frames`` is a list of ``{"received_ms": ..., "frame": ...}`` (``frame`` an object or a
  string); ``received_ms`` becomes the receive time.

A line or chunk that is not valid JSON is still yielded: the core counts and logs it as a decode error.
The project's own journals (``recorder.py``) are read by ``run_replay`` with their recorded times and connections.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from typing import Any

from .core import Core
from .protocol.messages import Message
from .recorder import expand_journal_paths, is_journal, iter_journal

__all__ = ["FRAME_SPACING_NS", "iter_recording", "run_replay"]

SEPARATOR = ";;"
FRAME_SPACING_NS = 1_000_000
"""Frames without a recorded receive time are replayed 1 ms after the previous frame."""


def _frame_text(frame: Any) -> str:
    if isinstance(frame, str):
        return frame
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _from_document(doc: Any) -> Iterator[tuple[int | None, str]]:
    if isinstance(doc, dict) and isinstance(doc.get("frames"), list):
        for entry in doc["frames"]:
            if isinstance(entry, dict) and "frame" in entry:
                received_ms = entry.get("received_ms")
                recv_ns = received_ms * 1_000_000 if type(received_ms) is int else None
                yield recv_ns, _frame_text(entry["frame"])
            else:
                yield None, _frame_text(entry)
    elif isinstance(doc, list):
        for frame in doc:
            yield None, _frame_text(frame)
    else:
        yield None, _frame_text(doc)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def iter_recording(path: str | PathLike[str]) -> Iterator[tuple[int | None, str]]:
    """Yield ``(recv_ns or None, frame_text)`` for each frame recorded in ``path``, in order."""
    with open(path, encoding="utf-8") as f:
        first = ""
        for line in f:
            if line.strip():
                first = line.strip()
                break
        if not first:
            return
        if first != SEPARATOR and not first.startswith("[") and _is_json(first):
            # One frame per line (JSONL, or ";;"-separated one-line frames), or a one-line recording object.
            doc = json.loads(first)
            if isinstance(doc, dict) and "frames" in doc and "type" not in doc:
                yield from _from_document(doc)
                return
            yield None, first
            for line in f:
                text = line.strip()
                if text and text != SEPARATOR:
                    yield None, text
            return
        text = first + "\n" + f.read()
    lines = text.splitlines()
    if any(line.strip() == SEPARATOR for line in lines):
        chunk: list[str] = []
        for line in [*lines, SEPARATOR]:
            if line.strip() == SEPARATOR:
                frame = "\n".join(chunk).strip()
                if frame:
                    yield None, frame
                chunk = []
            else:
                chunk.append(line)
        return
    try:
        doc = json.loads(text)
    except ValueError:
        # Not one document: treat it as JSONL whose first line is damaged.
        for line in lines:
            if line.strip():
                yield None, line.strip()
        return
    yield from _from_document(doc)


class _Pacer:
    """Sleeps so that frames are fed at ``speed`` times their recorded pace (``None``: as fast as possible)."""

    def __init__(self, speed: float | None, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.speed, self.sleep, self.clock = speed, sleep, clock
        self._origin: tuple[int, float] | None = None

    def __call__(self, recv_ns: int) -> None:
        if self.speed is None:
            return
        if self._origin is None:
            self._origin = (recv_ns, self.clock())
            return
        t0, w0 = self._origin
        due = (recv_ns - t0) / 1e9 / self.speed - (self.clock() - w0)
        if due > 0:
            self.sleep(due)


def run_replay(
    paths: Iterable[str | PathLike[str]],
    core: Core,
    *,
    speed: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    after: Callable[[Message | None, int], None] | None = None,
) -> int:
    """Feed every frame of every file in ``paths`` to ``core``; returns the number of frames fed.

    The project's own journals (``--record``) replay with each frame's recorded receive time, and each recorded
    new connection is replayed too (``Core.connection_opened``), so the state equals the live run's; commands the
    listener sent are skipped. A path that does not exist stands for its rotated set (``NAME.0001.jsonl``, ...).

    In other recordings a frame without a recorded time gets the previous frame's time plus ``FRAME_SPACING_NS``
    (the first one 0), so time-dependent statistics are deterministic; feed latency is not measured for such frames.

    ``speed``: replay at that many times the recorded pace (``None``: as fast as possible). ``after``: called with
    each frame's decoded message (``None`` if it could not be decoded) and receive time, once it is processed.
    """
    recv_ns = -FRAME_SPACING_NS
    fed = 0
    feed = core.feed
    pace = _Pacer(speed, sleep, clock)
    for path in expand_journal_paths(paths):
        if is_journal(path):
            core.track_latency = True
            for rec in iter_journal(path):
                recv_ns = rec.t
                if rec.dir == "in" and rec.frame is not None:
                    pace(recv_ns)
                    msg = feed(rec.frame, recv_ns)
                    if after is not None:
                        after(msg, recv_ns)
                    fed += 1
                elif rec.dir == "connect":
                    core.connection_opened(recv_ns)
            continue
        for recorded_ns, frame in iter_recording(path):
            if recorded_ns is None:
                recv_ns += FRAME_SPACING_NS
                core.track_latency = False
            else:
                recv_ns = recorded_ns
                core.track_latency = True
                pace(recv_ns)
            msg = feed(frame, recv_ns)
            if after is not None:
                after(msg, recv_ns)
            fed += 1
    return fed
