"""``python -m market_making_bot.export JOURNAL [...] --to parquet --out DIR``: journals to tables (see
:mod:`market_making_bot.storage.export` for the tables and their types)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path

from market_making_bot.cli.checks import CliParser, check_output_dir, package_version, parse_tickers
from market_making_bot.feed.core import Core
from market_making_bot.storage.export import collect, write_csv, write_parquet
from market_making_bot.storage.journal import RecordingError
from market_making_bot.storage.replay import check_recordings
from market_making_bot.views.output import LogOutput, setup_logging

__all__ = ["main"]


EPILOG = """examples:
  # every table of one journal (or of one run's rotated set), as Parquet
  %(prog)s data/kalshi.jsonl.gz --to parquet --out tables/
  # two journals in order, CSV, two markets only (repeat --ticker, or give them comma-separated)
  %(prog)s day1.jsonl day2.jsonl --to csv --out tables/ --ticker KXA-1,KXB-2

Gzip is recognised from the content, whatever the name. Damaged records are skipped, counted and logged.

exit codes:
  0 tables written
  1 an input file cannot be used: missing, a directory, binary, or not a single frame readable
  2 bad command line (an option value or path, e.g. --out is a file)
  3 a missing optional library (pyarrow, for --to parquet)
"""


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(
        prog="python -m market_making_bot.export",
        description="Export journals (--record) to trades, fills, orders, top_of_book and snapshots tables.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name="export",
    )
    ap.add_argument("--version", action="version", version=package_version())
    ap.add_argument("journals", nargs="+", metavar="JOURNAL", help="journal files or rotated sets, in order")
    ap.add_argument("--to", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    ap.add_argument("--out", required=True, metavar="DIR", help="directory for <table>.parquet / <table>.csv")
    ap.add_argument(
        "--ticker", action="append", metavar="T", help="only these markets (repeatable, or comma-separated)"
    )
    args = ap.parse_args(argv)
    tickers = parse_tickers(args.ticker)
    if args.ticker and not tickers:
        ap.error("--ticker: no ticker given")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        ap.error(f"--out: {out} exists and is not a directory")
    if args.to == "parquet" and importlib.util.find_spec("pyarrow") is None:
        print("export: --to parquet needs pyarrow: pip install -e '.[export]' (or use --to csv)", file=sys.stderr)
        return 3
    try:
        check_recordings(args.journals)
    except RecordingError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        check_output_dir("--out", out)
    except ValueError as exc:
        ap.error(str(exc))
    setup_logging(logging.WARNING)
    try:
        core = Core(tickers)
        quiet = logging.getLogger("market_making_bot.export.replay")
        quiet.setLevel(logging.ERROR)  # the replay's own lines are not the point of an export
        LogOutput(quiet).attach(core.bus)
        rows = collect(args.journals, core=core)
    except RecordingError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        written = (write_parquet if args.to == "parquet" else write_csv)(rows, out)
    except OSError as exc:
        print(f"export: --out: cannot write in {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path}: {len(rows[path.stem])} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
