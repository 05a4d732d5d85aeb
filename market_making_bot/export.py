"""``python -m market_making_bot.export``: the documented command, kept at its old name; the code lives in
``market_making_bot.cli.export``."""

from market_making_bot.cli.export import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
