"""Read recorded frames from files and feed them through a ``Core``, as fast as possible, with no network.

Accepted recording formats (detected from the content; gzip too, from its magic bytes, whatever the name):

* raw JSONL: one frame per line, blank lines ignored;
* frames separated by lines holding only ``;;`` (a frame may span several lines);
* a JSON array of frames (objects, or strings holding the frame text);
* a JSON object whose ``frames`` is a list of ``{"received_ms": ..., "frame": ...}`` (``frame`` an object or a
  string); ``received_ms`` becomes the receive time.

A line or chunk that is not valid JSON is still yielded: the core counts and logs it as a decode error. A line that
is not valid UTF-8 is yielded as its bytes, which the core counts as malformed, as the live client does (it feeds
the socket's bytes). The project's own journals (``recorder.py``) are read by ``run_replay`` with their recorded
times and connections (and what REST told the live listener:
``rest`` records); their frames are fed as recorded (the text of the live bytes, or the bytes themselves for a
frame that was not UTF-8), so replay decodes exactly what live decoded.

Damaged input never aborts a replay: bad journal records and damaged gzip data are logged (the first
``MAX_LOGGED_PROBLEMS`` of each file) and counted in :class:`ReplayReport`. Only an input that cannot be used at all
raises :class:`~market_making_bot.storage.journal.RecordingError` (exit code 1 in the CLIs): a missing file, a
directory, binary data, or a file with content of which not a single frame or record could be read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from os import PathLike
from pathlib import Path
from typing import IO, Any

import msgspec

from market_making_bot.feed.core import Core
from market_making_bot.kalshi.messages import Message
from market_making_bot.storage.journal import (
    _READ_ERRORS,
    MAX_TIME_NS,
    RecordingError,
    expand_journal_paths,
    head,
    is_journal,
    iter_journal,
    open_recording,
)

__all__ = ["FRAME_SPACING_NS", "ReplayReport", "check_recordings", "iter_recording", "iter_replay", "run_replay"]

log = logging.getLogger("market_making_bot.storage.replay")

SEPARATOR = ";;"
_SEP = b";;"
FRAME_SPACING_NS = 1_000_000
"""Frames without a recorded receive time are replayed 1 ms after the previous frame."""
MAX_LOGGED_PROBLEMS = 10


@dataclass
class ReplayReport:
    """What a replay read: frames fed, damaged records skipped, files read."""

    frames: int = 0
    bad_records: int = 0
    files: list[Path] = field(default_factory=list)


class _Problems:
    """Counts and logs the damaged records of one file (the first few in full, then only the count)."""

    def __init__(self, path: Path, report: ReplayReport) -> None:
        self.path, self.report, self.count = path, report, 0

    def __call__(self, text: str) -> None:
        self.count += 1
        self.report.bad_records += 1
        if self.count <= MAX_LOGGED_PROBLEMS:
            log.warning("%s: %s; skipped", self.path, text)

    def done(self) -> None:
        if self.count > MAX_LOGGED_PROBLEMS:
            log.warning("%s: %d damaged records skipped in all (the first %d shown)", self.path, self.count,
                        MAX_LOGGED_PROBLEMS)  # fmt: skip


def _frame_text(frame: Any) -> str:
    if isinstance(frame, str):
        return frame
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _as_frame(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data  # fed as bytes, as the live client feeds them: counted malformed


def _from_document(doc: Any, problem: Callable[[str], None]) -> Iterator[tuple[int | None, str]]:
    if isinstance(doc, dict) and isinstance(doc.get("frames"), list):
        for entry in doc["frames"]:
            if isinstance(entry, dict) and "frame" in entry:
                received_ms = entry.get("received_ms")
                recv_ns = received_ms * 1_000_000 if type(received_ms) is int else None
                if recv_ns is not None and not 0 <= recv_ns <= MAX_TIME_NS:
                    problem(f"received_ms {received_ms} out of range; the frame is replayed without it")
                    recv_ns = None
                yield recv_ns, _frame_text(entry["frame"])
            else:
                yield None, _frame_text(entry)
    elif isinstance(doc, list):
        for frame in doc:
            yield None, _frame_text(frame)
    else:
        yield None, _frame_text(doc)


def _loads(data: bytes) -> Any:
    """``json.loads``, or ``ValueError`` (also for invalid UTF-8 and for nesting too deep for the parser)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _is_json(data: bytes) -> bool:
    try:
        _loads(data)
    except ValueError:
        return False
    return True


def _read_rest(f: IO[bytes], problem: Callable[[str], None]) -> bytes:
    chunks = []
    try:
        while chunk := f.read(1 << 20):
            chunks.append(chunk)
    except _READ_ERRORS as exc:
        problem(f"damaged or cut gzip data ({exc or type(exc).__name__}); the rest of the file is lost")
    return b"".join(chunks)


def _sniff(lines: Iterator[bytes]) -> tuple[str, bytes]:
    """Read up to the first non-blank line of a recording that is not a journal: ``(kind, that line stripped)``.

    ``kind``: ``"empty"`` (no such line), ``"document"`` (the line is a whole recording object,
    ``{"frames": [...]}``), ``"lines"`` (one frame per line from here on: JSONL, or ``;;``-separated one-line
    frames), or ``"whole"`` (the file must be read whole: a JSON document, multi-line frames, a damaged first
    line). Raises what reading raises (``_READ_ERRORS`` for damaged gzip data)."""
    for line in lines:
        first = line.strip()
        if first:
            break
    else:
        return "empty", b""
    if first != _SEP and not first.startswith(b"[") and _is_json(first):
        doc = _loads(first)
        if isinstance(doc, dict) and "frames" in doc and "type" not in doc:
            return "document", first
        return "lines", first
    return "whole", first


def iter_recording(
    path: str | PathLike[str], problem: Callable[[str], None] | None = None, *, text: bool = True
) -> Iterator[tuple[int | None, str | bytes]]:
    """Yield ``(recv_ns or None, frame)`` for each frame recorded in ``path``, in order.

    ``frame`` is the frame's text, or its bytes when they are not valid UTF-8; with ``text=False`` the lines of a
    one-frame-per-line recording are yielded as bytes, as the live client feeds them (``run_replay``: no decoding
    per line). Damaged gzip data ends the file with a ``problem(description)``; :class:`RecordingError` only when
    the file cannot be opened.
    """
    report = problem or (lambda _text: None)
    with open_recording(path) as f:
        lines = iter(f)
        try:
            kind, first = _sniff(lines)
            if kind == "empty":
                return
            if kind == "document":  # a one-line recording object
                yield from _from_document(_loads(first), report)
                return
            if kind == "lines":
                if not text:  # raw captures: bytes straight to the core, as live
                    yield None, first
                    for line in lines:
                        data = line.strip()
                        if data and data != _SEP:
                            yield None, data
                    return
                yield None, _as_frame(first)
                for line in lines:
                    data = line.strip()
                    if data and data != _SEP:
                        yield None, _as_frame(data)
                return
        except _READ_ERRORS as exc:
            report(f"damaged or cut gzip data ({exc or type(exc).__name__}); the rest of the file is lost")
            return
        whole = first + b"\n" + _read_rest(f, report)
    parts = whole.splitlines()
    if any(line.strip() == _SEP for line in parts):
        chunk: list[bytes] = []
        for line in [*parts, _SEP]:
            if line.strip() == _SEP:
                frame = b"\n".join(chunk).strip()
                if frame:
                    yield None, _as_frame(frame)
                chunk = []
            else:
                chunk.append(line)
        return
    try:
        doc = _loads(whole)
    except ValueError:
        # Not one document: treat it as JSONL whose first line is damaged.
        for line in parts:
            if line.strip():
                yield None, _as_frame(line.strip())
        return
    yield from _from_document(doc, report)


def check_recordings(paths: Iterable[str | PathLike[str]]) -> list[Path]:
    """Resolve ``paths`` (rotated sets included) and check each file before anything is replayed.

    Raises :class:`RecordingError` naming the first file that is missing, a directory, unreadable, damaged at the
    start of its gzip data, or binary (NUL bytes, or not starting like any recording format).
    """
    files = expand_journal_paths(paths)
    for p in files:
        data = head(p)
        if b"\x00" in data:
            raise RecordingError(f"{p}: binary data, not a recording (a journal, JSON Lines or JSON)")
        start = data.lstrip()[:1]
        if start and start not in (b"{", b"[", b";"):
            raise RecordingError(f"{p}: not a recording (a journal, JSON Lines or JSON): it starts with {data[:12]!r}")
    return files


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
    report: ReplayReport | None = None,
) -> int:
    """Feed every frame of every file in ``paths`` to ``core``; returns the number of frames fed.

    The project's own journals (``--record``) replay with each frame's recorded receive time, and each recorded
    new connection is replayed too (``Core.connection_opened``), so the state equals the live run's; commands the
    listener sent are skipped. A path that does not exist stands for its rotated set (see
    :func:`~market_making_bot.storage.journal.expand_journal_paths`).

    In other recordings a frame without a recorded time gets the previous frame's time plus ``FRAME_SPACING_NS``
    (the first one 0), so time-dependent statistics are deterministic; feed latency is not measured for such frames.

    ``speed``: replay at that many times the recorded pace (``None``: as fast as possible). ``after``: called with
    each frame's decoded message (``None`` if it could not be decoded) and receive time, once it is processed.
    ``report``: filled with the counts (frames, damaged records, files). Raises :class:`RecordingError` for an
    input that cannot be used (:func:`check_recordings`; or a file with content of which nothing could be read).

    The same frames, times and calls as :func:`iter_replay`, without a generator between the file and the core: a
    one-frame-per-line recording (raw captures, the benchmarks' files) is fed from a loop over its lines.
    """
    rep = report if report is not None else ReplayReport()
    before = rep.frames
    run = _Run(core, _Pacer(speed, sleep, clock), rep)
    for path in check_recordings(paths):
        problems = run.start(path)
        if is_journal(path):
            for msg, recv_ns in run.journal(path, problems):
                if after is not None:
                    after(msg, recv_ns)
        elif not run.lines(path, problems, after):
            for msg, recv_ns in run.recording(path, problems):
                if after is not None:
                    after(msg, recv_ns)
        run.done(path, problems)
    return rep.frames - before


def iter_replay(
    paths: Iterable[str | PathLike[str]],
    core: Core,
    *,
    speed: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    report: ReplayReport | None = None,
) -> Iterator[tuple[Message | None, int]]:
    """:func:`run_replay` one frame at a time: yields ``(decoded message or None, receive time)`` after each frame
    is processed (so a caller can act on the events that frame caused before the next one is fed)."""
    run = _Run(core, _Pacer(speed, sleep, clock), report if report is not None else ReplayReport())
    for path in check_recordings(paths):
        problems = run.start(path)
        if is_journal(path):
            yield from run.journal(path, problems)
        else:
            yield from run.recording(path, problems)
        run.done(path, problems)


class _Run:
    """One replay's state across its files: the core, the pacing, the report, the last receive time, and the
    counts of the file being read (``readable``: records or frames that could be read; ``seen``: frames of a
    recording that is not a journal), from which :meth:`done` tells a file of which nothing could be read."""

    def __init__(self, core: Core, pace: _Pacer, report: ReplayReport) -> None:
        self.core, self.pace, self.report = core, pace, report
        self.recv_ns = -FRAME_SPACING_NS
        self.readable = self.seen = 0

    def start(self, path: Path) -> _Problems:
        self.report.files.append(path)
        self.readable = self.seen = 0
        return _Problems(path, self.report)

    def done(self, path: Path, problems: _Problems) -> None:
        problems.done()
        if self.readable == 0 and (problems.count or self.seen):  # content, but nothing in it could be read
            damaged = problems.count + self.seen
            raise RecordingError(f"{path}: not a single frame could be read ({damaged} damaged records or frames)")

    def journal(self, path: Path, problems: _Problems) -> Iterator[tuple[Message | None, int]]:
        """The records of one journal: frames fed with their recorded times, connections and REST replayed."""
        core, rep = self.core, self.report
        pace = self.pace if self.pace.speed is not None else None  # as fast as possible: no call per frame
        feed = core.feed
        recv_ns = self.recv_ns
        try:
            for rec in iter_journal(path, problems):
                self.readable += 1
                self.recv_ns = recv_ns = rec.t
                if rec.dir == "in":
                    data: str | bytes | None = rec.text
                    if data is None:  # not UTF-8 live: the same bytes, counted malformed as they were live
                        data = rec.b64
                    if pace is not None:
                        pace(recv_ns)
                    msg = feed(data, recv_ns)  # type: ignore[arg-type]  # one of the two is set (iter_journal)
                    rep.frames += 1
                    yield msg, recv_ns
                elif rec.dir == "connect":
                    core.connection_opened(recv_ns)
                elif rec.dir == "lost":
                    core.connection_lost(rec.text or "", recv_ns)
                elif rec.dir == "rest" and rec.text is not None:
                    from market_making_bot.feed.backfill import decode_update  # rare: not loaded for raw frames

                    try:
                        update = decode_update(rec.text)
                    except msgspec.DecodeError as exc:
                        problems(f"a rest record that cannot be read ({exc})")
                        continue
                    core.apply_rest(update, recv_ns)
        finally:
            self.recv_ns = recv_ns

    def recording(self, path: Path, problems: _Problems) -> Iterator[tuple[Message | None, int]]:
        """The frames of a recording that is not a journal (:func:`iter_recording`)."""
        rep = self.report
        pace = self.pace if self.pace.speed is not None else None  # as fast as possible: no call per frame
        feed = self.core.feed
        recv_ns = self.recv_ns
        try:
            for recorded_ns, frame in iter_recording(path, problems, text=False):
                self.seen += 1
                timed = recorded_ns is not None
                if recorded_ns is None:
                    recv_ns += FRAME_SPACING_NS
                else:
                    recv_ns = recorded_ns
                    if pace is not None:
                        pace(recv_ns)
                self.recv_ns = recv_ns
                msg = feed(frame, recv_ns, timed)  # a made-up time: no feed latency is measured
                if msg is not None:
                    self.readable += 1
                rep.frames += 1
                yield msg, recv_ns
        finally:
            self.recv_ns = recv_ns

    def lines(self, path: Path, problems: _Problems, after: Callable[[Message | None, int], None] | None) -> bool:
        """Feed a one-frame-per-line recording (the case ``iter_recording(text=False)`` yields line by line) from a
        plain loop: the same frames, times and problems as :meth:`recording`, without a generator per frame.
        Returns ``False``, having fed nothing, for a file of another format (the caller uses :meth:`recording`)."""
        with open_recording(path) as f:
            lines = iter(f)
            try:
                kind, first = _sniff(lines)
            except _READ_ERRORS as exc:
                problems(f"damaged or cut gzip data ({exc or type(exc).__name__}); the rest of the file is lost")
                return True
            if kind == "empty":
                return True
            if kind != "lines":
                return False
            feed = self.core.feed
            recv_ns = self.recv_ns
            fed = readable = 0
            sep = _SEP
            escaped: BaseException | None = None
            # The whole per-frame cost of the replay outside ``Core.feed``: one strip, two tests, one call. The outer
            # ``try`` is for the reading (damaged gzip data ends the file, as in ``iter_recording``, after every
            # whole line before the damage); what ``feed`` or ``after`` raise leaves unchanged (the inner ``try``
            # costs nothing until something is raised).
            try:
                for line in chain((first,), lines):
                    data = line.strip()
                    if data and data != sep:
                        recv_ns += FRAME_SPACING_NS
                        try:
                            msg = feed(data, recv_ns, False)  # a made-up time: no feed latency is measured
                            fed += 1
                            if msg is not None:
                                readable += 1
                            if after is not None:
                                self._count(fed, readable, recv_ns)
                                fed = readable = 0
                                after(msg, recv_ns)
                        except _READ_ERRORS as exc:  # not from the file: raised again below
                            escaped = exc
                            break
            except _READ_ERRORS as exc:
                problems(f"damaged or cut gzip data ({exc or type(exc).__name__}); the rest of the file is lost")
            finally:
                self._count(fed, readable, recv_ns)
            if escaped is not None:
                raise escaped
        return True

    def _count(self, fed: int, readable: int, recv_ns: int) -> None:
        self.seen += fed
        self.readable += readable
        self.report.frames += fed
        self.recv_ns = recv_ns
