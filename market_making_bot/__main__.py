"""``python -m market_making_bot``: same as ``python -m market_making_bot.mm_ws_listener``."""

from market_making_bot.cli.listener import main

if __name__ == "__main__":
    raise SystemExit(main())
