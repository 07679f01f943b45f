"""Failed-authentication counters in Redis (implements :class:`gateway.keys.ports.FailureCounts`).

``<prefix>:authfail:<address>:<window>``: a counter that expires just after its window.
"""

from __future__ import annotations

from gateway.store.calls import RedisClient, guarded, store_failures_as
from gateway.store.keyspace import KeySpace


class RedisFailureCounts:
    def __init__(self, client: RedisClient, keys: KeySpace | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()

    def _key(self, address: str, window: int) -> str:
        return f"{self.keys.prefix}:authfail:{address}:{window}"

    async def count(self, address: str, window: int) -> int:
        raw = await guarded("authfail.count", self.client.get(self._key(address, window)))
        return int(raw or 0)

    async def add(self, address: str, window: int, ttl_s: int) -> None:
        key = self._key(address, window)
        with store_failures_as("authfail.add"):  # entering, queueing and executing may all fail on a cluster
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, ttl_s)
                await pipe.execute()
