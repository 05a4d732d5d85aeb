from typing import Any

def delta(data: str | bytes, recv_ns: int, last_seq: dict[int, int], markets: dict[str, Any], apply: bool) -> Any: ...
def frame(
    data: str | bytes,
    recv_ns: int,
    last_seq: dict[int, int],
    markets: dict[str, Any],
    apply: bool,
    by_type: dict[str, int],
    ticker_listeners: list[Any],
    trade_listeners: list[Any],
    restart_at: dict[int, int],
    fill_listeners: list[Any] = ...,
    position_listeners: list[Any] = ...,
    /,
) -> Any: ...
def setup(
    message: type, market: type, book: type, ladder: type, stats: type, ticker: type = ...,
    trade: type = ...,
    fill: type = ...,
    position: type = ...,
    recent_ids: type = ...,
    /,
) -> None: ...
def feeder(
    core: Any, feed: Any, rest: Any, sample: Any, every: int, state_type: type, tracker_type: type, /
) -> Any: ...
