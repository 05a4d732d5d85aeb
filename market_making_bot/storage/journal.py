"""The journal: every frame received, verbatim, with its receive time, for backtests and bug reports.

One JSON object per line (JSON Lines; ``.gz`` in the name compresses with gzip)::

    {"journal": "market_making_bot", "version": 5, "started_ns": 1732449000000000000, "session": "20241124T113000Z"}
    {"t": 1732449000123456789, "conn": 1, "dir": "connect", "url": "wss://..."}
    {"t": 1732449000130000000, "conn": 1, "dir": "out", "frame": "{\\"id\\":1,\\"cmd\\":\\"subscribe\\",...}"}
    {"t": 1732449000131000000, "conn": 1, "dir": "in", "frame": "{\\"type\\":\\"subscribed\\",...}"}
    {"t": 1732449000131500000, "conn": 1, "dir": "in", "b64": "eyJ0eXBlIjoi/w=="}
    {"t": 1732449000140000000, "conn": 1, "dir": "rest", "frame": "{\\"why\\":\\"backfill\\",\\"fills\\":[...],...}"}
    {"t": 1732449000150000000, "conn": 0, "dir": "order", "frame": "{\\"op\\":\\"create\\",...}"}
    {"t": 1732449000160000000, "conn": 1, "dir": "lost", "frame": "closed abruptly (no close frame)"}

``t`` is the receive time in nanoseconds (for ``in``: exactly the time the live core was given), ``conn`` the
connection number (it changes on every reconnect; ``connect`` records the handshake), ``dir`` is ``in`` for frames
received, ``out`` for commands sent (skipped by replay), ``connect`` for a new connection, ``lost`` for a
connection lost (``frame``: why; replay marks the books not usable with it, as live did, so a run that ends during an
outage replays to the same summary; journals from before it have none and replay as before),
``rest`` for what the REST API told the listener that changed its state (``feed.backfill.RestUpdate``: positions at
start, backfilled fills; replay applies it with ``Core.apply_rest``), ``order`` for an order request, its answer,
a REST read that settled orders, or an order's change of state (``trading.order_log``, written by ``OrderManager``
when given this writer as its ``journal``; the bot adds its planning rounds and its stop, so that
``--replay`` of the bot reproduces its decisions: ``storage.bot_replay``; replay skips them, the export's
``orders`` table reads them). A
received frame is the text of the bytes the live core was fed (``frame``); a frame whose bytes are not valid
UTF-8 is kept exactly as base64 (``b64``), so that replay feeds the same bytes and counts it malformed as live
did. Each line is flushed as it is written, so a crash or a kill loses at most the line being written; a reader
tolerates a cut last line.

Without rotation the journal is ``PATH`` itself, and an existing ``PATH`` is refused (unless ``overwrite``). With
rotation (``--record-rotate 100MB`` or ``hourly``) each run is a set of its own, named after the session (the UTC
time the writer was made): ``NAME.20241124T113000Z.0001.jsonl``, ``NAME.20241124T113000Z.0002.jsonl``, ... beside
``PATH``; files are created exclusively, so an existing file is never overwritten, and two runs never share a set.

Writing never raises into the caller (the client's frame hook): the first ``OSError`` (disk full,
EIO; also a file removed under the writer, checked every ``REMOVED_CHECK_EVERY`` records and at close) stops
recording, is logged once at ERROR with the file and the error, and is kept in :attr:`JournalWriter.error`;
the records that could not be written are counted in :attr:`JournalWriter.dropped`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import gzip
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol

import msgspec

__all__ = [
    "JournalRecord",
    "JournalWriter",
    "RecordingError",
    "expand_journal_paths",
    "is_journal",
    "iter_journal",
    "open_recording",
    "parse_rotation",
    "session_name",
]

log = logging.getLogger("market_making_bot.storage.journal")

MAGIC = "market_making_bot"
VERSION = 5  # 5: the bot's rounds and stop (``order_log.BOT_OPS``); 4: ``order`` records; 3: ``rest`` records;
# 2: rotated sets named after their session, ``b64`` for
# frames that are not UTF-8 (1 to 4 are still read)
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_HOUR_NS = 3600 * 10**9
REMOVED_CHECK_EVERY = 1000
"""Records between two checks that the journal file still exists (``fstat``: its link count)."""
_GZIP_MAGIC = b"\x1f\x8b"
_SESSION = r"\d{8}T\d{6}Z(?:-\d+)?"
MAX_TIME_NS = 2**63 - 1
"""Times beyond this (year 2262) are damaged records: refused by the reader."""


class RecordingError(Exception):
    """An input recording that cannot be used: missing, a directory, not a recording, nothing readable in it.

    ``exit_code`` is the listener's code for it: 1 (the file cannot be read) or 2 (an ambiguous name).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_rotation(text: str | None) -> int | str | None:
    """``None`` -> no rotation; ``"hourly"`` -> ``"hourly"``; ``"100MB"`` -> 100_000_000 (bytes)."""
    if text is None:
        return None
    t = text.strip().upper()
    if t == "HOURLY":
        return "hourly"
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]I?B|B)?", t)
    if not m or float(m.group(1)) <= 0 or int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""]) < 1:
        raise ValueError(f"bad rotation {text!r}: use a size such as 100MB, 500KB, 1GB, or 'hourly'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""])


def session_name(t_ns: int) -> str:
    """``20261201T193000Z``: the UTC second of ``t_ns``, the name of a rotated set."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t_ns // 10**9))


def _split_name(path: Path) -> tuple[str, str]:
    """``run.jsonl.gz`` -> (``run``, ``.jsonl.gz``); ``run`` -> (``run``, ``.jsonl``)."""
    name = path.name
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        stem, ext = base, "jsonl"
    return stem, "." + ext + (".gz" if gz else "")


def _sets(path: Path) -> dict[str, list[Path]]:
    """The rotated sets beside ``path``: session name (``""`` for the unnamed sets of older versions) -> files."""
    stem, ext = _split_name(path)
    pattern = re.compile(re.escape(stem) + r"\.(?:(" + _SESSION + r")\.)?(\d{4,})" + re.escape(ext) + "$")
    found: dict[str, list[tuple[int, Path]]] = {}
    with contextlib.suppress(OSError):
        for p in path.parent.iterdir() if path.parent.is_dir() else ():
            m = pattern.match(p.name)
            if m:
                found.setdefault(m.group(1) or "", []).append((int(m.group(2)), p))
    return {session: [p for _, p in sorted(files)] for session, files in sorted(found.items())}


def _session_set(path: Path) -> list[Path] | None:
    """For ``NAME.SESSION.jsonl`` (a set's name, not a file): that session's files; ``None`` if not such a name."""
    stem, ext = _split_name(path)
    m = re.fullmatch(r"(.+)\.(" + _SESSION + ")", stem)
    if not m:
        return None
    return _sets(path.with_name(m.group(1) + ext)).get(m.group(2), [])


def expand_journal_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Each path as given if it exists, else the files of the rotated set it names, in order.

    ``NAME.jsonl`` names the set of ``NAME.SESSION.NNNN.jsonl`` files when they belong to one session (or the
    unnumbered-session ``NAME.NNNN.jsonl`` of older versions); when several sessions recorded under that name,
    :class:`RecordingError` (exit code 2) lists them: name one with ``NAME.SESSION.jsonl``.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.exists() or p.is_symlink():
            out.append(p)
            continue
        files = _session_set(p)
        if files:
            out.extend(files)
            continue
        sets = _sets(p)
        if not sets:
            stem, ext = _split_name(p)
            raise RecordingError(f"no such recording: {p} (nor a rotated set {stem}.SESSION.NNNN{ext})")
        if len(sets) > 1:
            stem, ext = _split_name(p)
            names = ", ".join(p.with_name(f"{stem}.{s}{ext}").name if s else f"{stem}.NNNN{ext}" for s in sets)
            raise RecordingError(
                f"{p}: {len(sets)} recorded sessions share this name; replay one at a time, by its name: {names}",
                exit_code=2,
            )
        out.extend(next(iter(sets.values())))
    return out


class JournalWriter:
    """Writes the journal; plug :meth:`frame_in`, :meth:`frame_out` and :meth:`connected` into the client's hooks.

    ``opener(path, mode)`` opens each file (default: the builtin ``open``): a documented hook for tests that need
    a file whose writes fail. ``session``: the rotated set's name (default: the UTC second of creation).
    """

    def __init__(
        self,
        path: str | Path,
        rotate: int | str | None = None,
        url: str = "",
        *,
        overwrite: bool = False,
        session: str | None = None,
        opener: Callable[[Path, str], IO[bytes]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.rotate = rotate
        self.url = url
        self.overwrite = overwrite
        self.files: list[Path] = []
        self.session = session or self._free_session(session_name(time.time_ns()))
        self._opener: Callable[[Path, str], IO[bytes]] = opener or open
        self._file: _Sink | None = None
        self._fd: int | None = None
        self._number = 0
        self._size = 0
        self._hour = -1
        self._encode = msgspec.json.Encoder().encode
        self.lines = 0
        self.error: str | None = None
        """``None`` while recording works; else what stopped it (the file and the error)."""
        self.dropped = 0
        """Records not written because recording had stopped."""

    def _free_session(self, name: str) -> str:
        if self.rotate is None:
            return name
        taken = _sets(self.path)
        n, candidate = 1, name
        while candidate in taken:  # two runs started in the same second
            n += 1
            candidate = f"{name}-{n}"
        return candidate

    @property
    def failed(self) -> bool:
        return self.error is not None

    def status(self) -> dict[str, Any]:
        """The ``recording`` block of the summary."""
        return {
            "path": str(self.path),
            "session": self.session if self.rotate is not None else None,
            "files": [str(f) for f in self.files],
            "records": self.lines,
            "ok": self.error is None,
            "error": self.error,
            "dropped": self.dropped,
        }

    # -- hooks ----------------------------------------------------------------------------------------------

    def frame_in(self, raw: str | bytes, recv_ns: int, conn: int) -> None:
        if isinstance(raw, bytes):
            try:
                text = raw.decode()
            except UnicodeDecodeError:  # kept exactly: replay feeds these bytes and counts the frame malformed
                self._write({"t": recv_ns, "conn": conn, "dir": "in", "b64": base64.b64encode(raw).decode()}, recv_ns)
                return
        else:
            text = raw
        self._write({"t": recv_ns, "conn": conn, "dir": "in", "frame": text}, recv_ns)

    def frame_out(self, text: str, send_ns: int, conn: int) -> None:
        self._write({"t": send_ns, "conn": conn, "dir": "out", "frame": text}, send_ns)

    def rest(self, text: str, t_ns: int, conn: int) -> None:
        """What REST told the listener (``feed.backfill.encode_update``), applied at ``t_ns``."""
        self._write({"t": t_ns, "conn": conn, "dir": "rest", "frame": text}, t_ns)

    def order(self, text: str, t_ns: int) -> None:
        """An order record (``trading.order_log``; ``OrderManager``'s journal hook). Never raises."""
        self._write({"t": t_ns, "conn": 0, "dir": "order", "frame": text}, t_ns)

    def connected(self, conn: int, handshake_ns: int) -> None:
        self._write({"t": handshake_ns, "conn": conn, "dir": "connect", "url": self.url}, handshake_ns)

    def lost(self, conn: int, reason: str, t_ns: int) -> None:
        """Connection ``conn`` was lost at ``t_ns`` (``ConnectionDown``), and why. Never raises."""
        self._write({"t": t_ns, "conn": conn, "dir": "lost", "frame": reason}, t_ns)

    def close(self) -> None:
        if self._file is not None:
            self._check_removed()
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception as exc:  # a gzip trailer that cannot be written: the same failure, said once
                self._fail(exc)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files ----------------------------------------------------------------------------------------------

    def _write(self, record: dict[str, Any], t_ns: int) -> None:
        if self.error is not None:
            self.dropped += 1
            return
        try:
            f = self._file
            if f is None or self._due(t_ns):
                f = self._open(t_ns)
            line = self._encode(record) + b"\n"
            f.write(line)
            f.flush()
        except Exception as exc:  # never into the client's frame hook: the feed goes on without the journal
            self._fail(exc)
            self.dropped += 1
            return
        self._size += len(line)
        self.lines += 1
        if self.lines % REMOVED_CHECK_EVERY == 0:
            self._check_removed()

    def _check_removed(self) -> None:
        """A file removed under a running writer takes no error on Linux (the writes go to the unlinked inode):
        ask the file system every ``REMOVED_CHECK_EVERY`` records and at close (one ``fstat``)."""
        if self._fd is None:
            return
        try:
            removed = os.fstat(self._fd).st_nlink == 0
        except OSError:
            return
        if removed:
            lost = "the records since the last check went with it"
            self._fail(FileNotFoundError(errno.ENOENT, f"the file was removed during the run ({lost})"))

    def _fail(self, exc: BaseException) -> None:
        if self.error is not None:
            return
        where = self.files[-1] if self.files else self.path
        reason = f"{exc.strerror} (errno {exc.errno})" if isinstance(exc, OSError) and exc.strerror else repr(exc)
        self.error = f"{where}: {reason}"
        log.error("journal: writing %s failed: %s; recording stopped, the feed goes on", where, reason)
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()

    def _due(self, t_ns: int) -> bool:
        if self.rotate == "hourly":
            return t_ns // _HOUR_NS != self._hour
        return isinstance(self.rotate, int) and self._size >= self.rotate

    def _open(self, t_ns: int) -> _Sink:
        self.close()
        if self.rotate is None:
            target = self.path
            mode = "wb" if self.overwrite else "xb"
        else:
            stem, ext = _split_name(self.path)
            self._number += 1
            target = self.path.with_name(f"{stem}.{self.session}.{self._number:04d}{ext}")
            mode = "xb"
        raw = self._opener(target, mode)
        try:
            self._fd = raw.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None  # a test's file object: no removal check
        f: _Sink = _GzipSink(raw) if target.name.endswith(".gz") else raw
        self._file = f
        self._size = 0
        self._hour = t_ns // _HOUR_NS
        self.files.append(target)
        header = {"journal": MAGIC, "version": VERSION, "started_ns": t_ns, "session": self.session}
        line = self._encode(header) + b"\n"
        f.write(line)
        self._size += len(line)
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
        try:
            self._gz.close()
        finally:
            self._raw.close()


# -- reading ---------------------------------------------------------------------------------------------------

_READ_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a damaged file raises (``gzip.BadGzipFile`` is an ``OSError``)."""


@contextlib.contextmanager
def open_recording(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading bytes, decompressing gzip when the content starts with its magic (1f 8b),
    whatever the name. Raises :class:`RecordingError` for a directory or a file that cannot be opened."""
    p = Path(path)
    if p.is_dir():
        raise RecordingError(f"{p}: is a directory, not a recording")
    try:
        raw = open(p, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            yield raw
    finally:
        raw.close()


def head(path: str | os.PathLike[str], size: int = 8192) -> bytes:
    """The first ``size`` bytes of the (decompressed) content; :class:`RecordingError` if they cannot be read."""
    data = b""
    with open_recording(path) as f:
        try:
            while len(data) < size and (chunk := f.read1(size - len(data))):  # type: ignore[attr-defined]
                data += chunk
        except _READ_ERRORS as exc:
            if not data:  # a cut stream still has a readable start; damaged from the start is not a recording
                raise RecordingError(f"{path}: damaged gzip data: {exc or type(exc).__name__}") from None
    return data


def is_journal(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts with this project's journal header."""
    try:
        return head(path, 64).startswith(b'{"journal":"' + MAGIC.encode() + b'"')
    except RecordingError:
        return False


class JournalRecord(msgspec.Struct, frozen=True, gc=False):
    """One journal record, decoded straight from its line: typed decoding checks the shape, the ranges and the
    base64 in C (``gc=False``: records hold no containers; it spares the collector on long replays)."""

    t: Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_NS)]
    dir: Literal["in", "out", "connect", "rest", "order", "lost"]
    conn: Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_NS)] = 0
    text: str | None = msgspec.field(default=None, name="frame")
    b64: bytes | None = None  # a received frame that was not valid UTF-8, exactly

    @property
    def frame(self) -> str | bytes | None:
        """What the live core was fed: the text, or the bytes of a frame that was not UTF-8."""
        return self.text if self.text is not None else self.b64


def iter_journal(
    path: str | os.PathLike[str], problem: Callable[[str], None] | None = None
) -> Iterator[JournalRecord]:
    """The records of one journal file, in order. Never raises on damaged content: a cut last line (a crash while
    writing) ends the file quietly; a gzip stream cut short or corrupt ends it with a ``problem``; a line that is
    not JSON or not a record (wrong shape, a time that is not a number or out of range) is skipped with a
    ``problem(description)``. :class:`RecordingError` only when the file cannot be opened at all."""
    decode = msgspec.json.Decoder(JournalRecord).decode
    report = problem or (lambda _text: None)
    number = 0
    with open_recording(path) as f:
        try:
            for line in f:
                number += 1
                if line[-1:] != b"\n":
                    return  # cut in the middle of the line
                try:
                    rec = decode(line)
                except msgspec.DecodeError as exc:
                    if line.startswith(b'{"journal"') or not line.strip():
                        continue  # the header (also of a concatenated file), a blank line
                    report(f"line {number}: not a journal record ({exc})")
                    continue
                if rec.text is None and rec.b64 is None and rec.dir != "connect":
                    report(f"line {number}: a record {rec.dir!r} without its frame")
                    continue
                yield rec
        except _READ_ERRORS as exc:  # a gzip stream cut short or damaged
            report(f"after line {number}: damaged or cut gzip data ({exc or type(exc).__name__})")
