"""Per-endpoint circuit breaker and retry back-off, as pure state machines (time is an argument)."""

from __future__ import annotations

import random
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"  # traffic flows
    OPEN = "open"  # failing: skip this endpoint until the cool-down passes
    HALF_OPEN = "half_open"  # one probe allowed


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets one probe through after ``cooldown_s``."""

    def __init__(self, threshold: int = 3, cooldown_s: float = 10.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0

    def allow(self, now: float) -> bool:
        """Whether a connection attempt may go to this endpoint now (a True in OPEN starts the probe)."""
        if self.state is BreakerState.OPEN and now - self.opened_at >= self.cooldown_s:
            self.state = BreakerState.HALF_OPEN
            return True
        return self.state is BreakerState.CLOSED

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now


def backoff_delay(attempt: int, base_s: float = 0.05, cap_s: float = 1.0, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter for retry ``attempt`` (0-based)."""
    ceiling = min(cap_s, base_s * (2**attempt))
    return (rng or random).uniform(0, ceiling)
