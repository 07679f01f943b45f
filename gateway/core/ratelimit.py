"""Handshake rate limits per client address and per API key (token buckets), and failed-authentication
limiting per address (fixed windows): in-process, time is an argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.core.errors import RateLimited

#: distinct addresses/keys tracked before idle (refilled) buckets are forgotten
MAX_TRACKED = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class KeyedTokenBuckets:
    """One token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up; rate 0 disables."""

    def __init__(self, rate: float, burst: int, max_tracked: int = MAX_TRACKED) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.max_tracked = max_tracked
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        return min(self.burst, bucket.tokens + max(0.0, now - bucket.updated) * self.rate)

    def take(self, key: str, now: float) -> float:
        """Take one token; return 0.0 when allowed, else the seconds until a token is due."""
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_tracked:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens, bucket.updated = self._refilled(bucket, now), now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they behave exactly like new ones)."""
        self._buckets = {k: b for k, b in self._buckets.items() if self._refilled(b, now) < self.burst}
        if len(self._buckets) >= self.max_tracked:  # a flood of distinct keys: start over rather than grow
            self._buckets.clear()


class HandshakeLimits:
    """Refuses handshakes over the per-address or per-key rate with :class:`RateLimited` (HTTP 429)."""

    def __init__(self, *, per_address: KeyedTokenBuckets, per_key: KeyedTokenBuckets) -> None:
        self.per_address = per_address
        self.per_key = per_key

    def check_address(self, address: str, now: float) -> None:
        if address and (wait := self.per_address.take(address, now)):
            raise RateLimited(f"Too many new sessions from this address; retry in {_ms(wait)} ms.")

    def check_key(self, key_id: str, now: float) -> None:
        if wait := self.per_key.take(key_id, now):
            raise RateLimited(f"Too many new sessions for this key; retry in {_ms(wait)} ms.")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000 + 0.999))


#: failed authentications from one address within one window before it is refused (429)
MAX_AUTH_FAILURES = 10
AUTH_FAILURE_WINDOW_S = 60.0


class FailureLimiter(Protocol):
    """Counts failed authentications per address within a window."""

    async def blocked(self, address: str, now: float) -> bool: ...

    async def failed(self, address: str, now: float) -> None: ...


class LocalFailureLimiter:
    """In-process fixed-window counter (per replica)."""

    def __init__(self, max_failures: int = MAX_AUTH_FAILURES, window_s: float = AUTH_FAILURE_WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def _current(self, address: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(address, (now, 0))
        return (now, 0) if now - start >= self.window_s else (start, count)

    async def blocked(self, address: str, now: float) -> bool:
        return self._current(address, now)[1] >= self.max_failures

    async def failed(self, address: str, now: float) -> None:
        if len(self._windows) >= MAX_TRACKED:
            self._windows = {a: w for a, w in self._windows.items() if now - w[0] < self.window_s}
        start, count = self._current(address, now)
        self._windows[address] = (start, count + 1)
