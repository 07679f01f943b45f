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

    async def tick(self, now: float) -> None:
        self.log.append(f"tick {self.session_id}")
        if self.session_id == "a" and not self.on_tick:
            self.on_tick.append(asyncio.get_running_loop().call_soon(self.log.append, "frame"))


def test_a_frame_arriving_during_the_tick_waits_for_one_session_not_all() -> None:
    """Ready I/O runs between two sessions' ticks, so the ticker never holds the loop for every session at once."""
    log: list[str] = []

    async def run() -> None:
        live = LiveSessions(tick_interval_s=0.001)
        for session_id in ("a", "b", "c"):
            live.add(cast(RelaySession, _TickingSession(session_id, log)))
        live.start()
        while log.count("tick c") < 1:
            await asyncio.sleep(0.001)
        await live.stop()

    asyncio.run(run())
    assert log[:4] == ["tick a", "frame", "tick b", "tick c"]
