"""Keys and client secrets against real gateway processes and a real Redis: CLI, SDK, one-use browser secrets."""

from __future__ import annotations

import asyncio
import json
from typing import Iterator

import httpx
import pytest
import redis
from openai import AsyncOpenAI, AuthenticationError, PermissionDeniedError

from gateway.core.api_keys import hash_secret
from tests.integration.conftest import GatewayFactory
from tests.integration.keys_support import (
    ORIGIN,
    cleanup,
    cli,
    close_code,
    create_key,
    handshake_status,
    new_prefix,
    next_event,
    session,
    start,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = new_prefix()
    yield name
    cleanup(redis_url, name)


def _sdk(gw: object, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=f"{gw.http_url}/v1", max_retries=0)  # type: ignore[attr-defined]


async def test_cli_keys_work_on_a_running_gateway_and_revocation_is_immediate(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """keys create → the key opens sessions; keys list shows it without secrets; keys revoke → refused within ~1 s."""
    gw = start(gateway_factory, redis_url, prefix)
    created = create_key(redis_url, prefix, "--label", "team=ios", "--daily-budget-usd", "50", "--max-sessions", "20")
    secret, key_id = str(created["secret"]), str(created["key_id"])
    assert secret.startswith("vg_")
    async with session(gw, secret) as ws:
        assert (await next_event(ws, "session.created"))["type"] == "session.created"
    listed = cli(["list", "--json"], redis_url, prefix)
    assert listed.returncode == 0 and secret not in listed.stdout and hash_secret(secret) not in listed.stdout
    [row] = json.loads(listed.stdout)
    assert row["key_id"] == key_id and row["tenant"] == "acme" and row["labels"] == {"mobile": "true", "team": "ios"}
    assert row["daily_budget_micros"] == 50_000_000 and row["max_concurrent_sessions"] == 20 and row["active"] is True
    assert cli(["revoke", key_id], redis_url, prefix).returncode == 0
    await asyncio.sleep(1.2)  # the gateway trusts a verified key for at most one second
    assert await handshake_status(gw, secret) == 401
    assert json.loads(cli(["list", "--json"], redis_url, prefix).stdout)[0]["active"] is False
    assert cli(["revoke", "key_missing"], redis_url, prefix).returncode == 1


async def test_revoke_with_end_sessions_closes_live_sessions_with_4105(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """revoke --end-sessions ends the key's live sessions on every replica (close code 4105)."""
    gw = start(gateway_factory, redis_url, prefix)
    created = create_key(redis_url, prefix)
    async with session(gw, str(created["secret"])) as ws:
        await next_event(ws, "session.created")
        await asyncio.sleep(0.3)  # the session is registered once routed
        done = cli(["revoke", str(created["key_id"]), "--end-sessions"], redis_url, prefix)
        assert done.returncode == 0 and "1 gateway replica" in done.stdout
        assert await close_code(ws) == 4105


def test_the_cli_refuses_without_a_redis_url(prefix: str) -> None:
    """Without VOICE_GATEWAY_REDIS_URL keys create exits non-zero and explains the embedded store."""
    done = cli(["create", "--tenant", "acme"], None, prefix)
    assert done.returncode == 2 and "VOICE_GATEWAY_REDIS_URL" in done.stderr and "in-process" in done.stderr


async def test_sdk_client_secret_opens_one_browser_session_with_its_bound_config(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """The official SDK mints an ek_ secret; it opens one session (subprotocol + allowed Origin) with the bound config."""
    gw = start(gateway_factory, redis_url, prefix)
    key = str(create_key(redis_url, prefix)["secret"])
    minted = await _sdk(gw, key).realtime.client_secrets.create(
        session={"type": "realtime", "model": "gpt-realtime-2", "instructions": "Answer like a pirate."},
        expires_after={"anchor": "created_at", "seconds": 300},
    )
    assert minted.value.startswith("ek_") and minted.session.type == "realtime"
    assert minted.session.instructions == "Answer like a pirate."  # type: ignore[union-attr]
    async with session(gw, minted.value, browser=True, origin=ORIGIN) as ws:
        assert ws.subprotocol == "realtime"
        updated = await next_event(ws, "session.updated")
        assert updated["session"]["instructions"] == "Answer like a pirate."  # type: ignore[index]
    assert await handshake_status(gw, minted.value, browser=True, origin=ORIGIN) == 401  # used up


async def test_a_client_secret_also_works_as_a_bearer_with_the_sdk(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """An ek_ secret given to the SDK as api_key opens a realtime session (Bearer, from an allowed Origin)."""
    gw = start(gateway_factory, redis_url, prefix)
    minted = await _sdk(gw, gw.key).realtime.client_secrets.create(session={"type": "realtime"})
    async with _sdk(gw, minted.value).realtime.connect(model="gpt-realtime-2", extra_headers={"Origin": ORIGIN}) as conn:
        event = await asyncio.wait_for(conn.recv(), 10)
        assert event.type == "session.created"


async def test_sdk_translation_client_secret_opens_a_translation_session(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """realtime.translations.client_secrets.create mints a secret that opens /v1/realtime/translations."""
    gw = start(gateway_factory, redis_url, prefix)
    minted = await _sdk(gw, gw.key).realtime.translations.client_secrets.create(
        session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "es"}}}
    )
    assert minted.value.startswith("ek_") and minted.session.type == "translation"
    assert minted.session.audio.output is not None and minted.session.audio.output.language == "es"
    path = "/realtime/translations?model=gpt-realtime-translate"
    async with session(gw, minted.value, browser=True, origin=ORIGIN, path=path) as ws:
        created = await next_event(ws, "session.created")
        assert created["session"]["type"] == "translation"  # type: ignore[index]


async def test_bad_secrets_are_refused(gateway_factory: GatewayFactory, redis_url: str, prefix: str) -> None:
    """Expired, forged and wrong-Origin client secrets are refused; a secret cannot mint another."""
    gw = start(gateway_factory, redis_url, prefix)
    sdk = _sdk(gw, gw.key)
    expired = await sdk.realtime.client_secrets.create(session={"type": "realtime"})
    store = redis.Redis.from_url(redis_url)
    assert store.pexpire(f"{prefix}:ek:{hash_secret(expired.value)}", 1)
    await asyncio.sleep(0.05)
    assert await handshake_status(gw, expired.value, browser=True, origin=ORIGIN) == 401
    assert await handshake_status(gw, "ek_" + "Q" * 43, browser=True, origin=ORIGIN) == 401
    wrong_origin = await sdk.realtime.client_secrets.create(session={"type": "realtime"})
    assert await handshake_status(gw, wrong_origin.value, browser=True, origin="https://evil.example") == 403
    with pytest.raises(PermissionDeniedError):
        minted = await sdk.realtime.client_secrets.create(session={"type": "realtime"})
        await _sdk(gw, minted.value).realtime.client_secrets.create(session={"type": "realtime"})
    with pytest.raises(AuthenticationError):
        await _sdk(gw, "vg_forged_key").realtime.client_secrets.create(session={"type": "realtime"})
    store.close()


async def test_invalid_session_configuration_is_a_400(gateway_factory: GatewayFactory, redis_url: str, prefix: str) -> None:
    """An invalid session config and an out-of-range expiry get 400 with OpenAI's error shape."""
    gw = start(gateway_factory, redis_url, prefix)
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"authorization": f"Bearer {gw.key}"}) as http:
        bad = await http.post("/v1/realtime/client_secrets", json={"session": {"type": "realtime", "audio": {"output": {"speed": 9}}}})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "session.audio.output.speed"
        expiry = await http.post("/v1/realtime/client_secrets", json={"expires_after": {"anchor": "created_at", "seconds": 7201}})
        assert expiry.status_code == 400 and expiry.json()["error"]["param"] == "expires_after.seconds"
        cors = await http.options("/v1/realtime/client_secrets", headers={"origin": ORIGIN, "access-control-request-method": "POST"})
        assert cors.headers.get("access-control-allow-origin") == ORIGIN


async def test_repeated_failed_authentication_is_rate_limited(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """After 10 failed authentications from one address, handshakes and HTTP calls get 429 even with a good key."""
    gw = start(gateway_factory, redis_url, prefix)
    for _ in range(10):
        assert await handshake_status(gw, "vg_guess") == 401
    assert await handshake_status(gw, gw.key) == 429
    async with httpx.AsyncClient(base_url=gw.http_url) as http:
        response = await http.post("/v1/realtime/client_secrets", headers={"authorization": f"Bearer {gw.key}"})
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limit_exceeded"
