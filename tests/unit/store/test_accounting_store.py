"""The accounting store's batched checkpoints: one pipeline, one atomic and idempotent charge call per tenant."""

from __future__ import annotations

import uuid
from typing import Sequence

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import ChargeResult, Checkpoint
from gateway.core.errors import StoreError
from gateway.store import accounting_store
from gateway.store.accounting_store import AccountingStore, ScriptCall
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


async def test_a_batch_charges_what_the_same_charges_one_by_one_would() -> None:
    """charge_many leaves the spend and checkpoints single charges leave; each result has its own delta and its
    tenant's totals after the batch (budget reached: exhausted)."""
    batched, single = _store(), _store()
    results = await batched.charge_many(CHECKPOINTS, WALL)
    for c in CHECKPOINTS:
        await single.charge(c.session_id, c.tenant, c.cumulative_micros, c.limits, WALL)
    assert results == [
        ChargeResult(1_100, 1_100, 400, True), ChargeResult(1_100, 1_100, 700, True), ChargeResult(50, 50, 50, False)
    ]
    for tenant in ("acme", "globex"):
        assert await batched.spend(tenant, WALL) == await single.spend(tenant, WALL)
    for c in CHECKPOINTS:
        key = c.tenant, c.session_id
        assert await batched.client.hget(batched.keys.session(*key), "charged") == str(c.cumulative_micros).encode()
        assert await batched.client.ttl(batched.keys.session(*key)) > 0


async def test_one_charge_call_per_tenant_and_budget_pair() -> None:
    """A flush of three tenants, one with sessions under two budgets, is four script calls in one pipeline."""
    store = _store()
    sent: list[int] = []
    script_calls = store._script_calls

    async def counting(op: str, script: AsyncScript, calls: Sequence[ScriptCall]) -> list[object]:
        sent.append(len(calls))
        return await script_calls(op, script, calls)

    store._script_calls = counting  # type: ignore[method-assign]
    other_budget = Checkpoint("s4", "acme", 5, TenantLimits(daily_budget_micros=2_000))
    results = await store.charge_many([*CHECKPOINTS, other_budget, Checkpoint("s5", "initech", 9, BUDGET)], WALL)
    assert sent == [4] and all(isinstance(r, ChargeResult) for r in results)
    assert await store.spend("acme", WALL) == (1_105, 1_105)


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


async def test_a_charge_call_that_fails_alone_charges_none_of_its_sessions_and_leaves_the_others_standing() -> None:
    """A tenant's call that errors (a corrupt checkpoint key) is a StoreError for each of its sessions and moves none
    of its spend (every read is before any write); the other tenants' calls of the batch are made."""
    store = _store()
    await store.client.set(store.keys.session("acme", "s2"), "not a hash")
    results = await store.charge_many(CHECKPOINTS, WALL)
    assert isinstance(results[0], StoreError) and isinstance(results[1], StoreError)
    assert isinstance(results[2], ChargeResult)
    assert await store.spend("acme", WALL) == (0, 0)
    assert await store.client.hget(store.keys.session("acme", "s1"), "charged") is None
    assert await store.spend("globex", WALL) == (50, 50)


async def test_a_flush_bigger_than_one_call_or_pipeline_goes_as_several(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SESSIONS_PER_CALL sessions of a tenant, and past PIPELINE_CALLS calls, the batch is split; every result
    still comes back in its checkpoint's place."""
    monkeypatch.setattr(accounting_store, "SESSIONS_PER_CALL", 2)
    monkeypatch.setattr(accounting_store, "PIPELINE_CALLS", 2)
    store = _store()
    checkpoints = [Checkpoint(f"s{i}", "acme", 10 + i, TenantLimits()) for i in range(7)]
    results = await store.charge_many(checkpoints, WALL)
    assert [r.delta_micros for r in results if isinstance(r, ChargeResult)] == [10 + i for i in range(7)]
    assert await store.spend("acme", WALL) == (sum(10 + i for i in range(7)),) * 2


async def test_a_batch_with_no_answer_raises_store_error() -> None:
    """An unreachable store fails the whole batch with StoreError (the service keeps every session unflushed)."""
    store = AccountingStore(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), KeySpace("t"))
    with pytest.raises(StoreError):
        await store.charge_many(CHECKPOINTS, WALL)
    await store.close()


async def test_spends_of_many_tenants_are_read_in_one_batch() -> None:
    """spend_many answers each tenant's (day, month) in the order asked, a tenant without spend (0, 0)."""
    store = _store()
    await store.charge_many(CHECKPOINTS, WALL)
    assert await store.spend_many(["globex", "nobody", "acme"], WALL) == [(50, 50), (0, 0), (1_100, 1_100)]


async def test_leases_of_many_tenants_are_renewed_in_one_batch() -> None:
    """renew_many extends each tenant's leases and counts, per tenant, those that had lapsed and were re-added."""
    store = _store()
    limits = TenantLimits()
    for tenant, sid in (("acme", "s1"), ("acme", "s2"), ("globex", "s3")):
        await store.admit(sid, tenant, limits, WALL, 10.0)
    lapsed = await store.renew_many([("acme", ["s1", "s2", "gone"]), ("globex", ["s3"])], WALL + 5, 10.0)
    assert lapsed == [1, 0]
    assert await store.active_leases("acme", WALL + 12) == 3  # renewed to WALL + 15, "gone" re-added
    assert await store.active_leases("globex", WALL + 12) == 1
