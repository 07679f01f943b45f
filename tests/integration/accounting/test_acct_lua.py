"""The Lua scripts on a real Redis: budget boundaries, concurrent charges and admits, lease reclaim, rate."""

from __future__ import annotations

import asyncio
import time

from acct_int_helpers import REDIS_URL, RedisProcess
from redis.asyncio import Redis

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import ChargeResult, Checkpoint
from gateway.store.accounting_store import AccountingStore
from gateway.store.keyspace import KeySpace

T0 = time.time()
BUDGET = TenantLimits(daily_budget_micros=1_000)


async def test_charge_exactly_at_budget_is_exhausted_one_below_is_not(redis_store: AccountingStore) -> None:
    """999 of 1,000 µ$ is within budget; exactly 1,000 is exhausted; 1,001 too."""
    first = await redis_store.charge("s1", "acme", 999, BUDGET, T0)
    assert (first.day_spend_micros, first.delta_micros, first.exhausted) == (999, 999, False)
    at_cap = await redis_store.charge("s1", "acme", 1_000, BUDGET, T0)
    assert (at_cap.day_spend_micros, at_cap.delta_micros, at_cap.exhausted) == (1_000, 1, True)
    over = await redis_store.charge("s1", "acme", 1_001, BUDGET, T0)
    assert (over.day_spend_micros, over.month_spend_micros, over.exhausted) == (1_001, 1_001, True)


async def test_admission_boundary_at_budget(redis_store: AccountingStore) -> None:
    """Spend one micro-dollar below the budget admits; spend exactly at it refuses with 'budget'."""
    await redis_store.charge("old", "acme", 999, BUDGET, T0)
    ok = await redis_store.admit("s1", "acme", BUDGET, T0, 30)
    assert (ok.status, ok.day_spend_micros) == ("ok", 999)
    await redis_store.charge("old", "acme", 1_000, BUDGET, T0)
    refused = await redis_store.admit("s2", "acme", BUDGET, T0, 30)
    assert (refused.status, refused.day_spend_micros) == ("budget", 1_000)


async def test_monthly_budget_refuses_admission(redis_store: AccountingStore) -> None:
    """A monthly budget reached refuses admission even with no daily budget."""
    limits = TenantLimits(monthly_budget_micros=500)
    await redis_store.charge("old", "acme", 500, limits, T0)
    assert (await redis_store.admit("s1", "acme", limits, T0, 30)).status == "budget"


async def test_charge_is_idempotent_and_refunds_a_lowered_estimate(redis_store: AccountingStore) -> None:
    """Re-sending the same cumulative cost changes nothing; a lower cumulative cost moves spend down."""
    await redis_store.charge("s1", "acme", 700, BUDGET, T0)
    again = await redis_store.charge("s1", "acme", 700, BUDGET, T0)
    assert (again.day_spend_micros, again.delta_micros) == (700, 0)
    lower = await redis_store.charge("s1", "acme", 650, BUDGET, T0)
    assert (lower.day_spend_micros, lower.delta_micros) == (650, -50)


async def test_spend_keys_carry_ttls(redis_store: AccountingStore) -> None:
    """Day, month and session keys expire by themselves."""
    await redis_store.charge("s1", "acme", 5, BUDGET, T0)
    keys = redis_store.keys
    for key in (keys.day_spend("acme", T0), keys.month_spend("acme", T0), keys.session("acme", "s1")):
        assert await redis_store.client.ttl(key) > 0


async def test_concurrent_charges_never_report_under_budget_when_over(redis_store: AccountingStore) -> None:
    """40 tasks charge 7 µ$ steps until told 'exhausted': no update is lost, no task is told it is
    under budget once the total has reached it, and spend past the budget is < one step per task."""
    budget, step, tasks = 5_000, 7, 40
    limits = TenantLimits(daily_budget_micros=budget)
    seen_under: list[int] = []

    async def session(n: int) -> int:
        cumulative = 0
        while True:
            cumulative += step
            result = await redis_store.charge(f"s{n}", "acme", cumulative, limits, T0)
            if result.exhausted:
                return cumulative
            seen_under.append(result.day_spend_micros)

    charged = await asyncio.gather(*(session(n) for n in range(tasks)))
    day, _ = await redis_store.spend("acme", T0)
    assert day == sum(charged)
    assert max(seen_under) < budget
    assert budget <= day < budget + tasks * step


async def test_concurrent_admits_never_exceed_the_concurrency_limit(redis_store: AccountingStore) -> None:
    """60 simultaneous admits against a limit of 5 grant exactly 5 slots."""
    limits = TenantLimits(max_concurrent_sessions=5)
    results = await asyncio.gather(*(redis_store.admit(f"s{n}", "acme", limits, T0, 30) for n in range(60)))
    statuses = [r.status for r in results]
    assert statuses.count("ok") == 5 and statuses.count("concurrency") == 55
    assert await redis_store.active_leases("acme", T0) == 5


async def test_expired_lease_is_reclaimed_by_the_next_admit(redis_store: AccountingStore) -> None:
    """A lease not renewed within its TTL frees its slot; a renewed one keeps it."""
    limits = TenantLimits(max_concurrent_sessions=1)
    assert (await redis_store.admit("s1", "acme", limits, T0, 1.0)).status == "ok"
    assert (await redis_store.admit("s2", "acme", limits, T0 + 0.5, 1.0)).status == "concurrency"
    assert await redis_store.renew("acme", ["s1"], T0 + 0.9, 1.0) == 0
    assert (await redis_store.admit("s2", "acme", limits, T0 + 1.5, 1.0)).status == "concurrency"
    assert (await redis_store.admit("s2", "acme", limits, T0 + 1.901, 1.0)).status == "ok"


async def test_renew_re_adds_a_reclaimed_lease_and_release_is_idempotent(redis_store: AccountingStore) -> None:
    """A session whose lease lapsed during an outage is re-registered; releasing twice is harmless."""
    limits = TenantLimits(max_concurrent_sessions=2)
    await redis_store.admit("s1", "acme", limits, T0, 1.0)
    assert await redis_store.renew("acme", ["s1"], T0 + 5, 1.0) == 1
    assert await redis_store.active_leases("acme", T0 + 5) == 1
    assert await redis_store.release("acme", "s1") is True
    assert await redis_store.release("acme", "s1") is False


async def test_token_bucket_limits_session_creation_rate(redis_store: AccountingStore) -> None:
    """60/min with burst 2: two at once, the third waits ~1 s; a refused admit takes no slot."""
    limits = TenantLimits(sessions_per_minute=60, burst=2)
    assert (await redis_store.admit("s1", "acme", limits, T0, 30)).status == "ok"
    assert (await redis_store.admit("s2", "acme", limits, T0, 30)).status == "ok"
    third = await redis_store.admit("s3", "acme", limits, T0, 30)
    assert third.status == "rate" and 990 <= third.detail <= 1_000
    assert await redis_store.active_leases("acme", T0) == 2
    assert (await redis_store.admit("s3", "acme", limits, T0 + 1.0, 30)).status == "ok"


async def test_concurrency_refusal_consumes_no_rate_token(redis_store: AccountingStore) -> None:
    """Sessions refused for concurrency do not drain the creation bucket."""
    limits = TenantLimits(max_concurrent_sessions=1, sessions_per_minute=1, burst=2)
    assert (await redis_store.admit("s1", "acme", limits, T0, 30)).status == "ok"
    for n in range(5):
        assert (await redis_store.admit(f"x{n}", "acme", limits, T0, 30)).status == "concurrency"
    await redis_store.release("acme", "s1")
    assert (await redis_store.admit("s2", "acme", limits, T0, 30)).status == "ok"


async def test_keys_are_hash_tagged_per_tenant(redis_store: AccountingStore) -> None:
    """Every per-tenant key shares the tenant's hash slot (scripts run on Redis Cluster)."""
    from redis.crc import key_slot

    keys = redis_store.keys
    names = [keys.leases("a{b}"), keys.bucket("a{b}"), keys.day_spend("a{b}", T0), keys.session("a{b}", "s")]
    assert len({key_slot(name.encode()) for name in names}) == 1
    assert "{a(b)}" in names[0]


async def test_session_records_stream_newest_first(redis_store: AccountingStore) -> None:
    """Records XADDed to the capped stream come back newest first."""
    await redis_store.append_record({"session_id": "a", "cost_micros": "1"}, time.time())
    await redis_store.append_record({"session_id": "b", "cost_micros": "2"}, time.time())
    records = await redis_store.recent_records(10)
    assert [r["session_id"] for r in records] == ["b", "a"]


async def test_batched_charges_from_two_instances_lose_no_update(redis_store: AccountingStore) -> None:
    """Two instances flushing batches of the same tenant's sessions at once: every delta lands exactly once."""
    other = AccountingStore(Redis.from_url(REDIS_URL), redis_store.keys)
    sessions = [f"s{i}" for i in range(50)]

    async def flushes(store: AccountingStore, mine: list[str]) -> None:
        for step in range(1, 11):
            results = await store.charge_many([Checkpoint(s, "acme", 7 * step, BUDGET) for s in mine], T0)
            assert all(isinstance(r, ChargeResult) for r in results)

    await asyncio.gather(flushes(redis_store, sessions[:25]), flushes(other, sessions[25:]))
    assert await redis_store.spend("acme", T0) == (50 * 70, 50 * 70)
    await other.close()


async def test_a_restarted_server_without_the_scripts_gets_them_back_in_a_batch(redis_process: RedisProcess) -> None:
    """A real server that lost its script cache answers a batch NOSCRIPT: it is loaded and each charge runs once."""
    store = AccountingStore(Redis.from_url(redis_process.url), KeySpace("vgtest"))
    await store.charge_many([Checkpoint("s1", "acme", 100, BUDGET)], T0)
    await store.client.script_flush()
    results = await store.charge_many([Checkpoint(f"s{i}", "acme", 100, BUDGET) for i in range(1, 4)], T0)
    assert [r.delta_micros for r in results if isinstance(r, ChargeResult)] == [0, 100, 100]
    assert await store.spend("acme", T0) == (300, 300)
    await store.close()
