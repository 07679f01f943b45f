"""How long a batch of work has held the event loop, pure: the shell yields to ready I/O when a slice is spent.

A shared pass over every session (the tick, the accounting flush) run in one go holds every relayed frame that
arrives meanwhile: 300 sessions' ticks held the loop ~10 ms, the p99 of every frame. The pass asks
:meth:`WorkSlice.spent` after each session and lets ready I/O through when it says so, so a frame waits for at
most one slice (plus one session's work); yielding after every session would cost an event-loop pass each.
"""

from __future__ import annotations

from typing import Callable, Final

#: the longest a shared pass holds the loop before letting ready I/O through (seconds of work)
SLICE_S: Final = 0.0002


class WorkSlice:
    """Slices of ``length_s`` of work measured on ``clock`` (a work clock such as ``time.perf_counter``)."""

    __slots__ = ("_clock", "_length_s", "_until")

    def __init__(self, clock: Callable[[], float], length_s: float = SLICE_S) -> None:
        self._clock = clock
        self._length_s = length_s
        self._until = clock() + length_s

    def spent(self) -> bool:
        """Whether this slice is used up (a new one starts now: the caller yields before going on)."""
        now = self._clock()
        if now < self._until:
            return False
        self._until = now + self._length_s
        return True
