"""In-process accounting state shared by observers, admission and the flush loop (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.accounting.caps import BudgetProjection, CapGuard
from gateway.accounting.limits import Lease, TenantLimits
from gateway.accounting.meter import Meter
from gateway.accounting.periods import utc_day, utc_month
from gateway.core.observers import SessionInfo, SessionStats
from gateway.core.timeline import TurnLog


@dataclass(slots=True)
class TenantSpend:
    """The tenant's spend as the store last reported it, with the periods it belongs to."""

    day: str
    month: str
    day_micros: int
    month_micros: int


@dataclass(slots=True)
class LiveSession:
    """One metered session on this instance, from admission or observer creation until fully flushed."""

    info: SessionInfo
    tenant: str
    limits: TenantLimits
    meter: Meter | None
    guard: CapGuard
    #: wall-clock seconds at creation and end (for the record)
    started_wall: float
    lease: Lease | None = None
    served_model: str | None = None
    #: the local projection (micro-dollars), updated on every tick and turn end
    cost_micros: int = 0
    #: the cumulative cost last checkpointed in the store
    charged_micros: int = 0
    stats: SessionStats | None = None
    #: per-turn summaries for the operator's timeline (bounded)
    timeline: TurnLog | None = None
    ended: bool = False
    record_queued: bool = False
    #: tool calls of the session, in order (for the session record)
    tool_calls: list[dict[str, object]] = field(default_factory=list)
    #: handoffs of the session, in order: route and model moved from and to, trigger (for the record)
    handoffs: list[dict[str, object]] = field(default_factory=list)

    @property
    def unflushed_micros(self) -> int:
        return self.cost_micros - self.charged_micros


@dataclass(slots=True)
class Ledger:
    """Live sessions and cached tenant spend; the budget projection is read from here on every tick."""

    sessions: dict[str, LiveSession] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    spend: dict[str, TenantSpend] = field(default_factory=dict)

    def note_spend(self, tenant: str, wall: float, day: int, month: int) -> None:
        """Remember the tenant's totals the store just returned."""
        self.spend[tenant] = TenantSpend(utc_day(wall), utc_month(wall), day, month)

    def unflushed(self, tenant: str) -> int:
        return sum(s.unflushed_micros for s in self.sessions.values() if s.tenant == tenant)

    def tenant_spend(self, tenant: str, wall: float) -> tuple[int, int]:
        """Flushed (day, month) spend for the current periods, plus local unflushed accrual."""
        cached = self.spend.get(tenant)
        day = month = 0
        if cached is not None:
            day = cached.day_micros if cached.day == utc_day(wall) else 0
            month = cached.month_micros if cached.month == utc_month(wall) else 0
        local = self.unflushed(tenant)
        return day + local, month + local

    def projection(self, tenant: str, limits: TenantLimits, wall: float) -> BudgetProjection | None:
        if not limits.has_budget:
            return None
        day, month = self.tenant_spend(tenant, wall)
        return BudgetProjection(day, month, limits.daily_budget_micros, limits.monthly_budget_micros)
