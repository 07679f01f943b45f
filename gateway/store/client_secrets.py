"""Client-secret slots in Redis (implements :class:`gateway.keys.ports.SecretSlots`).

``<prefix>:ek:<sha256(secret)>`` holds the JSON of the bound key record and session with a Redis TTL
(the expiry); a handshake takes it with GETDEL, so exactly one session can ever use a secret.
"""

from __future__ import annotations

from gateway.store.calls import RedisClient, guarded, text
from gateway.store.keyspace import KeySpace


class RedisSecretSlots:
    def __init__(self, client: RedisClient, keys: KeySpace | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()

    def _key(self, secret_hash: str) -> str:
        return f"{self.keys.prefix}:ek:{secret_hash}"

    async def put(self, secret_hash: str, value: str, ttl_s: int) -> None:
        await guarded("secrets.put", self.client.set(self._key(secret_hash), value, ex=ttl_s, nx=True))

    async def take(self, secret_hash: str) -> str | None:
        raw = await guarded("secrets.take", self.client.getdel(self._key(secret_hash)))
        return text(raw) if raw else None
