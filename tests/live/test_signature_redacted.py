"""No signature in any log (issue 12, deliver 5): a library user who sets DEBUG on the root logger, without the
listener's own logging setup, must not see the ``KALSHI-ACCESS-SIGNATURE`` header that websockets' client logs
for every handshake. Real handshakes over loopback against the simulator."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect

from market_making_bot.feed.session import Session
from market_making_bot.kalshi.auth import Signer
from market_making_bot.redact import REDACT_SIGNATURE, RedactSignature
from market_making_bot.runtime.client import ConnectionPolicy, KalshiWebSocketClient
from market_making_bot.runtime.transport import LIBRARY_LOGGERS, available_transports
from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig
from market_making_bot.simulator.server import REDACT_SIGNATURE as SIM_FILTER
from tests.live.support import WatchedCore, wait_until


class RecordingSigner(Signer):
    """A real signer that remembers every signature it made, so the test can look for them in the logs."""

    signatures: list[str]

    def headers(self, url_or_path: str, method: str = "GET", timestamp_ms: int | None = None) -> dict[str, str]:
        out = super().headers(url_or_path, method, timestamp_ms)
        self.signatures.append(out["KALSHI-ACCESS-SIGNATURE"])
        return out


async def test_signature_of_a_successful_handshake_never_reaches_a_log_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert SIM_FILTER is REDACT_SIGNATURE  # one shared filter: the simulator uses the leaf module's
    root, ws_logger = logging.getLogger(), logging.getLogger("websockets")
    old = root.level, ws_logger.level
    root.setLevel(logging.DEBUG)
    ws_logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        core = WatchedCore()
        async with ExchangeSimulator(SimulatorConfig(markets=2, rate=100, seed=3)) as sim:
            assert sim.private_key is not None
            signer = RecordingSigner(sim.key_id, sim.private_key)
            signer.signatures = []
            session = Session(sim.config.resolved_tickers(), with_private=False)
            policy = ConnectionPolicy(ping_interval=None)
            client = KalshiWebSocketClient(sim.url, signer, core, session, policy, transport="websockets")
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop))
            try:
                await wait_until(core, lambda: core.counters["frames"] >= 5, 10, "frames after the handshake")
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    finally:
        root.setLevel(old[0])
        ws_logger.setLevel(old[1])
    assert client.connections == 1 and len(signer.signatures) == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    signature = signer.signatures[0]
    assert signature not in text
    assert signature[:24] not in text  # not even a prefix of it
    # the client's handshake lines were logged (the test sees them), with the value redacted
    client_lines = [r.getMessage() for r in caplog.records if r.name == "websockets.client"]
    assert any("> KALSHI-ACCESS-SIGNATURE: [redacted]" in line for line in client_lines), client_lines[:20]
    assert any("< KALSHI-ACCESS-SIGNATURE: [redacted]" in r.getMessage() for r in caplog.records)  # the server's


def test_filter_redacts_the_websockets_header_line() -> None:
    args = ("KALSHI-ACCESS-SIGNATURE", "c2ln+/=")
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "> %s: %s", args, None)
    assert RedactSignature().filter(record)
    assert record.getMessage() == "> KALSHI-ACCESS-SIGNATURE: [redacted]"


async def test_without_the_filter_websockets_would_log_the_signature(caplog: pytest.LogCaptureFixture) -> None:
    """The control: a websockets client logger without the filter does print the header at DEBUG, so the test
    above can fail."""
    caplog.set_level(logging.DEBUG, logger="websockets.client.control")
    async with ExchangeSimulator(SimulatorConfig(markets=1, rate=10, seed=3)) as sim:
        assert sim.private_key is not None
        headers = Signer(sim.key_id, sim.private_key).headers(sim.url)
        async with connect(sim.url, additional_headers=headers, logger=logging.getLogger("websockets.client.control")):
            pass
    assert headers["KALSHI-ACCESS-SIGNATURE"] in caplog.text


@pytest.mark.parametrize("name", ["aiohttp", "picows"])
async def test_other_transports_log_no_signature_at_debug(caplog: pytest.LogCaptureFixture, name: str) -> None:
    """The aiohttp and picows transports with every logger at DEBUG (the libraries' own included): the signature
    appears nowhere, and their loggers carry the same redaction filter as websockets'."""
    if name not in available_transports():
        pytest.skip(f"{name} is not installed")
    for logger in LIBRARY_LOGGERS:
        assert REDACT_SIGNATURE in logging.getLogger(logger).filters, logger
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        core = WatchedCore()
        async with ExchangeSimulator(SimulatorConfig(markets=2, rate=100, seed=3)) as sim:
            assert sim.private_key is not None
            signer = RecordingSigner(sim.key_id, sim.private_key)
            signer.signatures = []
            session = Session(sim.config.resolved_tickers(), with_private=False)
            policy = ConnectionPolicy(ping_interval=0.05, ping_timeout=1.0)
            client = KalshiWebSocketClient(sim.url, signer, core, session, policy, transport=name)
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop))
            try:
                await wait_until(core, lambda: core.counters["frames"] >= 5, 10, "frames after the handshake")
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    finally:
        root.setLevel(old)
    assert client.transport.name == name and client.connections == 1 and len(signer.signatures) == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "< KALSHI-ACCESS-SIGNATURE: [redacted]" in text  # the simulator's log of the header it received
    assert signer.signatures[0] not in text and signer.signatures[0][:24] not in text
