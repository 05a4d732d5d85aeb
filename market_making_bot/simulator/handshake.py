"""The opening handshake: the endpoint path, the ``auth-reject`` fault, the signed headers, and the keys it accepts.

:class:`Gate` is the ``process_request`` hook of the WebSocket server. It answers 404 off
:data:`WS_PATH` and 401 to a refused signature (see :mod:`.auth`), and remembers which key each
accepted handshake was signed with (None: an anonymous one, with ``allow_anonymous``) until the
connection handler takes it. It also holds the simulator's own key pair and writes credentials for it.
"""

from __future__ import annotations

import logging
import os
import uuid
import weakref
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from market_making_bot.simulator import auth
from market_making_bot.simulator.config import SimulatorConfig
from market_making_bot.simulator.faults import FaultController
from market_making_bot.simulator.units import now_ms

log = logging.getLogger("market_making_bot.simulator")

WS_PATH = "/trade-api/ws/v2"


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
        self._accepted: weakref.WeakKeyDictionary[ServerConnection, str | None] = weakref.WeakKeyDictionary()

    def add_public_key(self, pem: bytes) -> None:
        self.keys.append(auth.load_public_key(pem))

    def key_of(self, ws: ServerConnection) -> str | None:
        """The key id the handshake of ``ws`` was signed with (None: anonymous); asked once."""
        return self._accepted.pop(ws, None)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"No WebSocket endpoint at {path}; use {WS_PATH}\n")
        if self.faults.take_auth_reject():
            self.rejected += 1
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "Authentication rejected (simulator fault auth-reject)\n"
            )
        headers = request.headers
        key_id = headers.get(auth.KEY_HEADER)
        ts = headers.get(auth.TS_HEADER)
        sig = headers.get(auth.SIG_HEADER)
        if self.allow_anonymous and not (key_id or ts or sig):
            self._accepted[connection] = None
            return None
        try:
            kid = auth.check_headers(
                key_id, ts, sig, path=path, keys=self.keys, now_ms=now_ms(), window_ms=self.window_ms
            )
        except auth.AuthError as exc:
            self.rejected += 1
            log.info("handshake refused: %s", exc)
            return connection.respond(HTTPStatus.UNAUTHORIZED, f"Unauthorized: {exc}\n")
        self._accepted[connection] = kid
        return None

    def write_credentials(
        self,
        env_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None,
        url: str,
    ) -> tuple[str, Path]:
        if self.private_key is None:
            raise RuntimeError("the simulator was given a public key: it has no private key to write")
        env = Path(env_path)
        kp = Path(key_path) if key_path is not None else env.with_name(env.name + ".key")
        kp = auth.write_private_key(kp, self.private_key)
        auth.write_env_file(env, key_id=self.key_id, private_key_path=kp, url=url)
        return self.key_id, kp
