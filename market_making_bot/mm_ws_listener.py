"""``python -m market_making_bot.mm_ws_listener``: the documented command, kept at its old name; the code lives in
``market_making_bot.cli.listener``."""

from market_making_bot.cli.listener import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
