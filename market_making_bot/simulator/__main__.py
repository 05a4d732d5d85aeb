"""``python -m market_making_bot.simulator``: run the local Kalshi exchange.

Prints the URL it serves (``ws://HOST:PORT/trade-api/ws/v2``) on the first line of stdout. With
``--write-credentials PATH`` it makes a key pair and writes a ``.env``-style file the listener reads
as it is, once the server is listening. With ``--duration S`` the books change for S seconds, then
stop; the truth file is written then, and the server keeps serving quietly until SIGINT/SIGTERM
(which also write the truth file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from . import auth
from .config import SimulatorConfig
from .faults import KINDS, FaultSpec
from .server import ExchangeSimulator
from .units import TICKS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m market_making_bot.simulator",
        description="A local Kalshi exchange that speaks the real WebSocket protocol.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--markets", type=int, default=3, metavar="N", help="number of generated markets (default 3)"
    )
    g.add_argument(
        "--ticker", action="append", dest="tickers", metavar="T", help="a market ticker (repeatable)"
    )
    p.add_argument(
        "--rate",
        type=float,
        default=50.0,
        metavar="FRAMES_PER_S",
        help="data frames per second over all markets, for a client subscribed to everything (default 50)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the order flow (default 1)")
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
        default=[],
        metavar="SPEC",
        help=f"KIND[:every=N|:at=N][:count=N|all][:for=S], repeatable; KIND: {', '.join(KINDS)}",
    )
    p.add_argument(
        "--ping-interval", type=float, default=10.0, metavar="S", help="heartbeat ping period (10)"
    )
    p.add_argument(
        "--ping-timeout", type=float, default=None, metavar="S", help="close when a pong is this late"
    )
    p.add_argument(
        "--duration", type=float, default=None, metavar="S", help="seconds of order flow, then quiet"
    )
    p.add_argument(
        "--truth-json", type=Path, metavar="PATH", help="write the true state here (summary format)"
    )
    p.add_argument(
        "--auth-window", type=float, default=10.0, metavar="S", help="accepted timestamp skew (10 s)"
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
        "--maker-fee-rate", type=Decimal, default=Decimal("0.0175"), help="maker fee rate (0.0175)"
    )
    p.add_argument("--taker-fee-rate", type=Decimal, default=Decimal("0.07"), help="taker fee rate (0.07)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING... (default INFO, on stderr)")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    public_key = args.public_key.read_bytes() if args.public_key is not None else None
    return SimulatorConfig(
        markets=args.markets,
        tickers=args.tickers,
        rate=args.rate,
        seed=args.seed,
        tick=args.tick,
        legacy_cents=args.legacy_cents,
        like_production=args.like_production,
        ping_interval=args.ping_interval if args.ping_interval > 0 else None,
        ping_timeout=args.ping_timeout,
        duration=args.duration,
        faults=[FaultSpec.parse(s) for s in args.fault],
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
        truth_json=args.truth_json,
    )


async def run(cfg: SimulatorConfig, write_credentials: Path | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix
            loop.add_signal_handler(sig, stop.set)
    async with ExchangeSimulator(cfg) as sim:
        if sim.private_key is not None:
            env_path = write_credentials
            if env_path is None and cfg.public_key is None:
                env_path = Path(tempfile.mkdtemp(prefix="kalshi-sim-")) / "kalshi-sim.env"
            if env_path is not None:
                key_id, key_path = sim.write_credentials(env_path)
                print(
                    f"credentials: {env_path.resolve()} (key id {key_id}, private key {key_path})",
                    file=sys.stderr,
                )
        print(sim.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("market_making_bot.simulator.websockets").setLevel(logging.WARNING)
    try:
        cfg = config_from_args(args)
        if args.write_credentials is not None and cfg.public_key is not None:
            raise ValueError(
                "--write-credentials makes its own key pair: do not combine it with --public-key"
            )
        cfg.validate()
        if cfg.public_key is not None:
            auth.load_public_key(cfg.public_key)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):  # signal handlers normally catch it
        asyncio.run(run(cfg, args.write_credentials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
