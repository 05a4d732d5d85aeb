"""Glue for the optional views of a live run: ``--dashboard``, ``--metrics-port`` and ``--log-file``.

The CLI and ``live.py`` call only this module; it loads rich and prometheus_client only when their option is used,
so that start-up stays fast without them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections import deque
from typing import Any

from market_making_bot.feed.core import Core
from market_making_bot.feed.events import AccountRead
from market_making_bot.runtime.config import ConfigError
from market_making_bot.views.output import DATE_FORMAT, LOG_FORMAT

__all__ = ["ERRORS_ECHOED", "LogFile", "Monitoring", "log_to_file", "missing_extra", "start_monitoring"]

log = logging.getLogger("market_making_bot.cli.monitor")

_EXTRAS = (("dashboard", "rich", "dashboard"), ("metrics_port", "prometheus_client", "metrics"))


def missing_extra(args: argparse.Namespace) -> str | None:
    """A message naming the extra to install when an option's library is missing, else ``None``."""
    for option, module, extra in _EXTRAS:
        value = getattr(args, option, None)
        # ``is``, not ``in (None, False)``: ``--metrics-port 0`` (any free port) equals False and was let through
        if value is not None and value is not False and importlib.util.find_spec(module) is None:
            flag = "--" + option.replace("_", "-")
            return f"{flag} needs {module}: pip install -e '.[{extra}]' in the project's checkout"
    return None


ERRORS_ECHOED = 10
"""At most this many ERROR / CRITICAL records are printed on the terminal at the end (the newest; all are in the
log file)."""


class LogFile(logging.FileHandler):
    """The log file of a run whose log is off the terminal (``--log-file``, ``--dashboard``); it also keeps the run's
    ERROR and CRITICAL records and prints them on stderr when it is closed (at the end of the run, after the
    dashboard has given the screen back), so that a fatal error (configuration, authentication) reaches the user and
    not only the file.

    Each record is printed as one line, ``mm-ws-listener: ERROR <message>``: the first line of the message, and an
    exception as its type and message, never a traceback (the traceback is in the file).
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, encoding="utf-8")
        self.kept: deque[str] = deque(maxlen=ERRORS_ECHOED)
        self.error_count = 0

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.ERROR:
            self.error_count += 1
            self.kept.append(_one_line(record))

    def close(self) -> None:
        try:
            self.echo_errors()
        finally:
            super().close()

    def echo_errors(self) -> None:
        """Print the kept errors on stderr (once: they are forgotten once printed)."""
        count, errors = self.error_count, list(self.kept)
        self.error_count = 0
        self.kept.clear()
        if not count:
            return
        out = sys.stderr
        if out is None:
            return
        with contextlib.suppress(Exception):  # the terminal gone: the errors are still in the file
            if count > len(errors):
                print(f"mm-ws-listener: {count} errors, the last {len(errors)}:", file=out)
            for line in errors:
                print(f"mm-ws-listener: {line}", file=out)
            out.flush()


def _one_line(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not match its format: show the format
        message = str(record.msg)
    lines = message.strip().splitlines()
    text = lines[0] if lines else ""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        detail = str(exc).strip().splitlines()
        text += f" ({type(exc).__name__}{': ' + detail[0] if detail else ''})"
    return f"{record.levelname} {text}"


def log_to_file(path: str | None) -> tuple[str, logging.Handler]:
    """Send the log to ``path`` (a new temporary file when ``None``) instead of the terminal.

    Replaces the handler :func:`market_making_bot.views.output.setup_logging` installed (same format and level); returns
    the path and the new handler, a :class:`LogFile`: close it at the end of the run, after the dashboard is closed,
    and it prints the run's errors on stderr.
    """
    if path is None:
        fd, path = tempfile.mkstemp(prefix="mm-ws-listener-", suffix=".log")
        os.close(fd)
    handler = LogFile(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    handler._market_making_bot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in root.handlers[:]:
        if getattr(old, "_market_making_bot", False):
            root.removeHandler(old)
    root.addHandler(handler)
    return path, handler


class Monitoring:
    """The running views: the dashboard task and the metrics server (either may be absent)."""

    def __init__(self) -> None:
        self.dashboard: Any = None
        self.dashboard_task: asyncio.Task[None] | None = None
        self.metrics: Any = None

    async def close(self) -> None:
        """Stop the dashboard (restoring the terminal) and the metrics server; print the final status line."""
        task, self.dashboard_task = self.dashboard_task, None
        if task is not None:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            dash = self.dashboard
            with contextlib.suppress(Exception):  # a last status line is a courtesy, never a new failure
                prefix = "mm-ws-listener: "
                width = max(shutil.get_terminal_size().columns - 1, 40)
                lines = dash.status_lines(width - 2, first=width - len(prefix))  # broken between fields
                print(prefix + "\n  ".join(lines), file=sys.stderr)
            if dash.log_file:
                print(f"mm-ws-listener: log written to {dash.log_file}", file=sys.stderr)
        metrics, self.metrics = self.metrics, None
        if metrics is not None:
            await metrics.aclose()


def start_monitoring(
    args: argparse.Namespace, core: Core, client: Any, stop: asyncio.Event, *, account: AccountRead | None = None
) -> Monitoring:
    """Start what ``args`` asks for (``dashboard``, ``metrics_port``/``metrics_host``); call on the event loop.
    ``account``: the ``AccountRead`` of the start (``--with-private``), shown on the dashboard until the next.

    Raises :class:`ConfigError` when the metrics address cannot be used.
    """
    views = Monitoring()
    port = getattr(args, "metrics_port", None)
    if port is not None:
        from market_making_bot.views.metrics import MetricsServer

        host = getattr(args, "metrics_host", None) or "127.0.0.1"
        server = MetricsServer(core, client, host=host, port=port)
        try:
            server.start()
        except OSError as exc:
            raise ConfigError(f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        views.metrics = server
    if getattr(args, "dashboard", False):
        from market_making_bot.views.dashboard.app import Dashboard

        dash = Dashboard(
            core,
            client,
            bus=core.bus,  # connection events
            private=client is not None and client.session.with_private,  # the fills and positions panel
            refresh_hz=getattr(args, "dashboard_refresh", None) or 4.0,
            log_file=getattr(args, "log_file", None),
            account=account,
        )
        views.dashboard = dash
        views.dashboard_task = task = asyncio.get_running_loop().create_task(dash.run(stop))
        task.add_done_callback(_report_failure)
    return views


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dashboard stopped (the feed goes on)", exc_info=task.exception())
