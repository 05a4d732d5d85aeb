"""Handshake authentication: RSA-PSS and Ed25519 accepted; anything else answered 401 (404 off-path)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig, generate_credentials
from market_making_bot.simulator.auth import (
    auth_headers,
    generate_private_key,
    public_pem,
    write_private_file,
)

from .helpers import now_ms


async def _status(url: str, headers: dict[str, str] | None) -> int:
    try:
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
            reply = json.loads(await ws.recv())
            assert reply["type"] == "ok" and reply["id"] == 1
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_rsa_and_ed25519_keys_are_accepted(tmp_path, make_sim):
    sim = await make_sim(rate=1, start_paused=True)
    assert sim.private_key is not None
    assert await _status(sim.url, auth_headers("any-key-id", sim.private_key, now_ms())) == 101
    key_id, key_path, pub = generate_credentials(tmp_path, sim.url, key_type="ed25519")
    sim.add_public_key(pub)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    ed = load_pem_private_key(key_path.read_bytes(), None)
    assert await _status(sim.url, auth_headers(key_id, ed, now_ms())) == 101  # type: ignore[arg-type]
    env = (tmp_path / ".env").read_text()
    assert f"KALSHI_API_KEY_ID={key_id}" in env
    assert f"KALSHI_PRIVATE_KEY_PATH={key_path}" in env and key_path.is_absolute()
    assert f"KALSHI_WS_URL={sim.url}" in env
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()  # Ed25519 keys come as PKCS#8


async def test_configured_public_key_and_rsa_pkcs1_credentials(tmp_path):
    key_id, key_path, pub = generate_credentials(tmp_path, "ws://unused", key_type="rsa")
    assert b"BEGIN RSA PRIVATE KEY" in key_path.read_bytes()  # RSA keys come as PKCS#1, as Kalshi's
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_path.read_bytes(), None)
    async with ExchangeSimulator(SimulatorConfig(rate=1, start_paused=True, public_key=pub)) as sim:
        assert sim.private_key is None
        assert await _status(sim.url, auth_headers(key_id, key, now_ms())) == 101  # type: ignore[arg-type]
        other = generate_private_key("rsa")
        assert await _status(sim.url, auth_headers(key_id, other, now_ms())) == 401


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "no-signature",
        "wrong-key",
        "stale",
        "future",
        "bad-base64",
        "wrong-path-signed",
        "pkcs1v15",
        "seconds",
    ],
)
async def test_bad_handshakes_get_401(make_sim, case):
    sim = await make_sim(rate=1, start_paused=True, auth_window_s=5)
    key = sim.private_key
    assert key is not None
    ts = now_ms()
    headers: dict[str, str] | None = auth_headers("k", key, ts)
    assert headers is not None
    if case == "missing":
        headers = None
    elif case == "no-signature":
        del headers["KALSHI-ACCESS-SIGNATURE"]
    elif case == "wrong-key":
        headers = auth_headers("k", generate_private_key("rsa"), ts)
    elif case == "stale":
        headers = auth_headers("k", key, ts - 60_000)
    elif case == "future":
        headers = auth_headers("k", key, ts + 60_000)
    elif case == "bad-base64":
        headers["KALSHI-ACCESS-SIGNATURE"] = "not base64!!"
    elif case == "wrong-path-signed":
        headers = auth_headers("k", key, ts, path="/trade-api/v2/portfolio/orders")
    elif case == "pkcs1v15":  # RSA, but PKCS#1 v1.5 instead of PSS
        sig = key.sign(f"{ts}GET/trade-api/ws/v2".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg]
        headers["KALSHI-ACCESS-SIGNATURE"] = base64.b64encode(sig).decode()
    elif case == "seconds":  # the timestamp must be milliseconds
        headers = auth_headers("k", key, ts // 1000)
    assert await _status(sim.url, headers) == 401


async def test_off_path_is_404_and_query_string_is_ignored(make_sim):
    sim = await make_sim(rate=1, start_paused=True)
    assert sim.private_key is not None
    base = sim.url.rsplit("/trade-api", 1)[0]
    assert await _status(base + "/trade-api/ws/v1", auth_headers("k", sim.private_key, now_ms())) == 404
    # the signed path never includes the query string
    assert await _status(sim.url + "?x=1", auth_headers("k", sim.private_key, now_ms())) == 101


async def test_anonymous_sessions_only_when_allowed(make_sim):
    closed = await make_sim(rate=1, start_paused=True)
    assert await _status(closed.url, None) == 401
    open_ = await make_sim(rate=1, start_paused=True, allow_anonymous=True)
    assert await _status(open_.url, None) == 101
    assert open_.private_key is not None
    assert await _status(open_.url, {"KALSHI-ACCESS-KEY": "k"}) == 401  # partial headers are not anonymous


def test_public_pem_roundtrip() -> None:
    key = generate_private_key("ed25519")
    assert public_pem(key).startswith(b"-----BEGIN PUBLIC KEY-----")


# ---- credentials files: 0600, replaced atomically, symlinks refused (issue 12, item 10) -----------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_credentials_are_written_0600_even_over_a_world_readable_file(tmp_path, make_sim):
    sim = await make_sim(rate=1, start_paused=True)
    env, key = tmp_path / "sim.env", tmp_path / "sim.env.key"
    old = os.umask(0)  # the mode must not depend on the umask
    try:
        key.write_text("old world-readable content\n")
        key.chmod(0o644)
        old_inode = os.lstat(key).st_ino
        key_id, key_path = sim.write_credentials(env)
    finally:
        os.umask(old)
    assert key_path == key.resolve()
    assert _mode(env) == 0o600 and _mode(key) == 0o600
    assert os.lstat(key).st_ino != old_inode, "a new file, not the old one rewritten"
    assert key.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert f"KALSHI_API_KEY_ID={key_id}" in env.read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary file left"
    # the written key is the simulator's own: a handshake signed with it is accepted
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    loaded = load_pem_private_key(key.read_bytes(), None)
    assert await _status(sim.url, auth_headers(key_id, loaded, now_ms())) == 101  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["env", "key"])
async def test_a_symlinked_credentials_path_is_refused_and_not_followed(tmp_path, make_sim, which):
    sim = await make_sim(rate=1, start_paused=True)
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    env = tmp_path / "sim.env"
    link = env if which == "env" else tmp_path / "sim.env.key"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        sim.write_credentials(env)
    assert target.read_text() == "precious\n" and link.is_symlink()


def test_write_private_file_refuses_a_dangling_symlink(tmp_path) -> None:
    link = tmp_path / "k.pem"
    link.symlink_to(tmp_path / "missing" / "x.pem")
    with pytest.raises(ValueError, match="symbolic link"):
        write_private_file(link, b"secret")
    assert not (tmp_path / "missing").exists()


# ---- no signature in any log (issue 12, item 5) ------------------------------------------------------


async def test_the_signature_never_reaches_the_logs_at_debug(make_sim, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    for name in ("market_making_bot.simulator", "market_making_bot.simulator.websockets"):
        caplog.set_level(logging.DEBUG, logger=name)
    quiet_client = logging.getLogger("tests.simulator.quiet_client")  # the test's own client logs nothing
    quiet_client.setLevel(logging.WARNING)
    sim = await make_sim(rate=1, start_paused=True)
    assert sim.private_key is not None
    good = auth_headers("key-1", sim.private_key, now_ms())
    async with connect(sim.url, additional_headers=good, logger=quiet_client) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
        assert json.loads(await ws.recv())["type"] == "ok", "the handshake succeeded"
    other = generate_private_key("ed25519")
    bad = auth_headers("key-2", other, now_ms())  # a valid signature, by a key the simulator lacks
    with pytest.raises(InvalidStatus):
        async with connect(sim.url, additional_headers=bad, logger=quiet_client):
            pass
    await sim.stop()
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for headers in (good, bad):
        sig = headers["KALSHI-ACCESS-SIGNATURE"]
        assert sig not in text and sig[:24] not in text
    # the header was logged, and redacted: the test would see a leak
    assert "KALSHI-ACCESS-SIGNATURE: [redacted]" in text
    assert "KALSHI-ACCESS-KEY: key-1" in text


def test_the_redaction_covers_other_shapes_of_the_header() -> None:
    import logging

    from market_making_bot.simulator.server import REDACT_SIGNATURE

    cases = [
        ("< %s: %s", ("KALSHI-ACCESS-SIGNATURE", "abc+/def==")),
        ("headers %s", ({"KALSHI-ACCESS-SIGNATURE": "abc+/def=="},)),
        ("kalshi-access-signature=abc+/def== rest", None),
    ]
    for msg, args in cases:
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, msg, args, None)
        assert REDACT_SIGNATURE.filter(record)
        out = record.getMessage()
        assert "abc+/def==" not in out and "[redacted]" in out, out
