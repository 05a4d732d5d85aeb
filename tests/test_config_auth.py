from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from market_making_bot.kalshi.auth import PrivateKeyError, Signer, load_private_key
from market_making_bot.runtime.config import DEMO_WS_URL, PROD_WS_URL, Config, ConfigError
from tests.keys import write_key

KEY_ID = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"


def _verify(public_pem: bytes, headers: dict[str, str], path: str) -> None:
    pub = serialization.load_pem_public_key(public_pem)
    msg = (headers["KALSHI-ACCESS-TIMESTAMP"] + "GET" + path).encode()
    sig = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        assert isinstance(pub, ed25519.Ed25519PublicKey)
        pub.verify(sig, msg)


@pytest.mark.parametrize(("kind", "fmt"), [("rsa", "pkcs8"), ("rsa", "pkcs1"), ("ed25519", "pkcs8")])
def test_signer_headers_verify_with_public_key(tmp_path: Path, kind: str, fmt: str) -> None:
    pem = tmp_path / "k.pem"
    pub = write_key(pem, kind, fmt=fmt)
    signer = Signer(KEY_ID, load_private_key(pem, variable="KALSHI_PRIVATE_KEY_PATH"))
    h = signer.headers("wss://host.example/trade-api/ws/v2?x=1", timestamp_ms=1703123456789)
    assert h["KALSHI-ACCESS-KEY"] == KEY_ID
    assert h["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    _verify(pub, h, "/trade-api/ws/v2")  # query string is not signed
    with pytest.raises(Exception):  # noqa: B017 - any InvalidSignature
        _verify(pub, h, "/trade-api/ws/v2?x=1")
    assert KEY_ID not in repr(signer) and "key_type" in repr(signer)


def test_fresh_timestamp_each_call(tmp_path: Path) -> None:
    pem = tmp_path / "k.pem"
    write_key(pem, "ed25519")
    s = Signer(KEY_ID, load_private_key(pem, variable="V"))
    a, b = s.headers("/trade-api/ws/v2", timestamp_ms=1), s.headers("/trade-api/ws/v2", timestamp_ms=2)
    assert a["KALSHI-ACCESS-SIGNATURE"] != b["KALSHI-ACCESS-SIGNATURE"]
    assert int(s.headers("/trade-api/ws/v2")["KALSHI-ACCESS-TIMESTAMP"]) > 1_700_000_000_000


def test_key_errors_are_specific_and_secret_free(tmp_path: Path) -> None:
    var = "KALSHI_PRIVATE_KEY_PATH"
    with pytest.raises(PrivateKeyError, match=r"not found: KALSHI_PRIVATE_KEY_PATH=.*nope\.pem does not exist"):
        load_private_key(tmp_path / "nope.pem", variable=var)
    with pytest.raises(PrivateKeyError, match="directory"):
        load_private_key(tmp_path, variable=var)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(PrivateKeyError, match="not a PEM private key"):
        load_private_key(junk, variable=var)
    pub_only = tmp_path / "pub.pem"
    pub_only.write_bytes(write_key(tmp_path / "x.pem"))
    with pytest.raises(PrivateKeyError, match="not a private key"):
        load_private_key(pub_only, variable=var)
    enc = tmp_path / "enc.pem"
    write_key(enc, "rsa", password="s3cret-pw")
    with pytest.raises(PrivateKeyError, match="encrypted: set KALSHI_PRIVATE_KEY_PASSWORD") as ei:
        load_private_key(enc, variable=var)
    with pytest.raises(PrivateKeyError, match="password is wrong|PASSWORD is wrong") as ei2:
        load_private_key(enc, variable=var, password="wrong-pw")
    assert "wrong-pw" not in str(ei2.value) and "s3cret" not in str(ei.value)
    assert isinstance(load_private_key(enc, variable=var, password="s3cret-pw"), rsa.RSAPrivateKey)
    ecp = tmp_path / "ec.pem"
    write_key(ecp, "ec")
    with pytest.raises(PrivateKeyError, match=r"an elliptic-curve \(EC\) key; Kalshi API keys are RSA or Ed25519"):
        load_private_key(ecp, variable=var)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(PrivateKeyError, match="not a valid PEM private key"):
        load_private_key(broken, variable=var)


def test_config_env_file_and_precedence(tmp_path: Path) -> None:
    pem = tmp_path / "k.pem"
    write_key(pem, "rsa")
    env = tmp_path / ".env"
    env.write_text(
        f"KALSHI_API_KEY_ID={KEY_ID}\nKALSHI_PRIVATE_KEY_PATH={pem}\n"
        "KALSHI_DEMO_API_KEY=demo-id\nKALSHI_DEMO_PRIVATE_KEY_PATH=/nonexistent/demo.pem\nKALSHI_DEMO_MODE=False\n"
    )
    cfg = Config.load(env, environ={})
    assert (cfg.demo, cfg.api_key_id, cfg.ws_url) == (False, KEY_ID, PROD_WS_URL)
    assert cfg.key_id_short == "a952bcbe…" and KEY_ID not in repr(cfg)
    assert isinstance(cfg.load_private_key(), rsa.RSAPrivateKey)
    # real environment wins over the file
    cfg = Config.load(env, environ={"KALSHI_DEMO_MODE": "YES"})
    assert (cfg.demo, cfg.api_key_id, cfg.ws_url) == (True, "demo-id", DEMO_WS_URL)
    with pytest.raises(PrivateKeyError, match="KALSHI_DEMO_PRIVATE_KEY_PATH=/nonexistent/demo.pem does not exist"):
        cfg.load_private_key()
    # --prod / --demo override the variable; --ws-url overrides KALSHI_WS_URL
    cfg = Config.load(env, demo=False, ws_url="ws://127.0.0.1:1/trade-api/ws/v2",
                      environ={"KALSHI_DEMO_MODE": "1", "KALSHI_WS_URL": "ws://other/trade-api/ws/v2"})
    assert (cfg.demo, cfg.ws_url) == (False, "ws://127.0.0.1:1/trade-api/ws/v2")
    assert Config.load(env, environ={"KALSHI_WS_URL": "ws://x/trade-api/ws/v2"}).ws_url == "ws://x/trade-api/ws/v2"


@pytest.mark.parametrize(("value", "demo"), [("true", True), ("0", False), ("No", False), ("TRUE", True)])
def test_demo_mode_values(tmp_path: Path, value: str, demo: bool) -> None:
    environ = {"KALSHI_DEMO_MODE": value, "KALSHI_API_KEY_ID": "p", "KALSHI_PRIVATE_KEY_PATH": "/p",
               "KALSHI_DEMO_API_KEY": "d", "KALSHI_DEMO_PRIVATE_KEY_PATH": "/d"}
    assert Config.load(None, environ=environ).demo is demo


def test_config_errors_name_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.env here
    with pytest.raises(ConfigError, match="missing KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH for the production"):
        Config.load(environ={})
    with pytest.raises(ConfigError, match="missing KALSHI_DEMO_PRIVATE_KEY_PATH for the demo"):
        Config.load(environ={"KALSHI_DEMO_MODE": "true", "KALSHI_DEMO_API_KEY": "x"})
    with pytest.raises(ConfigError, match="KALSHI_DEMO_MODE='maybe' is not a boolean"):
        Config.load(environ={"KALSHI_DEMO_MODE": "maybe"})
    with pytest.raises(ConfigError, match="env file not found"):
        Config.load(tmp_path / "missing.env", environ={})


def test_no_secret_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pem = tmp_path / "k.pem"
    write_key(pem, "rsa")
    caplog.set_level(logging.DEBUG)
    s = Signer(KEY_ID, load_private_key(pem, variable="V"))
    h = s.headers("/trade-api/ws/v2")
    logging.getLogger("x").info("signer %r", s)
    assert h["KALSHI-ACCESS-SIGNATURE"] not in caplog.text and "PRIVATE KEY" not in caplog.text


def test_api_url_from_environment_host_variable_or_argument() -> None:
    from market_making_bot.runtime.config import DEMO_API_URL, PROD_API_URL

    keys = {"KALSHI_API_KEY_ID": "p", "KALSHI_PRIVATE_KEY_PATH": "/p", "KALSHI_DEMO_API_KEY": "d",
            "KALSHI_DEMO_PRIVATE_KEY_PATH": "/d"}
    assert Config.load(None, environ=keys).api_url == PROD_API_URL == "https://external-api.kalshi.com/trade-api/v2"
    assert Config.load(None, demo=True, environ=keys).api_url == DEMO_API_URL
    local = "http://127.0.0.1:9/trade-api/v2"
    cfg = Config.load(None, environ={**keys, "KALSHI_API_URL": local + "/"})
    assert cfg.api_url == local and local in repr(cfg)  # the trailing slash is dropped
    assert Config.load(None, api_url="http://h/trade-api/v2", environ={**keys, "KALSHI_API_URL": local}).api_url == (
        "http://h/trade-api/v2"
    )
    for bad in ("ws://127.0.0.1:9/trade-api/v2", "127.0.0.1:9", "http://h/trade-api/v2?x=1"):
        with pytest.raises(ConfigError, match=r"^KALSHI_API_URL '.*' must be an http:// or https:// base URL"):
            Config.load(None, environ={**keys, "KALSHI_API_URL": bad})
