"""Percentile summaries."""

from __future__ import annotations

import math

from bench.stats import summarize


def test_percentiles_of_a_uniform_sample() -> None:
    """For 1..100, p50 is the middle, p99 near the top, max the largest."""
    summary = summarize(list(range(1, 101)))
    assert summary.n == 100
    assert summary.p50 == 50.5
    assert 98.9 < summary.p99 < 99.1
    assert summary.max == 100


def test_single_and_empty_samples() -> None:
    """One value is every percentile; no values give NaNs, not an error."""
    one = summarize([3.0])
    assert (one.p50, one.p99, one.max) == (3.0, 3.0, 3.0)
    assert math.isnan(summarize([]).p99)


def test_tail_is_visible_in_p99() -> None:
    """Two slow frames in a hundred move p99 but not p50."""
    summary = summarize([1.0] * 98 + [50.0, 60.0])
    assert summary.p50 == 1.0
    assert summary.p99 > 40.0
