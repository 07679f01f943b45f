"""Live sessions of this process: one shared tick for all of them, lookup, and graceful drain."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Iterator

from gateway.core.errors import Draining, GatewayError
from gateway.core.work_slice import SLICE_S, WorkSlice
from gateway.relay.session import RelaySession
from gateway.waiting import cancel_pending, within

log = logging.getLogger("voice_gateway.relay.live_sessions")

#: the longest the ticker runs sessions' ticks before letting ready I/O through (gateway.core.work_slice)
TICK_SLICE_S = SLICE_S


class LiveSessions:
    """Holds running sessions; one ticker task drives every session's observers and timeouts."""

    def __init__(
        self,
        tick_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        *,
        tick_slice_s: float = TICK_SLICE_S,
        work_clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sessions: dict[str, RelaySession] = {}
        self.tick_interval_s = tick_interval_s
        self.clock = clock
        self.tick_slice_s = tick_slice_s
        #: measures how long the ticker has held the loop (not the sessions' clock)
        self._work_clock = work_clock
        self.draining = False
        self._ticker: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[RelaySession]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> RelaySession | None:
        return self._sessions.get(session_id)

    def add(self, session: RelaySession) -> None:
        self._sessions[session.info.session_id] = session

    def remove(self, session: RelaySession) -> None:
        self._sessions.pop(session.info.session_id, None)
        self._changed.set()

    def end(self, session_id: str, error: GatewayError) -> bool:
        """End one session held by this process; False when it is not here."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        session.terminate(error)
        return True

    def hand_off(self, session_id: str, to: str, reason: str) -> bool | str:
        """Move one session held by this process to route ``to``: ``False`` when it is not here,
        ``True`` when the switch started, else why not."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        refusal = session.request_handoff(to, reason)
        return True if refusal is None else refusal

    def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="relay-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None

    async def _tick_forever(self) -> None:
        while True:
            cancel_pending()
            await asyncio.sleep(self.tick_interval_s)
            await self.tick_all(self.clock())

    async def tick_all(self, now: float) -> None:
        """Tick every session once, letting ready I/O through every ``tick_slice_s`` of work: a frame that arrived
        meanwhile waits for one slice, not for all sessions (300 sessions in one go held it ~10 ms: every frame's
        p99)."""
        work = WorkSlice(self._work_clock, self.tick_slice_s)
        for session in list(self._sessions.values()):
            try:
                if session.quiet(now):  # nothing due: the last tick's bound holds (a compare, no tick)
                    continue
                if not session.tick_now(now):  # a plain call unless an observer's hook waits
                    await session.tick(now)
            except Exception:  # noqa: BLE001 - one session's tick must not stop the others
                log.exception("tick failed", extra={"session_id": session.info.session_id})
            if work.spent():
                await asyncio.sleep(0)

    async def drain(self, grace_s: float) -> None:
        """Stop admitting, let sessions finish for ``grace_s``, then end the rest with a warning."""
        self.draining = True
        deadline = self.clock() + grace_s
        while self._sessions and self.clock() < deadline:
            self._changed.clear()
            try:
                await within(self._changed.wait(), timeout=max(0.0, deadline - self.clock()))
            except asyncio.TimeoutError:
                break
        for session in list(self._sessions.values()):
            session.terminate(Draining())
        while self._sessions:
            self._changed.clear()
            try:
                await within(self._changed.wait(), timeout=5.0)
            except asyncio.TimeoutError:
                log.warning("sessions still closing after drain: %d", len(self._sessions))
                return
