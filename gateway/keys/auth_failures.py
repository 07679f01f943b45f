"""Failed authentications per client address: after N in one window the address is refused (429) for a while.

Two implementations of :class:`FailureLimiter`: :class:`SharedFailureLimiter` counts in the shared
store (every replica sees the same window; ``gateway.store.auth_failures`` on Redis) and is best
effort, so a store error never blocks anyone; :class:`LocalFailureLimiter` counts in this process
(the embedded store). Time is an argument.
"""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.core.errors import StoreError
from gateway.keys.ports import FailureCounts

log = logging.getLogger("voice_gateway.keys.auth_failures")

MAX_FAILURES = 10
WINDOW_S = 60.0
_MAX_TRACKED = 100_000


class FailureLimiter(Protocol):
    """Counts failed authentications per address within a window."""

    async def blocked(self, address: str, now: float) -> bool: ...

    async def failed(self, address: str, now: float) -> None: ...


class LocalFailureLimiter:
    """In-process fixed-window counter (per replica)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def _current(self, address: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(address, (now, 0))
        return (now, 0) if now - start >= self.window_s else (start, count)

    async def blocked(self, address: str, now: float) -> bool:
        return self._current(address, now)[1] >= self.max_failures

    async def failed(self, address: str, now: float) -> None:
        if len(self._windows) >= _MAX_TRACKED:
            self._windows = {a: w for a, w in self._windows.items() if now - w[0] < self.window_s}
        start, count = self._current(address, now)
        self._windows[address] = (start, count + 1)


class SharedFailureLimiter:
    """Fixed windows counted in the shared store, so every replica refuses the same guesser."""

    def __init__(self, counts: FailureCounts, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
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
