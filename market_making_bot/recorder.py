"""The journal: every frame received, verbatim, with its receive time, for backtests and bug reports.

One JSON object per line (JSON Lines; ``.gz`` in the name compresses with gzip)::

    {"journal": "market_making_bot", "version": 1, "started_ns": 1732449000000000000}
    {"t": 1732449000123456789, "conn": 1, "dir": "connect", "url": "wss://..."}
    {"t": 1732449000130000000, "conn": 1, "dir": "out", "frame": "{\\"id\\":1,\\"cmd\\":\\"subscribe\\",...}"}
    {"t": 1732449000131000000, "conn": 1, "dir": "in", "frame": "{\\"type\\":\\"subscribed\\",...}"}

``t`` is the receive time in nanoseconds (for ``in``: exactly the time the live core was given), ``conn`` the
connection number (it changes on every reconnect; ``connect`` records the handshake), ``dir`` is ``in`` for frames
received, ``out`` for commands sent (skipped by replay), ``connect`` for a new connection. Each line is flushed as
it is written, so a crash or a kill loses at most the line being written; a reader tolerates a cut last line.

With rotation (``--record-rotate 100MB`` or ``hourly``) the files are ``NAME.0001.jsonl``, ``NAME.0002.jsonl``, ...
beside ``PATH``, numbered on from the highest existing one: an existing file is never overwritten.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

__all__ = [
    "JournalRecord",
    "JournalWriter",
    "expand_journal_paths",
    "is_journal",
    "iter_journal",
    "parse_rotation",
]

MAGIC = "market_making_bot"
VERSION = 1
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_HOUR_NS = 3600 * 10**9


def parse_rotation(text: str | None) -> int | str | None:
    """``None`` -> no rotation; ``"hourly"`` -> ``"hourly"``; ``"100MB"`` -> 100_000_000 (bytes)."""
    if text is None:
        return None
    t = text.strip().upper()
    if t == "HOURLY":
        return "hourly"
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]I?B|B)?", t)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"bad rotation {text!r}: use a size such as 100MB, 500KB, 1GB, or 'hourly'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""])


def _split_name(path: Path) -> tuple[str, str]:
    """``run.jsonl.gz`` -> (``run``, ``.jsonl.gz``); ``run`` -> (``run``, ``.jsonl``)."""
    name = path.name
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        stem, ext = base, "jsonl"
    return stem, "." + ext + (".gz" if gz else "")


def _numbered(path: Path) -> list[tuple[int, Path]]:
    stem, ext = _split_name(path)
    pattern = re.compile(re.escape(stem) + r"\.(\d{4,})" + re.escape(ext) + "$")
    found = []
    if path.parent.is_dir():
        for p in path.parent.iterdir():
            m = pattern.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return sorted(found)


def expand_journal_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Each path as given if it exists, else the numbered files of a rotated set, in order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.exists():
            out.append(p)
            continue
        rotated = [q for _, q in _numbered(p)]
        if not rotated:
            raise FileNotFoundError(f"no such recording: {p} (nor a rotated set {_split_name(p)[0]}.NNNN...)")
        out.extend(rotated)
    return out


class JournalWriter:
    """Writes the journal; plug :meth:`frame_in`, :meth:`frame_out` and :meth:`connected` into the client's hooks."""

    def __init__(self, path: str | Path, rotate: int | str | None = None, url: str = "") -> None:
        self.path = Path(path)
        self.rotate = rotate
        self.url = url
        self.files: list[Path] = []
        self._file: _Sink | None = None
        self._size = 0
        self._hour = -1
        self._encode = msgspec.json.Encoder().encode
        self.lines = 0

    # -- hooks ----------------------------------------------------------------------------------------------

    def frame_in(self, raw: str | bytes, recv_ns: int, conn: int) -> None:
        self._write({"t": recv_ns, "conn": conn, "dir": "in", "frame": _text(raw)}, recv_ns)

    def frame_out(self, text: str, send_ns: int, conn: int) -> None:
        self._write({"t": send_ns, "conn": conn, "dir": "out", "frame": text}, send_ns)

    def connected(self, conn: int, handshake_ns: int) -> None:
        self._write({"t": handshake_ns, "conn": conn, "dir": "connect", "url": self.url}, handshake_ns)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files ----------------------------------------------------------------------------------------------

    def _write(self, record: dict[str, Any], t_ns: int) -> None:
        f = self._file
        if f is None or self._due(t_ns):
            f = self._open(t_ns)
        line = self._encode(record) + b"\n"
        f.write(line)
        f.flush()
        self._size += len(line)
        self.lines += 1

    def _due(self, t_ns: int) -> bool:
        if self.rotate == "hourly":
            return t_ns // _HOUR_NS != self._hour
        return isinstance(self.rotate, int) and self._size >= self.rotate

    def _open(self, t_ns: int) -> _Sink:
        self.close()
        if self.rotate is None:
            target = self.path
        else:
            stem, ext = _split_name(self.path)
            existing = _numbered(self.path)
            n = existing[-1][0] + 1 if existing else 1
            target = self.path.with_name(f"{stem}.{n:04d}{ext}")
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = open(target, "xb" if self.rotate is not None else "wb")  # noqa: SIM115 - kept open across calls
        f: _Sink = _GzipSink(raw) if target.name.endswith(".gz") else raw
        self._file = f
        self._size = 0
        self._hour = t_ns // _HOUR_NS
        self.files.append(target)
        header = self._encode({"journal": MAGIC, "version": VERSION, "started_ns": t_ns}) + b"\n"
        f.write(header)
        self._size += len(header)
        return f


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class _GzipSink:
    """A gzip stream whose flush reaches the disk (sync flush) and whose close closes the file under it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="wb")

    def write(self, data: bytes, /) -> int:
        return self._gz.write(data)

    def flush(self) -> None:
        self._gz.flush()  # zlib sync flush: every complete line is decodable from the file
        self._raw.flush()

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


def _text(raw: str | bytes) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class JournalRecord:
    dir: str  # "in" | "out" | "connect"
    t: int
    conn: int
    frame: str | None = None


def is_journal(path: str | Path) -> bool:
    """Whether ``path`` starts with this project's journal header."""
    try:
        with _open_text(Path(path)) as f:
            first = f.readline()
    except (OSError, EOFError, UnicodeDecodeError):
        return False
    return first.startswith('{"journal":"' + MAGIC + '"')


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_journal(path: str | Path) -> Iterator[JournalRecord]:
    """The records of one journal file, in order. A cut last line (a crash while writing) is skipped."""
    decode = msgspec.json.decode
    with _open_text(Path(path)) as f:
        lines = iter(f)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except (EOFError, gzip.BadGzipFile, OSError):  # a gzip stream cut short
                return
            if not line.endswith("\n"):
                return  # cut in the middle of the line
            try:
                rec = decode(line)
            except msgspec.DecodeError:
                continue
            d = rec.get("dir") if isinstance(rec, dict) else None
            if d is None:
                continue  # the header
            yield JournalRecord(d, rec["t"], rec.get("conn", 0), rec.get("frame"))
