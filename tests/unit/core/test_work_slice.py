"""Work slices: spent once their length of work has passed on the work clock, then a new one starts."""

from __future__ import annotations

from gateway.core.work_slice import WorkSlice


class _Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_a_slice_is_spent_after_its_length_and_starts_again() -> None:
    """Not spent before its length of work, spent at it, and the next slice counts from that moment."""
    clock = _Clock()
    work = WorkSlice(clock, 0.5)
    clock.now = 10.4
    assert not work.spent()
    clock.now = 10.5
    assert work.spent()
    clock.now = 10.9
    assert not work.spent()
    clock.now = 11.0
    assert work.spent()
