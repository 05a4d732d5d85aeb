"""The large recording that the pipeline benchmarks replay, made once and cached under ``bench/.cache/``.

The recording is raw JSONL (one frame per line), so that ``mm_ws_listener --replay`` reads it as is. A sidecar
``.meta.json`` says how it was made. It is made by the project's exchange simulator when the simulator can be
imported (``market_making_bot.simulator``), otherwise by ``bench/synth.py`` (and the output says so).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from . import synth

__all__ = ["CACHE_DIR", "ensure_recording", "load_frames"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


def _simulator_available() -> bool:
    try:
        import market_making_bot.simulator  # noqa: F401
    except Exception:
        return False
    return True


def _record_with_simulator(path: Path, frames: int, markets: int, seed: int) -> dict[str, Any]:
    """Write ``frames`` frames produced by the exchange simulator to ``path``; returns the metadata."""
    from .simrecord import record

    return record(path, frames, markets, seed)


def _record_synthetic(path: Path, frames: int, markets: int, seed: int) -> dict[str, Any]:
    with open(path, "w", encoding="utf-8") as f:
        for frame in synth.generate_frames(frames, markets, seed):
            f.write(frame)
            f.write("\n")
    return {"source": "bench/synth.py (the simulator was not importable)"}


def ensure_recording(frames: int, markets: int, seed: int = 1, source: str = "auto") -> tuple[Path, dict[str, Any]]:
    """Path and metadata of a cached recording of ``frames`` frames over ``markets`` markets, made if missing.

    ``source``: ``"simulator"``, ``"synthetic"`` or ``"auto"`` (the simulator when it can be imported).
    """
    if source == "auto":
        source = "simulator" if _simulator_available() else "synthetic"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"recording-{source}-{markets}m-{frames}f-s{seed}.jsonl"
    meta_path = path.with_suffix(".meta.json")
    if path.exists() and meta_path.exists():
        return path, json.loads(meta_path.read_text())
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    if source == "simulator":
        meta = _record_with_simulator(tmp, frames, markets, seed)
    else:
        meta = _record_synthetic(tmp, frames, markets, seed)
    meta.update(
        frames=frames,
        markets=markets,
        seed=seed,
        bytes=tmp.stat().st_size,
        made_in_s=round(time.perf_counter() - t0, 1),
    )
    os.replace(tmp, path)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return path, meta


def load_frames(path: Path, limit: int | None = None) -> list[str]:
    """The frames of a JSONL recording, as ``str`` (what the websockets library hands over for text frames)."""
    with open(path, encoding="utf-8") as f:
        frames = f.read().splitlines()
    frames = [frame for frame in frames if frame]
    return frames if limit is None else frames[:limit]
