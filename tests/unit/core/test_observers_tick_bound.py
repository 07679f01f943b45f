"""TickBound: when a session's shared tick can next have anything to do."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.core.observers import NO_COUNTER_BOUND, SessionStats, TickBound, before

COUNTER = st.integers(0, 10**7)


def test_a_bound_holds_before_its_time_with_the_counters_within_and_not_after() -> None:
    """Before ``at`` with every counter at or below its bound it holds; at ``at``, or one counter past, it does not."""
    stats = SessionStats(started_at=0.0, last_activity_at=0.0, audio_in_bytes=100, audio_out_bytes=100)
    bound = TickBound(5.0, 100, 100)
    assert bound.holds(4.9, stats)
    assert not bound.holds(5.0, stats)
    stats.audio_out_bytes = 101
    assert not bound.holds(1.0, stats)
    assert not TickBound(float("-inf")).holds(0.0, stats)


@given(a=st.tuples(st.floats(-1e6, 1e6), COUNTER, COUNTER, COUNTER, COUNTER),
       b=st.tuples(st.floats(-1e6, 1e6), COUNTER, COUNTER, COUNTER, COUNTER),
       now=st.floats(-1e6, 1e6), counters=st.tuples(COUNTER, COUNTER, COUNTER, COUNTER))
def test_the_earliest_of_two_bounds_holds_exactly_where_both_do(
    a: tuple[float, int, int, int, int], b: tuple[float, int, int, int, int], now: float,
    counters: tuple[int, int, int, int],
) -> None:
    """``earliest`` never outlasts either clock's bound, and holds wherever both hold."""
    stats = SessionStats(started_at=0.0, last_activity_at=0.0, audio_in_bytes=counters[0], audio_out_bytes=counters[1],
                         audio_in_bytes_since_usage=counters[2], audio_out_bytes_since_usage=counters[3])
    first, second = TickBound(*a), TickBound(*b)
    assert first.earliest(second).holds(now, stats) == (first.holds(now, stats) and second.holds(now, stats))
    assert TickBound(a[0]).audio_in_bytes == NO_COUNTER_BOUND


@given(start=st.floats(0.0, 1e7), span=st.floats(0.001, 1e4), now=st.floats(0.0, 1e7 + 1e4))
def test_before_never_lets_a_clock_comparison_fire_inside_the_bound(start: float, span: float, now: float) -> None:
    """A time below ``before(start + span)`` never has ``now - start >= span``, whatever the rounding."""
    if now < before(start + span):
        assert not now - start >= span
