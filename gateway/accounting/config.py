"""The settings accounting reads, as a Protocol: the app's ``Settings`` satisfies it (no upward import)."""

from __future__ import annotations

from typing import Literal, Protocol


class AccountingSettings(Protocol):
    """Read-only view of ``gateway.settings.Settings`` fields this package uses."""

    @property
    def redis_url(self) -> str | None: ...

    @property
    def store_failure_mode(self) -> Literal["open", "closed"]: ...

    @property
    def flush_interval_ms(self) -> int: ...

    @property
    def fallback_usd_per_minute(self) -> str | None: ...

    @property
    def records_retention_days(self) -> float: ...
