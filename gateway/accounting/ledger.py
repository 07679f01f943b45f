"""In-process accounting state shared by observers, admission and the flush loop (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from gateway.accounting.caps import BudgetProjection, CapGuard
from gateway.accounting.limits import Lease, TenantLimits
from gateway.accounting.meter import Meter
from gateway.accounting.periods import utc_day_bounds, utc_month_bounds
from gateway.core.observers import SessionInfo, SessionStats
from gateway.core.timeline import TurnLog


@dataclass(slots=True)
class TenantSpend:
    """The tenant's spend as the store last reported it, with the periods it belongs to (``[start, end)`` wall
    seconds of its UTC day and month: two comparisons on every tick instead of formatting dates)."""

    day: tuple[float, float]
    month: tuple[float, float]
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
    #: the local projection (micro-dollars), updated on ticks and turn ends; written through
    #: :meth:`Ledger.set_cost` (the ledger keeps each tenant's unflushed total)
    cost_micros: int = 0
    #: the cumulative cost last checkpointed in the store (written through :meth:`Ledger.set_charged`)
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
    #: prices the session now, from its live counters (set by its observer when ticks do not price it every time:
    #: the flush loop calls it before each checkpoint, so the store is as current as with every tick priced)
    price_now: Callable[[], None] | None = None

    @property
    def unflushed_micros(self) -> int:
        return self.cost_micros - self.charged_micros


@dataclass(slots=True)
class Ledger:
    """Live sessions and cached tenant spend; the budget projection is read from here on every tick.

    Sessions join and leave through :meth:`add` / :meth:`drop`, and their cost and checkpoint move through
    :meth:`set_cost` / :meth:`set_charged`, so each tenant's unflushed total is kept as it changes: a budget
    projection costs the same with 300 sessions of a tenant as with one (summing them on every session's tick
    was quadratic)."""

    sessions: dict[str, LiveSession] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    spend: dict[str, TenantSpend] = field(default_factory=dict)
    #: tenant → the sum of its sessions' ``unflushed_micros``
    _unflushed: dict[str, int] = field(default_factory=dict)
    #: tenant → how many of its sessions here have a budget
    _budgeted: dict[str, int] = field(default_factory=dict)

    def add(self, live: LiveSession) -> None:
        """Start metering ``live`` (it replaces a session of the same id)."""
        self.drop(live.info.session_id)
        self.sessions[live.info.session_id] = live
        self._move(live.tenant, live.unflushed_micros)
        if live.limits.has_budget:
            if live.tenant not in self._budgeted:
                self._wake_tenant(live.tenant)
            self._budgeted[live.tenant] = self._budgeted.get(live.tenant, 0) + 1

    def _wake_tenant(self, tenant: str) -> None:
        """A first budget for ``tenant`` here: its other sessions' costs count against it from now on and must be
        priced on every tick, so the bounds their last ticks published for the shared tick no longer hold."""
        for other in self.sessions.values():
            if other.tenant == tenant and other.stats is not None:
                other.stats.tick_bound = None

    def drop(self, session_id: str) -> None:
        """Stop metering a session (its unflushed spend leaves the tenant's projection with it)."""
        live = self.sessions.pop(session_id, None)
        if live is not None:
            self._move(live.tenant, -live.unflushed_micros)
            if live.limits.has_budget:
                left = self._budgeted[live.tenant] - 1
                if left:
                    self._budgeted[live.tenant] = left
                else:
                    del self._budgeted[live.tenant]

    def budgeted(self, tenant: str) -> bool:
        """Whether a session of ``tenant`` here has a budget: then every session's cost of the tenant counts against
        it (through the unflushed total) and must be current on every tick."""
        return tenant in self._budgeted

    def set_cost(self, live: LiveSession, micros: int) -> None:
        """The session's projected cost is ``micros`` now."""
        self._move(live.tenant, micros - live.cost_micros)
        live.cost_micros = micros

    def set_charged(self, live: LiveSession, micros: int) -> None:
        """The store holds ``micros`` of the session's cost now."""
        self._move(live.tenant, live.charged_micros - micros)
        live.charged_micros = micros

    def _move(self, tenant: str, delta: int) -> None:
        if delta:
            total = self._unflushed.get(tenant, 0) + delta
            if total:
                self._unflushed[tenant] = total
            else:
                self._unflushed.pop(tenant, None)

    def note_spend(self, tenant: str, wall: float, day: int, month: int) -> None:
        """Remember the tenant's totals the store just returned."""
        self.spend[tenant] = TenantSpend(utc_day_bounds(wall), utc_month_bounds(wall), day, month)

    def unflushed(self, tenant: str) -> int:
        """Micro-dollars the tenant's sessions here accrued beyond what the store holds."""
        return self._unflushed.get(tenant, 0)

    def tenant_spend(self, tenant: str, wall: float) -> tuple[int, int]:
        """Flushed (day, month) spend for the current periods, plus local unflushed accrual."""
        cached = self.spend.get(tenant)
        day = month = 0
        if cached is not None:
            day = cached.day_micros if cached.day[0] <= wall < cached.day[1] else 0
            month = cached.month_micros if cached.month[0] <= wall < cached.month[1] else 0
        local = self.unflushed(tenant)
        return day + local, month + local

    def projection(self, tenant: str, limits: TenantLimits, wall: float) -> BudgetProjection | None:
        if not limits.has_budget:
            return None
        day, month = self.tenant_spend(tenant, wall)
        return BudgetProjection(day, month, limits.daily_budget_micros, limits.monthly_budget_micros)
