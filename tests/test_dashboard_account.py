"""The dashboard's balance and resting orders (``--with-private``, issue 14): told by REST as ``AccountRead`` events,
shown on every recorded screen size (80x24 compact to 140x45) without losing what the layouts must keep; a failed
read shows the figures as stale or unknown, never crashes; money exact."""

from __future__ import annotations

import re

import pytest

from market_making_bot.feed.events import AccountRead
from market_making_bot.kalshi.rest import Money, Order, Price, Size
from market_making_bot.views.dashboard.app import Dashboard

from .test_dashboard import EVENT, NOW_NS, SIZES, game_day, one_line_with, screen


def order(ticker: str, side: str, yes_price: int, remaining: int, n: int = 0) -> Order:
    return Order(
        order_id=f"o-{ticker}-{side}-{n}",
        ticker=ticker,
        outcome_side=side,
        book_side="bid" if side == "yes" else "ask",
        status="resting",
        yes_price_dollars=Price(yes_price),
        no_price_dollars=Price(10_000 - yes_price),
        fill_count_fp=Size(0),
        remaining_count_fp=Size(remaining),
        initial_count_fp=Size(remaining),
        taker_fill_cost_dollars=Money(0),
        maker_fill_cost_dollars=Money(0),
        taker_fees_dollars=Money(0),
        maker_fees_dollars=Money(0),
    )


RESTING = (
    order(EVENT + "LAL", "yes", 4300, 1_000),  # YES 10 @ 43¢
    order(EVENT + "LAL", "no", 4900, 550),  # NO 5.50 @ 51¢
    order(EVENT + "BOS", "yes", 2000, 100),
)
BALANCE = 9_972_430_000  # $9972.43 (REST: 997243 cents)
PORTFOLIO = 10_015_205_500  # $10015.2055: money is shown exact, never rounded


def read(error: str | None = None, read_ns: int | None = NOW_NS - 5_000_000_000) -> AccountRead:
    return AccountRead(NOW_NS, BALANCE, PORTFOLIO, RESTING, read_ns, error=error)


def with_account(event: AccountRead, *, via_bus: bool = True) -> Dashboard:
    dash = game_day()
    if via_bus:
        dash.model.attach(dash.model.core.bus)
        dash.model.core.bus.emit(event)
    else:
        dash.model.on_account(event)
    return dash


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_size_shows_the_balance_and_resting_orders_and_keeps_the_rest(width: int, height: int) -> None:
    lines = screen(with_account(read()), width, height)
    text = "\n".join(lines)
    one_line_with(lines, "balance $9972.43")
    one_line_with(lines, "portfolio $10015.2055")
    one_line_with(lines, "resting orders 3")
    if width >= 100:  # the selected market's (LAL) orders, each whole
        one_line_with(lines, "here: YES 10 @ 43¢, NO 5.50 @ 51¢")
    assert "stale" not in text and "unknown" not in text
    # what every size must keep is still there
    assert text.count("▶") == 1
    one_line_with(lines, "position 80 YES", "P&L @mid $1.60")
    one_line_with(lines, "keys: Tab/→ next", "1-9 pick", "q quit")
    one_line_with(lines, "● CONNECTED", "books usable 4/5")


def test_the_account_read_before_the_dashboard_started_is_shown() -> None:
    dash = with_account(read(), via_bus=False)  # Dashboard(account=...) passes it so: the start's read
    account = dash.snapshot(NOW_NS).account
    assert account is not None and (account.balance, account.portfolio_value, account.resting) == (
        BALANCE,
        PORTFOLIO,
        3,
    )
    assert [(o.side, o.price, o.remaining) for o in account.orders] == [("yes", 4300, 1000), ("no", 5100, 550)]
    assert account.age_s == 5.0 and account.error is None


def test_a_failed_read_shows_the_last_figures_as_stale() -> None:
    dash = with_account(read(error="HTTP 503 service_unavailable"))
    for width, height in SIZES:
        lines = screen(dash, width, height)
        one_line_with(lines, "balance $9972.43")
        one_line_with(lines, "stale: read 5.0s ago")


def test_never_read_shows_unknown_and_the_selected_market_without_orders_says_none() -> None:
    dash = with_account(AccountRead(NOW_NS, None, None, None, None, error="HTTP 500"))
    for width, height in SIZES:
        lines = screen(dash, width, height)
        one_line_with(lines, "balance --", "portfolio --")
        one_line_with(lines, "unknown: REST read failed")
    dash = with_account(read())
    dash.select(EVENT + "NYK")
    text = "\n".join(screen(dash, 140, 45))
    assert "resting orders 3" in text and "here:" not in text


def test_no_account_line_without_private_or_without_a_read() -> None:
    plain = "\n".join(screen(game_day(), 140, 45))
    assert "balance" not in plain  # no AccountRead: a replay, or a library user's feed
    dash = with_account(read())
    dash.model.private = False
    assert dash.snapshot(NOW_NS).account is None


def test_more_orders_than_shown_are_counted() -> None:
    many = tuple(order(EVENT + "LAL", "yes", 4000 - 100 * i, 100, i) for i in range(5))
    dash = with_account(AccountRead(NOW_NS, BALANCE, PORTFOLIO, many, NOW_NS))
    line = one_line_with(screen(dash, 140, 45), "here:")
    assert re.search(r"here: YES 1 @ 40¢, YES 1 @ 39¢, YES 1 @ 38¢ \+2 more", line)
