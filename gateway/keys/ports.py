"""What key storage, client secrets and auth-failure counting need of the shared store, as ports.

``gateway.store`` implements them on Redis; every call may raise
:class:`gateway.core.errors.StoreError`. Values are opaque text (JSON the domain writes and reads).
"""

from __future__ import annotations

from typing import Protocol


class KeyRecordStore(Protocol):
    """Stored gateway keys: key id → record JSON, and the hash of each secret → key id."""

    async def add(self, key_id: str, secret_hash: str, record_json: str) -> bool:
        """Store a new key atomically; ``False`` (nothing stored) when the id or the hash exists."""
        ...

    async def get(self, key_id: str) -> str | None: ...

    async def put(self, key_id: str, record_json: str) -> None:
        """Replace an existing key's record (revocation)."""
        ...

    async def all(self) -> list[str]: ...

    async def key_id_for(self, secret_hash: str) -> str | None: ...


class SecretSlots(Protocol):
    """One-use client-secret slots, by the hash of the secret, expiring on their own."""

    async def put(self, secret_hash: str, value: str, ttl_s: int) -> None: ...

    async def take(self, secret_hash: str) -> str | None:
        """Read and delete atomically: exactly one caller gets the value."""
        ...


class FailureCounts(Protocol):
    """Failed authentications per address and time window."""

    async def count(self, address: str, window: int) -> int: ...

    async def add(self, address: str, window: int, ttl_s: int) -> None: ...
