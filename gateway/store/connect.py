"""Build the accounting store from settings: implementations picked by string key from a registry.

``redis_url`` forms (unset → ``memory``: an in-process fakeredis running the same scripts):

* ``redis://[[user]:password@]host:6379/0`` and ``rediss://…`` (TLS): one server
* ``redis+cluster://host:7000`` (or ``rediss+cluster://``), or any of the above with ``?cluster=true``:
  Redis Cluster, seeded from that node (all per-tenant keys share a ``{tenant}`` hash tag)
* ``redis+sentinel://[[user]:password@]host1:26379,host2:26379/<service-name>[/db]``
  (``rediss+sentinel://`` for TLS): the master of a Sentinel-managed group
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import fakeredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

from gateway.accounting.config import AccountingSettings
from gateway.store.keyspace import KeySpace
from gateway.store.accounting_store import AccountingStore
from gateway.store.auth_failures import RedisFailureCounts
from gateway.store.calls import RedisClient
from gateway.store.client_secrets import RedisSecretSlots
from gateway.store.directory import RedisDirectoryBoard
from gateway.store.keyring import RedisKeyRecords
from gateway.store.webhooks import RedisWebhookIds

log = logging.getLogger("voice_gateway.accounting")

#: fail fast when Redis is down: sessions keep accruing locally and reconcile later
SOCKET_TIMEOUT_S = 1.0
CONNECT_TIMEOUT_S = 0.5

_TRUE = {"1", "true", "yes", "on"}


def _timeouts() -> dict[str, float]:
    return {"socket_timeout": SOCKET_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S}


def _without_query_flag(url: str, flag: str) -> tuple[str, bool]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = any(k == flag and v.lower() in _TRUE for k, v in query)
    rest = urlencode([(k, v) for k, v in query if k != flag])
    return urlunsplit(parts._replace(query=rest)), present


def _sentinel_client(url: str) -> Redis:
    parts = urlsplit(url)
    tls = parts.scheme.startswith("rediss")
    hosts_part = parts.netloc.rsplit("@", 1)[-1]
    hosts = []
    for item in hosts_part.split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a redis+sentinel:// URL needs the service name as its path")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(
        hosts,
        sentinel_kwargs={**_timeouts(), "ssl": tls},
        ssl=tls,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )
    master: Redis = sentinel.master_for(service, db=db, username=username, password=password)
    return master


def redis_client(url: str) -> RedisClient:
    """A redis-py asyncio client for any supported URL form."""
    scheme = urlsplit(url).scheme
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel_client(url)
    plain, cluster_flag = _without_query_flag(url, "cluster")
    if scheme in ("redis+cluster", "rediss+cluster"):
        plain, cluster_flag = plain.replace("+cluster", "", 1), True
    if cluster_flag:
        return RedisCluster.from_url(plain, **_timeouts())
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"unsupported redis_url scheme {scheme!r}")
    return Redis.from_url(plain, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)


def _redis_store(settings: AccountingSettings, keys: KeySpace) -> AccountingStore:
    assert settings.redis_url is not None
    return AccountingStore(
        redis_client(settings.redis_url), keys, kind="redis", records_retention_s=settings.records_retention_days * 86_400
    )


def _memory_store(settings: AccountingSettings, keys: KeySpace) -> AccountingStore:
    log.warning(
        "no redis_url: accounting runs on an in-process store; budgets, concurrency and rate "
        "limits are per process and spend is lost on restart"
    )
    return AccountingStore(
        fakeredis.FakeAsyncRedis(), keys, kind="memory", records_retention_s=settings.records_retention_days * 86_400
    )


STORES: dict[str, Callable[[AccountingSettings, KeySpace], AccountingStore]] = {
    "redis": _redis_store,
    "memory": _memory_store,
}


def store_kind(settings: AccountingSettings) -> str:
    return "redis" if settings.redis_url else "memory"


def create_store(settings: AccountingSettings, keys: KeySpace | None = None) -> AccountingStore:
    """Resolve the store implementation once at start-up (``redis`` with a URL, else ``memory``)."""
    return STORES[store_kind(settings)](settings, keys or KeySpace())


def describe_store(redis_url: str | None) -> str:
    """The store for a person (start-up banner, readiness): topology and address, never the password."""
    if not redis_url:
        return "in-process (one process only; set VOICE_GATEWAY_REDIS_URL to share budgets and sessions)"
    parts = urlsplit(redis_url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
        service = path[0] if path else "?"
        return f"Redis Sentinel: master of '{service}' via {hosts}"
    _, cluster_flag = _without_query_flag(redis_url, "cluster")
    if cluster_flag or parts.scheme in ("redis+cluster", "rediss+cluster"):
        return f"Redis Cluster seeded from {hosts}"
    if parts.scheme == "unix":
        return f"Redis at {parts.path}"
    return f"Redis at {hosts}/{path[0] if path else '0'}{' (TLS)' if parts.scheme == 'rediss' else ''}"


@dataclass(frozen=True, slots=True)
class StorePorts:
    """Every port the shared store implements, on one client and one key prefix."""

    accounting: AccountingStore
    key_records: RedisKeyRecords
    secret_slots: RedisSecretSlots
    failure_counts: RedisFailureCounts
    directory: RedisDirectoryBoard
    webhook_ids: RedisWebhookIds

    @property
    def shared(self) -> bool:
        """Whether other replicas see the same state (a Redis server, not the embedded store)."""
        return self.accounting.kind == "redis"


def store_ports(accounting: AccountingStore) -> StorePorts:
    """The key, client-secret, auth-failure, directory and webhook-id ports on the accounting store's client and prefix."""
    client, keys = accounting.client, accounting.keys
    return StorePorts(
        accounting=accounting,
        key_records=RedisKeyRecords(client, keys),
        secret_slots=RedisSecretSlots(client, keys),
        failure_counts=RedisFailureCounts(client, keys, accounting.batch),
        directory=RedisDirectoryBoard(client, keys),
        webhook_ids=RedisWebhookIds(client, keys),
    )
