"""Tenant budgets and admission limits across two gateway processes sharing one Redis prefix.

Keys with limits are made with ``voice-gateway keys create`` against the same Redis; clients are
the official SDK; the emulator generates the spend.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import orjson
import pytest
import redis
from websockets.exceptions import InvalidStatus

from gateway.store.keyspace import KeySpace
from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.integration.test_caps_e2e import (  # noqa: F401 - the fixtures are used by name
    Recorder,
    ask_for_a_long_reply,
    ask_until_cut,
    check_cap_warning,
    check_cut_off,
    client_for,
    create_key,
    long_reply_emulator,
    session_records,
    store_env,
)


async def _refusal(gw: GatewayProcess, key: str) -> tuple[int, dict]:
    """Status and JSON body of a refused handshake (fails the test when the session is admitted)."""
    with pytest.raises(InvalidStatus) as raised:
        async with client_for(gw, key).realtime.connect(model="gpt-realtime-2") as conn:
            await Recorder(conn).until("session.created")
    response = raised.value.response
    assert response.headers.get("content-type") == "application/json"
    return response.status_code, orjson.loads(response.body)


async def _open(stack: AsyncExitStack, gw: GatewayProcess, key: str) -> tuple[object, Recorder]:
    """An admitted session, kept open until ``stack`` closes."""
    conn = await stack.enter_async_context(client_for(gw, key).realtime.connect(model="gpt-realtime-2"))
    rec = Recorder(conn)
    await rec.until("session.created")
    return conn, rec


def _two_gateways(gateway_factory: GatewayFactory, emulator: object, redis_url: str, prefix: str) -> tuple[GatewayProcess, GatewayProcess]:
    env = emulator_env(emulator, **store_env(redis_url, prefix))
    return gateway_factory(env=env), gateway_factory(env=env)


async def test_concurrency_limit_holds_across_two_gateways(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """A tenant limited to 2 sessions holds one on each replica; a 3rd on either gets 429; closing one frees a slot."""
    key = create_key(redis_url, redis_prefix, "--tenant", "acme", "--max-sessions", "2")["secret"]
    a, b = _two_gateways(gateway_factory, long_reply_emulator, redis_url, redis_prefix)
    async with AsyncExitStack() as stack:
        await _open(stack, a, key)
        async with AsyncExitStack() as on_b:
            await _open(on_b, b, key)
            for gw in (a, b):
                status, body = await _refusal(gw, key)
                assert status == 429, body
                assert body["error"]["code"] == "concurrent_sessions_exceeded"
                assert body["error"]["type"] == "rate_limit_error" and body["error"]["message"]
        await asyncio.sleep(0.2)  # the released slot is in Redis by the time the close handshake is done
        await _open(stack, a, key)  # the slot B gave back
        assert (await _refusal(b, key))[0] == 429


async def test_daily_budget_holds_across_two_gateways(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """Spend on A cuts A's session (4103) and B's idle session, and new sessions on either get 402."""
    created = create_key(redis_url, redis_prefix, "--tenant", "acme", "--daily-budget-usd", "0.002")
    key = created["secret"]
    assert created["daily_budget_micros"] == 2000
    a, b = _two_gateways(gateway_factory, long_reply_emulator, redis_url, redis_prefix)
    async with AsyncExitStack() as stack:
        _, bystander = await _open(stack, b, key)
        spender_conn = await stack.enter_async_context(client_for(a, key).realtime.connect(model="gpt-realtime-2"))
        spender = Recorder(spender_conn)
        await ask_for_a_long_reply(spender_conn, spender)
        closed = await ask_until_cut(spender_conn, spender)  # each reply is clamped to what the budget leaves
        check_cut_off(spender, closed, code="budget_exceeded", close_code=4103, warn="budget")
        _, warning = spender.first("gateway.cap_warning")
        check_cap_warning(warning, "budget", "0.002000")
        bystander_closed = await bystander.until_closed(timeout=5)
        check_cut_off(bystander, bystander_closed, code="budget_exceeded", close_code=4103, warn=None)
    for gw in (a, b):
        status, body = await _refusal(gw, key)
        assert status == 402, body
        assert body["error"]["code"] == "budget_exceeded" and body["error"]["type"] == "insufficient_quota"
    client = redis.Redis.from_url(redis_url)
    spent = int(client.get(KeySpace(redis_prefix).day_spend("acme", time.time())) or 0)
    client.close()
    print(f"\ndaily budget 2000 µ$: tenant spend in Redis after the cut-off {spent} µ$ (overrun {spent - 2000} µ$)")
    assert 2000 <= spent < 2000 + 1280  # less than one second of gpt-realtime-2 output audio over
    records = session_records(redis_url, redis_prefix, count=2)
    assert sorted(r["end_reason"] for r in records) == ["budget_exceeded", "budget_exceeded"]
    assert {r["tenant"] for r in records} == {"acme"}


async def test_session_creation_rate_limit_holds_across_two_gateways(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """Two new sessions a minute, spread over both replicas: the third gets 429 rate_limit_exceeded with a retry hint."""
    key = create_key(redis_url, redis_prefix, "--tenant", "acme", "--sessions-per-minute", "2")["secret"]
    a, b = _two_gateways(gateway_factory, long_reply_emulator, redis_url, redis_prefix)
    for gw in (a, b):
        async with AsyncExitStack() as stack:
            await _open(stack, gw, key)
    for gw in (a, b):
        status, body = await _refusal(gw, key)
        assert status == 429, body
        assert body["error"]["code"] == "rate_limit_exceeded" and "retry in" in body["error"]["message"]
