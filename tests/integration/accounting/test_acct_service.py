"""AccountingService on real Redis: outages and recovery, shared budgets, killed instances, failure modes."""

from __future__ import annotations

import asyncio
import time

import pytest
from acct_int_helpers import REDIS_URL, RedisProcess, catalog, free_port, info, stats

from gateway.store.connect import create_store
from gateway.store.keyspace import KeySpace
from gateway.accounting.limits import TenantLimits
from gateway.accounting.service import AccountingService
from gateway.store.accounting_store import AccountingStore
from gateway.core.errors import BudgetCapReached, BudgetExhausted, ConcurrencyLimited, StoreUnavailable
from gateway.core.observers import ResponseDone, SessionEnded, Terminate
from gateway.settings import Settings

FULL_DUPLEX_MICROS_PER_S = 10 * 32 + 20 * 64  # gpt-realtime-2 estimate, both directions


def service(url: str, prefix: str, **overrides: object) -> AccountingService:
    settings = Settings(_env_file=None, redis_url=url, **overrides)  # type: ignore[arg-type]
    return AccountingService(settings, catalog(), create_store(settings, KeySpace(prefix)), lease_ttl_s=1.0)


async def test_redis_down_then_up_reconciles_spend_and_writes_the_record(
    redis_process: RedisProcess, prefix: str
) -> None:
    """Spend accrued during an outage is charged on recovery; the session record is queued then written."""
    svc = service(redis_process.url, prefix, flush_interval_ms=50)
    limits = TenantLimits(daily_budget_micros=10_000_000)
    await svc.admission.admit("sess_1", "acme", "key_1", limits, time.time())
    obs = svc.observer_factory.create(info(), now=0.0)
    await obs.on_tick(1.0, stats(at=1.0, in_s=1, out_s=1))
    await svc.sync()
    assert svc.healthy and await svc.store.spend("acme", time.time()) == (1_600, 1_600)

    redis_process.stop()
    await obs.on_tick(3.0, stats(at=3.0, in_s=3, out_s=3))
    await svc.sync()
    assert not svc.healthy
    await obs.on_end(SessionEnded(at=4.0, reason="client_closed"), stats(at=4.0, in_s=4, out_s=4))
    assert svc.queued_records == 1 and svc.live_spend("sess_1") == 6_400
    assert not svc.healthy

    redis_process.start()
    await svc.sync()
    assert svc.healthy and svc.queued_records == 0
    assert await svc.store.spend("acme", time.time()) == (6_400, 6_400)
    assert await svc.store.active_leases("acme", time.time()) == 0
    (record,) = await svc.recent_records(10)
    assert record["session_id"] == "sess_1" and record["cost_micros"] == "6400"
    await svc.close()


async def test_background_loop_reconnects_by_itself(redis_process: RedisProcess, prefix: str) -> None:
    """With start() running, health flips false during the outage and back true after it, unaided."""
    svc = service(redis_process.url, prefix, flush_interval_ms=50)
    await svc.start()
    obs = svc.observer_factory.create(info(), now=0.0)
    redis_process.stop()
    await obs.on_tick(1.0, stats(at=1.0, in_s=1, out_s=1))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if not svc.healthy:
            break
    assert not svc.healthy
    redis_process.start()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if svc.healthy and await svc.store.spend("acme", time.time()) == (1_600, 1_600):
            break
    assert svc.healthy and await svc.store.spend("acme", time.time()) == (1_600, 1_600)
    await svc.close()


async def test_two_instances_enforce_one_budget_and_one_concurrency_limit(redis_store: AccountingStore) -> None:
    """Two services on one Redis share a tenant's 2-session limit and its daily budget."""
    prefix = redis_store.keys.prefix
    a, b = service(REDIS_URL, prefix), service(REDIS_URL, prefix)
    limits = TenantLimits(daily_budget_micros=10_000, max_concurrent_sessions=2)
    now = time.time()
    await a.admission.admit("s_a", "acme", "k", limits, now)
    await b.admission.admit("s_b", "acme", "k", limits, now)
    with pytest.raises(ConcurrencyLimited):
        await a.admission.admit("s_c", "acme", "k", limits, now)

    obs_a = a.observer_factory.create(info(session_id="s_a"), now=0.0)
    obs_b = b.observer_factory.create(info(session_id="s_b"), now=0.0)
    assert not isinstance(await obs_a.on_tick(3.75, stats(at=3.75, in_s=3.75, out_s=3.75)), Terminate)  # 6,000
    await a.sync()
    verdicts = [await obs_b.on_tick(2.5, stats(at=2.5, in_s=2.5, out_s=2.5))]  # 4,000: alone under budget
    assert not any(isinstance(v, Terminate) for v in verdicts)
    await b.sync()  # b now learns a's 6,000: the tenant is at 10,000
    verdict = await obs_b.on_tick(2.6, stats(at=2.6, in_s=2.6, out_s=2.6))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)
    await a.sync()
    verdict = await obs_a.on_tick(3.8, stats(at=3.8, in_s=3.8, out_s=3.8))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)

    await obs_b.on_end(SessionEnded(at=2.6, reason="budget"), stats(at=2.6, in_s=2.6, out_s=2.6))
    with pytest.raises(BudgetExhausted):
        await b.admission.admit("s_d", "acme", "k", limits, time.time())
    await a.close()
    await b.close()


async def test_killed_instance_loses_at_most_one_flush_and_its_slot_is_reclaimed(
    redis_store: AccountingStore,
) -> None:
    """An instance that dies without close(): spend lost ≤ one flush period; its slot frees after the lease."""
    prefix = redis_store.keys.prefix
    flush_ms, tick_s = 250, 0.1
    svc = service(REDIS_URL, prefix, flush_interval_ms=flush_ms)
    limits = TenantLimits(max_concurrent_sessions=1, daily_budget_micros=10_000_000)
    await svc.admission.admit("sess_1", "acme", "k", limits, time.time())
    await svc.start()
    obs = svc.observer_factory.create(info(session_id="sess_1"), now=0.0)
    began = time.monotonic()
    while time.monotonic() - began < 2.0:
        await asyncio.sleep(tick_s)
        elapsed = time.monotonic() - began
        await obs.on_tick(elapsed, stats(at=elapsed, in_s=elapsed, out_s=elapsed))
    assert svc._task is not None
    svc._task.cancel()  # the process dies: no close(), no on_end
    killed_at = time.time()
    flushed, _ = await redis_store.spend("acme", killed_at)
    local = svc.live_spend("sess_1")
    lost_ms = (local - flushed) / FULL_DUPLEX_MICROS_PER_S * 1000
    print(f"\nMEASURED flush loss: {local - flushed} µ$ = {lost_ms:.0f} ms of audio (flush {flush_ms} ms)")
    # the projection moves on ticks, so the bound is one flush period plus one tick (plus one of loop jitter)
    assert 0 <= lost_ms <= flush_ms + 2 * tick_s * 1000

    other = service(REDIS_URL, prefix)
    with pytest.raises(ConcurrencyLimited):
        await other.admission.admit("sess_2", "acme", "k", limits, time.time())
    await asyncio.sleep(1.1)  # the 1 s lease lapses with no heartbeat
    lease = await other.admission.admit("sess_2", "acme", "k", limits, time.time())
    await other.admission.release(lease)
    await other.close()


async def test_store_failure_modes(prefix: str) -> None:
    """Store down: closed mode refuses limited tenants (503) and admits unlimited ones; open admits all."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limited = TenantLimits(daily_budget_micros=1_000)
    closed = service(dead, prefix)
    with pytest.raises(StoreUnavailable) as refused:
        await closed.admission.admit("s1", "acme", "k", limited, time.time())
    assert refused.value.http_status == 503
    lease = await closed.admission.admit("s2", "free", "k", TenantLimits(), time.time())
    assert lease.stored is False and not closed.healthy
    opened = service(dead, prefix, store_failure_mode="open")
    assert (await opened.admission.admit("s3", "acme", "k", limited, time.time())).stored is False
    await closed.close()
    await opened.close()


async def test_turn_end_flushes_before_the_period(redis_store: AccountingStore) -> None:
    """A response.done wakes the flush loop: spend reaches Redis well before a 10 s flush period."""
    svc = service(REDIS_URL, redis_store.keys.prefix, flush_interval_ms=10_000)
    await svc.start()
    await asyncio.sleep(0.05)
    obs = svc.observer_factory.create(info(), now=0.0)
    await obs.on_event(
        ResponseDone(at=1.0, response_id="r", status="completed", usage={"input_tokens": 10, "output_tokens": 0}),
        stats(at=1.0),
    )
    for _ in range(40):
        await asyncio.sleep(0.025)
        if (await redis_store.spend("acme", time.time()))[0] == 40:
            break
    assert (await redis_store.spend("acme", time.time()))[0] == 40
    await svc.close()


async def test_budget_used_ratio_for_routing(redis_store: AccountingStore) -> None:
    """The routing hint is flushed plus local spend over the tighter budget; None without a budget."""
    svc = service(REDIS_URL, redis_store.keys.prefix)
    limits = TenantLimits(daily_budget_micros=4_000, monthly_budget_micros=100_000)
    await redis_store.charge("old", "acme", 1_000, limits, time.time())
    assert await svc.admission.budget_used_ratio("acme", limits, time.time()) == 0.25
    assert await svc.admission.budget_used_ratio("acme", TenantLimits(), time.time()) is None
    await svc.close()
