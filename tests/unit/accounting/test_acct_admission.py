"""Admission: a lease given back twice (set-up and session end both release it) costs one store round trip."""

from __future__ import annotations

import uuid

import fakeredis

from gateway.accounting.admission import Admission, StoreHealth
from gateway.accounting.ledger import Ledger
from gateway.accounting.limits import TenantLimits
from gateway.store.accounting_store import AccountingStore
from gateway.store.keyspace import KeySpace

LIMITS = TenantLimits(max_concurrent_sessions=1)


class CountingStore(AccountingStore):
    """The embedded store, counting its release calls."""

    releases = 0

    async def release(self, tenant: str, session_id: str) -> bool:
        self.releases += 1
        return await super().release(tenant, session_id)


def _admission(store: AccountingStore) -> Admission:
    return Admission(store, Ledger(), StoreHealth(), failure_mode="open", lease_ttl_s=30.0, is_priced=lambda m: True)


async def test_a_lease_released_twice_goes_to_the_store_once_and_its_slot_is_free() -> None:
    """The second release of the same lease is a no-op: no round trip, and the tenant's slot is free."""
    store = CountingStore(fakeredis.FakeAsyncRedis(), KeySpace(f"t{uuid.uuid4().hex[:8]}"))
    admission = _admission(store)
    lease = await admission.admit("s1", "acme", "k1", LIMITS, 1_000.0)
    await admission.release(lease)
    await admission.release(lease)
    assert store.releases == 1
    assert await store.active_leases("acme", 1_000.0) == 0
    again = await admission.admit("s2", "acme", "k1", LIMITS, 1_000.0)  # the one slot is free again
    assert again.session_id == "s2"


async def test_a_release_that_failed_is_still_retried() -> None:
    """A lease whose release the store refused stays pending, and the retry reaches the store."""
    server = fakeredis.FakeServer()
    store = CountingStore(fakeredis.FakeAsyncRedis(server=server), KeySpace(f"t{uuid.uuid4().hex[:8]}"))
    admission = _admission(store)
    lease = await admission.admit("s1", "acme", "k1", LIMITS, 1_000.0)
    server.connected = False
    await admission.release(lease)
    assert "s1" in admission.pending_releases and not admission.health.healthy
    server.connected = True
    await admission.retry_releases()
    assert store.releases == 2 and not admission.pending_releases
    assert await store.active_leases("acme", 1_000.0) == 0
