"""Handshake and REST request authentication as Kalshi does it, and test credentials.

A client signs ``<timestamp_ms>GET/trade-api/ws/v2`` with its private key (RSA-PSS with SHA-256,
MGF1-SHA-256 and a salt as long as the digest; or Ed25519) and sends three headers on the HTTP
upgrade: ``KALSHI-ACCESS-KEY`` (key id), ``KALSHI-ACCESS-TIMESTAMP`` (ms) and
``KALSHI-ACCESS-SIGNATURE`` (standard base64). The simulator accepts any key id and verifies the
signature against the public keys it was given. A REST request signs
``<timestamp_ms><METHOD><path>`` the same way, ``path`` including ``/trade-api/v2`` and without the
query (REST.md 1.2).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

KEY_HEADER = "KALSHI-ACCESS-KEY"
TS_HEADER = "KALSHI-ACCESS-TIMESTAMP"
SIG_HEADER = "KALSHI-ACCESS-SIGNATURE"


class AuthError(Exception):
    """Why a handshake or a request is refused (the text goes into the 401 body).

    ``code`` and ``details`` are what the REST error body carries (REST.md 8 item 1)."""

    code = "authentication_error"
    details = ""


class SignatureError(AuthError):
    details = "INCORRECT_API_KEY_SIGNATURE"


class TimestampError(AuthError):
    code = "header_timestamp_expired"


def load_public_key(pem: bytes) -> PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ValueError("only RSA and Ed25519 public keys are supported")
    return key


def verify_signature(key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                signature,
                message,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                hashes.SHA256(),
            )
        else:
            key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def check_headers(
    key_id: str | None,
    timestamp: str | None,
    signature: str | None,
    *,
    path: str,
    keys: list[PublicKey],
    now_ms: int,
    window_ms: int,
    method: str = "GET",
) -> str:
    """Return the key id if the three headers are valid, else raise :class:`AuthError`.

    The signed message is ``timestamp + method + path`` (``path`` without the query)."""
    missing = [h for h, v in ((KEY_HEADER, key_id), (TS_HEADER, timestamp), (SIG_HEADER, signature)) if not v]
    if missing:
        raise AuthError(f"missing header(s): {', '.join(missing)}")
    assert key_id is not None and timestamp is not None and signature is not None
    if not timestamp.isdigit():
        raise TimestampError(f"{TS_HEADER} must be Unix time in milliseconds")
    skew = abs(now_ms - int(timestamp))
    if skew > window_ms:
        raise TimestampError(f"{TS_HEADER} is {skew} ms away from server time (window {window_ms} ms)")
    try:
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIG_HEADER} is not standard base64") from None
    message = f"{timestamp}{method}{path}".encode()
    if not any(verify_signature(k, sig, message) for k in keys):
        raise SignatureError("signature does not verify")
    return key_id


# --------------------------------------------------------------------------------------------------
# Client side (used by the simulator's own tests, the bench and generated credentials)


def generate_private_key(key_type: str = "rsa") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r} (rsa or ed25519)")


def private_pem(key: PrivateKey) -> bytes:
    """RSA as PKCS#1 (``BEGIN RSA PRIVATE KEY``) and Ed25519 as PKCS#8, as Kalshi hands them out."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: PrivateKey, timestamp_ms: int, path: str = "/trade-api/ws/v2", method: str = "GET") -> str:
    message = f"{timestamp_ms}{method}{path}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    else:
        sig = key.sign(message)
    return base64.b64encode(sig).decode()


def auth_headers(
    key_id: str, key: PrivateKey, timestamp_ms: int, path: str = "/trade-api/ws/v2", method: str = "GET"
) -> dict[str, str]:
    """The three headers for ``method path`` (``path`` without the query: it is not signed)."""
    return {
        KEY_HEADER: key_id,
        TS_HEADER: str(timestamp_ms),
        SIG_HEADER: sign(key, timestamp_ms, path.partition("?")[0], method),
    }


def check_output_path(path: Path) -> None:
    """Raise :class:`ValueError` (the text names the path and the problem) if ``path`` cannot be
    written as a credentials or truth file: a symbolic link, a directory, a missing or read-only
    parent directory."""
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link: refusing to write through it")
    if path.is_dir():
        raise ValueError(f"{path} is a directory")
    parent = path.parent
    if not parent.exists():
        raise ValueError(f"directory {parent} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"directory {parent} is not writable")


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (mode 0600), atomically.

    The bytes go to a new file created 0600 beside ``path``, which then replaces ``path``: an
    existing file keeps neither its content nor its mode, a reader never sees half a key, and a
    symbolic link at ``path`` is refused (never followed, never replaced).
    """
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link: refusing to write through it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_env_file(
    path: Path, *, key_id: str, private_key_path: Path, url: str, api_url: str | None = None
) -> None:
    """Plain ``KEY=value`` lines the listener reads as they are (absolute key path); mode 0600.

    ``api_url``: the REST base URL (``KALSHI_API_URL``, including ``/trade-api/v2``)."""
    text = (
        "# Written by the market_making_bot exchange simulator. Not real Kalshi credentials.\n"
        f"KALSHI_API_KEY_ID={key_id}\n"
        f"KALSHI_PRIVATE_KEY_PATH={private_key_path.resolve()}\n"
        f"KALSHI_WS_URL={url}\n"
    )
    if api_url is not None:
        text += f"KALSHI_API_URL={api_url}\n"
    write_private_file(path, text.encode())


def write_private_key(path: Path, key: PrivateKey) -> Path:
    """Write the key as PEM with mode 0600 (see :func:`write_private_file`); returns its absolute path."""
    write_private_file(path, private_pem(key))
    return path.resolve()


def generate_credentials(
    dir_path: str | os.PathLike[str],
    url: str,
    key_type: str = "rsa",
    *,
    env_file: str = ".env",
) -> tuple[str, Path, bytes]:
    """Generate a key pair and write ``<dir>/kalshi-sim-<type>.key`` and ``<dir>/<env_file>``.

    Returns ``(key_id, private_key_path, public_key_pem)``; give the public key to the simulator
    (``SimulatorConfig(public_key=...)`` or ``ExchangeSimulator.add_public_key``).
    """
    directory = Path(dir_path)
    key = generate_private_key(key_type)
    key_id = str(uuid.uuid4())
    key_path = write_private_key(directory / f"kalshi-sim-{key_type}.key", key)
    write_env_file(directory / env_file, key_id=key_id, private_key_path=key_path, url=url)
    return key_id, key_path, public_pem(key)
