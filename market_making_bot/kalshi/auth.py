"""Kalshi API-key authentication: load the private key, sign the WebSocket handshake.

Kalshi authenticates a WebSocket at the HTTP upgrade with three headers:

* ``KALSHI-ACCESS-KEY``: the API key id;
* ``KALSHI-ACCESS-TIMESTAMP``: Unix time in milliseconds;
* ``KALSHI-ACCESS-SIGNATURE``: standard base64 of the signature of ``timestamp + "GET" + path``, where ``path`` is the
  URL's path without the query string (``/trade-api/ws/v2``).

RSA keys sign with RSA-PSS (SHA-256, MGF1-SHA-256, salt length = digest length); Ed25519 keys sign the same string.
Nothing in this module ever puts key material, passwords or signatures into a log line or an exception message.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

__all__ = ["PrivateKeyError", "PrivateKey", "Signer", "load_private_key", "shorten_key_id", "sign_message"]

_KIND_NAMES: tuple[tuple[type, str], ...] = (
    (ec.EllipticCurvePrivateKey, "an elliptic-curve (EC)"),
    (dsa.DSAPrivateKey, "a DSA"),
    (ed448.Ed448PrivateKey, "an Ed448"),
)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class PrivateKeyError(Exception):
    """The private key could not be loaded. The message names the variable and the path, never key material."""


def load_private_key(path: Path | str, *, variable: str, password: str | None = None) -> PrivateKey:
    """Load an RSA or Ed25519 private key from a PEM file, with errors that say exactly what is wrong.

    ``variable`` is the name of the setting the path came from (e.g. ``KALSHI_PRIVATE_KEY_PATH``), for messages.
    """
    p = Path(path).expanduser()
    where = f"{variable}={p}"
    if not p.exists():
        raise PrivateKeyError(f"private key file not found: {where} does not exist")
    if p.is_dir():
        raise PrivateKeyError(f"private key path is a directory, not a file: {where}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise PrivateKeyError(f"cannot read private key file {where}: {exc.strerror or type(exc).__name__}") from None
    if b"-----BEGIN" not in data:
        if data.lstrip().startswith(b"ssh-") or b"OPENSSH" in data:
            raise PrivateKeyError(f"{where} is an OpenSSH key; Kalshi needs a PEM private key (PKCS#1 or PKCS#8)")
        raise PrivateKeyError(f"{where} is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' block)")
    if b"PRIVATE KEY-----" not in data:
        raise PrivateKeyError(f"{where} holds a PEM block that is not a private key (a public key or certificate?)")
    if b"OPENSSH PRIVATE KEY" in data:
        raise PrivateKeyError(f"{where} is an OpenSSH-format key; convert it to PEM (PKCS#8) first")
    encrypted = b"ENCRYPTED" in data
    pw = password.encode() if password else None
    try:
        key = serialization.load_pem_private_key(data, password=pw)
    except TypeError:
        # cryptography raises TypeError when a password is missing for an encrypted key, or given for a plain one.
        if encrypted and pw is None:
            raise PrivateKeyError(
                f"{where} is encrypted: set KALSHI_PRIVATE_KEY_PASSWORD to its password"
            ) from None
        raise PrivateKeyError(
            f"{where} is not encrypted but KALSHI_PRIVATE_KEY_PASSWORD is set; unset the password"
        ) from None
    except ValueError:
        if encrypted:
            raise PrivateKeyError(f"{where} could not be decrypted: KALSHI_PRIVATE_KEY_PASSWORD is wrong") from None
        raise PrivateKeyError(f"{where} is not a valid PEM private key (the file is damaged or not a key)") from None
    except UnsupportedAlgorithm:
        raise PrivateKeyError(f"{where} uses a key algorithm this system cannot load") from None
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key
    kind = next((name for cls, name in _KIND_NAMES if isinstance(key, cls)), "an unsupported")
    raise PrivateKeyError(f"{where} is {kind} key; Kalshi API keys are RSA or Ed25519")


def sign_message(key: PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` the way Kalshi verifies it (RSA-PSS SHA-256 salt=32, or Ed25519)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, _PSS, hashes.SHA256())
    return key.sign(message)


def shorten_key_id(key_id: str) -> str:
    """A key id fit for logs: the first 8 characters and an ellipsis."""
    return key_id[:8] + "…" if len(key_id) > 8 else key_id


class Signer:
    """Produces fresh Kalshi auth headers for each connection attempt."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key_id: str, key: PrivateKey) -> None:
        self.key_id = key_id
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return f"Signer(key_id={shorten_key_id(self.key_id)!r}, key_type={self.key_type})"

    @property
    def key_type(self) -> str:
        return "rsa" if isinstance(self._key, rsa.RSAPrivateKey) else "ed25519"

    def headers(self, url_or_path: str, method: str = "GET", timestamp_ms: int | None = None) -> dict[str, str]:
        """The three ``KALSHI-ACCESS-*`` headers for a request to ``url_or_path`` (query string is not signed)."""
        path = urlsplit(url_or_path).path if "://" in url_or_path else url_or_path.split("?", 1)[0]
        ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
        signature = sign_message(self._key, (ts + method.upper() + path).encode())
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-TIMESTAMP": ts,
            "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode("ascii"),
        }
