"""One translation of redis-py's failures into the ports' :class:`StoreError`."""

from __future__ import annotations

from typing import Awaitable, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from gateway.core.errors import StoreError

T = TypeVar("T")
#: any redis-py asyncio client the store builds (single, sentinel master, cluster, embedded fakeredis)
RedisClient = Redis | RedisCluster


async def guarded(op: str, call: Awaitable[T]) -> T:
    """Await a redis-py call; a Redis or socket failure becomes ``StoreError`` (cause kept)."""
    try:
        return await call
    except (RedisError, OSError) as exc:
        raise StoreError(f"store operation {op} failed") from exc


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
