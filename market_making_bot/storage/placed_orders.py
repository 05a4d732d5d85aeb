"""The orders this program placed from the command line, kept across runs so ``account order cancel-mine`` cancels
them (and only them) later.

A small JSON file, by default ``$XDG_STATE_HOME/market_making_bot/placed-orders.json`` (``~/.local/state/...``
when ``XDG_STATE_HOME`` is unset; ``--state-file PATH`` or ``KALSHI_ORDERS_STATE`` choose another)::

    {"version": 1, "orders": [{"api_url": "https://.../trade-api/v2", "account": "3f2a...", "client_order_id": "..",
      "order_id": "..", "ticker": "..", "placed_ms": 1764628800000}]}

``account``: a SHA-256 prefix of the API key id (the file names no key and no secret), so orders of another key or
another server are never touched. An entry is written *before* its create is sent (a create whose outcome is unknown
is still found later by its client order id), completed with the order id once known, and removed once the order is
seen terminal (executed, canceled, rejected, or never landed). Written whole to a temporary file and renamed (a crash
leaves the old file or the new one, never half of one), mode 0600. An unreadable file is an error naming it; a
missing one is empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["PlacedOrder", "PlacedOrders", "StateFileError", "account_tag", "default_state_path"]

VERSION = 1


class StateFileError(Exception):
    """The state file cannot be read or written (the message names it)."""


def default_state_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("KALSHI_ORDERS_STATE"):
        return Path(env["KALSHI_ORDERS_STATE"]).expanduser()
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return base / "market_making_bot" / "placed-orders.json"


def account_tag(key_id: str) -> str:
    """What the file keeps of the key id: enough to tell accounts apart, nothing to sign with."""
    return hashlib.sha256(key_id.encode()).hexdigest()[:16]


@dataclass
class PlacedOrder:
    api_url: str
    account: str
    client_order_id: str
    ticker: str
    placed_ms: int
    order_id: str | None = None


class PlacedOrders:
    """The file's entries; :meth:`save` after each change."""

    def __init__(self, path: Path, entries: list[PlacedOrder]) -> None:
        self.path = path
        self.entries = entries

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PlacedOrders:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(p, [])
        except (OSError, UnicodeDecodeError) as exc:
            raise StateFileError(f"state file {p}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("orders"), list):
                raise ValueError("not a placed-orders file of version 1")
            entries = [_entry(item) for item in doc["orders"]]
        except (ValueError, TypeError, KeyError) as exc:
            raise StateFileError(f"state file {p}: damaged ({exc}); move it away to start afresh") from None
        return cls(p, entries)

    def mine(self, api_url: str, account: str) -> list[PlacedOrder]:
        return [e for e in self.entries if e.api_url == api_url and e.account == account]

    def find(self, api_url: str, account: str, ident: str) -> PlacedOrder | None:
        """The entry whose order id or client order id is ``ident``."""
        for e in self.mine(api_url, account):
            if ident in (e.order_id, e.client_order_id):
                return e
        return None

    def add(self, entry: PlacedOrder) -> None:
        self.entries.append(entry)

    def remove(self, entry: PlacedOrder) -> None:
        with contextlib.suppress(ValueError):
            self.entries.remove(entry)

    def save(self) -> None:
        doc = {"version": VERSION, "orders": [asdict(e) for e in self.entries]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".placed-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=1)
                    f.write("\n")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StateFileError(f"state file {self.path}: cannot be written ({exc.strerror or exc})") from None


def _entry(item: Any) -> PlacedOrder:
    if not isinstance(item, dict):
        raise ValueError("an entry is not an object")
    entry = PlacedOrder(
        api_url=str(item["api_url"]),
        account=str(item["account"]),
        client_order_id=str(item["client_order_id"]),
        ticker=str(item["ticker"]),
        placed_ms=int(item["placed_ms"]),
        order_id=None if item.get("order_id") is None else str(item["order_id"]),
    )
    return entry
