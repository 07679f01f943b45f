"""Adapters the composition root uses to fit the packages' APIs to the inbound adapter's ports."""

from __future__ import annotations

import logging
import time
from typing import Callable

import routers
from gateway.accounting.limits import Lease, TenantLimits
from gateway.accounting.service import AccountingService
from gateway.core.api_keys import KeyRecord
from gateway.core.routing import Route, RouteDecision, SessionRequest
from gateway.inbound.services import Lease as HeldLease
from gateway.policy.holder import PolicyHolder

log = logging.getLogger("voice_gateway.routing")


class PolicyRouter:
    """Routes with whatever policy the holder has now (hot reloads swap it atomically)."""

    def __init__(self, holder: PolicyHolder) -> None:
        self.holder = holder

    def wants_session_update(self, request: SessionRequest) -> bool:
        return routers.wants_session_update(self.holder.current, request)

    def route_named(self, name: str) -> Route | None:
        return self.holder.current.routes.get(name)

    def decide(self, request: SessionRequest) -> RouteDecision:
        decision = routers.decide(self.holder.current, request)
        log.info(
            "route decision",
            extra={
                "rule_id": decision.rule_id,
                "reason": decision.reason,
                "matched": dict(decision.matched),
                "route": decision.route.name if decision.route else None,
                "denied": decision.denied,
            },
        )
        return decision


def limits_of(key: KeyRecord) -> TenantLimits:
    """A key's budgets and admission limits, as the accounting package sees them."""
    return TenantLimits(
        daily_budget_micros=key.daily_budget_micros,
        monthly_budget_micros=key.monthly_budget_micros,
        max_concurrent_sessions=key.max_concurrent_sessions,
        sessions_per_minute=key.sessions_per_minute,
    )


class AccountingAdmission:
    """Admission through the accounting service; it keeps wall-clock time (shared across replicas)."""

    def __init__(self, service: AccountingService, wall: Callable[[], float] = time.time) -> None:
        self.service = service
        self.wall = wall

    async def admit(self, session_id: str, key: KeyRecord, route: Route, now: float) -> Lease:
        return await self.service.admission.admit(
            session_id, key.tenant, key.key_id, limits_of(key), self.wall(), model=route.model
        )

    async def release(self, lease: HeldLease) -> None:
        """Give back a lease this admission granted (the handshake holds it only by its protocol)."""
        if not isinstance(lease, Lease):
            raise TypeError(f"not a lease granted by the accounting admission: {lease!r}")
        await self.service.admission.release(lease)

    async def budget_used_ratio(self, key: KeyRecord, now: float) -> float | None:
        return await self.service.admission.budget_used_ratio(key.tenant, limits_of(key), self.wall())
