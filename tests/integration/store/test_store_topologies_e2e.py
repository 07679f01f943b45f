"""The shared store proven on real topologies: Redis Cluster and Sentinel, each with a master failure mid-session."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import ChargeResult, Checkpoint
from gateway.store.accounting_store import AccountingStore
from gateway.store.connect import redis_client
from gateway.store.keyspace import KeySpace
from tests.integration.conftest import GatewayFactory
from tests.integration.store.failover import run_failover_scenario
from tests.integration.store.topologies import Cluster, SentinelGroup
from tests.integration.test_caps_e2e import long_reply_emulator  # noqa: F401 - the paced 8 s replies fixture

pytestmark = [pytest.mark.redis, pytest.mark.slow]
T = TypeVar("T")


async def _reporting_epoch(run: Awaitable[T], epoch: Callable[[], str]) -> T:
    """A failed check says the store's failover epoch too: a second, spontaneous failover (a node that missed its
    1 s of pings on a loaded host) loses the writes it had not replicated, which no gateway can keep."""
    try:
        return await run
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n(store failover epoch now: {epoch()})") from exc


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    topology = Cluster(tmp_path / "cluster")
    try:
        yield topology.start()
    finally:
        topology.stop()


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelGroup]:
    topology = SentinelGroup(tmp_path / "sentinel")
    try:
        yield topology.start()
    finally:
        topology.stop()


async def test_cluster_master_failover_mid_session(
    gateway_factory: GatewayFactory, long_reply_emulator: object, cluster: Cluster
) -> None:
    """3 masters + 3 replicas: the tenant's master dies mid-session; caps, budget and records hold."""
    timings = await _reporting_epoch(run_failover_scenario(
        gateway_factory, long_reply_emulator, cluster.url,
        reader=lambda: cluster.client(),  # type: ignore[return-value]
        kill_master=lambda key: cluster.master_for(key).kill(),
    ), cluster.epoch)
    print(f"\nRedis Cluster failover: {timings}")


async def test_sentinel_master_failover_mid_session(
    gateway_factory: GatewayFactory, long_reply_emulator: object, sentinel: SentinelGroup
) -> None:
    """1 master + 2 replicas under 3 sentinels: the master dies mid-session; caps, budget and records hold."""
    timings = await _reporting_epoch(run_failover_scenario(
        gateway_factory, long_reply_emulator, sentinel.url,
        reader=sentinel.client,
        kill_master=lambda _key: sentinel.master().kill(),
    ), sentinel.epoch)
    print(f"\nRedis Sentinel failover: {timings}")


async def test_cluster_flush_batch_spans_masters_and_survives_lost_scripts(cluster: Cluster) -> None:
    """One flush's checkpoints over tenants on every master go as one batch; after every master lost its scripts the
    next batch loads them again, and each tenant's spend moved by exactly its sessions' charges; spend reads and lease
    renewals of those tenants batch the same way."""
    wall = time.time()
    store = AccountingStore(redis_client(cluster.url), KeySpace("vgbatch"))
    tenants = [f"tenant{i}" for i in range(12)]
    assert len({cluster.master_for(store.keys.day_spend(t, wall)).port for t in tenants}) == 3
    batch = [Checkpoint(f"s{j}", t, 100, TenantLimits()) for t in tenants for j in range(3)]
    assert all(isinstance(r, ChargeResult) for r in await store.charge_many(batch, wall))
    for master in cluster.masters():
        master.client().script_flush()
    again = [Checkpoint(c.session_id, c.tenant, 250, c.limits) for c in batch]
    results = await store.charge_many(again, wall)
    assert [r.delta_micros for r in results if isinstance(r, ChargeResult)] == [150] * len(batch)
    assert await store.spend_many(tenants, wall) == [(750, 750)] * len(tenants)
    assert await store.renew_many([(t, ["s0", "s1"]) for t in tenants], wall, 30.0) == [2] * len(tenants)
    await store.close()


async def test_cluster_admissions_and_auth_failure_reads_of_one_pass_reach_every_master(cluster: Cluster) -> None:
    """Admissions of tenants on every master and auth-failure reads of several addresses issued together are one
    pass: each goes to its key's master and gets its own answer (a slot each, the concurrency cap of one refusing a
    second session of its tenant); after every master lost its scripts the next pass loads them again and each
    admission takes exactly one slot."""
    import asyncio

    from gateway.store.auth_failures import RedisFailureCounts

    wall = time.time()
    keys = KeySpace("vgpass")
    store = AccountingStore(redis_client(cluster.url), keys)
    failures = RedisFailureCounts(store.client, keys, store.batch)
    tenants = [f"tenant{i}" for i in range(12)]
    assert len({cluster.master_for(keys.leases(t)).port for t in tenants}) == 3
    addresses = [f"10.0.0.{i}" for i in range(6)]
    for address in addresses[:3]:
        await failures.add(address, 1, 60)
    one = TenantLimits(max_concurrent_sessions=1)
    first = await asyncio.gather(*(store.admit(f"{t}-a", t, one, wall, 60.0) for t in tenants),
                                 *(failures.count(a, 1) for a in addresses))
    assert [r.status for r in first[: len(tenants)]] == ["ok"] * len(tenants)  # type: ignore[union-attr]
    assert first[len(tenants):] == [1, 1, 1, 0, 0, 0]
    for master in cluster.masters():
        master.client().script_flush()
    second = await asyncio.gather(*(store.admit(f"{t}-b", t, one, wall, 60.0) for t in tenants))
    assert [r.status for r in second] == ["concurrency"] * len(tenants)
    assert [await store.active_leases(t, wall) for t in tenants] == [1] * len(tenants)
    await store.close()
