"""Live mode: wire Config, Signer, Session, Core and the client together; run until the duration, Ctrl-C or SIGTERM.

The CLI (``mm_ws_listener``) parses arguments and calls :func:`run_live`; this module only assembles parts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from market_making_bot.cli.monitor import start_monitoring
from market_making_bot.feed.core import Core
from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import PrivateKeyError, Signer
from market_making_bot.runtime.account import RestAccount
from market_making_bot.runtime.client import (
    AuthenticationError,
    ConnectionPolicy,
    KalshiWebSocketClient,
    NoMarketsError,
)
from market_making_bot.runtime.config import Config, ConfigError
from market_making_bot.runtime.rest import KalshiAPIClient

if TYPE_CHECKING:
    from market_making_bot.runtime.audit import BookAuditor
    from market_making_bot.storage.journal import JournalWriter

__all__ = ["EXIT_AUTH", "EXIT_CONFIG", "EXIT_JOURNAL", "EXIT_NO_MARKETS", "EXIT_OK", "run_live"]

log = logging.getLogger("market_making_bot.cli.live")

EXIT_OK = 0
EXIT_CONFIG = 3  # a setting or the key file is missing or invalid
EXIT_AUTH = 4  # the server refused the signed handshake (HTTP 401/403)
EXIT_NO_MARKETS = 5  # no valid market left: every ticker was rejected by the server
EXIT_JOURNAL = 6  # the run went on, but writing the journal (--record) failed during it


def run_live(args: argparse.Namespace, core: Core, tickers: list[str], write_summary: Callable[[], None]) -> int:
    """Run the live listener (or the built-in demo with ``args.simulate``) and return the exit code."""
    try:
        return asyncio.run(_main(args, core, tickers, write_summary))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        write_summary()
        return EXIT_OK


async def _main(args: argparse.Namespace, core: Core, tickers: list[str], write_summary: Callable[[], None]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    code = EXIT_OK
    cli_tickers = list(tickers)  # --ticker's (with --simulate, _endpoint gives the simulator's markets)
    try:
        async with _endpoint(args, tickers) as (url, api_url, signer, tickers, with_private), _following(
            args, signer, cli_tickers
        ) as follow, KalshiAPIClient(api_url, signer) as api:
            if follow is not None:  # --event/--series: the --ticker markets, then every open market they list
                tickers = follow.tickers
            journal = _journal(args, url)
            account = RestAccount(
                api,
                core,
                tickers,
                with_private=with_private,
                on_update=(lambda text, t: journal.rest(text, t, 0)) if journal else None,  # before any connection
            )
            if tickers:  # checked before subscribing: unknown or closed tickers are dropped (REST)
                tickers = await account.check_tickers(tickers)
                if not tickers:
                    raise NoMarketsError("no valid market left: every ticker is unknown or closed (GET /markets)")
                account.sync.tickers = list(tickers)
            if with_private:  # positions, resting orders, balance known before the first fill
                await account.load_start()
            session = Session(tickers, with_private=with_private)
            policy = ConnectionPolicy(
                ping_interval=args.ping_interval,
                ping_timeout=args.ping_timeout,
            )
            client = KalshiWebSocketClient(
                url,
                signer,
                core,
                session,
                policy,
                on_frame=journal.frame_in if journal else None,
                on_send=journal.frame_out if journal else None,
                on_connect=journal.connected if journal else None,
            )
            views = start_monitoring(  # --dashboard, --metrics-port (monitor.py)
                args, core, client, stop, account=account.account if with_private else None
            )
            log.info(
                "connecting to %s as key %s (%s) for %s%s",
                url,
                signer.key_id[:8] + "…",
                signer.key_type,
                ", ".join(tickers) or "all markets",
                " with private channels" if with_private else "",
            )
            runner = asyncio.create_task(client.run(stop))
            account.on_update = (lambda text, t: journal.rest(text, t, client.connections)) if journal else None
            backfill = asyncio.create_task(account.run(stop)) if with_private else None
            auditor = _auditor(args, api, client, journal)
            audits = asyncio.create_task(auditor.run(stop)) if auditor is not None else None
            timer = asyncio.create_task(_stop_after(stop, args.duration)) if args.duration else None
            poller = follow.start(client.protocol, stop) if follow is not None else None
            ended = False
            try:
                await runner
                ended = True  # duration, SIGINT/SIGTERM, or given up: not a 401, not every market rejected
            finally:
                if poller is not None:
                    poller.cancel()
                for task in (backfill, audits):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                if ended and with_private and account.auth_error is None and not (auditor and auditor.auth_error):
                    # the fills made since the last backfill (all of them if the run ends while disconnected),
                    # journaled like the others before the journal closes, so a replay ends the same
                    await account.final_backfill()
                await views.close()
                if timer is not None:
                    timer.cancel()
                if journal is not None:
                    journal.close()
                    _log_journal(journal)
                    if journal.failed and code == EXIT_OK:
                        code = EXIT_JOURNAL
            if account.auth_error is not None:
                raise account.auth_error
            if auditor is not None and auditor.auth_error is not None:
                raise auditor.auth_error
    except (ConfigError, PrivateKeyError) as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    except AuthenticationError as exc:
        log.error("%s", exc)
        code = EXIT_AUTH
    except NoMarketsError as exc:
        log.error("%s; check --ticker, --event, --series (exit code %d)", exc, EXIT_NO_MARKETS)
        code = EXIT_NO_MARKETS
    finally:
        write_summary()
    _log_end_of_run(core, time.monotonic() - started)
    return code


def _auditor(
    args: argparse.Namespace, api: KalshiAPIClient, client: KalshiWebSocketClient, journal: JournalWriter | None
) -> BookAuditor | None:
    """``--audit-interval S``: the book audit (runtime.audit), its results journaled as ``rest`` records."""
    interval = getattr(args, "audit_interval", None)
    if not interval:
        return None
    from market_making_bot.runtime.audit import BookAuditor

    on_update = (lambda text, t: journal.rest(text, t, client.connections)) if journal else None
    log.info("book audit: every %g s, each usable book compared with GET /markets/{ticker}/orderbook", interval)
    return BookAuditor(api, client.protocol, interval=interval, on_update=on_update)


def _journal(args: argparse.Namespace, url: str) -> JournalWriter | None:
    """The journal for ``--record``: ``args.journal`` when the CLI made it (its summary reports on it), else new."""
    if not args.record:
        return None
    from market_making_bot.storage.journal import JournalWriter, parse_rotation

    journal: JournalWriter | None = getattr(args, "journal", None)
    if journal is None:
        journal = JournalWriter(
            args.record, rotate=parse_rotation(args.record_rotate), overwrite=getattr(args, "record_overwrite", False)
        )
    journal.url = url
    return journal


def _log_journal(journal: JournalWriter) -> None:
    files = journal.files
    if not files:
        where = f"{journal.path} (nothing recorded)"
    elif len(files) == 1:
        where = str(files[0])
    else:
        where = f"{len(files)} files, {files[0]} to {files[-1]}"
    if journal.error is None:
        log.info("journal: %d records in %s", journal.lines, where)
    else:
        log.error(
            "journal: recording FAILED (%s): %d records written in %s, %d not written; exit code %d",
            journal.error,
            journal.lines,
            where,
            journal.dropped,
            EXIT_JOURNAL,
        )


async def _stop_after(stop: asyncio.Event, seconds: float) -> None:
    await asyncio.sleep(seconds)
    log.info("duration of %.1f s reached; stopping", seconds)
    stop.set()


@contextlib.asynccontextmanager
async def _endpoint(
    args: argparse.Namespace, tickers: list[str]
) -> AsyncIterator[tuple[str, str, Signer, list[str], bool]]:
    """Yield (url, api_url, signer, tickers, with_private): from the user's config, or a built-in simulator."""
    if not args.simulate:
        cfg = Config.load(args.env_file, demo=args.demo, ws_url=args.ws_url, api_url=getattr(args, "api_url", None))
        log.info("environment: %s, key %s, key file %s", cfg.environment, cfg.key_id_short, cfg.private_key_path)
        args.rest_base_url = cfg.api_url  # --event/--series list markets there
        yield cfg.ws_url, cfg.api_url, cfg.signer(), tickers, args.with_private
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    key = ed25519.Ed25519PrivateKey.generate()  # throwaway key: the demo needs no account
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sim_kwargs: dict[str, Any] = {"public_key": public_pem, "seed": args.seed, "rate": args.sim_rate}
    if tickers:
        sim_kwargs["tickers"] = tickers
    else:
        sim_kwargs["markets"] = args.sim_markets
    if not log.isEnabledFor(logging.DEBUG):  # the simulator's own chatter stays out of the demo's output
        logging.getLogger("market_making_bot.simulator").setLevel(logging.WARNING)
    async with ExchangeSimulator(SimulatorConfig(**sim_kwargs)) as sim:
        log.info("built-in simulator serving at %s", sim.url)
        args.rest_base_url = sim.api_url
        yield sim.url, sim.api_url, Signer("simulated-key", key), sim.config.resolved_tickers(), True


class _Follow:
    """``--event``/``--series``: the REST client, the follower and the first listing's tickers (runtime.follow)."""

    def __init__(self, api: Any, follower: Any, tickers: list[str], interval: float) -> None:
        self.api, self.follower, self.tickers, self.interval = api, follower, tickers, interval
        self.poller: Any = None

    def start(self, protocol: Any, stop: asyncio.Event) -> asyncio.Task[None]:
        from market_making_bot.runtime.follow import MarketPoller

        self.poller = MarketPoller(self.api, self.follower, protocol, self.interval)
        return asyncio.create_task(self.poller.run(stop))


@contextlib.asynccontextmanager
async def _following(args: argparse.Namespace, signer: Signer, tickers: list[str]) -> AsyncIterator[_Follow | None]:
    """With ``--event``/``--series``: list their open markets (REST at ``args.rest_base_url``) before connecting,
    and keep the client for the poller; ``NoMarketsError`` when no market at all is left to follow."""
    events, series = getattr(args, "event", None) or [], getattr(args, "series", None) or []
    if not (events or series):
        yield None
        return
    from market_making_bot.feed.follow import Follower, source_name
    from market_making_bot.runtime.follow import DEFAULT_FOLLOW_INTERVAL, resolve
    from market_making_bot.runtime.rest import KalshiAPIClient

    sources = tuple(source_name("event", e) for e in events) + tuple(source_name("series", s) for s in series)
    explicit = list(tickers)
    async with KalshiAPIClient(args.rest_base_url, signer) as api:
        follower = Follower(sources)
        listed = await resolve(api, follower, explicit)
        if not explicit and not listed:
            raise NoMarketsError(f"no open market to follow in {', '.join(sources)}")
        interval = args.follow_interval or DEFAULT_FOLLOW_INTERVAL
        log.info("following %s: %d markets now, listing again every %g s", ", ".join(sources),
                 len(explicit) + len(listed), interval)  # fmt: skip
        yield _Follow(api, follower, [*explicit, *listed], interval)


def _log_end_of_run(core: Core, seconds: float) -> None:
    h = core.health_value()  # the same figures as the summary's health block and the [HEALTH] line
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(core.by_type.items()))
    unusable = [f"{t} ({reason})" for t, reason in h.unusable]
    log.info(
        "end of run: %.1f s, %d frames (%s), %d markets (%d usable), %d reconnects, %d gaps, %d resyncs, "
        "%d malformed, %d handler errors%s",
        seconds,
        h.frames,
        by_type or "none",
        h.books_total,
        h.books_usable,
        h.reconnects,
        h.gaps,
        h.resyncs,
        h.malformed,
        h.handler_errors,
        (" | not usable: " + ", ".join(unusable)) if unusable else "",
    )
