"""Command line: ``python -m market_making_bot.bot`` (console script ``mm-bot``): run a strategy as a market maker.

Every option value, path and the strategy itself (loaded and made with its ``--param`` values) are checked before
anything connects: a problem is one line on stderr naming the option, exit 2. Orders go only to the project's
simulator unless ``--live`` (``trading.safety``); ``--dry-run`` sends none and logs what it would send.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from market_making_bot.cli.checks import (
    CliParser,
    check_output_file,
    check_record_path,
    int_in_range,
    package_version,
    parse_tickers,
    positive_number,
    positive_seconds,
)
from market_making_bot.trading.risk import RiskLimits
from market_making_bot.trading.strategy import Strategy
from market_making_bot.units import SIZE_SCALE, parse_money_dollars, parse_size_fp

__all__ = ["EXIT_LEFT_RESTING", "build_arg_parser", "load_strategy", "main"]

log = logging.getLogger("market_making_bot.bot")

EXIT_LEFT_RESTING = 7
"""The bot stopped, but some of its orders may still rest (their cancel could not be confirmed): listed in the log."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

EPILOG = """examples:
  # the reference market maker on the built-in simulator (no account), 30 s, then every order cancelled
  %(prog)s --simulate --strategy examples/quoter.py:Quoter --duration 30 --summary-json bot.json
  # against a separate simulator (its --write-credentials file), with limits and strategy parameters
  %(prog)s --env-file sim.env --ticker KXSIM-26DEC31-B1 --strategy examples/quoter.py:Quoter \\
      --max-position 5 --max-loss 20 --param half_spread=0.02 --param size=2
  # against Kalshi (demo): what it would send, nothing sent
  %(prog)s --demo --ticker A --strategy mypkg.strategies:Maker --dry-run
  # replay a recorded run (--record): the same strategy decides again; its orders are checked against the journal
  %(prog)s --replay run.jsonl --strategy examples/quoter.py:Quoter --param half_spread=0.02 --summary-json r.json
  # against Kalshi with real orders: only with --live
  %(prog)s --ticker A --strategy mypkg.strategies:Maker --live --max-position 2 --max-loss 10

risk (checked before every create; cancels always pass): --max-position N per market and --max-total-position N
  over all markets count the position plus what the resting orders on the same side could add; --max-loss D stops
  quoting and cancels every order once the total P&L (fees included, marked at the mid) is below -D. A book that is
  not usable (gap, crossed, disconnect, --stale-after) has its orders cancelled; quoting waits for the snapshot.
  An exchange-side order group lets at most --group-limit contracts fill per 15 s (default: twice
  --max-total-position, else twice --max-position times the markets); its trigger stops quoting. Kill switch:
  SIGUSR1 (or K on the dashboard) cancels every order of the bot at once and stops.

exit codes:
  0 normal end (duration, Ctrl-C, SIGTERM, kill switch), every order of the bot cancelled
  2 bad command line, strategy or parameter; or orders would go to a server that is not the simulator without --live
  3 configuration or key file problem
  4 authentication refused by the server
  5 no valid market left
  6 the journal (--record) failed during the run
  7 some orders of the bot may still rest after the stop (listed in the log)
  --replay: 0 every decision equal to the journal's; 1 a decision differs (the first one printed), or the journal
  cannot be read
"""


def _contracts(text: str) -> int:
    try:
        value = parse_size_fp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number of contracts (e.g. 10 or 2.5), not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 contracts, not {text!r}")
    return value


def _contracts_or_zero(text: str) -> int:
    return 0 if text.strip() in ("0", "0.0", "0.00") else _contracts(text)


def _dollars(text: str) -> int:
    try:
        value = parse_money_dollars(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes an amount of dollars (e.g. 50 or 12.5), not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text!r}")
    return value


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, not {text!r}")
    return key.strip(), value.strip()


def build_arg_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m market_making_bot.bot",
        description="Run a market-making strategy on Kalshi or the built-in simulator, under risk limits.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_name="mm-bot",
    )
    parser.add_argument("--version", action="version", version=package_version())
    parser.add_argument(
        "--strategy",
        required=True,
        metavar="PATH_OR_MODULE:Class",
        help="the strategy class, e.g. examples/quoter.py:Quoter",
    )
    parser.add_argument(
        "--param",
        action="append",
        type=_param,
        default=[],
        metavar="KEY=VALUE",
        help="a strategy parameter (repeatable)",
    )
    parser.add_argument(
        "--replay",
        metavar="JOURNAL",
        help="replay a journal of the bot (--record) through the strategy (--strategy, --param): its orders must "
        "equal the journal's; the markets, limits and prefix are the journal's",
    )
    parser.add_argument(
        "--ticker", action="append", metavar="T", help="market to trade (repeatable, or comma-separated)"
    )
    parser.add_argument(
        "--event", action="append", metavar="E", help="trade every open market of the event (listed at start)"
    )
    parser.add_argument(
        "--simulate", action="store_true", help="start the built-in simulator (no other user: every fill is the bot's)"
    )
    parser.add_argument(
        "--sim-markets", type=int_in_range(1, 100), default=2, metavar="N", help="markets for --simulate (default 2)"
    )
    parser.add_argument(
        "--sim-rate",
        type=positive_number("a number of frames per second"),
        default=100.0,
        metavar="FPS",
        help="simulator order flow for --simulate (default 100 frames/s)",
    )
    parser.add_argument("--seed", type=int_in_range(0, 2**63 - 1), default=1, help="simulator seed (default 1)")
    env = parser.add_mutually_exclusive_group()
    env.add_argument("--demo", dest="demo", action="store_true", default=None, help="use the demo environment")
    env.add_argument("--prod", dest="demo", action="store_false", help="use production")
    parser.add_argument("--env-file", metavar="PATH", help="read settings from PATH instead of ./.env")
    parser.add_argument("--ws-url", metavar="URL", help="WebSocket URL override")
    parser.add_argument("--api-url", metavar="URL", help="REST base URL override, including /trade-api/v2")
    parser.add_argument(
        "--live", action="store_true", help="allow orders to a server that is not the project's simulator (real money)"
    )
    parser.add_argument("--dry-run", action="store_true", help="send no order: log what would be sent")
    risk = parser.add_argument_group("risk limits")
    risk.add_argument(
        "--max-position",
        type=_contracts,
        default=10 * SIZE_SCALE,
        metavar="N",
        help="contracts per market, position + resting orders on that side (default 10)",
    )
    risk.add_argument(
        "--max-total-position",
        type=_contracts,
        default=None,
        metavar="N",
        help="contracts over all markets (default: none)",
    )
    risk.add_argument(
        "--max-order-size",
        type=_contracts,
        default=10 * SIZE_SCALE,
        metavar="N",
        help="contracts per order (default 10)",
    )
    risk.add_argument(
        "--max-open-orders", type=int_in_range(1, 10_000), default=50, metavar="N", help="resting orders (default 50)"
    )
    risk.add_argument(
        "--max-loss",
        type=_dollars,
        default=50 * 1_000_000,
        metavar="D",
        help="dollars: stop quoting and cancel once total P&L < -D (default 50)",
    )
    risk.add_argument(
        "--max-orders-per-second",
        type=int_in_range(1, 1000),
        default=10,
        metavar="N",
        help="creates per second (default 10)",
    )
    risk.add_argument(
        "--group-limit",
        type=_contracts_or_zero,
        default=None,
        metavar="N",
        help="exchange-side order group: contracts filled per 15 s (0: no group)",
    )
    risk.add_argument(
        "--stale-after",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="a book with no frame for S s is not usable",
    )
    risk.add_argument(
        "--stop-timeout", type=positive_seconds, default=10.0, metavar="S", help="retry cancels at stop for at most S s"
    )
    parser.add_argument(
        "--prefix", metavar="P", help="client order id prefix (the same one takes over a previous run's orders)"
    )
    parser.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    parser.add_argument("--summary-json", metavar="PATH", help="write the final state and the bot's figures to PATH")
    parser.add_argument("--record", metavar="PATH", help="journal every frame to PATH (refused if it exists)")
    parser.add_argument(
        "--dashboard", action="store_true", help="full-screen live view (needs rich); K is the kill switch"
    )
    parser.add_argument(
        "--metrics-port", type=int_in_range(0, 65535), metavar="N", help="serve Prometheus metrics (feed and bot)"
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST", help="address for --metrics-port")
    parser.add_argument("--log-file", metavar="PATH", help="write the log to PATH")
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="logging level (default INFO)"
    )
    parser.add_argument(
        "--ping-interval", type=positive_seconds, default=10.0, metavar="S", help="WebSocket ping interval"
    )
    parser.add_argument(
        "--ping-timeout", type=positive_seconds, default=10.0, metavar="S", help="no pong in S s: reconnect"
    )
    return parser


class StrategyLoadError(ValueError):
    pass


def load_strategy(spec: str, params: dict[str, str]) -> Strategy:
    """Load ``PATH.py:Class`` or ``package.module:Class`` and make it with ``params``; StrategyLoadError (one line)."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise StrategyLoadError(f"--strategy: {spec!r} must be PATH_OR_MODULE:Class (e.g. examples/quoter.py:Quoter)")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = Path(where)
        if not path.is_file():
            raise StrategyLoadError(f"--strategy: {where}: no such file")
        mod_name = f"_mm_strategy_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise StrategyLoadError(f"--strategy: {where}: not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise StrategyLoadError(f"--strategy: {where} failed to load: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise StrategyLoadError(f"--strategy: module {where!r} cannot be imported: {exc}") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type) or not issubclass(cls, Strategy):
        raise StrategyLoadError(f"--strategy: {where} has no Strategy subclass named {name!r}")
    try:
        return cls(params)
    except (ValueError, TypeError) as exc:
        raise StrategyLoadError(f"--param: {name}: {exc}") from None


_NOT_WITH_REPLAY = ("ticker", "event", "simulate", "live", "dry_run", "record", "env_file", "ws_url", "api_url",
                    "dashboard", "metrics_port")  # fmt: skip


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.replay is not None:
        for name in _NOT_WITH_REPLAY:
            if getattr(args, name, None) not in (None, False, []):
                parser.error(f"--{name.replace('_', '-')} is for a live run, not --replay (the journal has them)")
        if args.summary_json:
            try:
                check_output_file("--summary-json", args.summary_json)
            except ValueError as exc:
                parser.error(str(exc))
        return
    if not args.simulate and not args.ticker and not args.event:
        parser.error("--ticker or --event is required (or --simulate for the built-in simulator)")
    if args.simulate and (args.ws_url or args.api_url or args.env_file):
        parser.error("--ws-url, --api-url and --env-file are for a server of your own, not --simulate")
    if args.simulate and args.live:
        parser.error("--live is for a real exchange, not --simulate")
    for option in ("ws_url", "api_url"):
        value = getattr(args, option)
        if value is not None and "://" not in value:
            parser.error(f"--{option.replace('_', '-')}: {value!r} is not a URL")
    outputs = [
        (o, v)
        for o, v in (("--record", args.record), ("--summary-json", args.summary_json), ("--log-file", args.log_file))
        if v
    ]
    for i, (option, value) in enumerate(outputs):
        for other, other_value in outputs[i + 1 :]:
            if os.path.abspath(value) == os.path.abspath(other_value):
                parser.error(f"{option} and {other} name the same file ({value}): give each its own")
    try:
        if args.record:
            check_record_path(args.record, None, False)
        if args.summary_json:
            check_output_file("--summary-json", args.summary_json)
        if args.log_file:
            check_output_file("--log-file", args.log_file)
    except ValueError as exc:
        parser.error(str(exc))
    if args.env_file is not None and not Path(args.env_file).is_file():
        parser.error(f"--env-file: {args.env_file}: no such file")


def main(argv: list[str] | None = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    args.ticker = parse_tickers(args.ticker) or []
    args.event = parse_tickers(args.event) or []
    _check(parser, args)
    try:
        strategy = load_strategy(args.strategy, dict(args.param))
    except StrategyLoadError as exc:
        print(f"mm-bot: {exc}", file=sys.stderr)
        return 2
    if args.replay is not None:
        return _replay(args, strategy)
    if args.dashboard or args.metrics_port is not None:
        from market_making_bot.cli.monitor import missing_extra

        problem = missing_extra(args)
        if problem:
            print(f"mm-bot: {problem}", file=sys.stderr)
            return 3
    from market_making_bot.views.output import setup_logging

    setup_logging(args.log_level)
    handler = None
    if args.log_file or args.dashboard:
        from market_making_bot.cli.monitor import log_to_file

        args.log_file, handler = log_to_file(args.log_file)
    try:
        return asyncio.run(_main(args, strategy))
    except KeyboardInterrupt:
        return 0
    finally:
        if handler is not None:
            handler.close()


def _replay(args: argparse.Namespace, strategy: Strategy) -> int:
    """``--replay``: the journal through the same engine (``storage.bot_replay``): 0 all equal, else 1."""
    from market_making_bot.storage.bot_replay import replay_bot
    from market_making_bot.storage.journal import RecordingError
    from market_making_bot.views.output import setup_logging

    setup_logging(args.log_level)
    try:
        result = replay_bot([args.replay], strategy)
    except RecordingError as exc:
        print(f"mm-bot: --replay: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.line())
    if args.summary_json and result.core is not None:
        summary = result.core.summary()
        for ticker, figures in result.summary["markets"].items():
            summary["markets"].setdefault(ticker, {}).update(figures)
        summary["trading"] = result.summary["trading"]
        summary["pnl"] = result.summary["pnl"]
        _dump_summary(args.summary_json, summary)
    return 0 if result.equal else 1


def _limits(args: argparse.Namespace) -> RiskLimits:
    return RiskLimits(
        max_position=args.max_position,
        max_total_position=args.max_total_position,
        max_order_size=args.max_order_size,
        max_open_orders=args.max_open_orders,
        max_loss=args.max_loss,
        max_orders_per_second=args.max_orders_per_second,
    )


@contextlib.asynccontextmanager
async def _endpoint(args: argparse.Namespace) -> AsyncIterator[tuple[str, str, Any, list[str]]]:
    """(ws url, REST url, signer, tickers): the user's settings, or a built-in simulator without its own user."""
    if not args.simulate:
        from market_making_bot.runtime.config import Config

        cfg = Config.load(args.env_file, demo=args.demo, ws_url=args.ws_url, api_url=args.api_url)
        log.info("environment: %s, key %s", cfg.environment, cfg.key_id_short)
        yield cfg.ws_url, cfg.api_url, cfg.signer(), list(args.ticker)
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from market_making_bot.kalshi.auth import Signer
    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    key = ed25519.Ed25519PrivateKey.generate()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings: dict[str, Any] = {"public_key": public_pem, "seed": args.seed, "rate": args.sim_rate, "auto_user": False}
    if args.ticker:
        settings["tickers"] = list(args.ticker)
    else:
        settings["markets"] = args.sim_markets
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("market_making_bot.simulator").setLevel(logging.WARNING)
    async with ExchangeSimulator(SimulatorConfig(**settings)) as sim:
        log.info("built-in simulator serving at %s (no other user: every fill is the bot's)", sim.url)
        # --event alone: its markets, listed over REST like Kalshi's; else every simulated market (or --ticker's)
        tickers = [] if args.event and not args.ticker else sim.config.resolved_tickers()
        yield sim.url, sim.api_url, Signer("simulated-key", key), tickers


async def _main(args: argparse.Namespace, strategy: Strategy) -> int:
    from market_making_bot.cli.live import EXIT_AUTH, EXIT_CONFIG, EXIT_JOURNAL, EXIT_NO_MARKETS
    from market_making_bot.feed.core import Core
    from market_making_bot.feed.session import Session
    from market_making_bot.kalshi.auth import PrivateKeyError
    from market_making_bot.runtime.bot import Bot, BotRefused, BotSettings
    from market_making_bot.runtime.client import (
        AuthenticationError,
        ConnectionPolicy,
        KalshiWebSocketClient,
        NoMarketsError,
    )
    from market_making_bot.runtime.config import ConfigError
    from market_making_bot.runtime.rest import KalshiAPIClient, KalshiConnectionError
    from market_making_bot.views.output import LogOutput

    stop, kill = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig, event in ((signal.SIGINT, stop), (signal.SIGTERM, stop), (getattr(signal, "SIGUSR1", None), kill)):
        if sig is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, event.set)
    core: Core | None = None
    bot: Bot | None = None
    journal = None
    code = 0
    try:
        async with _endpoint(args) as (url, api_url, signer, tickers), KalshiAPIClient(api_url, signer) as api:
            tickers = await _resolve(api, tickers, args.event)
            if not tickers:
                raise NoMarketsError(f"no market to trade: no open market in --event {', '.join(args.event)}")
            from market_making_bot.runtime.account import RestAccount

            # unknown or closed tickers are dropped before anything is subscribed or placed (one WARNING each)
            tickers = await RestAccount(api, Core(tickers), tickers, with_private=False).check_tickers(tickers)
            if not tickers:
                raise NoMarketsError("no market to trade: every ticker is unknown or closed (GET /markets)")
            core = Core(tickers)
            feed_log = logging.getLogger("market_making_bot.bot.feed")  # the feed's problems, not every delta
            if not log.isEnabledFor(logging.DEBUG):
                feed_log.setLevel(logging.WARNING)
            LogOutput(feed_log).attach(core.bus)
            if args.record:
                from market_making_bot.storage.journal import JournalWriter

                journal = JournalWriter(args.record)
                journal.url = url
            client = KalshiWebSocketClient(
                url,
                signer,
                core,
                Session(tickers, with_private=True, with_orders=True),
                ConnectionPolicy(ping_interval=args.ping_interval, ping_timeout=args.ping_timeout),
                on_frame=journal.frame_in if journal else None,
                on_send=journal.frame_out if journal else None,
                on_connect=journal.connected if journal else None,
            )
            if journal is not None:  # a lost connection is journaled, so that --replay marks the books as live did
                from market_making_bot.feed.events import ConnectionDown

                lost = journal.lost
                client.protocol.bus.subscribe(ConnectionDown, lambda e: lost(e.connection, e.reason, e.recv_ns))
            limits = _limits(args)
            group = args.group_limit
            if group is None:
                base = limits.max_total_position or (limits.max_position or 10 * SIZE_SCALE) * len(tickers)
                group = 2 * base
            settings = BotSettings(
                tickers,
                limits,
                live=args.live,
                dry_run=args.dry_run,
                group_limit=group or None,
                stop_timeout=args.stop_timeout,
                stale_after=args.stale_after,
                prefix=args.prefix,
            )
            bot = Bot(
                strategy,
                api,
                client,
                settings,
                journal=journal,
                on_rest=(lambda text, t: journal.rest(text, t, 0)) if journal else None,
            )
            from market_making_bot.cli.monitor import start_monitoring

            views = start_monitoring(args, core, client, stop)
            if views.dashboard is not None:
                from market_making_bot.views.dashboard.model import portfolio_position_view

                views.dashboard.on_kill = kill.set  # K on the dashboard: the kill switch
                portfolio = bot.portfolio  # the positions panel shows the bot's exact P&L, not market_position's
                views.dashboard.model.position_source = lambda market: portfolio_position_view(portfolio, market)
            if views.metrics is not None:  # the bot's figures beside the feed's, read on this loop
                from market_making_bot.views.bot_metrics import BotCollector

                server, summary = views.metrics, bot.summary
                server.registry.register(BotCollector(lambda: server.collector._on_loop(summary)))
            timer = loop.call_later(args.duration, stop.set) if args.duration else None
            log.info(
                "bot %s on %s (%s)%s",
                type(strategy).__name__,
                ", ".join(tickers),
                url,
                " DRY RUN: no order is sent" if args.dry_run else "",
            )
            try:
                result = await bot.run(stop, kill)
            finally:
                if timer is not None:
                    timer.cancel()
                await views.close()
            if result.left:
                code = EXIT_LEFT_RESTING
    except BotRefused as exc:
        log.error("%s", exc)
        code = 2
    except (ConfigError, PrivateKeyError) as exc:
        log.error("configuration error: %s", exc)
        code = EXIT_CONFIG
    except AuthenticationError as exc:
        log.error("%s", exc)
        code = EXIT_AUTH
    except NoMarketsError as exc:
        log.error("%s (exit code %d)", exc, EXIT_NO_MARKETS)
        code = EXIT_NO_MARKETS
    except KalshiConnectionError as exc:
        log.error("the exchange cannot be reached: %s", exc)
        code = EXIT_CONFIG
    finally:
        if journal is not None:
            journal.close()
            if journal.failed and code == 0:
                code = EXIT_JOURNAL
        if args.summary_json and core is not None:
            _write_summary(args.summary_json, core, bot, journal)
    return code


async def _resolve(api: Any, tickers: list[str], events: list[str]) -> list[str]:
    out = list(tickers)
    for event in events:
        listed = [m.ticker async for m in api.markets(event_ticker=event, status="open")]
        if not listed:
            log.warning("--event %s: no open market", event)
        out.extend(t for t in listed if t not in out)
    return out


def _write_summary(path: str, core: Any, bot: Any, journal: Any) -> None:
    summary = core.summary()
    if bot is not None:
        extra = bot.summary()
        for ticker, figures in extra["markets"].items():
            summary["markets"].setdefault(ticker, {}).update(figures)
        summary["trading"] = extra["trading"]
        summary["pnl"] = extra["pnl"]
    if journal is not None:
        summary["recording"] = journal.status()
    _dump_summary(path, summary)


def _dump_summary(path: str, summary: dict[str, Any]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
            f.write("\n")
    except OSError as exc:
        log.error("--summary-json: cannot write %s: %s", path, exc.strerror or exc)


if __name__ == "__main__":
    raise SystemExit(main())
