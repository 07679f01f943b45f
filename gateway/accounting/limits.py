"""Per-tenant limits and the admission lease: pure data the keys work fills and admission returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Spend budgets and admission limits of one tenant; ``None`` means no limit of that kind."""

    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None
    max_concurrent_sessions: int | None = None
    #: session-creation token bucket: refill rate and bucket size (``burst`` defaults to the rate)
    sessions_per_minute: float | None = None
    burst: int | None = None

    def __post_init__(self) -> None:
        for name in ("daily_budget_micros", "monthly_budget_micros", "max_concurrent_sessions", "burst"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if self.sessions_per_minute is not None and self.sessions_per_minute <= 0:
            raise ValueError("sessions_per_minute must be positive")

    @property
    def has_budget(self) -> bool:
        return self.daily_budget_micros is not None or self.monthly_budget_micros is not None

    @property
    def limited(self) -> bool:
        """Whether anything must be checked in the store (decides fail-open vs fail-closed)."""
        return (
            self.has_budget
            or self.max_concurrent_sessions is not None
            or self.sessions_per_minute is not None
        )

    @property
    def bucket_size(self) -> int:
        """Token-bucket capacity: ``burst``, else the per-minute rate rounded up, at least 1."""
        if self.burst is not None:
            return max(self.burst, 1)
        return max(int(-(-(self.sessions_per_minute or 1) // 1)), 1)


NO_LIMITS = TenantLimits()


@dataclass(frozen=True, slots=True)
class Lease:
    """A granted admission: the concurrency slot a session holds until it is released."""

    session_id: str
    tenant: str
    key_id: str | None
    limits: TenantLimits
    #: wall-clock seconds the lease was granted at
    granted_at: float
    #: whether the slot is recorded in the shared store (``False`` = admitted while the store was down)
    stored: bool = True
    #: tenant spend (micro-dollars) the store reported at admission, for the budget projection
    day_spend_micros: int = 0
    month_spend_micros: int = 0
