"""Store factory: registry keys, URL forms, the embedded default, and the Lua scripts as package data."""

from __future__ import annotations

import logging
from importlib import resources

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from gateway.store.connect import STORES, create_store, redis_client
from gateway.accounting.limits import TenantLimits
from gateway.settings import Settings


def test_registry_has_redis_and_memory() -> None:
    """Implementations are picked by string key."""
    assert set(STORES) == {"redis", "memory"}


async def test_no_redis_url_runs_the_same_scripts_embedded_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Without redis_url the store is fakeredis with Lua: admission works and limits are per process."""
    with caplog.at_level(logging.WARNING, logger="voice_gateway.accounting"):
        store = create_store(Settings(_env_file=None))  # type: ignore[call-arg]
    assert store.kind == "memory"
    assert "per process" in caplog.text
    limits = TenantLimits(max_concurrent_sessions=1)
    assert (await store.admit("s1", "acme", limits, 1_700_000_000.0, 30)).status == "ok"
    assert (await store.admit("s2", "acme", limits, 1_700_000_000.0, 30)).status == "concurrency"
    await store.close()


def test_plain_and_tls_urls_give_a_single_server_client() -> None:
    """redis:// and rediss:// build a plain asyncio client (TLS for rediss)."""
    store = create_store(Settings(_env_file=None, redis_url="redis://127.0.0.1:6390/4"))  # type: ignore[call-arg]
    assert store.kind == "redis" and isinstance(store.client, Redis)
    assert store.client.connection_pool.connection_kwargs["db"] == 4
    tls = redis_client("rediss://:secret@cache.example:6380/0")
    assert isinstance(tls, Redis) and tls.connection_pool.connection_class.__name__ == "SSLConnection"


def test_cluster_by_scheme_or_flag() -> None:
    """redis+cluster:// and ?cluster=true both build a RedisCluster client."""
    assert isinstance(redis_client("redis+cluster://127.0.0.1:7000"), RedisCluster)
    assert isinstance(redis_client("redis://127.0.0.1:7000/0?cluster=true"), RedisCluster)
    assert isinstance(redis_client("redis://127.0.0.1:7000/0?cluster=false"), Redis)


def test_sentinel_url_names_hosts_service_and_db() -> None:
    """redis+sentinel://h1,h2/service/db asks the sentinels for the service's master."""
    client = redis_client("redis+sentinel://:pw@s1:26379,s2/mymaster/2")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 2
    hosts = [(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
             for c in pool.sentinel_manager.sentinels]
    assert hosts == [("s1", 26379), ("s2", 26379)]


def test_bad_urls_are_rejected() -> None:
    """Unknown schemes and a sentinel URL without a service name fail at start-up."""
    with pytest.raises(ValueError):
        redis_client("http://127.0.0.1:6379")
    with pytest.raises(ValueError):
        redis_client("redis+sentinel://s1:26379")


@pytest.mark.parametrize("name", ["admit", "charge", "renew", "release"])
def test_lua_scripts_ship_with_a_keys_argv_return_header(name: str) -> None:
    """Each atomic operation is one Lua file whose header documents KEYS, ARGV and the return value."""
    text = resources.files("gateway.store").joinpath("lua", f"{name}.lua").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    assert "KEYS[1]" in header and "ARGV[1]" in header and "Returns" in header
