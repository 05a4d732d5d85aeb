"""Command line: ``python -m market_making_bot.mm_ws_listener --replay FILE [FILE ...] [--ticker T ...]``.

Replay feeds recorded frames through the same pipeline as a live connection, with no network, credentials or
``.env``, and exits 0 at the end of the recording (decode errors and sequence problems are counted and logged, not
fatal). Live mode is added by the client layer.
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


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mm-ws-listener",
        description="Kalshi market data listener: order books, trades, fills and positions.",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        help="replay recorded frames (JSONL, ';;'-separated, a JSON array, or {'frames': [...]}) instead of connecting",
    )
    parser.add_argument(
        "--ticker",
        action="append",
        metavar="T",
        help="market ticker to keep (repeatable, or comma-separated); default: every market in the stream",
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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    setup_logging(args.log_level)
    if not args.replay:
        print(
            "mm-ws-listener: live mode is not available yet; use --replay FILE [FILE ...] to replay a recording.",
            file=sys.stderr,
        )
        return 2
    core = Core(parse_tickers(args.ticker))
    try:
        frames = run_replay(args.replay, core)
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
