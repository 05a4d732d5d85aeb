"""kalshi-sdk 22.4.0's own processing of a frame, built from its own classes, for a side-by-side measurement.

It follows ``KalshiWebSocket._process_frame`` and ``MessageDispatcher.dispatch`` of kalshi-sdk 22.4.0 step by step:
``json.loads`` (its default loader), its ``SequenceTracker.track_sync``, pydantic ``model_validate`` of the frame
into its typed model (``OrderbookSnapshotMessage`` / ``OrderbookDeltaMessage`` / the ``MESSAGE_MODELS`` entry for
the other data types), and its ``OrderbookManager`` (``Decimal`` books) applied in place, as its receive loop does.
Left out, which flatters kalshi-sdk: the asyncio recv loop and the hand-off of each parsed model to a subscriber
queue or callback.

kalshi-sdk is not a dependency of this project (it needs Python >= 3.12); ``available()`` says whether it can be
imported here, and ``bench/run.py`` skips its row, saying so, when it cannot.
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

__all__ = ["SdkPipeline", "available", "version"]


def available() -> bool:
    try:
        import kalshi.ws.orderbook  # noqa: F401
    except Exception:
        return False
    return True


def version() -> str | None:
    try:
        return importlib.metadata.version("kalshi-sdk")
    except importlib.metadata.PackageNotFoundError:
        return None


class SdkPipeline:
    """``feed(frame, recv_ns)``: kalshi-sdk's processing of one frame (see the module docstring)."""

    def __init__(self) -> None:
        from kalshi.ws.dispatch import CONTROL_TYPES, MESSAGE_MODELS
        from kalshi.ws.models.orderbook_delta import OrderbookDeltaMessage, OrderbookSnapshotMessage
        from kalshi.ws.orderbook import OrderbookManager
        from kalshi.ws.sequence import SequenceTracker

        self._control = CONTROL_TYPES
        self._models: dict[str, Any] = MESSAGE_MODELS
        self._snapshot = OrderbookSnapshotMessage
        self._delta = OrderbookDeltaMessage
        self.books = OrderbookManager()
        self.seq = SequenceTracker()
        self.frames = 0
        self.dropped = 0
        self.errors = 0

    def feed(self, frame: str | bytes, recv_ns: int) -> None:
        self.frames += 1
        data = json.loads(frame)
        sid = data.get("sid")
        seq = data.get("seq")
        msg_type = data.get("type", "")
        if sid is not None and seq is not None:
            ok, gap = self.seq.track_sync(sid, seq, msg_type)
            if not ok:
                self.dropped += 1
                return
        if msg_type in self._control:
            return
        try:
            if msg_type == "orderbook_snapshot":
                snapshot = self._snapshot.model_validate(data)
                self.books._apply_snapshot_inplace(snapshot, sid=snapshot.sid)
            elif msg_type == "orderbook_delta":
                delta = self._delta.model_validate(data)
                self.books._apply_delta_inplace(delta)
            else:
                model = self._models.get(msg_type)
                if model is not None:
                    model.model_validate(data)
        except Exception:
            self.errors += 1
