"""Percentile summaries (pure), via the standard library's ``statistics.quantiles``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """p50/p99/max of a sample, in the sample's unit; ``n`` is the sample size."""

    n: int
    p50: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return asdict(self)


EMPTY = Summary(0, float("nan"), float("nan"), float("nan"))


def summarize(values: Sequence[float]) -> Summary:
    """Summarise a sample; ``EMPTY`` (NaNs) when there is nothing to summarise."""
    if not values:
        return EMPTY
    if len(values) == 1:
        only = float(values[0])
        return Summary(1, only, only, only)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Summary(len(values), cuts[49], cuts[98], float(max(values)))
