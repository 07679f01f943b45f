"""Circuit breaker and back-off behave as a pure function of failures and time."""

import random

from gateway.core.breaker import BreakerState, CircuitBreaker, backoff_delay


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    """Three failures open it; after the cool-down exactly one probe is allowed."""
    b = CircuitBreaker(threshold=3, cooldown_s=10)
    for t in range(3):
        assert b.allow(float(t))
        b.record_failure(float(t))
    assert b.state is BreakerState.OPEN and not b.allow(5.0)
    assert b.allow(12.5) and b.state is BreakerState.HALF_OPEN
    assert not b.allow(12.6)


def test_failed_probe_reopens_and_success_closes() -> None:
    """A failed half-open probe re-opens at once; a success closes and resets."""
    b = CircuitBreaker(threshold=1, cooldown_s=1)
    b.record_failure(0.0)
    assert b.allow(1.5)
    b.record_failure(1.5)
    assert b.state is BreakerState.OPEN and not b.allow(2.0)
    assert b.allow(3.0)
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.failures == 0


def test_backoff_grows_and_is_capped() -> None:
    """Jittered delays stay within the exponential ceiling and the cap."""
    rng = random.Random(1)
    for attempt in range(10):
        assert 0 <= backoff_delay(attempt, 0.05, 1.0, rng) <= min(1.0, 0.05 * 2**attempt)
