"""Store faults against a real gateway and its own redis-server: down at start, lost mid-session, slow."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.integration.conftest import GatewayFactory
from tests.integration.faults.conftest import (
    EmulatorStarter,
    OwnRedis,
    Transcript,
    day_spend,
    eventually,
    gateway_env,
    open_client,
    readyz,
    start_turn,
    until,
    wait_records,
)


async def test_store_down_at_start_shows_on_readyz_before_any_session(
    gateway_factory: GatewayFactory, own_redis: OwnRedis, prefix: str
) -> None:
    """Redis unreachable at start, fail-closed: /readyz is 503 with store.healthy false before any session tried it."""
    own_redis.stop()
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, store_failure_mode="closed"))
    await asyncio.sleep(0.6)
    status, body = readyz(gw)
    assert status == 503 and body["store"] == {"kind": "redis", "healthy": False}


async def test_store_down_at_start_fail_closed_reports_unready_then_recovers(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """Redis down at start, fail-closed: a key without limits is still served, /readyz turns 503; all recovers when Redis returns."""
    emu = await emulators()
    own_redis.stop()
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, store_failure_mode="closed"))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:  # fail-closed refuses only keys with budgets or limits
        await until(ws, "session.created", seen)
    status, body = readyz(gw)
    assert status == 503 and body["store"] == {"kind": "redis", "healthy": False}
    own_redis.start()
    back_at = time.monotonic()
    assert await eventually(lambda: readyz(gw)[0] == 200, 5.0)
    recovered_s = time.monotonic() - back_at
    assert recovered_s < 1.5, recovered_s
    print(f"MEASURE store recovery readyz 200 {recovered_s:.3f}s after Redis returned")
    (record,) = wait_records(own_redis, prefix, 1)  # the record queued during the outage
    assert record["end_reason"] == "client_closed"


async def test_store_down_at_start_fail_open_serves_and_reconciles(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """Fail-open: sessions run while Redis is down; their records and spend land when it returns."""
    emu = await emulators()
    own_redis.stop()
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, store_failure_mode="open"))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        await start_turn(ws)
        await until(ws, "response.done", seen)
    status, body = readyz(gw)
    assert status == 200 and body["store"]["healthy"] is False  # type: ignore[index]
    own_redis.start()
    (record,) = wait_records(own_redis, prefix, 1, timeout_s=5.0)
    assert record["end_reason"] == "client_closed"
    assert int(record["cost_micros"]) > 0
    tenant = record["tenant"]
    assert await eventually(lambda: day_spend(own_redis, prefix, tenant) == int(record["cost_micros"]), 3.0)


async def test_store_lost_mid_session_keeps_audio_flowing_and_reconciles_spend(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """Redis hangs mid-session: the turn's audio still streams without a gap; when it returns the spend and record are exact."""
    emu = await emulators(reply_ms=1500)
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, store_failure_mode="open"))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        own_redis.freeze()
        await start_turn(ws)
        arrivals: list[float] = []
        while True:
            text = await asyncio.wait_for(ws.recv(), 10)
            arrivals.append(time.monotonic())
            if '"response.done"' in str(text)[:40]:
                break
        # the health probe runs every 2 s: the reply may end before it has noticed the hang
        assert await eventually(lambda: readyz(gw)[1]["store"]["healthy"] is False, timeout_s=6.0)  # type: ignore[index]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    print(f"MEASURE store hung: max gap between frames {max(gaps):.3f}s")
    assert max(gaps) < 0.5, f"relay stalled {max(gaps):.2f}s while the store hung"
    own_redis.thaw()
    (record,) = wait_records(own_redis, prefix, 1, timeout_s=5.0)
    tenant = record["tenant"]
    assert await eventually(lambda: day_spend(own_redis, prefix, tenant) == int(record["cost_micros"]), 3.0)
    usage = emu.sessions[0].usage_total  # type: ignore[attr-defined]
    assert int(record["audio_out_tokens"]) == usage.output_audio_tokens
    assert await eventually(lambda: readyz(gw)[1]["store"]["healthy"] is True, 3.0)  # type: ignore[index]


async def test_slow_store_does_not_slow_the_relay(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """Redis answers slowly (DEBUG SLEEP 0.8 s, under the client's timeout): audio deltas keep their pace."""
    emu = await emulators(reply_ms=1500)
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        slept: list[object] = []
        sleeper = threading.Thread(target=lambda: slept.append(own_redis.client().execute_command("DEBUG", "SLEEP", "0.8")))
        sleeper.start()
        await start_turn(ws)
        arrivals: list[float] = []
        while True:
            text = await asyncio.wait_for(ws.recv(), 10)
            arrivals.append(time.monotonic())
            if '"response.done"' in str(text)[:40]:
                break
        sleeper.join()
    assert slept == [b"OK"]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    print(f"MEASURE store slow: max gap between frames {max(gaps):.3f}s")
    assert max(gaps) < 0.5, f"relay stalled {max(gaps):.2f}s on a slow store"
    (record,) = wait_records(own_redis, prefix, 1)
    assert int(record["cost_micros"]) > 0
