"""The accounting store's batched checkpoints: one pipeline, each charge atomic and idempotent on its own."""

from __future__ import annotations

import uuid

import fakeredis
import pytest
from redis.asyncio import Redis

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import ChargeResult, Checkpoint
from gateway.core.errors import StoreError
from gateway.store import accounting_store
from gateway.store.accounting_store import AccountingStore
from gateway.store.keyspace import KeySpace

WALL = 1_750_000_000.0
BUDGET = TenantLimits(daily_budget_micros=1_000)
CHECKPOINTS = [
    Checkpoint("s1", "acme", 400, BUDGET),
    Checkpoint("s2", "acme", 700, BUDGET),
    Checkpoint("s3", "globex", 50, TenantLimits()),
]


def _store() -> AccountingStore:
    return AccountingStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), KeySpace(f"t{uuid.uuid4().hex[:8]}"))


async def test_a_batch_answers_each_checkpoint_as_its_own_charge_would() -> None:
    """charge_many's results, in order, and the spend it leaves equal those of the same charges made one by one."""
    batched, single = _store(), _store()
    results = await batched.charge_many(CHECKPOINTS, WALL)
    expected = [await single.charge(c.session_id, c.tenant, c.cumulative_micros, c.limits, WALL) for c in CHECKPOINTS]
    assert results == expected
    assert results[1] == ChargeResult(1_100, 1_100, 700, True)  # the second charge of acme saw the first's spend
    for tenant in ("acme", "globex"):
        assert await batched.spend(tenant, WALL) == await single.spend(tenant, WALL)


async def test_a_batch_sent_again_charges_nothing_twice() -> None:
    """A retried batch (its answer lost) moves no spend: every charge keeps its session's last checkpoint."""
    store = _store()
    await store.charge_many(CHECKPOINTS, WALL)
    again = await store.charge_many(CHECKPOINTS, WALL)
    assert [r.delta_micros for r in again if isinstance(r, ChargeResult)] == [0, 0, 0]
    assert await store.spend("acme", WALL) == (1_100, 1_100)


async def test_a_server_without_the_script_gets_it_and_every_charge_runs_once() -> None:
    """After SCRIPT FLUSH (a restart or failover) the batch loads the script and resends only what was refused."""
    store = _store()
    await store.charge_many(CHECKPOINTS[:1], WALL)
    await store.client.script_flush()
    results = await store.charge_many(CHECKPOINTS, WALL)
    assert all(isinstance(r, ChargeResult) for r in results)
    assert await store.spend("acme", WALL) == (1_100, 1_100)
    assert await store.spend("globex", WALL) == (50, 50)


async def test_a_charge_that_fails_alone_leaves_the_others_standing() -> None:
    """One checkpoint's error is its own StoreError in its place; the other charges of the batch are made."""
    store = _store()
    await store.client.set(store.keys.session("acme", "s2"), "not a hash")
    results = await store.charge_many(CHECKPOINTS, WALL)
    assert isinstance(results[1], StoreError) and isinstance(results[0], ChargeResult)
    assert isinstance(results[2], ChargeResult)
    assert await store.spend("acme", WALL) == (400, 400)


async def test_a_flush_bigger_than_one_pipeline_goes_as_several(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past PIPELINE_CALLS checkpoints the batch is split, and every result still comes back in order."""
    monkeypatch.setattr(accounting_store, "PIPELINE_CALLS", 2)
    store = _store()
    checkpoints = [Checkpoint(f"s{i}", "acme", 10, TenantLimits()) for i in range(5)]
    results = await store.charge_many(checkpoints, WALL)
    assert [r.day_spend_micros for r in results if isinstance(r, ChargeResult)] == [10, 20, 30, 40, 50]


async def test_a_batch_with_no_answer_raises_store_error() -> None:
    """An unreachable store fails the whole batch with StoreError (the service keeps every session unflushed)."""
    store = AccountingStore(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), KeySpace("t"))
    with pytest.raises(StoreError):
        await store.charge_many(CHECKPOINTS, WALL)
    await store.close()
