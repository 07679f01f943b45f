"""Failed-authentication counters in Redis (implements :class:`gateway.keys.ports.FailureCounts`).

``<prefix>:authfail:<address>:<window>``: a counter that expires just after its window.
"""

from __future__ import annotations

from gateway.store.batch import PassBatch
from gateway.store.calls import RedisClient, guarded, integer, store_failures_as
from gateway.store.keyspace import KeySpace


class RedisFailureCounts:
    def __init__(self, client: RedisClient, keys: KeySpace | None = None, batch: PassBatch | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()
        #: every handshake asks: the reads of one event-loop pass go in one round trip (with its admissions)
        self.batch = batch or PassBatch(client)

    def _key(self, address: str, window: int) -> str:
        return f"{self.keys.prefix}:authfail:{address}:{window}"

    async def count(self, address: str, window: int) -> int:
        raw = await guarded("authfail.count", self.batch.call("GET", self._key(address, window)))
        return integer(raw)

    async def add(self, address: str, window: int, ttl_s: int) -> None:
        key = self._key(address, window)
        with store_failures_as("authfail.add"):  # entering, queueing and executing may all fail on a cluster
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, ttl_s)
                await pipe.execute()
