"""Gateway API keys in the shared store: only a SHA-256 of each secret is stored; revocation is seen within a second.

Storage goes through :class:`gateway.keys.ports.KeyRecordStore` (``gateway.store.keyring`` on Redis).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Mapping, TypeVar

from gateway.keys.client_secrets import ClientSecretStore, is_client_secret
from gateway.keys.ports import KeyRecordStore, SecretSlots
from gateway.core.errors import StoreError, StoreUnavailable
from gateway.core.api_keys import KeyRecord, KeyVerifier, hash_secret, key_record_from_dict, same_hash

#: how long a verified key is trusted without asking Redis again (bounds how late a revocation is seen)
CACHE_TTL_S = 1.0
CACHE_MAX_ENTRIES = 10_000
T = TypeVar("T")



@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as stored: its record, when it was created and revoked, and the hash of its secret."""

    record: KeyRecord
    secret_hash: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> str:
        r = self.record
        return json.dumps(
            {
                "key_id": r.key_id,
                "tenant": r.tenant,
                "labels": dict(r.labels),
                "allowed_routes": sorted(r.allowed_routes),
                "daily_budget_micros": r.daily_budget_micros,
                "monthly_budget_micros": r.monthly_budget_micros,
                "max_concurrent_sessions": r.max_concurrent_sessions,
                "sessions_per_minute": r.sessions_per_minute,
                "secret_hash": self.secret_hash,
                "created_at": self.created_at,
                "revoked_at": self.revoked_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "StoredKey":
        data = json.loads(text)
        record = key_record_from_dict(data)
        return cls(record, str(data["secret_hash"]), float(data["created_at"]), data.get("revoked_at"))


class TtlCache:
    """A small time-bounded cache; time is an argument, so it is tested without sleeping."""

    def __init__(self, ttl_s: float, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: dict[str, tuple[float, KeyRecord]] = {}

    def get(self, key: str, now: float) -> KeyRecord | None:
        item = self._items.get(key)
        if item is None:
            return None
        if now >= item[0]:
            del self._items[key]
            return None
        return item[1]

    def put(self, key: str, value: KeyRecord, now: float) -> None:
        if len(self._items) >= self.max_entries:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self.max_entries:
                self._items.pop(next(iter(self._items)))
        self._items[key] = (now + self.ttl_s, value)

    def clear(self) -> None:
        self._items.clear()


class Keyring:
    """Create, list, revoke and verify gateway API keys kept in a :class:`KeyRecordStore` (a ``KeyVerifier``)."""

    def __init__(
        self,
        records: KeyRecordStore,
        *,
        cache_ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.records = records
        self._cache = TtlCache(cache_ttl_s)
        self._clock = clock

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreError as exc:
            raise StoreUnavailable("The gateway cannot check keys right now; try again shortly.") from exc

    async def create(self, record: KeyRecord, secret: str, wall: float) -> StoredKey:
        """Store a new key under the hash of ``secret``; the secret itself is not kept."""
        stored = StoredKey(record, hash_secret(secret), wall)
        if not await self._call(self.records.add(record.key_id, stored.secret_hash, stored.to_json())):
            raise ValueError("a key with this id or secret already exists")
        return stored

    async def get(self, key_id: str) -> StoredKey | None:
        raw = await self._call(self.records.get(key_id))
        return StoredKey.from_json(raw) if raw else None

    async def list(self) -> list[StoredKey]:
        """Every key, oldest first (no secrets: there are none to show)."""
        found = [StoredKey.from_json(v) for v in await self._call(self.records.all())]
        return sorted(found, key=lambda k: (k.created_at, k.record.key_id))

    async def revoke(self, key_id: str, wall: float) -> StoredKey | None:
        """Mark a key revoked (kept for the audit trail); ``None`` when there is no such key."""
        stored = await self.get(key_id)
        if stored is None:
            return None
        if stored.revoked_at is None:
            stored = replace(stored, revoked_at=wall)
            await self._call(self.records.put(key_id, stored.to_json()))
        self._cache.clear()
        return stored

    async def is_active(self, key_id: str) -> bool:
        """Whether a key id is usable: revoked keyring keys are not; ids the keyring never saw are (static keys)."""
        stored = await self.get(key_id)
        return stored is None or stored.active

    async def verify(self, secret: str) -> KeyRecord | None:
        """The record of an active key with this secret, or ``None``."""
        presented = hash_secret(secret)
        now = self._clock()
        cached = self._cache.get(presented, now)
        if cached is not None:
            return cached
        key_id = await self._call(self.records.key_id_for(presented))
        if not key_id:
            return None
        stored = await self.get(key_id)
        if stored is None or not stored.active or not same_hash(presented, stored.secret_hash):
            return None
        self._cache.put(presented, stored.record, now)
        return stored.record


def limits_view(record: KeyRecord) -> Mapping[str, object]:
    """A key's limits for listings (micro-dollars and counts; ``None`` = unlimited)."""
    return {
        "daily_budget_micros": record.daily_budget_micros,
        "monthly_budget_micros": record.monthly_budget_micros,
        "max_concurrent_sessions": record.max_concurrent_sessions,
        "sessions_per_minute": record.sessions_per_minute,
        "allowed_routes": sorted(record.allowed_routes),
    }


class ApiKeys:
    """Long-lived gateway keys only: static keys first, then the keyring (never client secrets)."""

    def __init__(self, static: KeyVerifier, keyring: Keyring | None) -> None:
        self.static = static
        self.keyring = keyring

    async def verify(self, secret: str) -> KeyRecord | None:
        if is_client_secret(secret):
            return None
        found = await self.static.verify(secret)
        if found is None and self.keyring is not None:
            found = await self.keyring.verify(secret)
        return found


class GatewayVerifier:
    """What session handshakes use: ``ek_…`` secrets go to the secret store, everything else to the keys."""

    def __init__(self, api_keys: ApiKeys, client_secrets: ClientSecretStore | None) -> None:
        self.api_keys = api_keys
        self.client_secrets = client_secrets

    async def verify(self, secret: str) -> KeyRecord | None:
        if is_client_secret(secret):
            return await self.client_secrets.consume(secret) if self.client_secrets is not None else None
        return await self.api_keys.verify(secret)


def build_verifier(records: KeyRecordStore, slots: SecretSlots, static_keys: KeyVerifier) -> GatewayVerifier:
    """Static keys, then the keyring, then client secrets; all on the shared store.

    With the embedded (``memory``) store the keyring is per process: keys created by the CLI
    cannot reach it, but client secrets minted by this process work.
    """
    keyring = Keyring(records)
    secrets_store = ClientSecretStore(slots, key_active=keyring.is_active)
    return GatewayVerifier(ApiKeys(static_keys, keyring), secrets_store)
