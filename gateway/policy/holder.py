"""Holds the compiled policy in force; reloads swap it atomically and a bad file never replaces a good policy."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from gateway.core.catalog import Catalog
from gateway.policy.loader import PolicyError, compile_sources, policy_version, read_sources
from routers.compiled import CompiledPolicy

log = logging.getLogger("voice_gateway.policy")

#: (mtime_ns, size) per file; ``None`` for a file that cannot be stat'ed
Signature = tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    """What operators (``/readyz``, the admin API) see about the policy in force."""

    version: str
    loaded_at: float
    files: tuple[str, ...]
    last_error: str | None
    last_error_at: float | None
    reloads: int
    failures: int


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    """Reported to listeners after every reload attempt."""

    ok: bool
    at: float
    version: str
    #: the version that was in force before (equal to ``version`` after a failure)
    previous_version: str
    error: str | None = None


ReloadListener = Callable[[ReloadEvent], None]


def _signature(paths: Sequence[Path]) -> Signature:
    found: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
            found.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.append(None)
    return tuple(found)


class PolicyHolder:
    """The policy in force (``current``), its reload history, and listeners told about each reload."""

    def __init__(self, paths: Sequence[Path | str], catalog: Catalog, *, now: float | None = None) -> None:
        """Load now; a bad policy at start-up raises ``PolicyError`` (there is no good one to keep)."""
        self.paths = tuple(Path(p) for p in paths)
        self.catalog = catalog
        self._listeners: list[ReloadListener] = []
        self._seen = _signature(self.paths)
        #: a changed signature seen by the last poll, read only once the next poll sees it unchanged
        self._settling: Signature | None = None
        self.current: CompiledPolicy = compile_sources(read_sources(self.paths), catalog)
        self._loaded_at = time.time() if now is None else now
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._reloads = 0
        self._failures = 0

    def add_listener(self, listener: ReloadListener) -> None:
        """Call ``listener`` after every reload attempt (a failing listener is logged, never raised)."""
        self._listeners.append(listener)

    def reload(self, now: float) -> bool:
        """Re-read, validate and compile; swap in the new policy only if it is good. True when swapped."""
        previous = self.current.version
        self._seen = _signature(self.paths)
        try:
            compiled = compile_sources(read_sources(self.paths), self.catalog)
        except PolicyError as exc:
            self._failures += 1
            self._last_error, self._last_error_at = str(exc), now
            log.warning("policy reload failed; keeping version %s", previous, extra={"problems": exc.problems})
            self._notify(ReloadEvent(False, now, previous, previous, str(exc)))
            return False
        self.current = compiled  # one attribute assignment: readers see the old or the new policy, whole
        self._loaded_at = now
        self._reloads += 1
        self._last_error = None
        log.info("policy reloaded", extra={"version": compiled.version, "previous_version": previous})
        self._notify(ReloadEvent(True, now, compiled.version, previous))
        return True

    def changed_on_disk(self) -> bool:
        """Whether a file's mtime or size moved since the last look (content is checked in ``poll``)."""
        return _signature(self.paths) != self._seen

    def poll(self, now: float) -> bool | None:
        """One watch step: reload once a change has settled. ``None`` = nothing to do, else ``reload``'s answer.

        A change is read only when two polls in a row see the same mtimes and sizes, so a file caught half
        written (truncated, then filled) is never compiled: neither reported as broken nor swapped in partial.
        """
        signature = _signature(self.paths)
        if signature == self._seen:
            self._settling = None
            return None
        if signature != self._settling:
            self._settling = signature  # still moving, or just moved: look again next poll
            return None
        self._settling = None
        try:
            version = policy_version(read_sources(self.paths))
        except PolicyError:
            return self.reload(now)  # a vanished file: report it (and keep the old policy)
        if version == self.current.version:
            self._seen = signature  # touched but identical: no reload
            return None
        return self.reload(now)

    async def watch(self, interval_s: float) -> None:
        """Poll the files every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.poll(time.time())
            except Exception:  # noqa: BLE001 - the watcher must outlive any surprise
                log.exception("policy watch step failed")

    def status(self) -> PolicyStatus:
        """A snapshot; ``last_error`` clears on a good reload, ``last_error_at`` keeps the latest failure's time."""
        return PolicyStatus(
            version=self.current.version,
            loaded_at=self._loaded_at,
            files=tuple(str(p) for p in self.paths),
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            reloads=self._reloads,
            failures=self._failures,
        )

    def _notify(self, event: ReloadEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - telemetry must never break a reload
                log.exception("policy reload listener failed")
