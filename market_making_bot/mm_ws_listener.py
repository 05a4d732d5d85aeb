"""Command line: ``python -m market_making_bot.mm_ws_listener``. Only wires the pieces together.

* live: ``--ticker T [--ticker U ...] [--with-private]`` connects to Kalshi with the key from ``.env``;
* demo: ``--simulate`` starts the built-in exchange simulator in-process and connects to it (no account needed);
* replay: ``--replay FILE [FILE ...]`` feeds recorded frames through the same pipeline, with no network,
  credentials or ``.env``, and exits 0 at the end of the recording (decode errors and sequence problems are counted
  and logged, not fatal).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable

from .core import Core
from .output import setup_logging
from .replay import run_replay

__all__ = ["build_arg_parser", "main", "parse_tickers"]

log = logging.getLogger("market_making_bot")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


EPILOG = """examples:
  # built-in exchange simulator, no account needed
  %(prog)s --simulate --duration 20
  # live public data for one market (key from .env)
  %(prog)s --ticker KXEPSTEINLIST-26-HKIS
  # demo environment, two markets, with your fills and positions
  %(prog)s --ticker A,B --with-private --demo
  # write the final state on exit (also on Ctrl-C / SIGTERM)
  %(prog)s --ticker A --summary-json state.json
  # live dashboard on the built-in simulator, Prometheus metrics on 127.0.0.1:9100 (log in a temp file)
  %(prog)s --simulate --dashboard --metrics-port 9100
  # record every frame to a compressed journal, a new file every 100 MB
  %(prog)s --ticker A,B --record data/kalshi.jsonl.gz --record-rotate 100MB
  # replay a recording (or a rotated set) through the same handlers, at 10x the recorded pace
  %(prog)s --replay data/kalshi.jsonl.gz --speed 10 --log-level WARNING --summary-json state.json

exit codes: 0 normal end (duration, Ctrl-C, SIGTERM, end of replay); 1 replay file unreadable;
  2 bad command line; 3 configuration or key file problem; 4 authentication refused by the server
"""


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m market_making_bot.mm_ws_listener",
        description="Kalshi market data listener: order books, trades, fills and positions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        help="replay journals (--record) or recorded frames (JSONL, ';;'-separated, a JSON array, {'frames': [...]}) "
        "instead of connecting",
    )
    parser.add_argument(
        "--ticker",
        action="append",
        metavar="T",
        help="market ticker to keep (repeatable, or comma-separated); default: every market in the stream",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="N|max",
        help="with --replay: replay at N times the recorded pace (default max: as fast as possible)",
    )
    parser.add_argument(
        "--record",
        metavar="PATH",
        help="write every frame received (and every command sent) to a journal at PATH (JSON Lines; .gz compresses)",
    )
    parser.add_argument(
        "--record-rotate",
        metavar="SIZE|hourly",
        help="with --record: start a new numbered file (PATH stem.0001.jsonl, ...) at SIZE (e.g. 100MB) or hourly",
    )
    parser.add_argument(
        "--with-private", action="store_true", help="also subscribe to your fills and positions (private channels)"
    )
    env = parser.add_mutually_exclusive_group()
    env.add_argument("--demo", dest="demo", action="store_true", default=None, help="use the demo environment")
    env.add_argument("--prod", dest="demo", action="store_false", help="use production (overrides KALSHI_DEMO_MODE)")
    parser.add_argument("--ws-url", metavar="URL", help="WebSocket URL override (default: from KALSHI_WS_URL or env)")
    parser.add_argument("--env-file", metavar="PATH", help="read settings from PATH instead of ./.env")
    parser.add_argument("--duration", type=float, metavar="S", help="stop cleanly after S seconds")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="start the built-in exchange simulator and connect to it (no account; private channels on)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed for --simulate (default 1)")
    parser.add_argument("--sim-markets", type=int, default=3, metavar="N", help="markets for --simulate (default 3)")
    parser.add_argument(
        "--sim-rate", type=float, default=20.0, metavar="FPS", help="simulator data frames/s for --simulate"
    )
    parser.add_argument(
        "--ping-interval", type=float, default=10.0, metavar="S", help="WebSocket ping interval (default 10)"
    )
    parser.add_argument(
        "--ping-timeout", type=float, default=10.0, metavar="S", help="no pong within S seconds: reconnect"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging level (default INFO; WARNING shows only problems)",
    )
    parser.add_argument(
        "--summary-json",
        metavar="PATH",
        help="write the final state (books, counts, positions, counters) as JSON to PATH",
    )
    views = parser.add_argument_group("dashboard and monitoring (live runs)")
    views.add_argument(
        "--dashboard",
        action="store_true",
        help="full-screen live view (ladder, trades, fills, status) instead of the log lines; needs the "
        "'dashboard' extra (rich)",
    )
    views.add_argument(
        "--dashboard-refresh",
        type=_refresh_rate,
        default=4.0,
        metavar="HZ",
        help="dashboard refreshes per second (default 4, at most 10)",
    )
    views.add_argument(
        "--log-file",
        metavar="PATH",
        help="write the log to PATH instead of the terminal (with --dashboard: a temporary file by default)",
    )
    views.add_argument(
        "--metrics-port",
        type=_port,
        metavar="N",
        help="serve Prometheus metrics at http://HOST:N/metrics (0: any free port); needs the 'metrics' extra",
    )
    views.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    return parser


def _refresh_rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 10, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text}")
    return value


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--speed takes a positive number or 'max', not {text!r}")
    return value


def parse_tickers(values: Iterable[str] | None) -> list[str] | None:
    """``["A,B", "C"]`` -> ``["A", "B", "C"]``; ``None`` (no filter) when no ticker was given."""
    if not values:
        return None
    tickers = [t.strip() for value in values for t in value.split(",") if t.strip()]
    return tickers or None


def write_summary(core: Core, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(core.summary(), f, indent=2, ensure_ascii=False)
        f.write("\n")


def _log_to_file(args: argparse.Namespace) -> logging.Handler | None:
    """With ``--log-file`` or ``--dashboard``, send the log to a file (``args.log_file`` is set to its path)."""
    if not (args.log_file or args.dashboard):
        return None
    from .monitor import log_to_file

    args.log_file, handler = log_to_file(args.log_file)
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    tickers = parse_tickers(args.ticker)
    if not args.replay and not args.simulate and not tickers:
        parser.error("--ticker is required (or use --simulate for the built-in simulator, --replay FILE to replay)")
    if args.record_rotate and not args.record:
        parser.error("--record-rotate needs --record PATH")
    if args.record_rotate:
        from .recorder import parse_rotation

        try:
            parse_rotation(args.record_rotate)
        except ValueError as exc:
            parser.error(str(exc))
    if args.replay and args.record:
        parser.error("--record is for live runs (--ticker or --simulate), not --replay")
    if args.replay and (args.dashboard or args.metrics_port is not None):
        parser.error("--dashboard and --metrics-port are for live runs (--ticker or --simulate), not --replay")
    if not args.replay:
        from .monitor import missing_extra

        problem = missing_extra(args)
        if problem:
            print(f"mm-ws-listener: {problem}", file=sys.stderr)
            return 3  # live.EXIT_CONFIG
    setup_logging(args.log_level)
    log_file = _log_to_file(args)
    try:
        code = _run(args, tickers)
    finally:
        if log_file is not None:
            log_file.close()
    if code and args.dashboard:  # the reason is in the log file, not on the screen
        print(f"mm-ws-listener: stopped with exit code {code}; see the log in {args.log_file}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, tickers: list[str] | None) -> int:
    core = Core(tickers)
    if not args.replay:
        from .live import run_live  # the network stack loads only when used

        path = args.summary_json
        return run_live(args, core, tickers or [], (lambda: write_summary(core, path)) if path else (lambda: None))
    try:
        frames = run_replay(args.replay, core, speed=args.speed)
        if args.summary_json:
            write_summary(core, args.summary_json)
    except OSError as exc:
        print(f"mm-ws-listener: {exc}", file=sys.stderr)
        return 1
    counters = core.counters
    log.info(
        "Replay done: %d frames, %d markets, %d decode errors, %d gaps",
        frames,
        len(core.state.markets),
        counters["decode_errors"],
        counters["gaps"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
