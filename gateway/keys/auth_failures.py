"""Failed authentications per client address, shared by every replica (a ``FailureLimiter``).

Counts in the shared store (``gateway.store.auth_failures`` on Redis), so every replica sees the
same window. Best effort: a store error never blocks anyone. The in-process variant for the
embedded store is :class:`gateway.core.ratelimit.LocalFailureLimiter`. Time is an argument.
"""

from __future__ import annotations

import logging
from gateway.core.errors import StoreError
from gateway.core.ratelimit import AUTH_FAILURE_WINDOW_S, MAX_AUTH_FAILURES
from gateway.keys.ports import FailureCounts

log = logging.getLogger("voice_gateway.keys.auth_failures")

class SharedFailureLimiter:
    """Fixed windows counted in the shared store, so every replica refuses the same guesser."""

    def __init__(self, counts: FailureCounts, max_failures: int = MAX_AUTH_FAILURES, window_s: float = AUTH_FAILURE_WINDOW_S) -> None:
        self.counts = counts
        self.max_failures = max_failures
        self.window_s = window_s

    def _window(self, now: float) -> int:
        return int(now // self.window_s)

    async def blocked(self, address: str, now: float) -> bool:
        try:
            count = await self.counts.count(address, self._window(now))
        except StoreError as exc:
            log.debug("auth-failure lookup failed: %s", type(exc.__cause__).__name__)
            return False
        return count >= self.max_failures

    async def failed(self, address: str, now: float) -> None:
        try:
            await self.counts.add(address, self._window(now), int(self.window_s) + 1)
        except StoreError as exc:
            log.debug("auth-failure count failed: %s", type(exc.__cause__).__name__)
