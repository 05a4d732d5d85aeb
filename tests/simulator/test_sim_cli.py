"""``python -m market_making_bot.simulator``: URL on stdout, credentials file, truth file, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from market_making_bot.simulator.__main__ import build_parser, config_from_args, main
from market_making_bot.simulator.auth import generate_private_key, public_pem

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
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--" in err, err


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root()), env.get("PYTHONPATH")]))
    return env


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "market_making_bot.simulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=_env(),
    )


BAD_COMMAND_LINES: list[tuple[list[str], str, str]] = [
    # (arguments, the option the message names, words of the problem); exit code 2
    (["--port", "99999"], "--port", "out of range"),
    (["--port", "-1"], "--port", "out of range"),
    (["--port", "http"], "--port", "not an integer"),
    (["--markets", "0"], "--markets", "out of range"),
    (["--markets", "-3"], "--markets", "out of range"),
    (["--markets", "10000000"], "--markets", "out of range"),
    (["--rate", "-5"], "--rate", "> 0"),
    (["--rate", "0"], "--rate", "> 0"),
    (["--rate", "nan"], "--rate", "not a finite number"),
    (["--rate", "fast"], "--rate", "not a number"),
    (["--duration", "-1"], "--duration", ">= 0"),
    (["--ping-interval", "-2"], "--ping-interval", ">= 0"),
    (["--ping-timeout", "0"], "--ping-timeout", "> 0"),
    (["--auth-window", "inf"], "--auth-window", "not a finite number"),
    (["--seed", "x"], "--seed", "not an integer"),
    (["--maker-fee-rate", "NaN"], "--maker-fee-rate", "[0, 1)"),
    (["--taker-fee-rate", "2"], "--taker-fee-rate", "[0, 1)"),
    (["--taker-fee-rate", "abc"], "--taker-fee-rate", "not a number"),
    (["--log-level", "LOUD"], "--log-level", "not a level"),
    (["--tick", "mill"], "--tick", "invalid choice"),
    (["--ticker", ""], "--ticker", "not a market ticker"),
    (["--ticker", "KXA,KXB"], "--ticker", "not a market ticker"),
    (["--ticker", "KXA", "--ticker", "KXA"], "--ticker", "more than once"),
    (["--markets", "2", "--ticker", "KXA"], "--ticker", "not allowed with"),
    (["--fault", "bogus"], "--fault", "unknown fault kind 'bogus'"),
    (["--fault", "gap:every=0"], "--fault", "N >= 1"),
    (["--fault", "gap:every=1:at=2"], "--fault", "not both"),
    (["--fault", "stall:for=soon"], "--fault", "for='soon' is not a number"),
    (["--fault", "reorder:count=none"], "--fault", "count='none' is not an integer or all"),
    (["--fault", "gap:often=3"], "--fault", "unknown option 'often'"),
    (["--fault", "gap:3"], "--fault", "expected key=value"),
    (["--legacy-cents", "--tick", "deci_cent"], "--legacy-cents", "--tick cent"),
    (["--legacy-cents", "--like-production"], "--like-production", "--legacy-cents"),
    (["--repeat-subscribe", "error"], "--repeat-subscribe", "invalid choice"),
    (["--public-key", "missing.pem"], "--public-key", "cannot read missing.pem"),
    (["--public-key", "not-a-key.pem"], "--public-key", "not a usable public key"),
    (["--write-credentials", "missing/sim.env"], "--write-credentials", "directory missing does not exist"),
    (["--write-credentials", "afile/sim.env"], "--write-credentials", "afile is not a directory"),
    (["--write-credentials", "adir"], "--write-credentials", "adir is a directory"),
    (["--write-credentials", "link.env"], "--write-credentials", "symbolic link"),
    (["--write-credentials", "sim.env", "--public-key", "pub.pem"], "--write-credentials", "--public-key"),
    (["--truth-json", "missing/t.json"], "--truth-json", "directory missing does not exist"),
    (["--truth-json", "adir"], "--truth-json", "adir is a directory"),
    (["--bogus"], "--bogus", "unrecognized arguments"),
    (["--port"], "--port", "expected one argument"),
]


@pytest.fixture(scope="module")
def bad_input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad-input")
    (d / "afile").write_text("a file, not a directory\n")
    (d / "adir").mkdir()
    (d / "not-a-key.pem").write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    (d / "pub.pem").write_bytes(public_pem(generate_private_key("ed25519")))
    (d / "target.env").write_text("precious\n")
    (d / "link.env").symlink_to(d / "target.env")
    return d


def _case_id(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else ""


def _check_one_line(code: object, err: str, option: str, problem: str) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert option in lines[0] and problem in lines[0], lines[0]


@pytest.mark.parametrize(("args", "option", "problem"), BAD_COMMAND_LINES, ids=_case_id)
def test_a_bad_command_line_gets_one_line_naming_the_option_and_exit_2(
    bad_input_dir: Path,
    args: list[str],
    option: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(bad_input_dir)
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert out == ""
    _check_one_line(info.value.code, err, option, problem)
    assert (bad_input_dir / "target.env").read_text() == "precious\n"


# the real entry point for a sample of the table (a process each: slower)
@pytest.mark.parametrize(("args", "option", "problem"), BAD_COMMAND_LINES[::5], ids=_case_id)
def test_the_command_refuses_bad_input_the_same_way(
    bad_input_dir: Path, args: list[str], option: str, problem: str
) -> None:
    done = _run_cli(args, bad_input_dir)
    assert done.stdout == ""
    _check_one_line(done.returncode, done.stderr, option, problem)
    assert (bad_input_dir / "target.env").read_text() == "precious\n"


def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run_cli(["--port", str(port), "--write-credentials", "sim.env"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"python -m market_making_bot.simulator: --host 127.0.0.1 --port {port}: cannot listen there: "
        "address already in use"
    ]
    assert not (tmp_path / "sim.env").exists(), "no credentials for a server that never ran"


def test_help_shows_examples_faults_and_exit_codes() -> None:
    done = _run_cli(["--help"], repo_root())
    assert done.returncode == 0
    out = done.stdout
    assert "examples:" in out and "kalshi-sim --write-credentials sim.env" in out
    assert "python -m market_making_bot.mm_ws_listener --env-file sim.env --ticker" in out
    assert "reorder" in out and "--like-production" in out and "--repeat-subscribe" in out
    assert "exit codes:" in out


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
