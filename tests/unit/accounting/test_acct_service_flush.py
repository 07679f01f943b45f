"""The flush loop's checkpoints: every dirty session in one store call, and what fails stays unflushed for the next."""

from __future__ import annotations

import asyncio
import uuid
from typing import Sequence

import fakeredis
from tests.support.accounting import catalog, info, stats
from tests.unit.accounting.conftest import Clock

from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import ChargeResult, Checkpoint
from gateway.accounting.service import AccountingService
from gateway.core.errors import StoreError
from gateway.settings import Settings
from gateway.store.accounting_store import AccountingStore
from gateway.store.keyspace import KeySpace


class FlakyStore(AccountingStore):
    """The embedded store, recording each charge_many call; it can fail a session's next charge or a whole call."""

    def __init__(self) -> None:
        super().__init__(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), KeySpace(f"t{uuid.uuid4().hex[:8]}"))
        self.batches: list[list[str]] = []
        self.fail_session: str | None = None
        self.fail_call = False

    async def charge_many(self, checkpoints: Sequence[Checkpoint], wall: float) -> list[ChargeResult | StoreError]:
        self.batches.append([c.session_id for c in checkpoints])
        if self.fail_call:
            self.fail_call = False
            raise StoreError("no answer")
        failing = self.fail_session
        self.fail_session = None
        ok = await super().charge_many([c for c in checkpoints if c.session_id != failing], wall)
        answers = iter(ok)
        return [StoreError("refused") if c.session_id == failing else next(answers) for c in checkpoints]


async def _talking(sessions: int) -> tuple[AccountingService, FlakyStore]:
    """A service with ``sessions`` metered sessions of one budgeted tenant, each a second of audio into its talk."""
    store = FlakyStore()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    service = AccountingService(settings, catalog(), store, wall=Clock())
    for i in range(sessions):
        sid = f"sess_{i}"
        await service.admission.admit(sid, "acme", "key_1", TenantLimits(daily_budget_micros=10**9), 1_000.0)
        observer = service.observer_factory.create(info(session_id=sid), now=0.0)
        await observer.on_tick(1.0, stats(at=1.0, in_s=1, out_s=1))
    return service, store


async def test_one_pass_checkpoints_every_dirty_session_in_one_store_call() -> None:
    """Five talking sessions are one charge_many of five; a pass with nothing new sends no checkpoint."""
    service, store = await _talking(5)
    await service.sync()
    assert store.batches == [[f"sess_{i}" for i in range(5)]]
    assert all(live.unflushed_micros == 0 for live in service.ledger.sessions.values())
    await service.sync()
    assert len(store.batches) == 1
    await service.close()


async def test_a_checkpoint_refused_alone_stays_unflushed_and_is_sent_next_pass() -> None:
    """The refused session keeps its spend and marks the store down; the others are charged; the next pass heals."""
    service, store = await _talking(3)
    spent = service.live_spend("sess_1")
    assert spent > 0
    store.fail_session = "sess_1"
    await service.sync()
    assert not service.healthy
    assert service.ledger.sessions["sess_1"].unflushed_micros == spent
    assert service.ledger.sessions["sess_0"].unflushed_micros == 0 == service.ledger.sessions["sess_2"].unflushed_micros
    await service.sync()
    assert service.healthy and store.batches[-1] == ["sess_1"]
    assert await store.spend("acme", service._wall()) == (3 * spent, 3 * spent)
    await service.close()


async def test_a_batch_without_an_answer_keeps_every_session_unflushed_until_the_store_answers() -> None:
    """No answer at all: every session keeps its spend and the store is down; the next pass charges each once."""
    service, store = await _talking(3)
    spent = service.live_spend("sess_0")
    assert spent > 0
    store.fail_call = True
    await service.sync()
    assert not service.healthy
    assert all(live.unflushed_micros == spent for live in service.ledger.sessions.values())
    await service.sync()
    assert service.healthy and store.batches[-1] == ["sess_0", "sess_1", "sess_2"]
    assert await store.spend("acme", service._wall()) == (3 * spent, 3 * spent)
    await service.close()


class CountingStore(AccountingStore):
    """The embedded store, recording the tenants of each spend_many and renew_many call."""

    def __init__(self) -> None:
        super().__init__(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), KeySpace(f"t{uuid.uuid4().hex[:8]}"))
        self.spend_reads: list[list[str]] = []
        self.renewals: list[list[str]] = []

    async def spend_many(self, tenants: Sequence[str], wall: float) -> list[tuple[int, int] | StoreError]:
        self.spend_reads.append(list(tenants))
        return await super().spend_many(tenants, wall)

    async def renew_many(
        self, leases: Sequence[tuple[str, Sequence[str]]], wall: float, lease_ttl_s: float
    ) -> list[int | StoreError]:
        self.renewals.append([tenant for tenant, _ in leases])
        return await super().renew_many(leases, wall, lease_ttl_s)


async def test_idle_budgeted_tenants_learn_their_spend_and_renew_leases_in_one_call_each() -> None:
    """Three budgeted tenants with idle sessions: one spend read for all per pass, one renewal for all per heartbeat;
    what another instance charged reaches each tenant's cached spend."""
    store = CountingStore()
    clock = Clock()
    service = AccountingService(Settings(_env_file=None), catalog(), store, wall=clock)  # type: ignore[call-arg]
    tenants = ["acme", "globex", "initech"]
    for tenant in tenants:
        await service.admission.admit(f"s_{tenant}", tenant, "key_1", TenantLimits(daily_budget_micros=10**9), clock.now)
        service.observer_factory.create(info(session_id=f"s_{tenant}", tenant=tenant), now=0.0)
    await service.sync()  # the first checkpoints (cost 0) and the first heartbeat
    await store.charge("elsewhere", "globex", 1_234, TenantLimits(), clock.now)
    store.spend_reads.clear()
    clock.now += service.lease_ttl_s  # the next heartbeat is due
    await service.sync()
    assert store.spend_reads == [tenants] and store.renewals[-1] == tenants
    assert service.ledger.tenant_spend("globex", clock.now) == (1_234, 1_234)
    assert await store.active_leases("initech", clock.now + service.lease_ttl_s / 2) == 1
    await service.close()


class _WorkClock:
    """A work clock that advances a fixed step each time it is read (each session's pricing takes time)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_a_flush_pass_lets_ready_io_through_between_slices_of_work() -> None:
    """A pass over many sessions yields to the event loop once a slice of work is spent: a frame that becomes ready
    while the first session is priced goes on after a slice, not after every session's pricing."""
    service, store = await _talking(40)
    service._work_clock = _WorkClock(step=0.0001)  # every read 0.1 ms: a slice (0.2 ms) is spent every two sessions
    order: list[str] = []

    def price(live: object) -> None:
        if not order:
            asyncio.get_running_loop().call_soon(order.append, "frame")
        order.append("price")

    service._price_before_checkpoint = price  # type: ignore[method-assign]
    await service.sync()
    assert "frame" in order[:4], order
    assert order.count("price") == 40 and store.batches == [[f"sess_{i}" for i in range(40)]]
    await service.close()


async def test_each_tenant_learns_its_totals_once_per_pass() -> None:
    """Sessions of two tenants in one pass: each tenant's cached spend is its own total after the pass."""
    store = FlakyStore()
    service = AccountingService(Settings(_env_file=None), catalog(), store, wall=Clock())  # type: ignore[call-arg]
    for i, tenant in enumerate(["acme", "acme", "acme", "globex"]):
        sid = f"sess_{i}"
        await service.admission.admit(sid, tenant, "key_1", TenantLimits(daily_budget_micros=10**9), 1_000.0)
        observer = service.observer_factory.create(info(session_id=sid, tenant=tenant), now=0.0)
        await observer.on_tick(1.0, stats(at=1.0, in_s=1 + i, out_s=1))
    await service.sync()
    wall = service._wall()
    for tenant in ("acme", "globex"):
        day, month = await store.spend(tenant, wall)
        cached = service.ledger.spend[tenant]
        assert (cached.day_micros, cached.month_micros) == (day, month) and day > 0
    await service.close()
