"""Command line: ``python -m market_making_bot.mm_ws_listener``. Only wires the pieces together.

* live: ``--ticker T [--ticker U ...] [--with-private]`` connects to Kalshi with the key from ``.env``;
* demo: ``--simulate`` starts the built-in exchange simulator in-process and connects to it (no account needed);
* replay: ``--replay FILE [FILE ...]`` feeds recorded frames through the same pipeline, with no network,
  credentials or ``.env``, and exits 0 at the end of the recording (decode errors, damaged records and sequence
  problems are counted and logged, not fatal).

Every option value and path is checked before anything starts (no connection is made with a bad one): a problem is
one line on stderr naming the option, and the exit codes below (``EPILOG``) say which kind it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from market_making_bot.cli.checks import (
    CliParser,
    VersionAction,
    check_output_file,
    check_record_path,
    int_in_range,
    parse_tickers,
    positive_number,
    positive_seconds,
)
from market_making_bot.feed.core import Core
from market_making_bot.runtime.transport_names import AUTO_ORDER, DEFAULT_TRANSPORT, TRANSPORTS, available_transports
from market_making_bot.storage.journal import RecordingError
from market_making_bot.storage.replay import ReplayReport, check_recordings, run_replay
from market_making_bot.views.output import LogOutput, setup_logging

if TYPE_CHECKING:
    from market_making_bot.storage.journal import JournalWriter

__all__ = ["build_arg_parser", "main", "parse_tickers"]

log = logging.getLogger("market_making_bot")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


EPILOG = """examples:
  # built-in exchange simulator, no account needed
  %(prog)s --simulate --duration 20
  # live public data for one market (key from .env)
  %(prog)s --ticker KXEPSTEINLIST-26-HKIS
  # compare every book with REST's every 10 s: a book found wrong is marked not usable and resynced
  %(prog)s --ticker A,B --audit-interval 10
  # every open market of an event, and those that open later (REST listing every 30 s)
  %(prog)s --event KXHIGHNY-26DEC31 --follow-interval 30
  # demo environment, two markets, with your fills and positions
  %(prog)s --ticker A,B --with-private --demo
  # write the final state on exit (also on Ctrl-C / SIGTERM)
  %(prog)s --ticker A --summary-json state.json
  # live dashboard on the built-in simulator, Prometheus metrics on 127.0.0.1:9100 (log in a temp file)
  %(prog)s --simulate --dashboard --metrics-port 9100
  # record every frame to a compressed journal, a new file every 100 MB
  # (files data/kalshi.<session>.0001.jsonl.gz, ...: each run its own set, named after its start, UTC)
  %(prog)s --ticker A,B --record data/kalshi.jsonl.gz --record-rotate 100MB
  # replay a recording, or one run's rotated set, through the same handlers, at 10x the recorded pace
  %(prog)s --replay data/kalshi.20261201T193000Z.jsonl.gz --speed 10 --log-level WARNING --summary-json state.json

journal: --record PATH never overwrites: an existing PATH is refused unless --record-overwrite is given. With
  --record-rotate every run writes its own set, PATH-stem.<session>.NNNN.ext (session: the UTC start time,
  e.g. 20261201T193000Z). --replay of PATH replays its set when a single run recorded there; when several did, it
  stops (exit 2) and lists the sessions: replay one by its name, PATH-stem.<session>.ext.
  If writing the journal fails during a run (disk full, file removed), recording stops with one ERROR line, the
  feed goes on, the summary's "recording" block says why, and the exit code is 6.

exit codes:
  0 normal end (duration, Ctrl-C, SIGTERM, end of replay; also with bad frames met on the way)
  1 an input file (--replay) cannot be used: missing, a directory, binary, or not a single frame readable
  2 bad command line: an option value, path or combination (checked before anything starts)
  3 configuration or key file problem, or a missing optional library (rich, prometheus-client)
  4 authentication refused by the server
  5 no valid market left (every ticker rejected or unknown)
  6 the run went on but the journal (--record) failed during it (disk full, file removed)
"""


def build_arg_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m market_making_bot.mm_ws_listener",
        description="Kalshi market data listener: order books, trades, fills and positions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name="mm-ws-listener",
    )
    parser.add_argument("--version", action=VersionAction)
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
        "--event",
        action="append",
        metavar="EVENT_TICKER",
        help="follow every open market of the event, and those that open later (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--series",
        action="append",
        metavar="SERIES_TICKER",
        help="follow every open market of the series, and those that open later (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--follow-interval",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="with --event/--series: list their open markets over REST every S seconds (default 30)",
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
        help="write every frame received (and every command sent) to a journal at PATH (JSON Lines; .gz "
        "compresses); an existing PATH is refused",
    )
    parser.add_argument(
        "--record-rotate",
        metavar="SIZE|hourly",
        help="with --record: this run's own set of numbered files (PATH-stem.<session>.0001.jsonl, ...), a new one "
        "at SIZE (e.g. 100MB) or hourly",
    )
    parser.add_argument(
        "--record-overwrite", action="store_true", help="with --record (no rotation): replace an existing PATH"
    )
    parser.add_argument(
        "--with-private", action="store_true", help="also subscribe to your fills and positions (private channels)"
    )
    env = parser.add_mutually_exclusive_group()
    env.add_argument("--demo", dest="demo", action="store_true", default=None, help="use the demo environment")
    env.add_argument("--prod", dest="demo", action="store_false", help="use production (overrides KALSHI_DEMO_MODE)")
    parser.add_argument("--ws-url", metavar="URL", help="WebSocket URL override (default: from KALSHI_WS_URL or env)")
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="REST base URL including /trade-api/v2 (default: from KALSHI_API_URL or env); used to check tickers and, "
        "with --with-private, to load positions and backfill fills",
    )
    parser.add_argument(
        "--audit-interval",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="every S seconds compare each usable book with REST's (GET /markets/{ticker}/orderbook); a difference "
        "seen again on a second read at a level the stream left alone marks the book not usable and resyncs it "
        "(default: off)",
    )
    parser.add_argument("--env-file", metavar="PATH", help="read settings from PATH instead of ./.env")
    parser.add_argument("--duration", type=positive_seconds, metavar="S", help="stop cleanly after S seconds")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="start the built-in exchange simulator and connect to it (no account; private channels on)",
    )
    parser.add_argument(
        "--seed", type=int_in_range(0, 2**63 - 1), default=1, help="simulator seed for --simulate (default 1)"
    )
    parser.add_argument(
        "--sim-markets",
        type=int_in_range(1, MAX_SIM_MARKETS),
        default=3,
        metavar="N",
        help=f"markets for --simulate (default 3, at most {MAX_SIM_MARKETS})",
    )
    parser.add_argument(
        "--sim-rate",
        type=_sim_rate,
        default=20.0,
        metavar="FPS",
        help=f"simulator data frames/s for --simulate (default 20, at most {MAX_SIM_RATE:,})",
    )
    parser.add_argument(
        "--ping-interval", type=positive_seconds, default=10.0, metavar="S", help="WebSocket ping interval (default 10)"
    )
    parser.add_argument(
        "--ping-timeout", type=positive_seconds, default=10.0, metavar="S", help="no pong within S seconds: reconnect"
    )
    parser.add_argument(
        "--ws-transport",
        choices=TRANSPORTS,
        default=None,
        help=f"the WebSocket library to receive with (default {DEFAULT_TRANSPORT}: the first installed of "
        f"{', '.join(AUTO_ORDER)}; picows comes with the [fast] extra); the handshake, pings, limits and recovery "
        "are the same on each",
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


MAX_SIM_MARKETS = 10_000
MAX_SIM_RATE = 1_000_000.0

_port = int_in_range(0, 65535)


def _refresh_rate(text: str) -> float:
    value = positive_number("a number of refreshes per second")(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 10, not {text!r}")
    return value


def _sim_rate(text: str) -> float:
    value = positive_number("a number of frames per second")(text)
    if value > MAX_SIM_RATE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SIM_RATE:,.0f}, not {text!r}")
    return value


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        return positive_number("a number")(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"takes a finite number above 0 or 'max', not {text!r}") from None


def write_summary(core: Core, path: str, journal: JournalWriter | None = None) -> None:
    """Write ``core.summary()`` (plus a ``recording`` block with ``journal``) to ``path``; never raises: a failure
    (the directory removed during the run, a full disk) is one ERROR line."""
    summary = core.summary()
    if journal is not None:
        summary["recording"] = journal.status()
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
            f.write("\n")
    except OSError as exc:
        log.error("--summary-json: cannot write %s: %s", path, exc.strerror or exc)


def _log_to_file(args: argparse.Namespace) -> logging.Handler | None:
    """With ``--log-file`` or ``--dashboard``, send the log to a file (``args.log_file`` is set to its path)."""
    if not (args.log_file or args.dashboard):
        return None
    from market_making_bot.cli.monitor import log_to_file

    args.log_file, handler = log_to_file(args.log_file)
    return handler


def _check_command_line(parser: argparse.ArgumentParser, args: argparse.Namespace, tickers: list[str] | None) -> None:
    """Every combination and output path, before anything starts; ``parser.error`` (exit 2) on the first problem."""
    live = not args.replay
    follows = bool(args.event or args.series)
    if live and not args.simulate and not tickers and not follows:
        parser.error(
            "--ticker is required (or --event/--series, --simulate for the built-in simulator, --replay FILE to "
            "replay)"
        )
    if args.replay and follows:
        parser.error("--event and --series are for live runs (--ticker or --simulate), not --replay")
    if args.follow_interval is not None and not follows:
        parser.error("--follow-interval needs --event or --series")
    if args.replay and args.simulate:
        parser.error("--replay and --simulate cannot be combined: a replay makes no connection")
    if args.record_rotate and not args.record:
        parser.error("--record-rotate needs --record PATH")
    if args.record_overwrite and not args.record:
        parser.error("--record-overwrite needs --record PATH")
    if args.record_overwrite and args.record_rotate:
        parser.error("--record-overwrite is for a single journal file: rotated files are never overwritten")
    rotate: int | str | None = None
    if args.record_rotate:
        from market_making_bot.storage.journal import parse_rotation

        try:
            rotate = parse_rotation(args.record_rotate)
        except ValueError as exc:
            parser.error(f"--record-rotate: {exc}")
    if args.replay and args.record:
        parser.error("--record is for live runs (--ticker or --simulate), not --replay")
    if args.replay and (args.dashboard or args.metrics_port is not None):
        parser.error("--dashboard and --metrics-port are for live runs (--ticker or --simulate), not --replay")
    if args.replay and args.duration is not None:
        parser.error("--duration is for live runs: a replay ends at the end of its files")
    if args.replay and args.audit_interval is not None:
        parser.error("--audit-interval is for live runs (--ticker or --simulate): a replay applies the journaled ones")
    if live and args.speed is not None:
        parser.error("--speed is for --replay")
    if args.replay and args.ws_transport is not None:
        parser.error("--ws-transport is for live runs (--ticker or --simulate): a replay makes no connection")
    if args.ws_transport not in (None, "auto") and args.ws_transport not in available_transports():
        parser.error(f"--ws-transport {args.ws_transport}: the {args.ws_transport} package is not installed")
    if args.ws_url is not None and args.simulate:
        parser.error("--ws-url is for live runs against Kalshi, not --simulate (the simulator has its own address)")
    if args.api_url is not None and args.simulate:
        parser.error("--api-url is for live runs against Kalshi, not --simulate (the simulator has its own address)")
    if args.api_url is not None and not args.api_url.startswith(("http://", "https://")):
        parser.error(f"--api-url: {args.api_url!r} must start with http:// or https://")
    outputs = [(o, v) for o, v in (("--record", args.record), ("--summary-json", args.summary_json),
                                   ("--log-file", args.log_file)) if v]  # fmt: skip
    for i, (option, value) in enumerate(outputs):
        for other, other_value in outputs[i + 1 :]:
            if os.path.abspath(value) == os.path.abspath(other_value):
                parser.error(f"{option} and {other} name the same file ({value}): give each its own")
    try:
        if args.record:
            check_record_path(args.record, rotate, args.record_overwrite)
        if args.summary_json:
            check_output_file("--summary-json", args.summary_json)
        if args.log_file:
            check_output_file("--log-file", args.log_file)
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    tickers = parse_tickers(args.ticker)
    args.event, args.series = parse_tickers(args.event) or [], parse_tickers(args.series) or []
    _check_command_line(parser, args, tickers)
    if args.replay:
        try:
            check_recordings(args.replay)  # before anything is replayed: a missing, binary or directory input
        except RecordingError as exc:
            print(f"mm-ws-listener: --replay: {exc}", file=sys.stderr)
            return exc.exit_code
    else:
        from market_making_bot.cli.monitor import missing_extra

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
    # --event/--series: markets join mid-run, so the subscription is the only filter
    core = Core(None if getattr(args, "event", None) or getattr(args, "series", None) else tickers)
    LogOutput().attach(core.bus)  # after setup_logging: it subscribes to the kinds the log level lets through
    if not args.replay:
        from market_making_bot.cli.live import run_live  # the network stack loads only when used

        journal = None
        if args.record:
            from market_making_bot.storage.journal import JournalWriter, parse_rotation

            # Made here (no file is opened before the first record) so that the summary can tell its state;
            # live.py fills in the URL.
            journal = JournalWriter(
                args.record, rotate=parse_rotation(args.record_rotate), overwrite=args.record_overwrite
            )
        args.journal = journal
        path = args.summary_json
        summary: Callable[[], None] = (lambda: write_summary(core, path, journal)) if path else (lambda: None)
        return run_live(args, core, tickers or [], summary)
    report = ReplayReport()
    try:
        frames = run_replay(args.replay, core, speed=args.speed, report=report)
    except RecordingError as exc:
        print(f"mm-ws-listener: --replay: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.summary_json:
        write_summary(core, args.summary_json)
    counters = core.counters
    log.info(
        "Replay done: %s from %s, %s, %d decode errors, %d damaged records skipped, %d gaps",
        _count(frames, "frame"),
        _count(len(report.files), "file"),
        _count(len(core.state.markets), "market"),
        counters["decode_errors"],
        report.bad_records,
        counters["gaps"],
    )
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


if __name__ == "__main__":
    raise SystemExit(main())
