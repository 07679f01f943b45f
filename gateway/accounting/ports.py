"""What accounting needs of the shared store, as a port; ``gateway.store.accounting_store`` implements it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from gateway.accounting.limits import TenantLimits
from gateway.core.errors import StoreError


@dataclass(frozen=True, slots=True)
class AdmitResult:
    status: str  # "ok" | "budget" | "concurrency" | "rate"
    day_spend_micros: int
    month_spend_micros: int
    #: active leases ("ok", "concurrency") or milliseconds until a rate token ("rate")
    detail: int


@dataclass(frozen=True, slots=True)
class ChargeResult:
    day_spend_micros: int
    month_spend_micros: int
    delta_micros: int
    exhausted: bool


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One session's cumulative cost to write to the store (its tenant's spend moves by the unflushed difference)."""

    session_id: str
    tenant: str
    cumulative_micros: int
    limits: TenantLimits


class AccountingStorePort(Protocol):
    """Atomic tenant operations and the session-record stream; every call may raise ``StoreError``."""

    #: the implementation's registry key ("redis" or "memory")
    kind: str

    async def admit(
        self, session_id: str, tenant: str, limits: TenantLimits, wall: float, lease_ttl_s: float
    ) -> AdmitResult: ...

    async def charge(
        self, session_id: str, tenant: str, cumulative_micros: int, limits: TenantLimits, wall: float
    ) -> ChargeResult: ...

    async def charge_many(self, checkpoints: Sequence[Checkpoint], wall: float) -> list[ChargeResult | StoreError]:
        """``charge`` for every checkpoint, all in one round trip and atomic per tenant: the results in order (each
        with its tenant's totals after the batch), a checkpoint that failed alone with its ``StoreError`` in its
        place; raises ``StoreError`` when no answer came."""
        ...

    async def renew(self, tenant: str, session_ids: Sequence[str], wall: float, lease_ttl_s: float) -> int: ...

    async def renew_many(
        self, leases: Sequence[tuple[str, Sequence[str]]], wall: float, lease_ttl_s: float
    ) -> list[int | StoreError]:
        """``renew`` for each (tenant, session ids), all in one round trip; a tenant's failure in its place."""
        ...

    async def release(self, tenant: str, session_id: str) -> bool: ...

    async def spend(self, tenant: str, wall: float) -> tuple[int, int]: ...

    async def spend_many(self, tenants: Sequence[str], wall: float) -> list[tuple[int, int] | StoreError]:
        """``spend`` of each tenant, all in one round trip; a tenant's failure in its place."""
        ...

    async def append_record(self, record: Mapping[str, str], wall: float) -> str: ...

    async def records_between(self, start_wall: float, end_wall: float) -> list[dict[str, str]]: ...

    async def recent_records(self, count: int, before: str | None = None) -> list[dict[str, str]]: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
