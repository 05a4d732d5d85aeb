"""``python -m market_making_bot.account positions|fills|orders|balance|markets|queue|order``: account queries over
Kalshi's REST, and manual orders (``order create|amend|decrease|cancel|cancel-mine``:
:mod:`market_making_bot.cli.orders`, to the project's simulator only unless ``--live``).

Signed with the same settings as the listener (``Config.load``: ``.env`` or ``--env-file``, ``--demo`` / ``--prod``,
``KALSHI_API_URL`` or ``--api-url``), through :class:`~market_making_bot.runtime.rest.KalshiAPIClient` (its rate
budget and read retries). The output is a table for people, or with ``--json`` one JSON document for scripts:

* table: aligned columns, prices as 4-decimal dollars, sizes (contracts) with 2 decimals, money in dollars with 2
  decimals, or as many as it takes to be exact (a fee of ``0.0546`` is never shown rounded), times in UTC;
* JSON (``JSON_FORMAT`` below, also in the README): the same rows with Kalshi's own field names, every amount an
  exact decimal string (prices 4 decimals, sizes 2, money 6), times RFC 3339 UTC; the keys are always all there.

Every option and combination is checked before any connection (one line, exit 2); the exit codes are the listener's
(``EPILOG``). Nothing secret is printed: the key id only shortened, never the key or a signature.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from market_making_bot.cli import orders as order_cli
from market_making_bot.cli.checks import CliParser, int_in_range, package_version, parse_tickers
from market_making_bot.kalshi.auth import PrivateKeyError
from market_making_bot.kalshi.rest import Balance, Fill, Market, MarketPosition, Order
from market_making_bot.runtime.client import AUTH_ADVICE
from market_making_bot.runtime.config import Config, ConfigError
from market_making_bot.runtime.rest import (
    KalshiAPIClient,
    KalshiAPIError,
    KalshiConnectionError,
    KalshiResponseError,
)
from market_making_bot.units import money_str, price_str, size_str

__all__ = [
    "COMMANDS",
    "EXIT_AUTH",
    "EXIT_CONFIG",
    "EXIT_REST",
    "JSON_FORMAT",
    "auth_advice",
    "build_arg_parser",
    "main",
    "money_cell",
    "run",
]

NAME = "kalshi-account"

EXIT_OK = 0
EXIT_REST = 1  # Kalshi answered with an error (its code and message are printed), or the request could not be made
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_CONFIG = 3  # a setting or the key file is missing or invalid
EXIT_AUTH = 4  # Kalshi refused the signature (HTTP 401/403)

COMMANDS = ("positions", "fills", "orders", "balance", "markets")

# which filters each command takes (Kalshi's own: fills have no event filter, only markets have a series filter)
_FILTERS: dict[str, tuple[str, ...]] = {
    "positions": ("--event", "--ticker", "--limit"),
    "fills": ("--ticker", "--limit"),
    "orders": ("--event", "--ticker", "--status", "--limit"),
    "balance": (),
    "markets": ("--event", "--series", "--ticker", "--status", "--limit"),
}
ORDER_STATUSES = ("resting", "canceled", "executed", "all")
MARKET_STATUSES = ("unopened", "open", "paused", "closed", "settled")
DEFAULT_MARKETS_LIMIT = 100  # `markets` with no --event/--series/--ticker: Kalshi lists thousands
MAX_LIMIT = 1_000_000
_PAGE = 1000  # Kalshi's largest page for markets, fills, orders and positions (REST.md 1.5)

JSON_FORMAT = """JSON (--json): one document,
  {"command": "positions", "environment": "production"|"demo", "api_url": URL,
   "filters": {"event": E|null, "series": S|null, "tickers": [T, ...]|null, "status": S|null, "limit": N|null},
   "count": N, "truncated": false, "positions": [ROW, ...]}
  (the list is named after the command; "truncated": more rows exist than --limit let through; markets also
  has "not_found": the --ticker values Kalshi did not return; balance has "balance": {...} and no list).
  Rows use Kalshi's field names; amounts are exact decimal strings (prices 4 decimals, sizes 2, money 6),
  times RFC 3339 UTC with milliseconds (or null):
  positions: ticker position_fp (+ YES, - NO) market_exposure_dollars total_traded_dollars realized_pnl_dollars
             fees_paid_dollars last_updated_ts
  fills:     fill_id trade_id order_id ticker outcome_side book_side count_fp yes_price_dollars no_price_dollars
             is_taker fee_cost created_time (newest first, as Kalshi sends them)
  orders:    order_id client_order_id ticker status outcome_side book_side yes_price_dollars no_price_dollars
             initial_count_fp fill_count_fp remaining_count_fp maker_fill_cost_dollars taker_fill_cost_dollars
             maker_fees_dollars taker_fees_dollars created_time expiration_time
  balance:   balance_dollars (available) portfolio_value_dollars updated_ts (Unix seconds)
  markets:   ticker event_ticker status title yes_bid_dollars yes_ask_dollars no_bid_dollars no_ask_dollars
             last_price_dollars yes_bid_size_fp yes_ask_size_fp volume_fp volume_24h_fp open_interest_fp
             open_time close_time
"""

EPILOG = f"""examples:
  # your positions, as a table (key from ./.env)
  %(prog)s positions
  # the fills of one market, on the demo environment
  %(prog)s fills --ticker KXHIGHNY-26DEC31-B45 --demo
  # resting orders of one event, as JSON for a script
  %(prog)s orders --event KXHIGHNY-26DEC31 --json
  # available balance and portfolio value
  %(prog)s balance
  # every market of a series, against a local simulator (its --write-credentials file)
  %(prog)s markets --series KXSIM --env-file sim.env
  # queue positions of your resting orders; manual orders (the simulator only unless --live): see order --help
  %(prog)s queue --ticker KXSIM-26DEC31-M1 --env-file sim.env
  %(prog)s order create --simulate --ticker KXSIM-26DEC31-M1 --side bid --price 0.4500 --count 3

filters: positions --event --ticker; fills --ticker; orders --event --ticker --status (default resting);
  markets --event --series --ticker --status; --limit N on every list (markets with no filter: 100 by default).
  --ticker is repeatable or comma-separated.

{JSON_FORMAT}
exit codes:
  0 done (also when nothing matched)
  1 Kalshi answered with an error (its code and message are printed), or could not be reached
  2 bad command line (an option value or combination; checked before any connection)
  3 configuration or key file problem
  4 authentication refused by the server (HTTP 401/403)
  130 interrupted (Ctrl-C) before the answer came
"""


def _api_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or "?" in text or "#" in text:
        raise argparse.ArgumentTypeError(
            f"must be an http:// or https:// base URL including /trade-api/v2, not {text!r}"
        )
    return text


def build_arg_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m market_making_bot.account",
        description="Your Kalshi account over REST: positions, fills, orders, balance, markets, queue positions; "
        "manual orders (order create|amend|decrease|cancel|cancel-mine; the simulator only unless --live).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name=NAME,
    )
    parser.add_argument("--version", action="version", version=package_version())
    common = CliParser(add_help=False, error_name=NAME)
    common.add_argument("--event", metavar="E", help="only this event (positions, orders, markets)")
    common.add_argument("--series", metavar="S", help="only this series (markets)")
    common.add_argument(
        "--ticker", action="append", metavar="T", help="only these markets (repeatable or comma-separated)"
    )
    common.add_argument("--status", metavar="S", help="orders: resting (default), canceled, executed, all; "
                        "markets: unopened, open, paused, closed, settled")  # fmt: skip
    common.add_argument("--limit", type=int_in_range(1, MAX_LIMIT), metavar="N", help="at most N rows")
    common.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    env = common.add_mutually_exclusive_group()
    env.add_argument("--demo", dest="demo", action="store_true", default=None, help="use the demo environment")
    env.add_argument("--prod", dest="demo", action="store_false", help="use production (overrides KALSHI_DEMO_MODE)")
    common.add_argument("--env-file", metavar="PATH", help="read settings from PATH instead of ./.env")
    common.add_argument(
        "--api-url", type=_api_url, metavar="URL", help="REST base URL with /trade-api/v2 (default: KALSHI_API_URL)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    helps = {
        "positions": "your market positions (signed: + YES, - NO)",
        "fills": "your fills, newest first",
        "orders": "your orders (resting by default)",
        "balance": "available balance and portfolio value",
        "markets": "markets and their top of book (public data)",
    }
    for name in COMMANDS:
        sub.add_parser(
            name,
            parents=[common],
            help=helps[name],
            description=helps[name][0].upper() + helps[name][1:] + ".",
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            error_name=NAME,
        )
    order_cli.add_parsers(sub, _api_url)
    return parser


@dataclass(frozen=True)
class Query:
    """The checked command line of one query."""

    command: str
    event: str | None = None
    series: str | None = None
    tickers: list[str] | None = None
    status: str | None = None
    limit: int | None = None
    as_json: bool = False

    def filters(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "series": self.series,
            "tickers": self.tickers,
            "status": self.status,
            "limit": self.limit,
        }


def check_query(args: argparse.Namespace) -> Query:
    """The query ``args`` ask for; ``ValueError`` (one line naming the option) for a bad value or combination."""
    command: str = args.command
    allowed = _FILTERS[command]
    given = {
        "--event": args.event,
        "--series": args.series,
        "--ticker": args.ticker,
        "--status": args.status,
        "--limit": args.limit,
    }
    for option, value in given.items():
        if value is not None and option not in allowed:
            takes = " ".join(allowed) if allowed else "no filter"
            raise ValueError(f"{option}: {command} does not take it ({command} takes {takes})")
    for option in ("--event", "--series"):
        value = given[option]
        if value is not None and (not value.strip() or "," in value):
            raise ValueError(f"{option}: needs one ticker, not {value!r}")
    tickers = parse_tickers(args.ticker)
    if args.ticker is not None and not tickers:
        raise ValueError("--ticker: no ticker given")
    status = args.status
    if command == "orders":
        status = status or "resting"
        if status not in ORDER_STATUSES:
            raise ValueError(f"--status: orders take one of {', '.join(ORDER_STATUSES)}, not {status!r}")
    elif command == "markets" and status is not None and status not in MARKET_STATUSES:
        raise ValueError(f"--status: markets take one of {', '.join(MARKET_STATUSES)}, not {status!r}")
    limit = args.limit
    if command == "markets" and limit is None and not (args.event or args.series or tickers):
        limit = DEFAULT_MARKETS_LIMIT
    return Query(
        command,
        event=args.event.strip() if args.event else None,
        series=args.series.strip() if args.series else None,
        tickers=tickers,
        status=status,
        limit=limit,
        as_json=args.json,
    )


# --- formatting (pure) -----------------------------------------------------------------------------------------------


def money_cell(money: int) -> str:
    """Money for the table: dollars with 2 decimals, or with as many as it takes to be exact (never rounded):
    ``12_340_000`` -> ``"12.34"``, ``54_600`` -> ``"0.0546"``."""
    text = money_str(money)  # 6 decimals, exact
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"


def _rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    t = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _time_cell(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _side_cell(position: int) -> str:
    return "yes" if position > 0 else "no" if position < 0 else "flat"


def _own_price(outcome_side: str, yes_price: int, no_price: int) -> int:
    return yes_price if outcome_side == "yes" else no_price


Row = dict[str, Any]
Cells = list[str]


@dataclass(frozen=True)
class View:
    """How one command's items become JSON rows and table cells. ``right``: the columns aligned right (numbers)."""

    headers: tuple[str, ...]
    right: frozenset[int]
    row: Callable[[Any], Row]
    cells: Callable[[Any], Cells]


def _position_row(p: MarketPosition) -> Row:
    return {
        "ticker": p.ticker,
        "position_fp": size_str(p.position_fp),
        "market_exposure_dollars": money_str(p.market_exposure_dollars),
        "total_traded_dollars": money_str(p.total_traded_dollars),
        "realized_pnl_dollars": money_str(p.realized_pnl_dollars),
        "fees_paid_dollars": money_str(p.fees_paid_dollars),
        "last_updated_ts": _rfc3339(p.last_updated_ts),
    }


def _position_cells(p: MarketPosition) -> Cells:
    return [
        p.ticker,
        _side_cell(p.position_fp),
        size_str(p.position_fp),
        money_cell(p.market_exposure_dollars),
        money_cell(p.total_traded_dollars),
        money_cell(p.realized_pnl_dollars),
        money_cell(p.fees_paid_dollars),
        _time_cell(p.last_updated_ts),
    ]


def _fill_time(f: Fill) -> int | None:
    return f.created_time if f.created_time is not None else (f.ts * 1000 if f.ts is not None else None)


def _fill_row(f: Fill) -> Row:
    return {
        "fill_id": f.fill_id,
        "trade_id": f.trade_id or f.fill_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "count_fp": size_str(f.count_fp),
        "yes_price_dollars": price_str(f.yes_price_dollars),
        "no_price_dollars": price_str(f.no_price_dollars),
        "is_taker": f.is_taker,
        "fee_cost": money_str(f.fee_cost),
        "created_time": _rfc3339(_fill_time(f)),
    }


def _fill_cells(f: Fill) -> Cells:
    return [
        _time_cell(_fill_time(f)),
        f.ticker,
        f.outcome_side,
        size_str(f.count_fp),
        price_str(_own_price(f.outcome_side, f.yes_price_dollars, f.no_price_dollars)),
        money_cell(f.fee_cost),
        "taker" if f.is_taker else "maker",
        f.fill_id,
        f.order_id,
    ]


def _order_row(o: Order) -> Row:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "ticker": o.ticker,
        "status": o.status,
        "outcome_side": o.outcome_side,
        "book_side": o.book_side,
        "yes_price_dollars": price_str(o.yes_price_dollars),
        "no_price_dollars": price_str(o.no_price_dollars),
        "initial_count_fp": size_str(o.initial_count_fp),
        "fill_count_fp": size_str(o.fill_count_fp),
        "remaining_count_fp": size_str(o.remaining_count_fp),
        "maker_fill_cost_dollars": money_str(o.maker_fill_cost_dollars),
        "taker_fill_cost_dollars": money_str(o.taker_fill_cost_dollars),
        "maker_fees_dollars": money_str(o.maker_fees_dollars),
        "taker_fees_dollars": money_str(o.taker_fees_dollars),
        "created_time": _rfc3339(o.created_time),
        "expiration_time": _rfc3339(o.expiration_time),
    }


def _order_cells(o: Order) -> Cells:
    return [
        o.ticker,
        o.outcome_side,
        o.status,
        price_str(_own_price(o.outcome_side, o.yes_price_dollars, o.no_price_dollars)),
        size_str(o.initial_count_fp),
        size_str(o.fill_count_fp),
        size_str(o.remaining_count_fp),
        money_cell(o.maker_fees_dollars + o.taker_fees_dollars),
        o.order_id,
        o.client_order_id or "-",
    ]


def _market_row(m: Market) -> Row:
    return {
        "ticker": m.ticker,
        "event_ticker": m.event_ticker,
        "status": m.status,
        "title": m.title,
        "yes_bid_dollars": price_str(m.yes_bid_dollars),
        "yes_ask_dollars": price_str(m.yes_ask_dollars),
        "no_bid_dollars": price_str(m.no_bid_dollars),
        "no_ask_dollars": price_str(m.no_ask_dollars),
        "last_price_dollars": price_str(m.last_price_dollars),
        "yes_bid_size_fp": size_str(m.yes_bid_size_fp),
        "yes_ask_size_fp": size_str(m.yes_ask_size_fp),
        "volume_fp": size_str(m.volume_fp),
        "volume_24h_fp": size_str(m.volume_24h_fp),
        "open_interest_fp": size_str(m.open_interest_fp),
        "open_time": _rfc3339(m.open_time),
        "close_time": _rfc3339(m.close_time),
    }


def _market_cells(m: Market) -> Cells:
    return [
        m.ticker,
        m.status,
        price_str(m.yes_bid_dollars),
        price_str(m.yes_ask_dollars),
        price_str(m.last_price_dollars),
        size_str(m.volume_fp),
        size_str(m.open_interest_fp),
        _time_cell(m.close_time),
    ]


VIEWS: dict[str, View] = {
    "positions": View(
        ("TICKER", "SIDE", "POSITION", "EXPOSURE $", "TRADED $", "REALIZED P&L $", "FEES $", "UPDATED (UTC)"),
        frozenset({2, 3, 4, 5, 6}),
        _position_row,
        _position_cells,
    ),
    "fills": View(
        ("TIME (UTC)", "TICKER", "SIDE", "COUNT", "PRICE $", "FEE $", "ROLE", "TRADE ID", "ORDER ID"),
        frozenset({3, 4, 5}),
        _fill_row,
        _fill_cells,
    ),
    "orders": View(
        ("TICKER", "SIDE", "STATUS", "PRICE $", "INITIAL", "FILLED", "REMAINING", "FEES $", "ORDER ID", "CLIENT ID"),
        frozenset({3, 4, 5, 6, 7}),
        _order_row,
        _order_cells,
    ),
    "markets": View(
        ("TICKER", "STATUS", "YES BID $", "YES ASK $", "LAST $", "VOLUME", "OPEN INT", "CLOSES (UTC)"),
        frozenset({2, 3, 4, 5, 6}),
        _market_row,
        _market_cells,
    ),
}


def table(headers: Sequence[str], rows: Sequence[Cells], right: frozenset[int] = frozenset()) -> str:
    """Aligned columns, two spaces apart (no cell holds two spaces in a row, so a script may split on them)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)]) + "\n"


def balance_row(b: Balance) -> Row:
    return {
        "balance_dollars": money_str(b.balance),
        "portfolio_value_dollars": money_str(b.portfolio_value),
        "updated_ts": b.updated_ts,
    }


def balance_table(b: Balance) -> str:
    rows = [
        ["available balance $", money_cell(b.balance)],
        ["portfolio value $", money_cell(b.portfolio_value)],
        ["updated (UTC)", _time_cell(b.updated_ts * 1000)],
    ]
    return table(("", ""), rows, frozenset({1})).split("\n", 1)[1]  # no header line


# --- the queries (I/O) -----------------------------------------------------------------------------------------------

T = TypeVar("T")


async def take(items: AsyncIterator[T], limit: int | None) -> tuple[list[T], bool]:
    """Up to ``limit`` items (all with ``None``) and whether more were there (one more is read to know)."""
    out: list[T] = []
    async with contextlib.aclosing(items):  # type: ignore[type-var]
        async for item in items:
            if limit is not None and len(out) >= limit:
                return out, True
            out.append(item)
    return out, False


def _page(q: Query) -> int | None:
    return None if q.limit is None else min(q.limit + 1, _PAGE)


async def _each_ticker(
    q: Query, query: Callable[[str | None], AsyncIterator[T]], key: Callable[[T], str]
) -> tuple[list[T], bool]:
    """Positions and orders take one ticker per request: one request per ``--ticker``, the results in turn."""
    if not q.tickers or len(q.tickers) == 1:
        return await take(query(q.tickers[0] if q.tickers else None), q.limit)
    out: list[T] = []
    seen: set[str] = set()
    for ticker in q.tickers:
        left = None if q.limit is None else q.limit - len(out)
        got, more = await take(query(ticker), left)
        fresh = [item for item in got if key(item) not in seen]
        seen.update(key(item) for item in fresh)
        out.extend(fresh)
        if more:
            return out, True
    return out, False


Fetch = Callable[[KalshiAPIClient, Query], Awaitable[tuple[list[Any], bool]]]


async def _positions(api: KalshiAPIClient, q: Query) -> tuple[list[Any], bool]:
    return await _each_ticker(
        q, lambda t: api.positions(ticker=t, event_ticker=q.event, limit=_page(q)), lambda p: p.ticker
    )


async def _fills(api: KalshiAPIClient, q: Query) -> tuple[list[Any], bool]:
    return await take(api.fills(ticker=q.tickers, limit=_page(q)), q.limit)


async def _orders(api: KalshiAPIClient, q: Query) -> tuple[list[Any], bool]:
    status = None if q.status == "all" else q.status
    return await _each_ticker(
        q,
        lambda t: api.orders(ticker=t, event_ticker=q.event, status=status, limit=_page(q)),
        lambda o: o.order_id,
    )


async def _markets(api: KalshiAPIClient, q: Query) -> tuple[list[Any], bool]:
    return await take(
        api.markets(event_ticker=q.event, series_ticker=q.series, tickers=q.tickers, status=q.status, limit=_page(q)),
        q.limit,
    )


FETCH: dict[str, Fetch] = {"positions": _positions, "fills": _fills, "orders": _orders, "markets": _markets}

def auth_advice(key_id_short: str) -> str:
    """The listener's advice after a refused signature (``runtime.client.AUTH_ADVICE``), word for word."""
    return AUTH_ADVICE.format(key=key_id_short)


async def _query(api: KalshiAPIClient, cfg: Config, q: Query) -> tuple[str, Row]:
    """(table text, JSON document) of the query."""
    doc: Row = {
        "command": q.command,
        "environment": cfg.environment,
        "api_url": cfg.api_url,
        "filters": q.filters(),
    }
    if q.command == "balance":
        b = await api.balance()
        doc["balance"] = balance_row(b)
        return balance_table(b), doc
    items, truncated = await FETCH[q.command](api, q)
    view = VIEWS[q.command]
    doc["count"] = len(items)
    doc["truncated"] = truncated
    doc[q.command] = [view.row(item) for item in items]
    if q.command == "markets":
        found = {m.ticker for m in items}
        doc["not_found"] = [t for t in q.tickers or () if t not in found] if not truncated else []
    text = table(view.headers, [view.cells(item) for item in items], view.right) if items else f"no {q.command}\n"
    return text, doc


async def run(q: Query, env_file: str | None, demo: bool | None, api_url: str | None, out: TextIO, err: TextIO) -> int:
    """Run the checked query ``q``; print its table or JSON on ``out``, problems on ``err``; return the exit code."""
    try:
        cfg = Config.load(env_file, demo=demo, api_url=api_url)
        signer = cfg.signer()
    except (ConfigError, PrivateKeyError) as exc:
        print(f"{NAME}: configuration error: {exc}", file=err)
        return EXIT_CONFIG
    try:
        async with KalshiAPIClient(cfg.api_url, signer) as api:
            text, doc = await _query(api, cfg, q)
    except KalshiAPIError as exc:
        if exc.status in (401, 403):
            print(
                f"{NAME}: authentication failed: {cfg.api_url} answered {exc} to the signed {q.command} request. "
                + auth_advice(cfg.key_id_short),
                file=err,
            )
            return EXIT_AUTH
        print(f"{NAME}: {q.command}: Kalshi answered {exc}", file=err)
        return EXIT_REST
    except (KalshiConnectionError, KalshiResponseError) as exc:
        print(f"{NAME}: {q.command}: {exc}", file=err)
        return EXIT_REST
    if q.as_json:
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(text)
    if doc.get("truncated"):
        print(f"{NAME}: showing the first {doc['count']} {q.command}; more exist (raise --limit)", file=err)
    for ticker in doc.get("not_found", ()):
        print(f"{NAME}: markets: no market {ticker}", file=err)
    return EXIT_OK


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Query | order_cli.OrderCommand]:
    """Parse and check ``argv``; a problem is one line on stderr and ``SystemExit(2)``."""
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        q: Query | order_cli.OrderCommand
        q = order_cli.check(args) if args.command in ("order", "queue") else check_query(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args, q


async def _dispatch(args: argparse.Namespace, q: Query | order_cli.OrderCommand, out: TextIO, err: TextIO) -> int:
    if isinstance(q, order_cli.OrderCommand):
        return await order_cli.run(q, out, err, money_cell)
    return await run(q, args.env_file, args.demo, args.api_url, out, err)


async def run_argv(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """:func:`main` inside a running event loop (tests); a bad command line raises ``SystemExit(2)``."""
    args, q = parse(argv)
    return await _dispatch(args, q, out or sys.stdout, err or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args, q = parse(argv)
    try:
        return asyncio.run(_dispatch(args, q, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
