"""``python -m market_making_bot.bot --strategy PATH_OR_MODULE:Class ...``: the market-making bot; the code lives in
``market_making_bot.cli.bot`` (shell: ``runtime.bot``, engine: ``trading.engine``)."""

from market_making_bot.cli.bot import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
