"""The store's port adapters: one client and prefix for all of them; Redis failures become StoreError, values text."""

from __future__ import annotations

import uuid

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import Checkpoint
from gateway.core.errors import StoreError
from gateway.store.accounting_store import AccountingStore
from gateway.store.calls import guarded
from gateway.store.connect import store_ports
from gateway.store.keyspace import KeySpace


async def test_every_port_shares_the_accounting_stores_client_and_prefix() -> None:
    """store_ports builds the key, secret, auth-failure, directory and webhook ports on one client and one prefix."""
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    keys = KeySpace(f"p{uuid.uuid4().hex[:8]}")
    ports = store_ports(AccountingStore(client, keys, kind="memory"))
    assert not ports.shared
    for port in (ports.key_records, ports.secret_slots, ports.failure_counts, ports.directory, ports.webhook_ids):
        assert port.client is client and port.keys == keys
    assert await ports.key_records.add("key_1", "h" * 64, '{"key_id": "key_1"}')
    assert not await ports.key_records.add("key_1", "g" * 64, "{}")  # the id exists: nothing stored
    assert await ports.key_records.get("key_1") == '{"key_id": "key_1"}'
    assert await ports.key_records.key_id_for("h" * 64) == "key_1"
    await ports.secret_slots.put("s" * 64, "bound", 60)
    assert await ports.secret_slots.take("s" * 64) == "bound"
    assert await ports.secret_slots.take("s" * 64) is None  # used once
    await ports.failure_counts.add("203.0.113.1", 7, 61)
    assert await ports.failure_counts.count("203.0.113.1", 7) == 1
    await client.aclose()


async def test_a_store_that_cannot_be_reached_raises_store_error_with_the_cause() -> None:
    """Every port call translates redis-py's connection error into StoreError (the domain decides what it means)."""
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    ports = store_ports(AccountingStore(client, KeySpace("down"), kind="redis"))
    assert ports.shared
    with pytest.raises(StoreError) as caught:
        await ports.key_records.get("key_1")
    assert caught.value.__cause__ is not None
    with pytest.raises(StoreError):
        await ports.directory.live_replicas(0)
    await client.aclose()


async def test_an_unreachable_cluster_raises_store_error_from_every_pipelined_write() -> None:
    """A cluster no node of which answers (redis-py's RedisClusterException is no RedisError) fails as StoreError,
    also where a pipeline would refresh the topology on entry: the flush, the directory, keys, auth failures."""
    client = RedisCluster(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    ports = store_ports(AccountingStore(client, KeySpace("down"), kind="redis"))
    calls = [
        lambda: ports.accounting.charge_many([Checkpoint("s1", "acme", 1, TenantLimits())], 0.0),
        lambda: ports.accounting.spend("acme", 0.0),
        lambda: ports.directory.publish("r1", {"s1": "{}"}, 1_000, 1_000),
        lambda: ports.directory.update("r1", {"s1": "{}"}, [], 1_000),
        lambda: ports.key_records.add("key_1", "h" * 64, "{}"),
        lambda: ports.failure_counts.add("203.0.113.1", 7, 61),
    ]
    for call in calls:
        with pytest.raises(StoreError):
            await call()
    assert not await ports.accounting.ping()


async def test_guarded_passes_results_through() -> None:
    """A successful call's result is returned unchanged."""

    async def answer() -> int:
        return 42

    assert await guarded("op", answer()) == 42
