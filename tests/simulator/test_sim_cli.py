"""``python -m market_making_bot.simulator``: URL on stdout, credentials file, truth file, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import pytest

from market_making_bot.simulator.__main__ import build_parser, config_from_args, main

from .helpers import repo_root
from .test_sim_doc_client import books_of, run_doc_client


def test_arguments_map_onto_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--ticker",
            "KXA-1",
            "--ticker",
            "KXB-2",
            "--rate",
            "250",
            "--seed",
            "4",
            "--tick",
            "deci_cent",
            "--fault",
            "gap:every=50",
            "--fault",
            "disconnect:at=1000",
            "--ping-interval",
            "2",
            "--duration",
            "3",
            "--port",
            "0",
            "--auth-window",
            "30",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.tickers == ["KXA-1", "KXB-2"] and cfg.rate == 250 and cfg.seed == 4 and cfg.tick == "deci_cent"
    assert [str(f) for f in cfg.faults] == ["gap:every=50", "disconnect:at=1000"]
    assert cfg.ping_interval == 2 and cfg.duration == 3 and cfg.auth_window_s == 30


@pytest.mark.parametrize(
    "argv",
    [
        ["--legacy-cents", "--tick", "deci_cent"],
        ["--fault", "bogus:every=3"],
        ["--fault", "gap:every=0"],
        ["--rate", "0"],
        ["--markets", "2", "--ticker", "X"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


async def test_command_line_run_writes_credentials_and_truth(tmp_path):
    truth_path = tmp_path / "truth.json"
    env_path = tmp_path / "sim.env"
    tickers = ["KXCLI-26DEC31-A", "KXCLI-26DEC31-B"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root()), env.get("PYTHONPATH")]))
    duration = 1.5
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "market_making_bot.simulator",
        "--ticker",
        tickers[0],
        "--ticker",
        tickers[1],
        "--rate",
        "400",
        "--seed",
        "5",
        "--duration",
        str(duration),
        "--truth-json",
        str(truth_path),
        "--write-credentials",
        str(env_path),
        "--ping-interval",
        "1",
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        started = time.monotonic()
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/trade-api/ws/v2")
        values = dict(
            line.split("=", 1)
            for line in env_path.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        assert values["KALSHI_WS_URL"] == url
        assert os.path.isabs(values["KALSHI_PRIVATE_KEY_PATH"])
        books = await run_doc_client(
            url,
            values["KALSHI_API_KEY_ID"],
            values["KALSHI_PRIVATE_KEY_PATH"],
            tickers,
            done=lambda: time.monotonic() - started > duration + 0.2,
        )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    truth = json.loads(truth_path.read_text())
    assert set(truth["markets"]) == set(tickers)
    assert books == books_of(truth)
    assert truth["faults"] == {} and isinstance(truth["fills"], int)
