"""Every frame type the simulator emits validates against Kalshi's AsyncAPI JSON Schemas, and has the
fields real recorded frames have (``../shared/kalshi``; skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import Client, shared_file

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

M1, M2, M3 = "KXSIM-26DEC31-M1", "KXSIM-26DEC31-M2", "KXSIM-26DEC31-M3"

SCHEMA_OF_TYPE = {
    "subscribed": "subscribedResponsePayload",
    "unsubscribed": "unsubscribedResponsePayload",
    "error": "errorResponsePayload",
    "orderbook_snapshot": "orderbookSnapshotPayload",
    "orderbook_delta": "orderbookDeltaPayload",
    "ticker": "tickerPayload",
    "trade": "tradePayload",
    "fill": "fillPayload",
    "market_position": "marketPositionPayload",
}


def schema_name(frame: dict[str, Any]) -> str:
    if frame["type"] == "ok":
        return (
            "listSubscriptionsResponsePayload" if isinstance(frame.get("msg"), list) else "okResponsePayload"
        )
    return SCHEMA_OF_TYPE[frame["type"]]


class SpecValidator:
    def __init__(self, spec_path: Path) -> None:
        self.doc = yaml.safe_load(spec_path.read_text())
        self.schemas = self.doc["components"]["schemas"]
        cls = jsonschema.Draft202012Validator
        self._validators = {
            name: cls(
                {"$ref": f"#/components/schemas/{name}", "components": self.doc["components"]},
                format_checker=cls.FORMAT_CHECKER,
            )
            for name in set(SCHEMA_OF_TYPE.values())
            | {"okResponsePayload", "listSubscriptionsResponsePayload"}
        }

    def validate(self, frame: dict[str, Any]) -> None:
        name = schema_name(frame)
        self._validators[name].validate(frame)
        # no invented field names either: every msg key is one the spec lists
        msg_schema = self.schemas[name]["properties"].get("msg", {})
        known = set(msg_schema.get("properties", {}))
        if isinstance(frame.get("msg"), dict) and known:
            assert set(frame["msg"]) <= known, f"{frame['type']}: unknown keys {set(frame['msg']) - known}"
        assert set(frame) <= set(self.schemas[name]["properties"]), f"unknown envelope keys in {frame}"


@pytest.fixture(scope="module")
def spec() -> SpecValidator:
    return SpecValidator(shared_file("kalshi", "asyncapi.yaml"))


def test_the_harness_accepts_the_specs_own_examples(spec: SpecValidator) -> None:
    path = shared_file("kalshi", "asyncapi-examples.jsonl")
    checked = 0
    for line in path.read_text().splitlines():
        frame = json.loads(line)
        if "type" in frame and (frame["type"] in SCHEMA_OF_TYPE or frame["type"] == "ok"):
            spec.validate(frame)
            checked += 1
    assert checked >= 10


async def collect_every_frame_type(sim: Any, c: Client) -> list[dict[str, Any]]:
    await c.send(
        "subscribe",
        {
            "channels": ["orderbook_delta", "ticker", "trade", "fill", "market_positions"],
            "market_tickers": [M1, M2],
        },
    )
    await c.send("list_subscriptions")
    # a repeated subscribe: an ok on sid 1 (PROTOCOL.md 10b item 1)
    await c.send("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [M1]})
    await c.send("update_subscription", {"sid": 1, "action": "add_markets", "market_tickers": [M3]})
    await c.send("update_subscription", {"sid": 1, "action": "get_snapshot", "market_tickers": [M1]}, id_=99)
    await c.send("update_subscription", {"sid": 1, "action": "delete_markets", "market_tickers": [M2]})
    await c.send("unsubscribe", {"sids": [77]})
    need = {"fill", "market_position", "trade", "ticker", "orderbook_delta"}
    seen: set[str] = set()
    while not need <= seen:
        seen.add((await c.recv(5))["type"])
    await c.send("unsubscribe", {"sids": [2]})
    await c.recv_until(lambda f: f["type"] == "unsubscribed")
    return c.frames


async def test_every_emitted_frame_validates_against_the_newest_spec(spec, make_sim, open_client):
    sim = await make_sim(rate=3000, seed=21)
    c = await open_client(sim)
    frames = await collect_every_frame_type(sim, c)
    types = {f["type"] for f in frames}
    assert types >= set(SCHEMA_OF_TYPE) | {"ok"}, types
    assert any(f["type"] == "orderbook_snapshot" and f.get("id") == 99 for f in frames)
    assert any(f["type"] == "ok" and isinstance(f["msg"], list) for f in frames)
    for f in frames:
        spec.validate(f)


async def test_empty_snapshot_sides_validate_both_ways(spec, make_sim, open_client):
    for mode in ("omit", "empty"):
        sim = await make_sim(rate=1, start_paused=True, empty_sides=mode, tickers=["KXEMPTY-1"])
        m = sim.model.markets["KXEMPTY-1"]
        for price in list(m.yes.prices):
            for order in list(m.yes.levels[price]):
                m.yes.reduce(price, order, order.size)
        c = await open_client(sim)
        await c.send("subscribe", {"channels": ["orderbook_delta"], "market_ticker": "KXEMPTY-1"})
        snap = (await c.recv_until(lambda f: f["type"] == "orderbook_snapshot"))[-1]
        spec.validate(snap)
        if mode == "omit":
            assert "yes_dollars_fp" not in snap["msg"] and snap["msg"]["no_dollars_fp"]
        else:
            assert snap["msg"]["yes_dollars_fp"] == [] and snap["msg"]["no_dollars_fp"]


# ---- the shapes of real recorded traffic -----------------------------------------------------------


def _capture_frames(name: str) -> list[dict[str, Any]]:
    path = shared_file("kalshi", "captures", name)
    text = path.read_text()
    if name.endswith(".txt"):
        return [json.loads(chunk) for chunk in text.split(";;") if chunk.strip()]
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        return [item["frame"] for item in data["frames"]]
    return list(data)


def _keys_by_type(frames: list[dict[str, Any]]) -> dict[str, tuple[set[str], set[str]]]:
    out: dict[str, tuple[set[str], set[str]]] = {}
    for f in frames:
        env, msg = out.setdefault(f["type"], (set(), set()))
        env.update(f)
        if isinstance(f.get("msg"), dict):
            msg.update(f["msg"])
    return out


async def test_frames_carry_the_fields_of_real_fixed_point_captures(make_sim, open_client):
    real = _keys_by_type(_capture_frames("prod-2026-08-mlb-orderbook.json"))
    all_channels = _keys_by_type(_capture_frames("prod-2026-05-all-channels.txt"))
    real["ticker"] = all_channels["ticker"]
    real["trade"] = all_channels["trade"]
    sim = await make_sim(rate=3000, seed=22)
    c = await open_client(sim)
    ours = _keys_by_type(await collect_every_frame_type(sim, c))
    for type_, (env, msg) in real.items():
        assert env <= ours[type_][0], f"{type_}: envelope lacks {env - ours[type_][0]}"
        assert msg <= ours[type_][1], f"{type_}: msg lacks {msg - ours[type_][1]}"


async def test_legacy_frames_carry_the_fields_of_real_legacy_captures(make_sim, open_client):
    real = _keys_by_type(_capture_frames("prod-2025-05-legacy-cents-book.jsonl"))
    real["ticker"] = _keys_by_type(_capture_frames("prod-2025-01-ticker-legacy-cents.json"))["ticker"]
    trade_env, trade_msg = _keys_by_type(_capture_frames("prod-2026-02-trade.jsonl"))["trade"]
    real["trade"] = (trade_env, {k for k in trade_msg if not k.endswith(("_dollars", "_fp"))})
    sim = await make_sim(rate=3000, seed=23, legacy_cents=True)
    c = await open_client(sim)
    frames = await collect_every_frame_type(sim, c)
    ours = _keys_by_type(frames)
    for type_, (env, msg) in real.items():
        assert env <= ours[type_][0], f"{type_}: envelope lacks {env - ours[type_][0]}"
        assert msg <= ours[type_][1], f"{type_}: msg lacks {msg - ours[type_][1]}"
    # and nothing of the fixed-point era leaks into the legacy shapes
    for f in frames:
        if isinstance(f.get("msg"), dict) and f["type"] not in ("subscribed", "ok", "error"):
            assert not [k for k in f["msg"] if k.endswith(("_fp", "_dollars"))], f
            assert "clock" not in f["msg"] and "sending_ts_ms" not in f


# ---- --like-production: what real recordings show instead of what the spec says ------------------

_TIME_KEYS = ("ts", "ts_ms", "time")


def _without_times(frame: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in frame.items() if k != "sending_ts_ms"}
    if isinstance(out.get("msg"), dict):
        out["msg"] = {k: v for k, v in out["msg"].items() if k not in _TIME_KEYS + ("clock",)}
    return out


async def _book_and_trade_stream(make_sim: Any, open_client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    sim = await make_sim(rate=2000, seed=31, start_paused=True, duration=0.4, **kwargs)
    c = await open_client(sim)
    await c.send("subscribe", {"channels": ["orderbook_delta", "trade"], "market_tickers": [M1, M2, M3]})
    await c.recv_until(lambda f: f["type"] == "orderbook_snapshot" and f["msg"]["market_ticker"] == M3)
    sim.start_flow()
    await sim.wait_quiet(timeout=10)
    await c.drain(0.2)
    return c.frames


async def test_a_production_like_stream_differs_exactly_as_real_recordings_do(spec, make_sim, open_client):
    """PROTOCOL.md 10b items 3 and 4; the default stream stays valid against the spec."""
    import re
    from datetime import datetime, timezone

    default = await _book_and_trade_stream(make_sim, open_client)
    prod = await _book_and_trade_stream(make_sim, open_client, like_production=True)
    n = min(len(default), len(prod))
    assert n > 300, n
    default, prod = default[:n], prod[:n]
    # same seed, same order flow: equal frame for frame once the times and clocks are set aside
    assert [_without_times(f) for f in prod] == [_without_times(f) for f in default]
    digits: set[int] = set()
    book = ("orderbook_snapshot", "orderbook_delta")
    for d, p in zip(default, prod, strict=True):
        spec.validate(d)
        if p["type"] not in book:
            assert "sending_ts_ms" in p or p["type"] == "subscribed"
            spec.validate(p)
            continue
        assert "clock" in d["msg"] and "sending_ts_ms" in d
        assert "clock" not in p["msg"] and "sending_ts_ms" not in p, p
        assert set(d["msg"]) - set(p["msg"]) == {"clock"} and set(p["msg"]) <= set(d["msg"])
        if p["type"] == "orderbook_delta":
            m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{1,6})Z", p["msg"]["ts"])
            assert m is not None and not m.group(2).endswith("0"), p["msg"]["ts"]
            digits.add(len(m.group(2)))
            # (fromisoformat takes only 3 or 6 digits on Python 3.10)
            second = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
            us = int(second.timestamp()) * 1_000_000 + int(m.group(2).ljust(6, "0"))
            assert p["msg"]["ts_ms"] == us // 1000, "ts_ms is ts cut to the millisecond"
            assert re.fullmatch(r".*\.\d{3}Z", d["msg"]["ts"])
        # and nothing else: with the clock and the envelope stamp put back, the spec accepts it
        spec.validate({**p, "msg": {**p["msg"], "clock": d["msg"]["clock"]}, "sending_ts_ms": 1})
    assert digits == {1, 2, 3, 4, 5, 6}, digits
