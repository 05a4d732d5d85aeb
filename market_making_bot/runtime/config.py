"""Configuration: credentials and endpoints from ``.env`` and the environment (real environment variables win).

Variables (the seed's names)::

    KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH               production key
    KALSHI_DEMO_API_KEY, KALSHI_DEMO_PRIVATE_KEY_PATH        demo key
    KALSHI_DEMO_MODE                                         true/false/1/0/yes/no (any case)
    KALSHI_PRIVATE_KEY_PASSWORD                              optional, for an encrypted PEM
    KALSHI_WS_URL                                            optional URL override (e.g. a local simulator)
    KALSHI_API_URL                                           optional REST base URL override, with /trade-api/v2
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from market_making_bot.kalshi.auth import PrivateKey, Signer, load_private_key, shorten_key_id
from market_making_bot.kalshi.rest import DEMO_API_URL, PROD_API_URL

__all__ = ["PROD_WS_URL", "DEMO_WS_URL", "PROD_API_URL", "DEMO_API_URL", "Config", "ConfigError", "parse_bool"]

PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable; it never holds a secret."""


def parse_bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean: use true/false, 1/0 or yes/no")


@dataclass(frozen=True)
class Config:
    """Where to connect and with which key. Build it with :meth:`Config.load`."""

    demo: bool
    api_key_id: str
    private_key_path: Path
    ws_url: str
    key_id_variable: str = "KALSHI_API_KEY_ID"
    key_path_variable: str = "KALSHI_PRIVATE_KEY_PATH"
    private_key_password: str | None = field(default=None, repr=False)
    api_url: str = PROD_API_URL
    """REST base URL including ``/trade-api/v2`` (``KALSHI_API_URL``, else the environment's host)."""

    @property
    def environment(self) -> str:
        return "demo" if self.demo else "production"

    @property
    def key_id_short(self) -> str:
        return shorten_key_id(self.api_key_id)

    def __repr__(self) -> str:
        return (
            f"Config(environment={self.environment!r}, api_key_id={self.key_id_short!r}, "
            f"private_key_path={str(self.private_key_path)!r}, ws_url={self.ws_url!r}, api_url={self.api_url!r})"
        )

    @classmethod
    def load(
        cls,
        env_file: str | Path | None = None,
        *,
        demo: bool | None = None,
        ws_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        api_url: str | None = None,
    ) -> Config:
        """Read settings from ``env_file`` (default ``./.env`` if present) overlaid by ``environ`` (default
        ``os.environ``). ``demo`` (``--demo``/``--prod``) overrides ``KALSHI_DEMO_MODE``; ``ws_url`` (``--ws-url``)
        overrides ``KALSHI_WS_URL`` and the environment's host; ``api_url`` likewise overrides ``KALSHI_API_URL``."""
        values = cls._read(env_file, os.environ if environ is None else environ)
        if demo is None:
            demo = parse_bool("KALSHI_DEMO_MODE", values.get("KALSHI_DEMO_MODE", "false"))
        id_var, path_var = (
            ("KALSHI_DEMO_API_KEY", "KALSHI_DEMO_PRIVATE_KEY_PATH")
            if demo
            else ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH")
        )
        missing = [v for v in (id_var, path_var) if not values.get(v, "").strip()]
        if missing:
            where = "demo" if demo else "production"
            raise ConfigError(
                f"missing {' and '.join(missing)} for the {where} environment: set "
                f"{'them' if len(missing) > 1 else 'it'} in .env or the environment (see .env.example)"
            )
        url = ws_url or values.get("KALSHI_WS_URL", "").strip() or (DEMO_WS_URL if demo else PROD_WS_URL)
        if not url.startswith(("ws://", "wss://")):
            raise ConfigError(f"WebSocket URL {url!r} must start with ws:// or wss://")
        rest = api_url or values.get("KALSHI_API_URL", "").strip() or (DEMO_API_URL if demo else PROD_API_URL)
        if not rest.startswith(("http://", "https://")) or "?" in rest or "#" in rest:
            raise ConfigError(
                f"KALSHI_API_URL {rest!r} must be an http:// or https:// base URL such as {PROD_API_URL}"
            )
        password = values.get("KALSHI_PRIVATE_KEY_PASSWORD") or None
        return cls(
            demo=demo,
            api_key_id=values[id_var].strip(),
            private_key_path=Path(values[path_var].strip()).expanduser(),
            ws_url=url,
            key_id_variable=id_var,
            key_path_variable=path_var,
            private_key_password=password,
            api_url=rest.rstrip("/"),
        )

    @staticmethod
    def _read(env_file: str | Path | None, environ: Mapping[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        if env_file is not None:
            p = Path(env_file).expanduser()
            if not p.is_file():
                raise ConfigError(f"env file not found: {p}")
        else:
            p = Path(".env")
        if p.is_file():
            try:
                file_values = dotenv_values(p)
            except OSError as exc:
                raise ConfigError(f"cannot read env file {p}: {exc.strerror or type(exc).__name__}") from None
            values.update({k: v for k, v in file_values.items() if v is not None})
        values.update({k: v for k, v in environ.items() if k.startswith("KALSHI_")})
        return values

    def load_private_key(self) -> PrivateKey:
        """Load the key the config names; raises :class:`market_making_bot.kalshi.auth.PrivateKeyError`."""
        return load_private_key(
            self.private_key_path, variable=self.key_path_variable, password=self.private_key_password
        )

    def signer(self) -> Signer:
        return Signer(self.api_key_id, self.load_private_key())
