"""The settings telemetry reads, as a Protocol: the app's ``Settings`` satisfies it (no upward import)."""

from __future__ import annotations

from typing import Protocol, Sequence

from pydantic import SecretStr


class TelemetrySettings(Protocol):
    """Read-only view of the ``gateway.settings.Settings`` fields this package uses."""

    @property
    def trace_transcripts(self) -> bool: ...

    @property
    def log_format(self) -> str: ...

    @property
    def log_level(self) -> str: ...

    @property
    def api_keys(self) -> Sequence[SecretStr]: ...

    @property
    def openai_api_key(self) -> SecretStr | None: ...

    @property
    def admin_token(self) -> SecretStr | None: ...
