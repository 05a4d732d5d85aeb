"""Helpers for the simulator's tests: a small raw client and an independent Decimal book.

The client here is deliberately dumb (it records frames and sends commands); anything that
rebuilds books does so with ``Decimal`` in the test itself, never with the listener's code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return here.parents[2]


def shared_dir() -> Path:
    """``../shared`` beside the repository (Kalshi's spec, captures, seed); may be absent.

    In a git worktree, also beside the main checkout the worktree belongs to."""
    root = repo_root()
    here = root.parent / "shared"
    dot_git = root / ".git"
    if not here.exists() and dot_git.is_file():
        gitdir = dot_git.read_text().partition("gitdir:")[2].strip()
        parts = Path(gitdir).parts
        if "worktrees" in parts:  # <main>/.git/worktrees/<name>
            main = Path(*parts[: parts.index("worktrees") - 1])
            if (main.parent / "shared").exists():
                return main.parent / "shared"
    return here


def shared_file(*parts: str) -> Path:
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


class Client:
    """Records every frame a simulator connection sends; sends commands."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._next_id = 0

    async def send(self, cmd: str, params: dict[str, Any] | None = None, *, id_: int | None = None) -> int:
        if id_ is None:
            self._next_id += 1
            id_ = self._next_id
        body: dict[str, Any] = {"id": id_, "cmd": cmd}
        if params is not None:
            body["params"] = params
        await self.ws.send(json.dumps(body))
        return id_

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str), "frames must be text frames"
        self.raw.append(text)
        frame = json.loads(text)
        self.frames.append(frame)
        return frame

    async def recv_until(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Receive until a frame matches ``pred``; return the frames received (the match last)."""
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no matching frame within {timeout} s; last: {got[-3:]}")
            frame = await self.recv(left)
            got.append(frame)
            if pred(frame):
                return got

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Receive until nothing arrives for ``quiet`` seconds."""
        got: list[dict[str, Any]] = []
        while True:
            try:
                got.append(await self.recv(quiet))
            except (TimeoutError, asyncio.TimeoutError):
                return got


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- an independent Decimal book, for checks -------------------------------------------------------


class DecBook:
    """YES and NO bid ladders keyed by Decimal price; NO on whatever scale the frames use."""

    def __init__(self) -> None:
        self.yes: dict[Decimal, Decimal] = {}
        self.no: dict[Decimal, Decimal] = {}

    def snapshot(self, msg: dict[str, Any], legacy: bool = False) -> None:
        self.yes, self.no = {}, {}
        ykey, nkey = ("yes", "no") if legacy else ("yes_dollars_fp", "no_dollars_fp")
        for side, key in ((self.yes, ykey), (self.no, nkey)):
            for price, size in msg.get(key) or []:
                p = Decimal(price) / 100 if legacy else Decimal(price)
                side[p] = Decimal(size)

    def delta(self, msg: dict[str, Any], legacy: bool = False) -> None:
        side = self.yes if msg["side"] == "yes" else self.no
        if legacy:
            p, d = Decimal(msg["price"]) / 100, Decimal(msg["delta"])
        else:
            p, d = Decimal(msg["price_dollars"]), Decimal(msg["delta_fp"])
        new = side.get(p, Decimal(0)) + d
        assert new >= 0, f"negative level {p}: {new}"
        if new == 0:
            side.pop(p, None)
        else:
            side[p] = new

    def as_truth(self) -> dict[str, list[list[str]]]:
        def fmt(side: dict[Decimal, Decimal]) -> list[list[str]]:
            return [[f"{p:.4f}", f"{s:.2f}"] for p, s in sorted(side.items())]

        return {"yes": fmt(self.yes), "no": fmt(self.no)}


def rebuild(frames: list[dict[str, Any]], legacy: bool = False) -> dict[str, DecBook]:
    """Apply every snapshot/delta in order (one subscription assumed)."""
    books: dict[str, DecBook] = {}
    for f in frames:
        if f.get("type") == "orderbook_snapshot":
            books.setdefault(f["msg"]["market_ticker"], DecBook()).snapshot(f["msg"], legacy)
        elif f.get("type") == "orderbook_delta":
            books[f["msg"]["market_ticker"]].delta(f["msg"], legacy)
    return books


def truth_books(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t: {"yes": m["yes"], "no": m["no"]} for t, m in truth["markets"].items()}
