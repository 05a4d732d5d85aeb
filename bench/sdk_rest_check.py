"""kalshi-sdk 22.4.0's ``AsyncKalshiClient`` against the simulator's REST API: a third-party client must work too.

A person runs it (kalshi-sdk needs Python >= 3.12, so it lives in its own venv; see the README's Performance
section)::

    python3.12 -m venv /tmp/sdk && /tmp/sdk/bin/pip install kalshi-sdk==22.4.0
    python -m bench.sdk_rest_check --sdk-python /tmp/sdk/bin/python

It starts a simulator (in this process, with this project's Python) whose simulated user has traded, writes its
credentials, and runs this same file under the SDK's Python (``--child``: only the standard library and kalshi-sdk
are imported there) to read exchange status, markets, a market, trades, the order book, balance, positions,
fills and orders with ``AsyncKalshiClient(config=KalshiConfig(base_url=..., ws_base_url=...))``, then to place one
order with ``orders.create_v2`` and cancel it with ``orders.cancel_v2`` (V2 order entry). The child prints
what it read as JSON; this side compares it with the simulator's state and prints one line per check. Exit status:
0 every check passed, 1 a check failed or the SDK raised, 2 bad command line (no such interpreter).

``tests/test_sdk_rest.py`` runs the same check when ``KALSHI_SDK_PYTHON`` names such an interpreter (it never
installs anything).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any


async def _child(base_url: str, ws_url: str, key_id: str, key_path: str, ticker: str) -> dict[str, Any]:
    from kalshi import AsyncKalshiClient, KalshiConfig  # type: ignore[import-not-found]

    config = KalshiConfig(base_url=base_url, ws_base_url=ws_url, max_retries=0)
    out: dict[str, Any] = {}
    async with AsyncKalshiClient(key_id=key_id, private_key_path=key_path, config=config) as client:

        async def read(name: str, call: Any, shape: Any) -> None:
            try:
                out[name] = shape(await call)
            except Exception as exc:  # noqa: BLE001 - each read is reported on its own
                out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}

        await read("exchange_active", client.exchange.status(), lambda s: s.exchange_active)
        await read("markets", client.markets.list(limit=1000), lambda ms: [m.ticker for m in ms])
        await read("market", client.markets.get(ticker), lambda m: m.ticker)
        await read("trades", client.markets.list_trades(ticker=ticker, limit=1000), lambda ts: [t.trade_id for t in ts])
        await read("orderbook", client.markets.orderbook(ticker), lambda b: b.model_dump(mode="json"))
        await read("balance", client.portfolio.balance(), lambda b: str(b.balance))
        await read(
            "positions",
            client.portfolio.positions(limit=1000),
            lambda ps: {p.ticker: str(p.position) for p in ps.market_positions or []},
        )
        await read("fills", client.portfolio.fills(limit=1000), lambda fs: [f.trade_id for f in fs])
        await read("orders", client.orders.list(status="resting", limit=1000), lambda os_: [o.order_id for o in os_])
        # V2 order entry, after the reads (the account's first order stops the simulated user)
        from kalshi.models.orders import CreateOrderV2Request  # type: ignore[import-not-found]

        request = CreateOrderV2Request(
            ticker=ticker,
            client_order_id=SDK_COID,
            side="bid",
            count="2.00",
            price="0.0100",
            time_in_force="good_till_canceled",
            self_trade_prevention_type="taker_at_cross",
        )

        def created(r: Any) -> dict[str, Any]:
            return {"order_id": r.order_id, "fill_count": str(r.fill_count), "remaining_count": str(r.remaining_count),
                    "client_order_id": r.client_order_id}  # fmt: skip

        await read("create_v2", client.orders.create_v2(request=request), created)
        placed = out["create_v2"].get("order_id")
        if placed is not None:
            await read(
                "cancel_v2",
                client.orders.cancel_v2(placed, market_ticker=ticker),
                lambda r: {"order_id": r.order_id, "reduced_by": str(r.reduced_by)},
            )
        else:
            out["cancel_v2"] = {"error": "no order to cancel: create_v2 failed"}
    return out


SDK_COID = "sdk-v2-check-1"


def _run_child(argv: list[str]) -> int:
    result = asyncio.run(_child(*argv))
    print(json.dumps(result, default=str))
    return 0


async def check(sdk_python: str, workdir: Path) -> list[tuple[str, bool, str]]:
    """Start a traded simulator, run the SDK against it; ``(check, passed, detail)`` for each read."""
    from decimal import Decimal

    from market_making_bot.simulator import ExchangeSimulator, SimulatorConfig

    sim = ExchangeSimulator(SimulatorConfig(rate=20_000, markets=3, start_paused=True, ping_interval=None))
    await sim.start()
    try:
        sim.model.activate_user()
        for _ in range(200_000):  # deterministic: step the model until the user has fills and a resting order
            sim.fanout.dispatch(sim.model.step())
            if len(sim.model.fill_log) >= 8 and any(m.user and m.user.resting for m in sim.model.market_list):
                break
        env = workdir / "sim.env"
        key_id, key_path = sim.write_credentials(env)
        ticker = sim.model.fill_log[0].market.ticker
        # the truth before the SDK's order (which stops the simulated user and takes its resting orders off)
        model = sim.model
        yes, no, _clock = model.book_levels(ticker)
        resting = sorted(o.order_id for m in model.market_list if m.user for _p, o in m.user.resting.values())
        truth_positions = {t: v["position"] for t, v in sim.truth()["markets"].items() if v["position"] is not None}
        trades = [t[0] for t in reversed(model.trade_log) if t[1] == ticker]
        fills = [f.trade_id for f in reversed(model.fill_log)]
        proc = await asyncio.create_subprocess_exec(
            sdk_python,
            str(Path(__file__).resolve()),
            "--child",
            sim.api_url,
            sim.url,
            key_id,
            str(key_path),
            ticker,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            return [("kalshi-sdk run", False, f"exit {proc.returncode}: {tail[0]}")]
        got = json.loads(stdout)

        def levels(side: Any) -> list[tuple[Decimal, Decimal]]:
            return [(Decimal(lv["price"]), Decimal(lv["quantity"])) for lv in side or []]

        def as_decimal(levels_: list[tuple[int, int]]) -> list[tuple[Decimal, Decimal]]:
            return [(Decimal(p) / 10_000, Decimal(q) / 100) for p, q in levels_]

        def failed(name: str) -> str | None:
            value = got.get(name)
            return value["error"] if isinstance(value, dict) and "error" in value else None

        expect: dict[str, tuple[Any, Any]] = {
            "exchange status": (got.get("exchange_active"), True),
            "markets": (got.get("markets"), [m.ticker for m in model.market_list]),
            "market": (got.get("market"), ticker),
            "trades": (got.get("trades"), trades),
            "balance": (got.get("balance"), None),
            "positions": (
                {t: Decimal(v) for t, v in (got.get("positions") or {}).items()} if not failed("positions") else None,
                {t: Decimal(v) for t, v in truth_positions.items()},
            ),
            "fills": (got.get("fills"), fills),
            "orders": (sorted(got.get("orders") or []) if not failed("orders") else None, resting),
        }
        # create_v2 then cancel_v2: one order with the SDK's coid in the simulator, resting 2 then canceled
        held = [o for o in sim.entry.order_list if o.client_order_id == SDK_COID]
        created = got.get("create_v2") or {}
        expect["create_v2"] = (
            (created.get("client_order_id"), created.get("fill_count"), created.get("remaining_count"), len(held)),
            (SDK_COID, "0.00", "2.00", 1),
        )
        canceled = got.get("cancel_v2") or {}
        expect["cancel_v2"] = (
            (canceled.get("order_id"), canceled.get("reduced_by"), held[0].status if held else None),
            (created.get("order_id"), "2.00", "canceled"),
        )
        book = got.get("orderbook")
        if not failed("orderbook") and isinstance(book, dict):
            expect["order book"] = (
                (levels(book.get("yes")), levels(book.get("no"))),
                (as_decimal(yes), as_decimal(no)),
            )
        else:
            expect["order book"] = (None, True)
        keys = {"exchange status": "exchange_active", "order book": "orderbook"}
        checks: list[tuple[str, bool, str]] = []
        for name, (have, want) in expect.items():
            error = failed(keys.get(name, name))
            if error is not None:
                checks.append((name, False, error))
            elif name == "balance":  # the SDK's balance, checked to be a whole number of cents
                checks.append((name, str(have).isdigit(), f"{have} cents"))
            else:
                checks.append((name, have == want, str(have)[:120]))
        return checks
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        return _run_child(args[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.sdk_rest_check", description=__doc__.split("\n")[0])
    parser.add_argument("--sdk-python", required=True, help="a Python >= 3.12 with kalshi-sdk 22.4.0 installed")
    ns = parser.parse_args(args)
    if not os.access(ns.sdk_python, os.X_OK):
        print(f"--sdk-python {ns.sdk_python}: not an executable file", file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sdk-rest-") as tmp:
        results = asyncio.run(check(ns.sdk_python, Path(tmp)))
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _n, ok, _d in results) else 1


if __name__ == "__main__":
    sys.exit(main())
