"""Admission per API key / tenant: budgets, concurrency slots and session-creation rate, in one script."""

from __future__ import annotations

import logging
from typing import Callable, Literal

from gateway.accounting.ledger import Ledger
from gateway.accounting.limits import Lease, TenantLimits
from gateway.accounting.ports import AccountingStorePort
from gateway.core.errors import (
    BudgetExhausted,
    ConcurrencyLimited,
    RateLimited,
    StoreError,
    StoreUnavailable,
    UnknownModel,
)

log = logging.getLogger("voice_gateway.accounting.admission")

FailureMode = Literal["open", "closed"]


class StoreHealth:
    """Whether the store answered its last call; flipped by every store operation."""

    def __init__(self) -> None:
        self.healthy = True

    def down(self, exc: BaseException) -> None:
        if self.healthy:
            log.warning("accounting store unreachable; accruing locally: %s", exc)
        self.healthy = False

    def up(self) -> None:
        if not self.healthy:
            log.warning("accounting store reachable again; reconciling")
        self.healthy = True


class Admission:
    """Grants and releases session leases; ``now`` is wall-clock (epoch) seconds, shared across instances."""

    def __init__(
        self,
        store: AccountingStorePort,
        ledger: Ledger,
        health: StoreHealth,
        *,
        failure_mode: FailureMode,
        lease_ttl_s: float,
        is_priced: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.health = health
        self.failure_mode = failure_mode
        self.lease_ttl_s = lease_ttl_s
        self._is_priced = is_priced
        #: leases whose release failed while the store was down; retried by the flush loop
        self.pending_releases: dict[str, Lease] = {}

    async def admit(
        self,
        session_id: str,
        tenant: str,
        key_id: str | None,
        limits: TenantLimits,
        now: float,
        *,
        model: str | None = None,
    ) -> Lease:
        """Take a slot or raise ConcurrencyLimited / RateLimited / BudgetExhausted / StoreUnavailable / UnknownModel."""
        if model is not None and not self._is_priced(model):
            raise UnknownModel("The requested model has no known price on this gateway.")
        try:
            result = await self.store.admit(session_id, tenant, limits, now, self.lease_ttl_s)
        except StoreError as exc:
            self.health.down(exc)
            if self.failure_mode == "closed" and limits.limited:
                raise StoreUnavailable() from exc
            return self._grant(Lease(session_id, tenant, key_id, limits, now, stored=False))
        self.health.up()
        self.ledger.note_spend(tenant, now, result.day_spend_micros, result.month_spend_micros)
        if result.status == "budget":
            raise BudgetExhausted()
        if result.status == "concurrency":
            raise ConcurrencyLimited()
        if result.status == "rate":
            raise RateLimited(f"Too many new sessions; retry in {max(result.detail, 1)} ms.")
        lease = Lease(
            session_id, tenant, key_id, limits, now, True, result.day_spend_micros, result.month_spend_micros
        )
        return self._grant(lease)

    def _grant(self, lease: Lease) -> Lease:
        self.ledger.leases[lease.session_id] = lease
        return lease

    async def release(self, lease: Lease) -> None:
        """Give the slot back (idempotent); while the store is down it is retried, and the lease expires anyway.

        A lease already given back (the session's end and its set-up both release it) costs no round trip."""
        held = self.ledger.leases.pop(lease.session_id, None) is not None
        if not held and lease.session_id not in self.pending_releases:
            return
        try:
            await self.store.release(lease.tenant, lease.session_id)
        except StoreError as exc:
            self.health.down(exc)
            self.pending_releases[lease.session_id] = lease
            return
        self.pending_releases.pop(lease.session_id, None)
        self.health.up()

    async def retry_releases(self) -> None:
        """Release what could not be released while the store was down."""
        for lease in list(self.pending_releases.values()):
            await self.release(lease)
            if not self.health.healthy:
                return

    async def budget_used_ratio(self, tenant: str, limits: TenantLimits, now: float) -> float | None:
        """Share of the tightest spend budget used (flushed + local), for routing; ``None`` without a budget."""
        if not limits.has_budget:
            return None
        try:
            day, month = await self.store.spend(tenant, now)
            self.health.up()
            self.ledger.note_spend(tenant, now, day, month)
        except StoreError as exc:
            self.health.down(exc)
        projection = self.ledger.projection(tenant, limits, now)
        worst = projection.worst() if projection is not None else None
        if worst is None:
            return None
        used, limit = worst
        return float("inf") if limit == 0 and used > 0 else (used / limit if limit else 1.0)
