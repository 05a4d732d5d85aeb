"""The opening handshake and the REST signature check: the ``auth-reject`` fault, the signed headers, the keys accepted.

:class:`Gate` decides on a request's method, path and headers, free of any HTTP library: the server
(:mod:`.server`) asks :meth:`Gate.check_handshake` before it upgrades ``GET`` :data:`WS_PATH` to a
WebSocket (a :class:`Refused` becomes a 401 reply), and :meth:`Gate.check_request` for a private REST
route (:mod:`.rest`). It also holds the simulator's own key pair and writes credentials for it.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from market_making_bot.simulator import auth
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.faults import FaultController
from market_making_bot.simulator.units import now_ms

log = logging.getLogger("market_making_bot.simulator")

WS_PATH = "/trade-api/ws/v2"
REST_PREFIX = "/trade-api/v2"


class Refused(Exception):
    """A request refused with 401; ``code``/``details`` for the REST error body, the text for the WS one."""

    def __init__(self, text: str, code: str = "authentication_error", details: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.details = details


class Gate:
    def __init__(self, config: SimulatorConfig, faults: FaultController) -> None:
        self.faults = faults
        self.allow_anonymous = config.allow_anonymous
        self.window_ms = int(config.auth_window_s * 1000)
        self.keys: list[auth.PublicKey] = []
        self.private_key: auth.PrivateKey | None = None
        if config.public_key is not None:
            self.keys.append(auth.load_public_key(config.public_key))
        else:
            self.private_key = auth.generate_private_key(config.key_type)
            self.keys.append(self.private_key.public_key())
        self.key_id = str(uuid.uuid4())
        self.rejected = 0  # handshakes refused (bad signature or the auth-reject fault)
        self.rest_rejected = 0  # REST requests refused with 401

    def add_public_key(self, pem: bytes) -> None:
        self.keys.append(auth.load_public_key(pem))

    def check_handshake(self, path: str, headers: Mapping[str, str]) -> str | None:
        """The key id the handshake on ``path`` is signed with (None: anonymous, if allowed); else :class:`Refused`."""
        if self.faults.take_auth_reject():
            self.rejected += 1
            raise Refused("Authentication rejected (simulator fault auth-reject)")
        key_id = headers.get(auth.KEY_HEADER)
        ts = headers.get(auth.TS_HEADER)
        sig = headers.get(auth.SIG_HEADER)
        if self.allow_anonymous and not (key_id or ts or sig):
            return None
        try:
            return self._check(key_id, ts, sig, "GET", path)
        except Refused as exc:
            self.rejected += 1
            log.info("handshake refused: %s", exc)
            raise

    def check_request(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        """The key id a private REST request is signed with; else :class:`Refused` (never anonymous)."""
        try:
            return self._check(
                headers.get(auth.KEY_HEADER), headers.get(auth.TS_HEADER), headers.get(auth.SIG_HEADER), method, path
            )
        except Refused as exc:
            self.rest_rejected += 1
            log.info("REST %s %s refused: %s", method, path, exc)
            raise

    def _check(self, key_id: str | None, ts: str | None, sig: str | None, method: str, path: str) -> str:
        try:
            return auth.check_headers(
                key_id, ts, sig, path=path, keys=self.keys, now_ms=now_ms(), window_ms=self.window_ms, method=method
            )
        except auth.AuthError as exc:
            raise Refused(str(exc), exc.code, exc.details) from None

    def write_credentials(
        self,
        env_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None,
        url: str,
        api_url: str | None = None,
    ) -> tuple[str, Path]:
        if self.private_key is None:
            raise RuntimeError("the simulator was given a public key: it has no private key to write")
        env = Path(env_path)
        kp = Path(key_path) if key_path is not None else env.with_name(env.name + ".key")
        kp = auth.write_private_key(kp, self.private_key)
        auth.write_env_file(env, key_id=self.key_id, private_key_path=kp, url=url, api_url=api_url)
        return self.key_id, kp
