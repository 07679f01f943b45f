"""Gateway keys in Redis (implements :class:`gateway.keys.ports.KeyRecordStore`).

Keys (one ``{gwkeys}`` hash tag, so the create transaction also runs on Redis Cluster):

* ``<prefix>:{gwkeys}:byid``   hash  key_id → JSON of the key (tenant, labels, limits, created, revoked, hash)
* ``<prefix>:{gwkeys}:byhash`` hash  sha256(secret) → key_id
"""

from __future__ import annotations

from gateway.store.calls import RedisClient, guarded, store_failures_as, text
from gateway.store.keyspace import KeySpace


def byid_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:{{gwkeys}}:byid"


def byhash_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:{{gwkeys}}:byhash"


class RedisKeyRecords:
    """Stored key records in two hashes of one slot."""

    def __init__(self, client: RedisClient, keys: KeySpace | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()

    async def add(self, key_id: str, secret_hash: str, record_json: str) -> bool:
        with store_failures_as("keys.add"):  # entering, queueing and executing may all fail on a cluster
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(byid_key(self.keys), key_id, record_json)
                pipe.hsetnx(byhash_key(self.keys), secret_hash, key_id)
                added_id, added_hash = await pipe.execute()
        return bool(added_id and added_hash)

    async def get(self, key_id: str) -> str | None:
        raw = await guarded("keys.get", self.client.hget(byid_key(self.keys), key_id))
        return text(raw) if raw else None

    async def put(self, key_id: str, record_json: str) -> None:
        await guarded("keys.put", self.client.hset(byid_key(self.keys), key_id, record_json))

    async def all(self) -> list[str]:
        raw = await guarded("keys.all", self.client.hgetall(byid_key(self.keys)))
        return [text(v) for v in raw.values()]

    async def key_id_for(self, secret_hash: str) -> str | None:
        raw = await guarded("keys.by_hash", self.client.hget(byhash_key(self.keys), secret_hash))
        return text(raw) if raw else None
