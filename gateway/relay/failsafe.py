"""Observers run behind a wrapper that logs their failures and can never break a session."""

from __future__ import annotations

import logging
from typing import cast

from gateway.core.observers import (
    BoundedObserver,
    DirectObserver,
    SessionEnded,
    SessionEvent,
    SessionObserver,
    SessionStats,
    Verdict,
)

log = logging.getLogger("voice_gateway.relay.observers")


class FailsafeObserver:
    """Delegates to an observer; an exception is logged once per hook kind and treated as ``None``.

    An observer offering the plain hooks (:class:`~gateway.core.observers.DirectObserver`) is also reachable as
    ``direct``: the relay then calls it without a coroutine per call, catching what it raises itself and handing it
    to :meth:`report` (the same log line, the same ``None``)."""

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
