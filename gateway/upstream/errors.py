"""Connect failures, internal to the upstream package (the pool turns them into gateway errors)."""

from __future__ import annotations


class ConnectFailed(Exception):
    """One endpoint could not be connected; ``status`` is the HTTP status when it refused."""

    def __init__(self, endpoint: str, *, status: int | None) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"upstream {endpoint} failed to connect (status={status})")

    @property
    def retryable(self) -> bool:
        """Connect errors, time-outs, 429 and 5xx move on to the next endpoint; other refusals do too but count as refusals."""
        return self.status is None or self.status == 429 or self.status >= 500
