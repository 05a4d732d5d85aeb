"""The true state of the exchange, in the listener's summary format, and writing it to a file.

What the model holds (every market's book and the simulated user's position), what the faults did and
how many queues overflowed: what a test compares the listener's view with. The file is replaced
atomically (written next to it, then renamed), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from market_making_bot.simulator.faults import FaultController
from market_making_bot.simulator.matching import OrderEntry
from market_making_bot.simulator.model import ExchangeModel

log = logging.getLogger("market_making_bot.simulator")


def truth(
    model: ExchangeModel, faults: FaultController, overflows: int, entry: OrderEntry | None = None
) -> dict[str, Any]:
    """The true state now (plus ``faults``, ``fills``, ``trades``, ``clock``, ``overflows`` and ``user``:
    every fill of the account in time order and its orders resting now, see :meth:`.OrderEntry.truth`)."""
    out = {
        "markets": model.truth_markets(),
        "faults": faults.summary(),
        "fills": model.fills,
        "trades": sum(m.trades for m in model.market_list),
        "clock": model.clock,
        "overflows": overflows,
    }
    if entry is not None:
        out["user"] = entry.truth()
    return out


def write_truth(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically; raises OSError."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    os.replace(tmp, p)
    log.info("truth written to %s", p)
