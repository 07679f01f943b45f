"""What the session directory needs of the shared store, as a port (``gateway.store.directory`` on Redis).

Every call may raise :class:`gateway.core.errors.StoreError`. Entries and messages are opaque text
(JSON the directory writes and reads).
"""

from __future__ import annotations

from typing import AsyncIterator, Collection, Mapping, Protocol


class DirectoryBoard(Protocol):
    """Each replica's published sessions, the live replicas, and a broadcast channel for end requests."""

    async def publish(self, replica_id: str, entries: Mapping[str, str], ttl_ms: int, expires_at_ms: int) -> None:
        """Replace this replica's entries (they expire after ``ttl_ms``) and mark it live until ``expires_at_ms``."""
        ...

    async def update(self, replica_id: str, entries: Mapping[str, str], removed: Collection[str], ttl_ms: int) -> None:
        """Add or replace some of this replica's entries and remove others, leaving the rest as published."""
        ...

    async def withdraw(self, replica_id: str) -> None: ...

    async def live_replicas(self, now_ms: int) -> list[str]:
        """Replicas whose liveness has not expired at ``now_ms`` (expired ones are pruned)."""
        ...

    async def entries(self, replica_id: str) -> dict[str, str]: ...

    async def send_end(self, message: str) -> int:
        """Broadcast an end request; returns how many replicas listened."""
        ...

    def end_requests(self) -> AsyncIterator[str]:
        """End requests as they arrive (subscribes first); raises ``StoreError`` when the store is lost."""
        ...
