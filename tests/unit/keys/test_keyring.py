"""The Redis keyring: hash-only storage, verification, revocation within the cache window, the combined verifier."""

from __future__ import annotations

import pytest

from gateway.keys.client_secrets import ClientSecretStore
from gateway.keys.keyring import ApiKeys, GatewayVerifier, Keyring, StoredKey, TtlCache
from gateway.store.client_secrets import RedisSecretSlots
from gateway.store.keyring import RedisKeyRecords
from gateway.store.keyspace import KeySpace
from gateway.core.errors import StoreUnavailable
from gateway.core.api_keys import KeyRecord, SecretBinding
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.keys.static import StaticKeys
from gateway.keys.generate import build_record, new_key_id, new_secret


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(tenant: str = "acme") -> KeyRecord:
    return build_record(new_key_id(), tenant, labels={"mobile": "true"}, daily_budget_micros=50_000_000, max_concurrent_sessions=20)


async def test_created_key_verifies_and_only_its_hash_is_stored(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """A created key verifies to its record; the secret appears nowhere in Redis."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    record, secret = _record(), new_secret()
    await keyring.create(record, secret, 1000.0)
    assert await keyring.verify(secret) == record
    dump = b"".join([k + b"".join((await fake_redis.hgetall(k)).keys()) + b"".join((await fake_redis.hgetall(k)).values()) for k in await fake_redis.keys("*")])
    assert secret.encode() not in dump
    assert secret[3:].encode() not in dump


async def test_forged_and_unknown_secrets_do_not_verify(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """A secret one character off, an empty one, or a random one resolves to nothing."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    secret = new_secret()
    await keyring.create(_record(), secret, 1000.0)
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for presented in (forged, "", new_secret(), "vg_"):
        assert await keyring.verify(presented) is None


async def test_revocation_is_seen_once_the_cache_window_passes(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Another process revokes the key: this verifier refuses it at most cache_ttl_s later."""
    clock = Clock()
    gateway = Keyring(RedisKeyRecords(fake_redis, keyspace), cache_ttl_s=1.0, clock=clock)
    operator = Keyring(RedisKeyRecords(fake_redis, keyspace), cache_ttl_s=0.0)
    record, secret = _record(), new_secret()
    await operator.create(record, secret, 1000.0)
    assert await gateway.verify(secret) == record
    revoked = await operator.revoke(record.key_id, 2000.0)
    assert revoked is not None and revoked.revoked_at == 2000.0 and not revoked.active
    clock.now += 0.5
    assert await gateway.verify(secret) == record  # still cached
    clock.now += 0.6
    assert await gateway.verify(secret) is None


async def test_revocation_in_the_same_process_is_immediate(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Revoking through the same keyring clears its cache at once."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace), cache_ttl_s=60.0)
    record, secret = _record(), new_secret()
    await keyring.create(record, secret, 1000.0)
    assert await keyring.verify(secret) is not None
    await keyring.revoke(record.key_id, 1001.0)
    assert await keyring.verify(secret) is None
    assert await keyring.is_active(record.key_id) is False
    assert await keyring.is_active("key_static_never_stored") is True


async def test_list_shows_every_key_oldest_first_and_revoke_unknown_is_none(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Listing returns all keys with creation order; revoking a missing id returns None."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    first, second = _record("a"), _record("b")
    await keyring.create(second, new_secret(), 2000.0)
    await keyring.create(first, new_secret(), 1000.0)
    listed = await keyring.list()
    assert [k.record.key_id for k in listed] == [first.key_id, second.key_id]
    assert await keyring.revoke("key_missing", 3000.0) is None


async def test_duplicate_ids_are_refused(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Creating a key whose id already exists fails instead of overwriting."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    record = _record()
    await keyring.create(record, new_secret(), 1000.0)
    with pytest.raises(ValueError):
        await keyring.create(record, new_secret(), 1001.0)


def test_stored_key_json_round_trips() -> None:
    """Every field of a stored key survives JSON."""
    record = build_record("key_x", "acme", labels={"a": "b"}, allowed_routes=frozenset({"r1"}), daily_budget_micros=1,
                          monthly_budget_micros=2, max_concurrent_sessions=3, sessions_per_minute=4)
    stored = StoredKey(record, "ab" * 32, 5.0, 6.0)
    assert StoredKey.from_json(stored.to_json()) == stored


def test_ttl_cache_expires_and_stays_bounded() -> None:
    """Entries expire at their deadline and the cache never grows past its bound."""
    cache = TtlCache(1.0, max_entries=3)
    record = build_record("key_x", "acme")
    cache.put("a", record, 0.0)
    assert cache.get("a", 0.99) == record
    assert cache.get("a", 1.0) is None
    for i in range(10):
        cache.put(str(i), record, 5.0)
    assert len(cache._items) <= 3  # noqa: SLF001 - the bound is the behaviour under test


async def test_combined_verifier_order_and_client_secret_routing(fake_redis, keyspace) -> None:  # type: ignore[no-untyped-def]
    """Static keys, then keyring keys; ek_ secrets go only to the secret store and are used up."""
    keyring = Keyring(RedisKeyRecords(fake_redis, keyspace))
    store = ClientSecretStore(RedisSecretSlots(fake_redis, keyspace), key_active=keyring.is_active)
    record, secret = _record(), new_secret()
    await keyring.create(record, secret, 1000.0)
    verifier = GatewayVerifier(ApiKeys(StaticKeys(["vg_static_one"]), keyring), store)
    static = await verifier.verify("vg_static_one")
    assert static is not None and static.tenant == "default"
    assert await verifier.verify(secret) == record
    ek = await store.mint(record, {"type": "realtime"}, 60, SecretBinding(EndpointKind.REALTIME, SessionKind.REALTIME, "gpt-realtime-2"))
    assert await verifier.api_keys.verify(ek) is None  # the key path never consumes a client secret
    bound = await verifier.verify(ek)
    assert bound is not None and bound.browser and bound.key_id == record.key_id
    assert await verifier.verify(ek) is None


async def test_a_store_outage_is_a_503_not_a_401(keyspace: KeySpace) -> None:
    """When Redis cannot be reached, verification raises StoreUnavailable (never a silent refusal)."""
    from redis.asyncio import Redis

    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    keyring = Keyring(RedisKeyRecords(client, keyspace))
    with pytest.raises(StoreUnavailable):
        await keyring.verify(new_secret())
    await client.aclose()
