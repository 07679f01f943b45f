"""Token buckets for handshake rate limits (burst, refill, per-key independence, bounded memory) and auth-failure windows."""

from __future__ import annotations

import pytest

from gateway.core.errors import RateLimited
from gateway.core.ratelimit import HandshakeLimits, KeyedTokenBuckets, LocalFailureLimiter


def test_burst_then_refill_at_the_rate() -> None:
    """A bucket allows its burst at once, then one more per 1/rate seconds, and says how long to wait."""
    buckets = KeyedTokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.5)
    assert buckets.take("a", 0.5) == 0.0
    assert buckets.take("a", 0.5) > 0


def test_keys_are_independent_and_rate_zero_disables() -> None:
    """One key's flood does not touch another's bucket; rate 0 never refuses."""
    buckets = KeyedTokenBuckets(rate=1.0, burst=1)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0.0
    off = KeyedTokenBuckets(rate=0.0, burst=1)
    assert all(off.take("a", 0.0) == 0.0 for _ in range(100)) and len(off) == 0


def test_memory_is_bounded_under_a_flood_of_distinct_addresses() -> None:
    """Past max_tracked, refilled buckets are forgotten (and a pure flood resets), so memory never grows unbounded."""
    buckets = KeyedTokenBuckets(rate=1.0, burst=2, max_tracked=100)
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}", float(i) * 0.001)
    assert len(buckets) <= 100


def test_handshake_limits_raise_rate_limited_with_a_retry_hint() -> None:
    """Over the address or key rate the handshake is refused with a 429 RateLimited naming the wait."""
    limits = HandshakeLimits(per_address=KeyedTokenBuckets(1.0, 1), per_key=KeyedTokenBuckets(1.0, 1))
    limits.check_address("127.0.0.1", 0.0)
    with pytest.raises(RateLimited) as refused:
        limits.check_address("127.0.0.1", 0.25)
    assert refused.value.http_status == 429 and "750 ms" in refused.value.client_message
    limits.check_address("", 0.25)  # no address known (e.g. a unix socket): not limited by address
    limits.check_key("key_1", 0.0)
    with pytest.raises(RateLimited):
        limits.check_key("key_1", 0.0)


async def test_failure_window_blocks_after_n_failures_and_resets() -> None:
    """N failed authentications inside the window block the address; a new window unblocks it; others are unaffected."""
    limiter = LocalFailureLimiter(max_failures=3, window_s=10.0)
    for t in (0.0, 1.0, 2.0):
        assert not await limiter.blocked("a", t)
        await limiter.failed("a", t)
    assert await limiter.blocked("a", 3.0)
    assert not await limiter.blocked("b", 3.0)
    assert not await limiter.blocked("a", 10.0)
