"""Observers run behind a wrapper that logs their failures and can never break a session."""

from __future__ import annotations

import logging
import math
from typing import Final, cast

from gateway.core.observers import (
    BoundedObserver,
    DirectObserver,
    SessionEnded,
    SessionEvent,
    SessionObserver,
    SessionStats,
    TickBound,
    Verdict,
)

log = logging.getLogger("voice_gateway.relay.observers")

#: the bound of an observer that never ticks: it adds nothing to a session's earliest due time
NEVER: Final = TickBound(math.inf)


class FailsafeObserver:
    """Delegates to an observer; an exception is logged once per hook kind and treated as ``None``.

    An observer offering the plain hooks (:class:`~gateway.core.observers.DirectObserver`) is also reachable as
    ``direct``: the relay then calls its plain hooks through :meth:`event_now`, :meth:`tick_now` and
    :meth:`next_tick`, without a coroutine per call (the same log line, the same ``None``)."""

    __slots__ = ("_inner", "_name", "_failed", "direct", "bounded")

    def __init__(self, inner: SessionObserver, name: str) -> None:
        self._inner = inner
        self._name = name
        #: hooks that failed already (made at the first failure: most observers never fail)
        self._failed: set[str] | None = None
        #: the observer itself when its event and tick hooks never wait, else ``None``
        self.direct: DirectObserver | None = cast(DirectObserver, inner) if hasattr(inner, "tick_now") else None
        #: the observer itself when it is direct and says when its tick is next due, else ``None``
        self.bounded: BoundedObserver | None = (
            cast(BoundedObserver, inner) if self.direct is not None and hasattr(inner, "next_tick") else None
        )

    def report(self, hook: str, exc: BaseException) -> None:
        """``hook`` raised ``exc``: logged the first time for that hook (the caller goes on as with ``None``)."""
        if self._failed is None:
            self._failed = set()
        if hook not in self._failed:
            self._failed.add(hook)
            log.error("observer %s failed in %s", self._name, hook, exc_info=exc)

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        """The direct observer's ``event_now`` (only when ``direct`` is set)."""
        try:
            return cast(DirectObserver, self.direct).event_now(event, stats)
        except Exception as exc:  # noqa: BLE001 - an observer must never break the session
            self.report("on_event", exc)
            return None

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        """The direct observer's ``tick_now`` (only when ``direct`` is set)."""
        try:
            return cast(DirectObserver, self.direct).tick_now(now, stats)
        except Exception as exc:  # noqa: BLE001 - an observer must never break the session
            self.report("on_tick", exc)
            return None

    def next_tick(self, now: float, stats: SessionStats) -> TickBound | None:
        """When the observer's tick next has anything to do: :data:`NEVER` for one that does not tick; ``None`` (the
        next pass) for one that waits, publishes no bound, has nothing to say, or raised (reported)."""
        direct = self.direct
        if direct is None:
            return None
        if not direct.ticks:
            return NEVER
        bounded = self.bounded
        if bounded is None:
            return None
        try:
            return bounded.next_tick(now, stats)
        except Exception as exc:  # noqa: BLE001 - an observer must never break the session: tick it every pass
            self.report("next_tick", exc)
            return None

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        try:
            return await self._inner.on_event(event, stats)
        except Exception as exc:  # noqa: BLE001 - an observer must never break the session
            self.report("on_event", exc)
            return None

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        try:
            return await self._inner.on_tick(now, stats)
        except Exception as exc:  # noqa: BLE001
            self.report("on_tick", exc)
            return None

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        try:
            await self._inner.on_end(ended, stats)
        except Exception as exc:  # noqa: BLE001
            self.report("on_end", exc)
