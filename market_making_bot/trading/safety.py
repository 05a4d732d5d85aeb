"""Where orders may go: the one rule that keeps real money out of reach unless the trader asks for it.

Orders go to the project's simulator (built in, or a server whose replies carry the simulator's mark, see
:mod:`market_making_bot.marker`) unless the trader passed ``--live``. Anything else is refused before the first
write, with the reason. A local address is not enough: a tunnel or proxy to Kalshi can listen on 127.0.0.1.
Pure: the caller reads the mark (``KalshiAPIClient.simulator_mark``) and passes it in.
"""

from __future__ import annotations

from market_making_bot.marker import SIMULATOR_HEADER, is_simulator_mark

__all__ = ["order_destination_refusal"]


def order_destination_refusal(base_url: str, mark: str | None, *, live: bool) -> str | None:
    """``None`` if orders may be sent to ``base_url``, else the one-line reason they may not.

    ``mark``: the value of the simulator's header on a reply of that server (``None``: absent). With ``live`` every
    destination is allowed (the trader asked for real orders explicitly)."""
    if live:
        return None
    if is_simulator_mark(mark):
        return None
    return (
        f"refusing to send orders to {base_url}: it is not the project's simulator (no {SIMULATOR_HEADER} header "
        "on its replies); pass --live to trade real money on it"
    )
