"""Gateway processes that die: a SIGKILLed replica's slots come back and its spend is (almost) all in Redis.

Two real gateway processes share one Redis prefix; the emulator runs in the test, so it outlives
the killed gateway and tells us what the upstream really generated.
"""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import AsyncExitStack

import pytest
import redis
from websockets.exceptions import InvalidStatus

from gateway.store.keyspace import KeySpace
from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.integration.test_caps_e2e import (  # noqa: F401 - the fixtures are used by name
    PCM_BYTES_PER_S,
    Recorder,
    ask_for_a_long_reply,
    client_for,
    create_key,
    long_reply_emulator,
    store_env,
    voice_overshoot,
)

FLUSH_MS = 250
TICK_S = 0.1
CHUNK_S = 0.1
#: output audio of gpt-realtime-2: 20 tokens/s at $64/M tokens
OUTPUT_MICROS_PER_S = 20 * 64


def day_spend(redis_url: str, prefix: str, tenant: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.get(KeySpace(prefix).day_spend(tenant, time.time())) or 0)
    finally:
        client.close()


async def _refused_status(gw: GatewayProcess, key: str) -> int | None:
    """The HTTP status a new session gets at the handshake, or ``None`` when it is admitted."""
    try:
        async with client_for(gw, key).realtime.connect(model="gpt-realtime-2") as conn:
            await Recorder(conn).until("session.created")
            return None
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_killed_gateway_loses_at_most_a_flush_period_of_spend(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """SIGKILL mid-reply: Redis holds the spend the emulator saw, short by at most a flush period + tick (+ chunk) per session."""
    env = emulator_env(long_reply_emulator, VOICE_GATEWAY_FLUSH_INTERVAL_MS=str(FLUSH_MS), **store_env(redis_url, redis_prefix))
    doomed = gateway_factory(env=env)
    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(client_for(doomed).realtime.connect(model="gpt-realtime-2")) for _ in range(2)]
        recs = [Recorder(conn) for conn in conns]
        for conn, rec in zip(conns, recs):
            await ask_for_a_long_reply(conn, rec)
        for rec in recs:  # about 1.5 s into both replies
            while rec.audio_bytes < 1.5 * PCM_BYTES_PER_S:
                await rec.next()
        assert doomed.proc is not None
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait(5)
        for rec in recs:
            closed = await rec.until_closed(timeout=5)
            assert closed.code in (1006, None), closed  # dropped, no close frame
    await asyncio.sleep(0.3)  # let the emulator see both upstream sockets close
    upstream = long_reply_emulator.sessions  # type: ignore[attr-defined]
    assert len(upstream) == 2
    seen = sum(voice_overshoot(record, 0).cost_micros for record in upstream)
    stored = day_spend(redis_url, redis_prefix, "default")
    loss = seen - stored
    loss_s = loss / OUTPUT_MICROS_PER_S
    # per session: one flush period plus a tick of metering, plus the one 100 ms chunk the emulator
    # counts when it sends it while the gateway counts it when it relays it
    bound_s = 2 * (FLUSH_MS / 1000 + TICK_S + CHUNK_S)
    print(
        f"\nkilled gateway: upstream generated {seen} µ$, Redis holds {stored} µ$; "
        f"lost {loss} µ$ = {loss_s:.3f} s of output audio over 2 sessions (bound {bound_s:.2f} s)"
    )
    assert stored > 0
    assert 0 <= loss_s <= bound_s


#: a short lease so the test does not wait out the 30 s default (VOICE_GATEWAY_LEASE_TTL_S)
LEASE_TTL_S = 4.0


async def test_killed_gateway_slots_come_back_within_the_lease_ttl(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """A tenant at its 2-session limit on a SIGKILLed replica can open sessions on the other within the lease TTL."""
    key = create_key(redis_url, redis_prefix, "--tenant", "acme", "--max-sessions", "2")["secret"]
    env = emulator_env(long_reply_emulator, **store_env(redis_url, redis_prefix), VOICE_GATEWAY_LEASE_TTL_S=str(LEASE_TTL_S))
    doomed, survivor = gateway_factory(env=env), gateway_factory(env=env)
    async with AsyncExitStack() as stack:
        for _ in range(2):
            conn = await stack.enter_async_context(client_for(doomed, key).realtime.connect(model="gpt-realtime-2"))
            await Recorder(conn).until("session.created")
        assert await _refused_status(survivor, key) == 429
        assert doomed.proc is not None
        doomed.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.proc.wait(5)
        assert await _refused_status(survivor, key) == 429  # the dead replica's leases still count
        deadline = killed_at + LEASE_TTL_S + 5
        while (status := await _refused_status(survivor, key)) is not None:
            assert status == 429
            if time.monotonic() > deadline:
                pytest.fail(f"slots not reclaimed within {LEASE_TTL_S + 5:.0f} s of the kill")
            await asyncio.sleep(1.0)
        reclaimed_after = time.monotonic() - killed_at
    print(f"\nkilled gateway: its 2 slots were reclaimed {reclaimed_after:.1f} s after SIGKILL (lease TTL {LEASE_TTL_S:.0f} s)")
    assert reclaimed_after <= LEASE_TTL_S + 5
    async with AsyncExitStack() as stack:  # both slots, not just one
        for _ in range(2):
            conn = await stack.enter_async_context(client_for(survivor, key).realtime.connect(model="gpt-realtime-2"))
            await Recorder(conn).until("session.created")
        assert await _refused_status(survivor, key) == 429
