"""Monotonic event times → span timestamps, via a wall-clock anchor taken once per session."""

from __future__ import annotations

import time


class SpanClock:
    """Maps ``time.monotonic()``-style seconds to epoch nanoseconds (no per-event wall-clock reads)."""

    __slots__ = ("_anchor_mono", "_anchor_ns")

    def __init__(self, anchor_mono: float, anchor_ns: int | None = None) -> None:
        self._anchor_mono = anchor_mono
        self._anchor_ns = time.time_ns() if anchor_ns is None else anchor_ns

    def ns(self, at: float) -> int:
        """Epoch nanoseconds for monotonic time ``at``."""
        return self._anchor_ns + round((at - self._anchor_mono) * 1e9)


def ms_between(start: float | None, end: float | None) -> int | None:
    """Whole milliseconds from ``start`` to ``end`` (``None`` when either is unknown or end < start)."""
    if start is None or end is None or end < start:
        return None
    return round((end - start) * 1000)
