"""``kalshi-sim`` / ``python -m market_making_bot.simulator``: run the local Kalshi exchange.

Prints the URL it serves (``ws://HOST:PORT/trade-api/ws/v2``) on the first line of stdout. With
``--write-credentials PATH`` it makes a key pair and writes a ``.env``-style file the listener reads
as it is, once the server is listening. With ``--duration S`` the books change for S seconds, then
stop; the truth file is written then, and the server keeps serving quietly until SIGINT/SIGTERM
(which also write the truth file).

Every option is checked before the server starts: a bad one gets one line naming it and the problem
on stderr and exit code 2; a failure at run time (a port already taken, a file that cannot be
written) one line and exit code 1; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import math
import signal
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

from market_making_bot.simulator import auth
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.faults import KINDS, FaultSpec
from market_making_bot.simulator.model import FEE_TYPES
from market_making_bot.simulator.server import ExchangeSimulator
from market_making_bot.simulator.units import TICKS

MAX_MARKETS = 10_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

EPILOG = """\
examples:
  kalshi-sim --write-credentials sim.env --markets 5 --rate 200
      serve 5 generated markets (KXSIM-26DEC31-M1 ...) at 200 frames/s; the listener then runs with
      python -m market_making_bot.mm_ws_listener --env-file sim.env --ticker KXSIM-26DEC31-M1,KXSIM-26DEC31-M2
  kalshi-sim --ticker KXA-26DEC31-X --ticker KXB-26DEC31-Y --port 8765 --duration 60 --truth-json truth.json
      two named markets on a fixed port; the books stop changing after 60 s and the truth is written
  kalshi-sim --write-credentials sim.env --fault gap:every=500 --fault disconnect:at=3000 --fault reorder
      a sequence gap every 500 data frames, one dropped connection, replies to commands out of order
  kalshi-sim --write-credentials sim.env --like-production
      frames as the production server sends them (no clock, no sending_ts_ms, ts with 1 to 6 digits)

faults (--fault, repeatable): KIND[:every=N|:at=N][:count=N|all][:for=S]
  KIND: """ + ", ".join(KINDS) + """
  the rest-* kinds count REST requests; also rate=R (probability per request) and, for rest-slow, ms=N:
  --fault rest-429:count=5  --fault rest-503:every=10  --fault rest-429:rate=0.1  --fault rest-slow:ms=200
  the order-* kinds count order writes (create, cancel, amend, ...): order-429 (not processed),
  order-timeout (processed, no reply; for=S holds the connection S seconds first), order-reject (503):
  --fault order-timeout:at=2  --fault order-429:every=5  --fault order-reject:rate=0.05

REST: GET http://HOST:PORT/trade-api/v2/... (market data public, /portfolio/* signed); the credentials
file holds KALSHI_API_URL. Orders: the V2 writes (POST/DELETE /portfolio/events/orders..., order groups),
signed; V1 order writes are answered 410 deprecated_v1_order_endpoint, as on Kalshi

exit codes:
  0  stopped by SIGINT/SIGTERM (Ctrl-C)
  1  failure at run time: the port is taken, the host cannot be bound, a file cannot be written
  2  bad command line: an option value, path or combination (nothing was started)
"""


class _Parser(argparse.ArgumentParser):
    """Bad input: one line (``PROG: argument --opt: problem``) and exit 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _prog() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name.startswith("kalshi-sim") else "python -m market_making_bot.simulator"


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0 to 65535; 0: any free port)")
    return value


def _markets(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= MAX_MARKETS:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1 to {MAX_MARKETS})")
    return value


def _ticker(text: str) -> str:
    if not text or text != text.strip() or any(c.isspace() or c == "," for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a market ticker (no spaces or commas; repeat --ticker for several)"
        )
    return text


def _open_later(text: str) -> tuple[str, float]:
    ticker, sep, seconds = text.rpartition("=")
    if not sep or not ticker.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not TICKER=SECONDS")
    return ticker.strip(), _non_negative(seconds)


def _fee(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1)")
    return value


def _fault(text: str) -> FaultSpec:
    try:
        return FaultSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level ({', '.join(LOG_LEVELS)})")
    return level


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=_prog(),
        description="A local Kalshi exchange that speaks the real WebSocket protocol.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--markets",
        type=_markets,
        default=3,
        metavar="N",
        help=f"number of generated markets (default 3, at most {MAX_MARKETS})",
    )
    g.add_argument(
        "--ticker", action="append", dest="tickers", type=_ticker, metavar="T", help="a market ticker (repeatable)"
    )
    p.add_argument(
        "--rate",
        type=_positive,
        default=50.0,
        metavar="FRAMES_PER_S",
        help="data frames per second over all markets, for a client subscribed to everything (default 50)",
    )
    p.add_argument("--seed", type=_integer, default=1, help="seed of the order flow (default 1)")
    p.add_argument(
        "--tick", choices=sorted(TICKS), default="cent", help="price tick structure (default cent)"
    )
    p.add_argument("--legacy-cents", action="store_true", help="emit the pre-2026 integer-cent shapes")
    p.add_argument(
        "--like-production",
        action="store_true",
        help="send what the production server sends, not what the spec says: no clock and no "
        "sending_ts_ms on order-book frames, delta ts with 1 to 6 fractional digits",
    )
    p.add_argument("--public-key", type=Path, metavar="PEM", help="verify handshakes against this public key")
    p.add_argument(
        "--write-credentials",
        type=Path,
        metavar="PATH",
        help="make a key pair; write the private key beside PATH and a KEY=value env file at PATH",
    )
    p.add_argument("--key-type", choices=("rsa", "ed25519"), default="rsa", help="type of generated key")
    p.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="SPEC",
        help="KIND[:every=N|:at=N][:count=N|all][:for=S], repeatable (see below)",
    )
    p.add_argument(
        "--ping-interval",
        type=_non_negative,
        default=10.0,
        metavar="S",
        help="heartbeat ping period (default 10; 0: no pings)",
    )
    p.add_argument(
        "--ping-timeout",
        type=_positive,
        default=None,
        metavar="S",
        help="close when a pong is this late (default 3 x the ping period)",
    )
    p.add_argument(
        "--duration", type=_non_negative, default=None, metavar="S", help="seconds of order flow, then quiet"
    )
    p.add_argument(
        "--truth-json", type=Path, metavar="PATH", help="write the true state here (summary format)"
    )
    p.add_argument(
        "--auth-window", type=_positive, default=10.0, metavar="S", help="accepted timestamp skew (10 s)"
    )
    p.add_argument("--allow-anonymous", action="store_true", help="accept handshakes without auth headers")
    p.add_argument(
        "--empty-sides",
        choices=("omit", "empty"),
        default="omit",
        help="snapshot side without bids: omit or []",
    )
    p.add_argument(
        "--repeat-subscribe",
        choices=("ok", "subscribed"),
        default="ok",
        help="reply to a subscribe on a channel the connection already has: ok (the real server: "
        "existing sid, a consumed seq, the full market list) or subscribed (older simulators); default ok",
    )
    p.add_argument(
        "--open-later",
        type=_open_later,
        action="append",
        default=[],
        metavar="TICKER=S",
        help="the market opens S seconds after the start (REST lists it initialized, not open, until then; "
        "its book stays quiet); repeatable",
    )
    p.add_argument(
        "--maker-fee-rate", type=_fee, default=Decimal("0.0175"), help="maker fee rate (0.0175)"
    )
    p.add_argument("--taker-fee-rate", type=_fee, default=Decimal("0.07"), help="taker fee rate (0.07)")
    p.add_argument(
        "--fee-type",
        choices=FEE_TYPES,
        default="quadratic_with_maker_fees",
        help="the series' fee_type: makers pay --maker-fee-rate on quadratic_with_maker_fees (default), nothing "
        "on quadratic, half the taker rate on quadratic_with_combo_maker_fees",
    )
    p.add_argument(
        "--no-auto-user",
        action="store_true",
        help="the built-in user never trades by itself: the account's fills come from its own REST orders only "
        "(without it, the built-in user trades once a private channel is subscribed, until the first REST order)",
    )
    p.add_argument(
        "--log-level",
        type=_level,
        default="INFO",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO, on stderr)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The config of parsed arguments; :class:`ValueError` names the option of a bad value."""
    public_key = None
    if args.public_key is not None:
        try:
            public_key = args.public_key.read_bytes()
            auth.load_public_key(public_key)
        except OSError as exc:
            raise ValueError(f"argument --public-key: cannot read {args.public_key}: {exc.strerror}") from None
        except ValueError as exc:
            raise ValueError(f"argument --public-key: {args.public_key} is not a usable public key: {exc}") from None
    tickers = args.tickers
    if tickers is not None:
        repeated = sorted({t for t in tickers if tickers.count(t) > 1})
        if repeated:
            raise ValueError(f"argument --ticker: {', '.join(repeated)} given more than once")
    faults = [f if isinstance(f, FaultSpec) else FaultSpec.parse(f) for f in args.fault]
    return SimulatorConfig(
        markets=args.markets,
        tickers=tickers,
        rate=args.rate,
        seed=args.seed,
        tick=args.tick,
        legacy_cents=args.legacy_cents,
        like_production=args.like_production,
        ping_interval=args.ping_interval if args.ping_interval > 0 else None,
        ping_timeout=args.ping_timeout,
        duration=args.duration,
        faults=faults,
        public_key=public_key,
        key_type=args.key_type,
        auth_window_s=args.auth_window,
        allow_anonymous=args.allow_anonymous,
        host=args.host,
        port=args.port,
        empty_sides=args.empty_sides,
        repeat_subscribe=args.repeat_subscribe,
        maker_fee_rate=args.maker_fee_rate,
        taker_fee_rate=args.taker_fee_rate,
        fee_type=args.fee_type,
        auto_user=not args.no_auto_user,
        truth_json=args.truth_json,
        opens_after=dict(args.open_later),
    )


def check_paths(args: argparse.Namespace) -> None:
    """Refuse output paths that cannot be written, before anything starts."""
    for option, path in (("--write-credentials", args.write_credentials), ("--truth-json", args.truth_json)):
        if path is None:
            continue
        try:
            auth.check_output_path(path)
            if option == "--write-credentials":
                auth.check_output_path(path.with_name(path.name + ".key"))
        except ValueError as exc:
            raise ValueError(f"argument {option}: {exc}") from None
    if args.write_credentials is not None and args.public_key is not None:
        raise ValueError(
            "argument --write-credentials: it makes its own key pair: do not combine it with --public-key"
        )


class RunError(Exception):
    """A failure at run time, already phrased for the user (exit code 1)."""


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available on this machine"
    if exc.errno == errno.EACCES:
        return "permission denied"
    text = exc.strerror or str(exc)
    return text[0].lower() + text[1:] if text else type(exc).__name__


async def run(cfg: SimulatorConfig, write_credentials: Path | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix
            loop.add_signal_handler(sig, stop.set)
    sim = ExchangeSimulator(cfg)
    try:
        await sim.start()
    except (OSError, OverflowError) as exc:  # nothing was started: nothing to stop
        problem = _bind_problem(exc) if isinstance(exc, OSError) else str(exc)
        raise RunError(f"--host {cfg.host} --port {cfg.port}: cannot listen there: {problem}") from None
    try:
        if sim.private_key is not None:
            env_path = write_credentials
            if env_path is None and cfg.public_key is None:
                env_path = Path(tempfile.mkdtemp(prefix="kalshi-sim-")) / "kalshi-sim.env"
            if env_path is not None:
                try:
                    key_id, key_path = sim.write_credentials(env_path)
                except (OSError, ValueError) as exc:
                    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                    raise RunError(f"--write-credentials {env_path}: cannot write it: {text}") from None
                print(
                    f"credentials: {env_path.resolve()} (key id {key_id}, private key {key_path})",
                    file=sys.stderr,
                )
        print(sim.url, flush=True)
        await stop.wait()
    finally:
        await sim.stop()
    if sim.truth_error is not None:
        raise RunError(f"--truth-json {cfg.truth_json}: {sim.truth_error}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        check_paths(args)
        cfg.validate()
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("market_making_bot.simulator.websockets").setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # signal handlers normally catch it
            asyncio.run(run(cfg, args.write_credentials))
    except RunError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
