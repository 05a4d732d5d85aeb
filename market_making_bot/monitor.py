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
import sys
import tempfile
from typing import Any

from .config import ConfigError
from .core import Core
from .output import DATE_FORMAT, LOG_FORMAT

__all__ = ["Monitoring", "log_to_file", "missing_extra", "start_monitoring"]

log = logging.getLogger("market_making_bot.monitor")

_EXTRAS = (("dashboard", "rich", "dashboard"), ("metrics_port", "prometheus_client", "metrics"))


def missing_extra(args: argparse.Namespace) -> str | None:
    """A message naming the extra to install when an option's library is missing, else ``None``."""
    for option, module, extra in _EXTRAS:
        value = getattr(args, option, None)
        # ``is``, not ``in (None, False)``: ``--metrics-port 0`` (any free port) equals False and was let through
        if value is not None and value is not False and importlib.util.find_spec(module) is None:
            flag = "--" + option.replace("_", "-")
            return f"{flag} needs {module}: pip install 'market-making-bot[{extra}]'"
    return None


def log_to_file(path: str | None) -> tuple[str, logging.Handler]:
    """Send the log to ``path`` (a new temporary file when ``None``) instead of the terminal.

    Replaces the handler :func:`market_making_bot.output.setup_logging` installed (same format and level); returns
    the path and the new handler (close it at the end).
    """
    if path is None:
        fd, path = tempfile.mkstemp(prefix="mm-ws-listener-", suffix=".log")
        os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
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
                print(f"mm-ws-listener: {dash.status_line()}", file=sys.stderr)
            if dash.log_file:
                print(f"mm-ws-listener: log written to {dash.log_file}", file=sys.stderr)
        metrics, self.metrics = self.metrics, None
        if metrics is not None:
            await metrics.aclose()


def start_monitoring(args: argparse.Namespace, core: Core, client: Any, stop: asyncio.Event) -> Monitoring:
    """Start what ``args`` asks for (``dashboard``, ``metrics_port``/``metrics_host``); call on the event loop.

    Raises :class:`ConfigError` when the metrics address cannot be used.
    """
    views = Monitoring()
    port = getattr(args, "metrics_port", None)
    if port is not None:
        from .metrics import MetricsServer

        host = getattr(args, "metrics_host", None) or "127.0.0.1"
        server = MetricsServer(core, client, host=host, port=port)
        try:
            server.start()
        except OSError as exc:
            raise ConfigError(f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        views.metrics = server
    if getattr(args, "dashboard", False):
        from .dashboard import Dashboard

        session = getattr(client, "session", None)
        dash = Dashboard(
            core,
            client,
            private=bool(getattr(session, "with_private", False)),
            refresh_hz=getattr(args, "dashboard_refresh", None) or 4.0,
            log_file=getattr(args, "log_file", None),
        )
        views.dashboard = dash
        views.dashboard_task = task = asyncio.get_running_loop().create_task(dash.run(stop))
        task.add_done_callback(_report_failure)
    return views


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dashboard stopped (the feed goes on)", exc_info=task.exception())
