"""``python -m market_making_bot.account positions|fills|orders|balance|markets``: account queries over REST; the
code lives in ``market_making_bot.cli.account``."""

from market_making_bot.cli.account import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
