"""Command-line checks shared by the listener and the exporter: every value and path is checked before any work.

Each check raises :class:`argparse.ArgumentTypeError` (for argparse ``type=`` callables) or :class:`ValueError`
with one line naming the option and the problem; the CLIs print it and exit 2 (see the exit-code table in the
listener's ``--help``). No check opens a connection; the path checks may create and remove a probe file to be sure
that a directory is writable (``os.access`` says yes to root even where a write would fail).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "CliParser",
    "check_output_dir",
    "check_record_path",
    "check_output_file",
    "int_in_range",
    "VersionAction",
    "package_version",
    "parse_tickers",
    "positive_seconds",
    "positive_number",
]


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``NAME: error: ...``), without the multi-line usage."""

    def __init__(self, *args: object, error_name: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.error_name = error_name

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.error_name}: error: {message} (see --help)\n")


def package_version() -> str:
    """``market-making-bot <version>``: from the installed metadata, else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("market-making-bot")
    except PackageNotFoundError:
        from market_making_bot._version import __version__ as number
    return f"market-making-bot {number}"


class VersionAction(argparse.Action):
    """``--version``: prints :func:`package_version` and exits 0, like argparse's ``action="version"``, but reads
    the installed metadata only when the option is given (``importlib.metadata`` costs about 25 ms to import,
    which every other run would pay at startup)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help=help or "show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser._print_message(package_version() + "\n", sys.stdout)
        parser.exit()


def positive_number(what: str) -> Callable[[str], float]:
    """An argparse type: a finite number above 0 (``nan``, ``inf``, 0 and negatives are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be {what} above 0, not {text!r}")
        return value

    return parse


positive_seconds = positive_number("a number of seconds")


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {text!r}")
        return value

    return parse


def _probe_dir(option: str, directory: Path) -> None:
    """Raise ValueError unless a new file can be created in ``directory`` (tried for real, then removed)."""
    shown = str(directory) or "."
    if not directory.exists():
        raise ValueError(f"{option}: directory {shown} does not exist (create it first)")
    if not directory.is_dir():
        raise ValueError(f"{option}: {shown} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".mm-write-probe-")
    except OSError as exc:
        raise ValueError(f"{option}: cannot create files in {shown}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(option: str, path: str | os.PathLike[str], *, may_exist: bool = True) -> Path:
    """Check that ``path`` can be written as a file (its directory exists and is writable; it is not a directory).

    With ``may_exist=False`` an existing file is refused too (the caller says why in its own message).
    Returns ``path`` as a :class:`Path`.
    """
    p = Path(path)
    if str(path) == "" or p.name == "":
        raise ValueError(f"{option}: needs a file name, got {str(path)!r}")
    if p.is_dir():
        raise ValueError(f"{option}: {p} is a directory, not a file name")
    if p.exists() or p.is_symlink():
        if not may_exist:
            raise FileExistsError(f"{option}: {p} already exists")
        if not os.access(p, os.W_OK):
            raise ValueError(f"{option}: {p} exists and is not writable")
        try:
            with open(p, "ab"):
                pass
        except OSError as exc:
            raise ValueError(f"{option}: cannot write {p}: {exc.strerror or exc}") from None
        return p
    _probe_dir(option, p.parent)
    return p


def check_output_dir(option: str, path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) if missing and check that files can be written in it."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option}: {p} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option}: cannot create directory {p}: {exc.strerror or exc}") from None
    _probe_dir(option, p)
    return p


def parse_tickers(values: Iterable[str] | None) -> list[str] | None:
    """``["A,B", "C"]`` -> ``["A", "B", "C"]``; ``None`` (no filter) when no ticker was given."""
    if not values:
        return None
    tickers = [t.strip() for value in values for t in value.split(",") if t.strip()]
    return tickers or None


def check_record_path(path: str | os.PathLike[str], rotate: int | str | None, overwrite: bool) -> None:
    """Raise ``ValueError`` (one line naming ``--record``) unless a journal can be written at ``path``."""
    p = Path(path)
    if rotate is not None:  # the files are NAME.SESSION.NNNN beside PATH: PATH itself is not written
        if p.is_dir():
            raise ValueError(f"--record: {p} is a directory; give a file name such as {p / 'kalshi.jsonl.gz'}")
        check_output_file("--record", p.with_name(".mm-journal-probe"), may_exist=True)
        return
    try:
        check_output_file("--record", p, may_exist=overwrite)
    except FileExistsError:
        raise ValueError(
            f"--record: {p} already exists and a journal is never overwritten: choose a new name, use "
            "--record-rotate (each run its own set), or add --record-overwrite"
        ) from None
    except ValueError as exc:
        if p.is_dir():
            raise ValueError(f"--record: {p} is a directory; give a file name such as {p / 'kalshi.jsonl.gz'}") from exc
        raise
