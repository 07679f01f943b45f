"""Client secrets: bound to the minting key and session, one use, expiry, revocation of the minting key."""

from __future__ import annotations

import asyncio

import pytest

from gateway.keys.client_secrets import ClientSecretStore, is_client_secret
from gateway.keys.keyring import Keyring
from gateway.store.client_secrets import RedisSecretSlots
from gateway.store.keyring import RedisKeyRecords
from gateway.core.api_keys import SecretBinding, hash_secret
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.keys.generate import build_record, new_key_id, new_secret

BINDING = SecretBinding(EndpointKind.REALTIME, SessionKind.REALTIME, "gpt-realtime-2-mini", "gpt-realtime-mini")


async def test_a_secret_opens_exactly_one_session(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """The first consume returns the bound record; every later one returns None."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    key = build_record(new_key_id(), "acme", labels={"app": "web"}, daily_budget_micros=5)
    session = {"type": "realtime", "instructions": "be brief"}
    secret = await store.mint(key, session, 600, BINDING)
    assert is_client_secret(secret) and secret.startswith("ek_")
    bound = await store.consume(secret)
    assert bound is not None
    assert (bound.key_id, bound.tenant, dict(bound.labels), bound.daily_budget_micros) == (key.key_id, "acme", {"app": "web"}, 5)
    assert bound.browser is True and dict(bound.bound_session or {}) == session
    assert bound.binding == BINDING and bound.is_client_secret
    results = await asyncio.gather(*(store.consume(secret) for _ in range(5)))
    assert results == [None] * 5


async def test_concurrent_handshakes_cannot_both_use_a_secret(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Racing consumers of one secret: exactly one wins."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    secret = await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, 600, BINDING)
    results = await asyncio.gather(*(store.consume(secret) for _ in range(20)))
    assert sum(r is not None for r in results) == 1


async def test_only_the_hash_is_stored_with_the_ttl(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Redis holds the secret's hash as key name, with the requested TTL, never the secret."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    secret = await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, 120, BINDING)
    names = await fake_redis.keys("*")
    assert names == [f"{keyspace.prefix}:ek:{hash_secret(secret)}".encode()]
    assert 110 <= await fake_redis.ttl(names[0]) <= 120
    assert secret.encode() not in (await fake_redis.get(names[0]))


async def test_an_expired_secret_is_refused(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Once its TTL runs out the secret no longer verifies."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    secret = await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, 600, BINDING)
    await fake_redis.pexpire(f"{keyspace.prefix}:ek:{hash_secret(secret)}", 30)
    await asyncio.sleep(0.1)
    assert await store.consume(secret) is None


async def test_revoking_the_minting_key_voids_its_secrets(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """A secret minted by a key that is revoked afterwards does not open a session."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace), key_active=keyring.is_active)
    key = build_record(new_key_id(), "acme")
    await keyring.create(key, new_secret(), 1.0)
    secret = await store.mint(key, {"type": "realtime"}, 600, BINDING)
    await keyring.revoke(key.key_id, 2.0)
    assert await store.consume(secret) is None


async def test_forged_secrets_and_non_secrets_are_refused(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """A made-up ek_ value or a plain key is never a client secret."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, 600, BINDING)
    assert await store.consume("ek_" + "A" * 43) is None
    assert await store.consume(new_secret()) is None


async def test_a_browser_credential_cannot_mint_and_ttl_is_bounded(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Minting with a client-secret record, or a TTL outside 10..7200 s, is refused."""
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace))
    secret = await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, 600, BINDING)
    bound = await store.consume(secret)
    assert bound is not None
    with pytest.raises(ValueError):
        await store.mint(bound, {"type": "realtime"}, 600, BINDING)
    for ttl in (9, 7201):
        with pytest.raises(ValueError):
            await store.mint(build_record(new_key_id(), "acme"), {"type": "realtime"}, ttl, BINDING)
