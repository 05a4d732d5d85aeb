"""Simulator settings (one dataclass; the command line maps onto it one to one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from market_making_bot.simulator.faults import FaultSpec
from market_making_bot.simulator.model import FEE_TYPES, default_tickers
from market_making_bot.simulator.units import TICKS


@dataclass
class SimulatorConfig:
    markets: int = 3
    """Number of generated markets (ignored when ``tickers`` is given)."""
    tickers: list[str] | None = None
    rate: float = 50.0
    """Data frames per second over all markets, as seen by a client subscribed to everything."""
    seed: int = 1
    tick: str = "cent"
    """``cent`` ($0.01 steps) or ``deci_cent`` ($0.001 steps)."""
    legacy_cents: bool = False
    """Emit the pre-2026 integer-cent shapes (whole contracts, cent ticks only)."""
    like_production: bool = False
    """Emit what the production server sends rather than what the spec says: no ``clock`` and no
    ``sending_ts_ms`` on order-book frames, a delta ``ts`` with 1 to 6 fractional digits
    (PROTOCOL.md 10b items 3 and 4). The default output follows the AsyncAPI spec."""
    ping_interval: float | None = 10.0
    """Seconds between ``heartbeat`` pings; None: no pings."""
    ping_timeout: float | None = None
    """Close a connection whose pong is this late; None: 3 x ping_interval."""
    duration: float | None = None
    """Seconds of order flow from start; then the books stop changing. None: until stopped."""
    faults: list[FaultSpec] = field(default_factory=list)
    public_key: bytes | None = None
    """PEM of the public key handshakes are verified against; None: the simulator makes a key pair."""
    key_type: str = "rsa"
    """Type of the key pair made when ``public_key`` is None (``rsa`` or ``ed25519``)."""
    auth_window_s: float = 10.0
    """Largest accepted distance between ``KALSHI-ACCESS-TIMESTAMP`` and server time."""
    allow_anonymous: bool = False
    """Accept handshakes without auth headers; such sessions get error 9 on private channels."""
    host: str = "127.0.0.1"
    port: int = 0
    empty_sides: str = "omit"
    """Snapshot side with no bids: ``omit`` the key (spec) or send ``empty`` ``[]``."""
    start_paused: bool = False
    """Do not start the order flow until :meth:`ExchangeSimulator.start_flow` (for determinism tests)."""
    depth: int = 10
    """Initial price levels per side."""
    maker_fee_rate: Decimal = Decimal("0.0175")
    taker_fee_rate: Decimal = Decimal("0.07")
    fee_type: str = "quadratic_with_maker_fees"
    """The series' ``fee_type`` (REST.md 6.8): makers pay ``maker_fee_rate`` on ``quadratic_with_maker_fees``,
    nothing on ``quadratic``, half the taker's rate on ``quadratic_with_combo_maker_fees``."""
    auto_user: bool = True
    """The built-in simulated user trades by itself once a client subscribes to a private channel (until the
    account's first REST order, when it stops for good, its orders canceled). False (``--no-auto-user``): never,
    so every fill of the account comes from its own REST orders."""
    truth_json: Path | None = None
    """Where to write the truth when the duration ends and when the simulator stops."""
    repeat_subscribe: str = "ok"
    """Reply to a ``subscribe`` on a channel this connection already has: ``ok`` (what the real
    server does: the existing sid, a consumed seq, the full market list) or ``subscribed`` (the
    simulator's behaviour before 2026-10: the existing sid again, no seq)."""
    starting_balance_cents: int = 1_000_000
    """The simulated user's cash before any fill (REST ``/portfolio/balance``), in cents: $10,000."""
    opens_after: dict[str, float] = field(default_factory=dict)
    """Markets that open later: ticker -> seconds after the simulator starts. Until then REST lists the market as
    ``initialized`` (``status=unopened``, not ``open``) with that ``open_time``, and the order flow leaves its
    seeded book alone; :meth:`ExchangeSimulator.open_market` opens one at once."""
    max_queue: int = 250_000
    """Frames queued for one connection before its order-book subscriptions die with error 25."""

    def resolved_tickers(self) -> list[str]:
        return list(self.tickers) if self.tickers else default_tickers(self.markets)

    def validate(self) -> None:
        if self.tick not in TICKS:
            raise ValueError(f"unknown tick {self.tick!r} (known: {', '.join(TICKS)})")
        if self.legacy_cents and self.tick != "cent":
            raise ValueError("--legacy-cents carries integer cents: it needs --tick cent")
        if self.legacy_cents and self.like_production:
            raise ValueError("--like-production describes today's fixed-point frames: not with --legacy-cents")
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if not self.tickers and self.markets < 1:
            raise ValueError("at least one market is needed")
        if self.duration is not None and self.duration < 0:
            raise ValueError("duration must be >= 0")
        if self.ping_interval is not None and self.ping_interval <= 0:
            raise ValueError("ping_interval must be > 0")
        if self.empty_sides not in ("omit", "empty"):
            raise ValueError("empty_sides must be 'omit' or 'empty'")
        if self.repeat_subscribe not in ("ok", "subscribed"):
            raise ValueError("repeat_subscribe must be 'ok' or 'subscribed'")
        if self.opens_after:
            listed = set(self.resolved_tickers())
            for ticker, seconds in self.opens_after.items():
                if ticker not in listed:
                    raise ValueError(f"--open-later: {ticker} is not one of the simulated markets")
                if not seconds >= 0:
                    raise ValueError(f"--open-later: {ticker} needs a number of seconds >= 0, not {seconds}")
            if listed <= set(self.opens_after):
                raise ValueError("--open-later: at least one market must be open from the start")
        if self.key_type not in ("rsa", "ed25519"):
            raise ValueError("key_type must be 'rsa' or 'ed25519'")
        if self.fee_type not in FEE_TYPES:
            raise ValueError(f"--fee-type: {self.fee_type!r} is not one of {', '.join(FEE_TYPES)}")
        if not (0 <= self.maker_fee_rate < 1 and 0 <= self.taker_fee_rate < 1):
            raise ValueError("fee rates must be in [0, 1)")
