"""Failed authentications per client address, shared by every replica (a fixed window in Redis).

``<prefix>:authfail:<address>:<window index>``: INCR + EXPIRE; best effort, so a store error never
blocks anyone (it only lets guessing go on at the per-request cost of a failed lookup).
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from gateway.store.keyspace import KeySpace
from gateway.store.accounting_store import AccountingStore, RedisClient

log = logging.getLogger("voice_gateway.keys.auth_failures")


class RedisFailureLimiter:
    """``FailureLimiter`` over Redis: after ``max_failures`` in one window an address is blocked."""

    def __init__(self, client: RedisClient, keys: KeySpace, max_failures: int = 10, window_s: float = 60.0) -> None:
        self.client = client
        self.keys = keys
        self.max_failures = max_failures
        self.window_s = window_s

    @classmethod
    def for_store(cls, store: AccountingStore, max_failures: int = 10, window_s: float = 60.0) -> "RedisFailureLimiter":
        return cls(store.client, store.keys, max_failures, window_s)

    def _key(self, address: str, now: float) -> str:
        return f"{self.keys.prefix}:authfail:{address}:{int(now // self.window_s)}"

    async def blocked(self, address: str, now: float) -> bool:
        try:
            count = await self.client.get(self._key(address, now))
        except (RedisError, OSError) as exc:
            log.debug("auth-failure lookup failed: %s", type(exc).__name__)
            return False
        return int(count or 0) >= self.max_failures

    async def failed(self, address: str, now: float) -> None:
        key = self._key(address, now)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, int(self.window_s) + 1)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("auth-failure count failed: %s", type(exc).__name__)
