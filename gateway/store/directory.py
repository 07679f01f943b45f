"""The session directory's board in Redis (implements :class:`gateway.directory.ports.DirectoryBoard`).

* ``<prefix>:dir:replicas``       zset  replica id → expiry (ms); dead replicas drop out on their own
* ``<prefix>:dir:r:<replica id>`` hash  session id → JSON entry (tenant, route, model, spend, caps, …)
* ``<prefix>:dir:end``            pub/sub channel: ``{"session_id": …}`` or ``{"key_id": …}``; every
  replica listens and ends the matching sessions it holds.
"""

from __future__ import annotations

from typing import AsyncIterator, Collection, Mapping

from gateway.core.errors import StoreError
from gateway.store.calls import STORE_FAILURES, RedisClient, fields, guarded, store_failures_as, text
from gateway.store.keyspace import KeySpace
from gateway.waiting import cancel_pending

#: a pub/sub read waits at most this long, so the shared client's socket timeout never fires
_POLL_S = 0.5


def end_channel(keys: KeySpace) -> str:
    return f"{keys.prefix}:dir:end"


def replicas_key(keys: KeySpace) -> str:
    return f"{keys.prefix}:dir:replicas"


def replica_key(keys: KeySpace, replica_id: str) -> str:
    return f"{keys.prefix}:dir:r:{replica_id}"


class RedisDirectoryBoard:
    def __init__(self, client: RedisClient, keys: KeySpace | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()

    async def publish(self, replica_id: str, entries: Mapping[str, str], ttl_ms: int, expires_at_ms: int) -> None:
        """One transaction on the replica's hash, then its liveness."""
        key = replica_key(self.keys, replica_id)
        with store_failures_as("directory.publish"):  # the queueing too: a cluster pipeline routes as it queues
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if entries:
                    pipe.hset(key, mapping=fields(entries))
                    pipe.pexpire(key, ttl_ms)
                await pipe.execute()
        await guarded("directory.live", self.client.zadd(replicas_key(self.keys), {replica_id: expires_at_ms}))

    async def update(self, replica_id: str, entries: Mapping[str, str], removed: Collection[str], ttl_ms: int) -> None:
        """The sessions started and ended since the last pass, in one transaction on the replica's hash."""
        key = replica_key(self.keys, replica_id)
        with store_failures_as("directory.update"):  # entering, queueing and executing may all fail on a cluster
            async with self.client.pipeline(transaction=True) as pipe:
                if entries:
                    pipe.hset(key, mapping=fields(entries))
                if removed:
                    pipe.hdel(key, *removed)
                pipe.pexpire(key, ttl_ms)
                await pipe.execute()

    async def withdraw(self, replica_id: str) -> None:
        await guarded("directory.withdraw", self.client.delete(replica_key(self.keys, replica_id)))
        await guarded("directory.withdraw", self.client.zrem(replicas_key(self.keys), replica_id))

    async def live_replicas(self, now_ms: int) -> list[str]:
        await guarded("directory.prune", self.client.zremrangebyscore(replicas_key(self.keys), "-inf", now_ms))
        raw = await guarded("directory.replicas", self.client.zrangebyscore(replicas_key(self.keys), now_ms, "+inf"))
        return [text(r) for r in raw if isinstance(r, (bytes, str))]

    async def entries(self, replica_id: str) -> dict[str, str]:
        raw = await guarded("directory.entries", self.client.hgetall(replica_key(self.keys, replica_id)))
        return {text(k): text(v) for k, v in raw.items()}

    async def send_end(self, message: str) -> int:
        return int(await guarded("directory.end", self.client.publish(end_channel(self.keys), message)))

    async def end_requests(self) -> AsyncIterator[str]:
        try:
            async with self.client.pubsub() as pubsub:
                await pubsub.subscribe(end_channel(self.keys))
                while True:
                    cancel_pending()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
                    if message is not None and message.get("type") == "message":
                        yield text(message["data"])
        except STORE_FAILURES as exc:
            raise StoreError("directory end-request listener lost the store") from exc
