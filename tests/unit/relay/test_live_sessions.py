"""LiveSessions: the shared ticker of a process's sessions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

from gateway.relay.live_sessions import LiveSessions
from gateway.relay.session import RelaySession


@dataclass
class _Info:
    session_id: str


@dataclass
class _TickingSession:
    """Stands in for a RelaySession: records its ticks in a shared log, and may schedule I/O meanwhile."""

    session_id: str
    log: list[str]
    on_tick: list[object] = field(default_factory=list)

    @property
    def info(self) -> _Info:
        return _Info(self.session_id)

    def quiet(self, now: float) -> bool:
        return False  # published no bound: ticked on every pass

    def tick_now(self, now: float) -> bool:
        return False  # as a session with an observer whose hooks wait: the ticker awaits tick

    async def tick(self, now: float) -> None:
        self.log.append(f"tick {self.session_id}")
        if self.session_id == "a" and not self.on_tick:
            self.on_tick.append(asyncio.get_running_loop().call_soon(self.log.append, "frame"))


def test_a_frame_arriving_during_the_tick_waits_for_one_session_not_all() -> None:
    """With no slice, ready I/O runs between two sessions' ticks, so the ticker never holds the loop for every
    session at once."""
    log: list[str] = []

    async def run() -> None:
        live = LiveSessions(tick_interval_s=0.001, tick_slice_s=0.0)
        for session_id in ("a", "b", "c"):
            live.add(cast(RelaySession, _TickingSession(session_id, log)))
        live.start()
        while log.count("tick c") < 1:
            await asyncio.sleep(0.001)
        await live.stop()

    asyncio.run(run())
    assert log[:4] == ["tick a", "frame", "tick b", "tick c"]


class _WorkClock:
    """The ticker's work clock, moved by the sessions' ticks (each takes ``step`` seconds of work)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now


@dataclass
class _SlowSession(_TickingSession):
    clock: _WorkClock | None = None

    async def tick(self, now: float) -> None:
        await super().tick(now)
        assert self.clock is not None
        self.clock.now += self.clock.step


def test_the_ticker_lets_ready_io_through_once_a_slice_of_work_is_used() -> None:
    """Sessions tick back to back until a slice of work is used, then a frame that arrived meanwhile goes through."""
    log: list[str] = []
    clock = _WorkClock(step=0.6)

    async def run() -> None:
        live = LiveSessions(tick_slice_s=1.0, work_clock=clock)
        for session_id in ("a", "b", "c", "d"):
            live.add(cast(RelaySession, _SlowSession(session_id, log, clock=clock)))
        await live.tick_all(0.0)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert log == ["tick a", "tick b", "frame", "tick c", "tick d"]


def test_a_failing_session_tick_does_not_stop_the_others() -> None:
    """One session's tick raising is logged; the sessions after it still tick in the same pass."""
    log: list[str] = []

    class _Failing(_TickingSession):
        async def tick(self, now: float) -> None:
            raise RuntimeError("boom")

    async def run() -> None:
        live = LiveSessions()
        live.add(cast(RelaySession, _Failing("x", log)))
        live.add(cast(RelaySession, _TickingSession("b", log)))
        await live.tick_all(0.0)

    asyncio.run(run())
    assert log == ["tick b"]


def test_a_session_whose_bound_holds_is_skipped_and_one_whose_bound_passed_is_ticked() -> None:
    """The ticker asks each session whether it is quiet at the pass's time: a quiet one is not ticked, one whose
    published bound has passed is."""
    log: list[str] = []

    @dataclass
    class _Bounded(_TickingSession):
        until: float = 0.0

        def quiet(self, now: float) -> bool:
            return now < self.until

    async def run() -> None:
        live = LiveSessions()
        live.add(cast(RelaySession, _Bounded("future", log, until=5.0)))
        live.add(cast(RelaySession, _Bounded("passed", log, until=1.0)))
        await live.tick_all(1.0)
        await live.tick_all(5.0)

    asyncio.run(run())
    assert log == ["tick passed", "tick future", "tick passed"]
