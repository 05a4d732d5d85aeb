"""``python -m market_making_bot.account order create|amend|decrease|cancel|cancel-mine`` and ``queue``: manual
orders from the command line, for traders and for testing.

Every write goes through :class:`~market_making_bot.runtime.orders.OrderManager` (its unknown-outcome handling: a
create that timed out is read back by its client order id before the command ends, and re-sent only with the same
client order id if a read proves it never landed; nothing trades twice). The output is a table of the orders
touched, or with ``--json`` one document (``ORDER_JSON_FORMAT``).

**Safety**: before the first write the server is asked for the project's simulator's mark
(``KalshiAPIClient.simulator_mark``); without it the command refuses (``trading.safety``, exit 2) unless ``--live``
was given. A local address proves nothing (a tunnel or proxy to Kalshi can listen on 127.0.0.1).

**State**: the orders placed here are kept in a small file (``storage.placed_orders``: by default
``~/.local/state/market_making_bot/placed-orders.json``, ``--state-file`` or ``KALSHI_ORDERS_STATE`` to choose),
so ``order cancel-mine`` cancels, by order id, exactly the orders this key placed through the project, across runs;
never the account's other orders. ``--simulate`` (a built-in simulator for this one command) keeps no state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO

from market_making_bot.cli.checks import CliParser, parse_tickers, positive_seconds
from market_making_bot.kalshi.auth import PrivateKeyError, Signer, shorten_key_id
from market_making_bot.kalshi.orders import BookSide, CreateOrderRequest, TimeInForce, check_client_order_id
from market_making_bot.kalshi.rest import QueuePosition
from market_making_bot.marker import is_simulator_mark
from market_making_bot.runtime.client import AUTH_ADVICE
from market_making_bot.runtime.config import Config, ConfigError
from market_making_bot.runtime.orders import OrderManager
from market_making_bot.runtime.rest import KalshiAPIClient, KalshiAPIError, KalshiConnectionError, KalshiResponseError
from market_making_bot.storage.placed_orders import (
    PlacedOrder,
    PlacedOrders,
    StateFileError,
    account_tag,
    default_state_path,
)
from market_making_bot.trading.orders import TERMINAL, OrderRefused, OrderState, OrderTracker, TrackedOrder
from market_making_bot.trading.safety import order_destination_refusal
from market_making_bot.units import money_str, parse_price_dollars, parse_size_fp, price_str, size_str

__all__ = ["ORDER_ACTIONS", "ORDER_JSON_FORMAT", "ORDER_EPILOG", "OrderCommand", "add_parsers", "check", "run"]

log = logging.getLogger("market_making_bot.account")

NAME = "kalshi-account"
EXIT_OK, EXIT_REST, EXIT_USAGE, EXIT_CONFIG, EXIT_AUTH = 0, 1, 2, 3, 4
ORDER_ACTIONS = ("create", "amend", "decrease", "cancel", "cancel-mine")
TIFS = {"gtc": TimeInForce.GOOD_TILL_CANCELED, "ioc": TimeInForce.IMMEDIATE_OR_CANCEL, "fok": TimeInForce.FILL_OR_KILL}
CLI_PREFIX = "mmcli"
"""The start of the client order ids this command makes (``mmcli-<random>``)."""
_SETTLE_ROUNDS = 5

ORDER_JSON_FORMAT = """order commands, JSON (--json): one document,
  {"command": "order create", "environment": E, "api_url": URL, "destination": "simulator"|"live",
   "count": N, "orders": [ROW, ...], "unknown": N}
  ROW: client_order_id order_id ticker book_side (bid buys YES, ask sells YES) state (pending resting
  partially_filled executed canceled rejected unknown) price_dollars count_fp fill_count_fp remaining_count_fp
  fees_dollars resent (times the create was re-sent with the same client_order_id) reason
  ("unknown": orders whose outcome no read could settle; exit 1 then).
  queue: {"command": "queue", ..., "count": N, "queue": [{"order_id", "market_ticker", "queue_position_fp"}]}
"""

ORDER_EPILOG = f"""examples:
  # a resting bid for 3 YES contracts at $0.45 on the built-in simulator (nothing to set up)
  %(prog)s create --simulate --ticker KXSIM-26DEC31-M1 --side bid --price 0.4500 --count 3
  # the same against a running simulator (python -m market_making_bot.simulator --write-credentials sim.env)
  %(prog)s create --env-file sim.env --ticker KXSIM-26DEC31-M1 --side bid --price 0.45 --count 3
  # real money on Kalshi: --live is required
  %(prog)s create --live --ticker KXHIGHNY-26DEC31-B45 --side ask --price 0.6000 --count 1 --tif ioc
  %(prog)s amend ORDER_ID --price 0.4600 [--count 2]      # new price and/or remaining count
  %(prog)s decrease ORDER_ID --reduce-by 1                  # or --reduce-to N (keeps queue priority)
  %(prog)s cancel ORDER_ID                                  # an order id, or a client order id placed here
  %(prog)s cancel-mine                                      # every open order placed through this command

safety: orders go only to the project's simulator (its replies carry the X-Kalshi-Simulator header) unless --live
  is given; anything else is refused with the reason, exit 2, before the first write.
state: the orders placed here are kept in {default_state_path()} (--state-file PATH or KALSHI_ORDERS_STATE
  to choose another; per server and key; no secret in it); cancel-mine cancels those still open, by order id.
unknown outcome: a create, amend, decrease or cancel that timed out is said so on stderr and read back before the
  command ends (a create never landed is re-sent only with the same client order id); the final state is printed.

{ORDER_JSON_FORMAT}
exit codes:
  0 done (the final state is printed; a refused order is a row with state rejected, exit 1)
  1 Kalshi refused the request, could not be reached, or an outcome stayed unknown
  2 bad command line, or orders refused: the server is not the simulator and --live was not given
  3 configuration, key file or state file problem
  4 authentication refused by the server (HTTP 401/403)
"""


def _price(text: str) -> int:
    try:
        price = parse_price_dollars(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a price in dollars such as 0.4500, not {text!r}") from None
    if not 0 < price < 10_000:
        raise argparse.ArgumentTypeError(f"must be between 0.0001 and 0.9999 dollars, not {text!r}")
    return price


def _count(text: str) -> int:
    try:
        count = parse_size_fp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of contracts such as 3 or 2.50, not {text!r}") from None
    if count <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of contracts, not {text!r}")
    return count


def _coid(text: str) -> str:
    try:
        return check_client_order_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any, api_url: Any) -> None:
    """The ``order`` and ``queue`` subcommands of the account command (``api_url``: its ``--api-url`` type)."""
    common = CliParser(add_help=False, error_name=NAME)
    common.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    where = common.add_mutually_exclusive_group()
    where.add_argument("--demo", dest="demo", action="store_true", default=None, help="use the demo environment")
    where.add_argument("--prod", dest="demo", action="store_false", help="use production")
    common.add_argument("--env-file", metavar="PATH", help="read settings from PATH instead of ./.env")
    common.add_argument("--api-url", type=api_url, metavar="URL", help="REST base URL with /trade-api/v2")
    common.add_argument("--simulate", action="store_true", help="a built-in simulator for this command (no state)")
    writes = CliParser(add_help=False, error_name=NAME)
    writes.add_argument("--live", action="store_true", help="allow orders to a server that is not the simulator")
    writes.add_argument("--state-file", metavar="PATH", help="the placed-orders file (default under ~/.local/state)")
    writes.add_argument(
        "--rest-lag",
        type=positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds before a read is trusted to show a write whose outcome was unknown (default 2)",
    )
    order = sub.add_parser(
        "order",
        help="place, change and cancel orders (simulator only unless --live)",
        description="Place, change and cancel orders. Orders go only to the project's simulator unless --live.",
        epilog=ORDER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name=NAME,
    )
    actions = order.add_subparsers(dest="action", metavar="ACTION", required=True)
    kw: dict[str, Any] = {
        "parents": [common, writes],
        "epilog": ORDER_EPILOG,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
        "error_name": NAME,
    }
    create = actions.add_parser("create", help="place one limit order", **kw)
    create.add_argument("--ticker", required=True, metavar="T", help="the market")
    create.add_argument("--side", required=True, choices=("bid", "ask"), help="bid buys YES, ask sells YES")
    create.add_argument("--price", required=True, type=_price, metavar="P", help="YES price in dollars, e.g. 0.4500")
    create.add_argument("--count", required=True, type=_count, metavar="N", help="contracts, e.g. 3 or 2.50")
    create.add_argument("--tif", choices=tuple(TIFS), default="gtc", help="time in force (default gtc)")
    create.add_argument("--post-only", action="store_true", help="refused rather than taking liquidity")
    create.add_argument("--reduce-only", action="store_true", help="only reduce the position (needs --tif ioc)")
    create.add_argument("--client-order-id", type=_coid, metavar="ID", help="your own client order id")
    amend = actions.add_parser("amend", help="new price and/or remaining count of an order", **kw)
    amend.add_argument("id", metavar="ID", help="order id (or a client order id placed here)")
    amend.add_argument("--price", type=_price, metavar="P", help="new YES price in dollars")
    amend.add_argument("--count", type=_count, metavar="N", help="new remaining count (contracts)")
    decrease = actions.add_parser("decrease", help="fewer contracts, keeping queue priority", **kw)
    decrease.add_argument("id", metavar="ID", help="order id (or a client order id placed here)")
    by = decrease.add_mutually_exclusive_group(required=True)
    by.add_argument("--reduce-by", type=_count, metavar="N", help="contracts to take off")
    by.add_argument("--reduce-to", type=_count, metavar="N", help="contracts to leave")
    cancel = actions.add_parser("cancel", help="cancel one order", **kw)
    cancel.add_argument("id", metavar="ID", help="order id (or a client order id placed here)")
    actions.add_parser("cancel-mine", help="cancel every open order placed through this command", **kw)
    queue = sub.add_parser(
        "queue",
        parents=[common],
        help="queue positions of your resting orders",
        description="Contracts ahead of each of your resting orders at its price.",
        epilog=ORDER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name=NAME,
    )
    queue.add_argument("--ticker", action="append", metavar="T", help="only these markets")
    queue.add_argument("--event", metavar="E", help="only this event")


@dataclass(frozen=True)
class OrderCommand:
    """The checked command line of an order command or ``queue``."""

    action: str  # create amend decrease cancel cancel-mine queue
    as_json: bool = False
    simulate: bool = False
    live: bool = False
    env_file: str | None = None
    demo: bool | None = None
    api_url: str | None = None
    state_file: str | None = None
    rest_lag: float = 2.0
    ident: str | None = None
    ticker: str | None = None
    side: BookSide | None = None
    price: int | None = None
    count: int | None = None
    tif: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    post_only: bool = False
    reduce_only: bool = False
    client_order_id: str | None = None
    reduce_by: int | None = None
    reduce_to: int | None = None
    tickers: list[str] | None = None
    event: str | None = None

    @property
    def title(self) -> str:
        return "queue" if self.action == "queue" else f"order {self.action}"


def check(args: argparse.Namespace) -> OrderCommand:
    """The command ``args`` ask for; ``ValueError`` (one line naming the option) for a bad value or combination."""
    action = "queue" if args.command == "queue" else args.action
    simulate = bool(args.simulate)
    if simulate and (args.env_file or args.api_url or args.demo is not None):
        raise ValueError("--simulate: the built-in simulator needs no --env-file, --api-url, --demo or --prod")
    live = bool(getattr(args, "live", False))
    if simulate and live:
        raise ValueError("--live and --simulate contradict each other: the built-in simulator is not live")
    if simulate and getattr(args, "state_file", None):
        raise ValueError("--state-file: --simulate keeps no state (its simulator lives only for this command)")
    common: dict[str, Any] = {
        "as_json": args.json,
        "simulate": simulate,
        "live": live,
        "env_file": args.env_file,
        "demo": args.demo,
        "api_url": args.api_url,
        "state_file": getattr(args, "state_file", None),
        "rest_lag": getattr(args, "rest_lag", 2.0),
    }
    if action == "queue":
        tickers = parse_tickers(args.ticker)
        if args.ticker is not None and not tickers:
            raise ValueError("--ticker: no ticker given")
        if args.event is not None and (not args.event.strip() or "," in args.event):
            raise ValueError(f"--event: needs one event ticker, not {args.event!r}")
        return OrderCommand("queue", tickers=tickers, event=args.event.strip() if args.event else None, **common)
    if action == "create":
        ticker = args.ticker.strip()
        if not re.fullmatch(r"[!-+\--~]{1,200}", ticker):  # printable, no space, no comma
            raise ValueError(f"--ticker: needs one market ticker, not {args.ticker!r}")
        tif = TIFS[args.tif]
        if args.reduce_only and tif is not TimeInForce.IMMEDIATE_OR_CANCEL:
            raise ValueError("--reduce-only: Kalshi takes it only with --tif ioc")
        if args.post_only and tif is not TimeInForce.GOOD_TILL_CANCELED:
            raise ValueError("--post-only: only for resting orders (--tif gtc)")
        if args.client_order_id is not None and args.client_order_id.startswith(CLI_PREFIX + "-"):
            raise ValueError(f"--client-order-id: the prefix {CLI_PREFIX}- is this command's own; choose another")
        try:  # the request model's own checks (the ticker's characters, ...), before any connection
            CreateOrderRequest(
                ticker=ticker,
                side=BookSide(args.side),
                price=args.price,
                count=args.count,
                client_order_id=args.client_order_id or CLI_PREFIX + "-check",
                time_in_force=tif,
                post_only=args.post_only,
                reduce_only=args.reduce_only,
            )
        except ValueError as exc:
            raise ValueError(f"--ticker: {exc}" if "ticker" in str(exc) else str(exc)) from None
        return OrderCommand(
            "create",
            ticker=ticker,
            side=BookSide(args.side),
            price=args.price,
            count=args.count,
            tif=tif,
            post_only=args.post_only,
            reduce_only=args.reduce_only,
            client_order_id=args.client_order_id,
            **common,
        )
    ident = getattr(args, "id", None)
    if ident is not None and (not ident.strip() or "/" in ident or "?" in ident):
        raise ValueError(f"ID: not an order id: {ident!r}")
    if action == "amend" and args.price is None and args.count is None:
        raise ValueError("amend: give --price and/or --count (the new remaining count)")
    return OrderCommand(
        action,
        ident=ident.strip() if ident else None,
        price=getattr(args, "price", None),
        count=getattr(args, "count", None),
        reduce_by=getattr(args, "reduce_by", None),
        reduce_to=getattr(args, "reduce_to", None),
        **common,
    )


# --- output (pure) ---------------------------------------------------------------------------------------------------


def order_row(o: TrackedOrder) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id if o.client_order_id != o.order_id else None,
        "order_id": o.order_id,
        "ticker": o.ticker,
        "book_side": o.side.value,
        "state": o.state.value,
        "price_dollars": price_str(o.price),
        "count_fp": size_str(o.count),
        "fill_count_fp": size_str(o.fill_count),
        "remaining_count_fp": size_str(o.remaining),
        "fees_dollars": money_str(o.fees),
        "resent": o.resent,
        "reason": o.reason or o.unknown or o.check or "",
    }


ORDER_HEADERS = (
    "TICKER", "SIDE", "STATE", "PRICE $", "COUNT", "FILLED", "REMAINING", "FEES $", "ORDER ID", "CLIENT ID",
)  # fmt: skip
ORDER_RIGHT = frozenset({3, 4, 5, 6, 7})


def order_cells(o: TrackedOrder, money_cell: Any) -> list[str]:
    row = order_row(o)
    return [
        o.ticker,
        o.side.value,
        o.state.value,
        row["price_dollars"],
        row["count_fp"],
        row["fill_count_fp"],
        row["remaining_count_fp"],
        money_cell(o.fees),
        o.order_id or "-",
        row["client_order_id"] or "-",
    ]


# --- running (I/O) ---------------------------------------------------------------------------------------------------


@dataclass
class _Endpoint:
    api_url: str
    signer: Signer
    environment: str
    key_id: str
    simulated: bool


@contextlib.asynccontextmanager
async def _endpoint(cmd: OrderCommand) -> AsyncIterator[_Endpoint]:
    """The user's configuration, or a built-in simulator for this one command (``--simulate``)."""
    if not cmd.simulate:
        cfg = Config.load(cmd.env_file, demo=cmd.demo, api_url=cmd.api_url)
        yield _Endpoint(cfg.api_url, cfg.signer(), cfg.environment, cfg.api_key_id, False)
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    key = ed25519.Ed25519PrivateKey.generate()  # throwaway key: the built-in simulator needs no account
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings: dict[str, Any] = {"public_key": public_pem, "ping_interval": None}
    if cmd.ticker:
        settings["tickers"] = [cmd.ticker]
    logging.getLogger("market_making_bot.simulator").setLevel(logging.WARNING)
    async with ExchangeSimulator(SimulatorConfig(**settings)) as sim:
        yield _Endpoint(sim.api_url, Signer("simulated-key", key), "simulator", "simulated-key", True)


class _AuthWatch:
    """The manager's journal hook, used to see a refused signature: ``OrderManager`` makes a 401 on a write a
    refused order; for the command line it is exit 4 with the listener's advice."""

    def __init__(self) -> None:
        self.refused: KalshiAPIError | None = None

    def order(self, text: str, t_ns: int) -> None:
        record = json.loads(text)
        if record.get("phase") == "error" and record.get("status") in (401, 403) and self.refused is None:
            self.refused = KalshiAPIError(record["status"], record.get("code", ""), record.get("message", ""))


async def run(cmd: OrderCommand, out: TextIO, err: TextIO, money_cell: Any) -> int:
    """Run the checked command; the table or JSON on ``out``, problems on ``err``; the exit code."""
    try:
        async with _endpoint(cmd) as ep:
            state: PlacedOrders | None = None
            if not ep.simulated and cmd.action != "queue":
                state = PlacedOrders.load(cmd.state_file or default_state_path())
            async with KalshiAPIClient(ep.api_url, ep.signer) as api:
                return await _run(cmd, ep, api, state, out, err, money_cell)
    except (ConfigError, PrivateKeyError, StateFileError) as exc:
        print(f"{NAME}: configuration error: {exc}", file=err)
        return EXIT_CONFIG
    except ValueError as exc:  # a simulator setting (--simulate --ticker not a usable ticker)
        print(f"{NAME}: {cmd.title}: {exc}", file=err)
        return EXIT_USAGE


async def _run(
    cmd: OrderCommand,
    ep: _Endpoint,
    api: KalshiAPIClient,
    state: PlacedOrders | None,
    out: TextIO,
    err: TextIO,
    money_cell: Any,
) -> int:
    doc: dict[str, Any] = {"command": cmd.title, "environment": ep.environment, "api_url": ep.api_url}
    try:
        if cmd.action == "queue":
            positions = await api.queue_positions(market_tickers=cmd.tickers, event_ticker=cmd.event)
            _print_queue(cmd, doc, positions, out)
            return EXIT_OK
        mark = await api.simulator_mark()
        refusal = order_destination_refusal(ep.api_url, mark, live=cmd.live)
        if refusal is not None:
            print(f"{NAME}: {cmd.title}: {refusal}", file=err)
            return EXIT_USAGE
        doc["destination"] = "simulator" if is_simulator_mark(mark) else "live"
        orders, code = await _orders(cmd, ep, api, state, err)
    except KalshiAPIError as exc:
        if exc.status in (401, 403):
            print(
                f"{NAME}: authentication failed: {ep.api_url} answered {exc} to the signed {cmd.title} request. "
                + AUTH_ADVICE.format(key=shorten_key_id(ep.key_id)),
                file=err,
            )
            return EXIT_AUTH
        print(f"{NAME}: {cmd.title}: Kalshi answered {exc}", file=err)
        return EXIT_REST
    except (KalshiConnectionError, KalshiResponseError) as exc:
        print(f"{NAME}: {cmd.title}: {exc}", file=err)
        return EXIT_REST
    except StateFileError as exc:
        print(f"{NAME}: {exc}", file=err)
        return EXIT_CONFIG
    unknown = sum(o.state is OrderState.UNKNOWN for o in orders)
    doc["count"] = len(orders)
    doc["orders"] = [order_row(o) for o in orders]
    doc["unknown"] = unknown
    if cmd.as_json:
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif orders:
        from market_making_bot.cli.account import table

        out.write(table(ORDER_HEADERS, [order_cells(o, money_cell) for o in orders], ORDER_RIGHT))
    else:
        out.write("no orders\n")
    for o in orders:
        if o.state is OrderState.REJECTED:
            print(f"{NAME}: {cmd.title}: order {o.client_order_id} was refused: {o.reason}", file=err)
            code = code or EXIT_REST
        elif o.state is OrderState.UNKNOWN:
            print(
                f"{NAME}: {cmd.title}: the outcome of order {o.client_order_id} is still unknown "
                f"({o.unknown or o.check}); `orders --status all` or `order cancel-mine` will find it",
                file=err,
            )
            code = EXIT_REST
    return code


def _print_queue(cmd: OrderCommand, doc: dict[str, Any], positions: list[QueuePosition], out: TextIO) -> None:
    rows = [
        {"order_id": q.order_id, "market_ticker": q.market_ticker, "queue_position_fp": size_str(q.queue_position_fp)}
        for q in positions
    ]
    doc["count"] = len(rows)
    doc["queue"] = rows
    if cmd.as_json:
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if not rows:
        out.write("no resting orders\n")
        return
    from market_making_bot.cli.account import table

    cells = [[r["market_ticker"], r["queue_position_fp"], r["order_id"]] for r in rows]
    out.write(table(("TICKER", "AHEAD", "ORDER ID"), cells, frozenset({1})))


async def _orders(
    cmd: OrderCommand, ep: _Endpoint, api: KalshiAPIClient, state: PlacedOrders | None, err: TextIO
) -> tuple[list[TrackedOrder], int]:
    """Do the write(s); the orders touched, in their final state, and the exit code so far."""
    account = account_tag(ep.key_id)

    def said(update: Any) -> None:
        if update.state is OrderState.UNKNOWN:
            print(
                f"{NAME}: {cmd.title}: order {update.client_order_id}: outcome unknown ({update.reason}); "
                "reading it back",
                file=err,
            )

    tracker = OrderTracker(CLI_PREFIX, rest_lag_ms=int(cmd.rest_lag * 1000))
    watch = _AuthWatch()
    manager = OrderManager(api, tracker, armed=True, on_update=said, journal=watch)
    orders, code = await _act(cmd, ep, manager, api, state, account, err)
    if watch.refused is not None:
        raise watch.refused
    return orders, code


async def _act(
    cmd: OrderCommand,
    ep: _Endpoint,
    manager: OrderManager,
    api: KalshiAPIClient,
    state: PlacedOrders | None,
    account: str,
    err: TextIO,
) -> tuple[list[TrackedOrder], int]:
    tracker = manager.tracker
    if cmd.action == "create":
        assert cmd.ticker is not None and cmd.side is not None and cmd.price is not None and cmd.count is not None
        coid = cmd.client_order_id or f"{CLI_PREFIX}-{secrets.token_hex(8)}"
        entry = PlacedOrder(ep.api_url, account, coid, cmd.ticker, manager.now_ms())
        if state is not None:  # before the send: an unknown outcome is still found later by its coid
            state.add(entry)
            state.save()
        try:
            order = await manager.place(
                cmd.ticker,
                cmd.side,
                cmd.price,
                cmd.count,
                time_in_force=cmd.tif,
                post_only=cmd.post_only,
                reduce_only=cmd.reduce_only,
                client_order_id=coid,
            )
            await _settle(manager)
        finally:
            known = tracker.get(coid)
            if state is not None and known is not None:
                _keep(state, entry, known)
                state.save()
        return [order], EXIT_OK
    if cmd.action == "cancel-mine":
        return await _cancel_mine(manager, api, ep, account, state), EXIT_OK
    assert cmd.ident is not None
    entry_found = state.find(ep.api_url, account, cmd.ident) if state is not None else None
    order_id = entry_found.order_id if entry_found is not None and entry_found.order_id else cmd.ident
    order = await manager.take_over(order_id)
    coid = order.client_order_id
    try:
        if cmd.action == "cancel":
            await manager.cancel(coid)
        elif cmd.action == "amend":
            await manager.amend(coid, price=cmd.price, remaining=cmd.count)
        else:
            await manager.decrease(coid, reduce_by=cmd.reduce_by, reduce_to=cmd.reduce_to)
    except OrderRefused as exc:
        print(f"{NAME}: {cmd.title}: {exc}", file=err)
        return [order], EXIT_REST
    await _settle(manager)
    if state is not None and entry_found is not None:
        _keep(state, entry_found, order)
        state.save()
    return [order], EXIT_OK


async def _settle(manager: OrderManager) -> None:
    """Read until no order is unknown (a few rounds: each waits the REST lag); then read the orders that filled by
    id, for their fees (the replies carry none; the newest observation still wins, so a lagging read is harmless)."""
    for _ in range(_SETTLE_ROUNDS):
        if not manager.tracker.unresolved():
            break
        await manager.resolve()
    for order in list(manager.tracker.orders.values()):
        if order.order_id is not None and order.fill_count > 0:
            with contextlib.suppress(KalshiAPIError, KalshiConnectionError, KalshiResponseError):
                await manager.refresh(order.client_order_id)


def _keep(state: PlacedOrders, entry: PlacedOrder, order: TrackedOrder) -> None:
    """Keep the entry while the order may still trade (with its order id), drop it once it is terminal."""
    if order.state in TERMINAL:
        state.remove(entry)
    elif order.order_id is not None:
        entry.order_id = order.order_id


async def _cancel_mine(
    manager: OrderManager, api: KalshiAPIClient, ep: _Endpoint, account: str, state: PlacedOrders | None
) -> list[TrackedOrder]:
    """Take over every order of the state file (this server, this key), cancel the open ones by order id."""
    entries = state.mine(ep.api_url, account) if state is not None else []
    taken: list[tuple[PlacedOrder, TrackedOrder]] = []
    missing: list[PlacedOrder] = []
    for entry in entries:
        order_id = entry.order_id
        if order_id is None:  # its create's outcome was unknown when the command ended: find it by its coid
            since_s = entry.placed_ms // 1000 - 60
            found = [o async for o in api.orders(ticker=entry.ticker, min_ts=since_s)]
            match = [o for o in found if o.client_order_id == entry.client_order_id]
            if not match:
                missing.append(entry)
                continue
            order_id = match[0].order_id
        try:
            order = await manager.take_over(order_id)
        except KalshiAPIError as exc:
            if exc.status != 404:
                raise
            missing.append(entry)
            continue
        taken.append((entry, order))
    await manager.cancel_mine()
    await _settle(manager)
    if state is not None:
        for entry in missing:
            if time.time() * 1000 - entry.placed_ms > 10 * 60_000:  # long enough for any REST lag: it never landed
                state.remove(entry)
        for entry, order in taken:
            _keep(state, entry, order)
        state.save()
    return [order for _, order in taken]
