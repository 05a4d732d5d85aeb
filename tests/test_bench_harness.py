"""The benchmark harness (issue 7) measures what it claims: rows run side by side in real worker processes over the
same input and end with the same books. Small synthetic input; no timing is asserted (timings live in bench/)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import synth
from bench.interleave import interleaved_throughput

REPO = Path(__file__).resolve().parent.parent


def test_interleaved_rows_process_every_frame_and_agree_on_the_books(tmp_path: Path) -> None:
    recording = tmp_path / "rec.jsonl"
    recording.write_text("\n".join(synth.generate_frames(3_000, markets=5, seed=3)) + "\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    rows = ["floor", "decode", "book", "book_baseline", "pipeline", "baseline"]
    out = interleaved_throughput({sys.executable: rows}, recording, env, REPO, chunks=4, rounds=2, progress=False)
    assert set(out) == set(rows)
    for name in ("floor", "decode", "pipeline", "baseline"):
        assert out[name]["frames"] == 3_000
    assert out["book"]["frames"] == out["book_baseline"]["frames"] > 0
    for name in rows:
        assert out[name]["total_ns"] > 0 and len(out[name]["round_totals_ns"]) == 2
        assert out[name]["total_ns"] <= min(out[name]["round_totals_ns"])  # the sum of per-chunk bests
    digests = {out[n]["digest"] for n in ("book", "book_baseline", "pipeline", "baseline")}
    assert len(digests) == 1 and None not in digests


def test_blast_sender_drops_the_recorded_stamp() -> None:
    from bench.blast import _data_frames

    frames = [
        '{"type":"subscribed","id":1,"msg":{"channel":"orderbook_delta","sid":1}}',
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"side":"yes"},"sending_ts_ms":17}',
        '{"sending_ts_ms":5,"type":"ticker","sid":2,"msg":{}}',
    ]
    assert _data_frames(frames) == [
        '"type":"orderbook_delta","sid":1,"seq":2,"msg":{"side":"yes"}}',
        '"type":"ticker","sid":2,"msg":{}}',
    ]


def test_blast_raw_frame_header_matches_websockets_framing() -> None:
    """The loopback sender writes its frames itself (bench/blast.py, ``--framing raw``): byte for byte what
    websockets would send (unmasked, final, text), at each of the three length encodings."""
    from websockets.frames import Frame, Opcode

    from bench.blast import _ws_header

    for size in (0, 125, 126, 65_535, 65_536, 200_000):
        payload = b"x" * size
        assert _ws_header(size) + payload == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[]), size
