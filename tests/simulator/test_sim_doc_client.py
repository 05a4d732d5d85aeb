"""A client written from Kalshi's documentation alone ends with books equal to the simulator's truth.

The client below uses nothing of this project: ``cryptography`` to sign
``<timestamp_ms>GET/trade-api/ws/v2`` (RSA-PSS/SHA-256 with a digest-length salt, or Ed25519), the
three ``KALSHI-ACCESS-*`` headers on the handshake, one ``subscribe`` to ``orderbook_delta``, and
a book rebuilt with ``Decimal`` from ``orderbook_snapshot`` (replace) and ``orderbook_delta`` (add
the signed change, drop the level at zero), checking ``seq`` per ``sid``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from websockets.asyncio.client import connect

from market_making_bot.simulator import generate_credentials


def kalshi_headers(url: str, key_id: str, private_key_path: str | Path) -> dict[str, str]:
    key = serialization.load_pem_private_key(Path(private_key_path).read_bytes(), password=None)
    timestamp = str(int(time.time() * 1000))
    message = (timestamp + "GET" + urlparse(url).path).encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        raise TypeError("Kalshi keys are RSA or Ed25519")
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": timestamp,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
    }


async def run_doc_client(
    url: str,
    key_id: str,
    private_key_path: str | Path,
    markets: list[str],
    done: Callable[[], bool],
    idle: float = 0.4,
) -> dict[str, dict[str, Any]]:
    """Subscribe, rebuild, and return the books once ``done()`` and nothing arrived for ``idle`` s."""
    yes: dict[str, dict[Decimal, Decimal]] = {}
    no: dict[str, dict[Decimal, Decimal]] = {}
    last_seq: dict[int, int] = {}
    headers = kalshi_headers(url, key_id, private_key_path)
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_tickers": markets},
                }
            )
        )
        while True:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), idle))
            except (TimeoutError, asyncio.TimeoutError):
                if done():
                    break
                continue
            kind = message["type"]
            if kind == "error":
                raise AssertionError(f"error from server: {message}")
            if "seq" in message:
                sid = message["sid"]
                assert message["seq"] == last_seq.get(sid, 0) + 1, "sequence gap"
                last_seq[sid] = message["seq"]
            body = message.get("msg")
            if kind == "orderbook_snapshot":
                ticker = body["market_ticker"]
                yes[ticker] = {Decimal(p): Decimal(s) for p, s in body.get("yes_dollars_fp", [])}
                no[ticker] = {Decimal(p): Decimal(s) for p, s in body.get("no_dollars_fp", [])}
            elif kind == "orderbook_delta":
                book = (yes if body["side"] == "yes" else no)[body["market_ticker"]]
                price = Decimal(body["price_dollars"])
                size = book.get(price, Decimal(0)) + Decimal(body["delta_fp"])
                if size <= 0:
                    book.pop(price, None)
                else:
                    book[price] = size

    def levels(side: dict[Decimal, Decimal]) -> list[list[str]]:
        return [[f"{p:.4f}", f"{s:.2f}"] for p, s in sorted(side.items())]

    return {t: {"yes": levels(yes[t]), "no": levels(no[t])} for t in yes}


def books_of(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t: {"yes": m["yes"], "no": m["no"]} for t, m in truth["markets"].items()}


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
async def test_documentation_client_ends_equal_to_the_truth(tmp_path, make_sim, key_type):
    sim = await make_sim(rate=1500, duration=1.2, seed=61)
    key_id, key_path, public_key = generate_credentials(tmp_path, sim.url, key_type=key_type)
    sim.add_public_key(public_key)
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    books = await run_doc_client(
        env["KALSHI_WS_URL"],
        env["KALSHI_API_KEY_ID"],
        env["KALSHI_PRIVATE_KEY_PATH"],
        list(sim.model.markets),
        done=lambda: sim.flow_done,
    )
    await sim.wait_quiet(timeout=5)
    truth = sim.truth()
    assert books == books_of(truth)
    assert all(m["yes"] and m["no"] for m in truth["markets"].values())
