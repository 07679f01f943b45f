"""One translation of redis-py's failures into the ports' :class:`StoreError`."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Awaitable, Iterator, Mapping, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.typing import EncodableT, FieldT

from gateway.core.errors import StoreError

T = TypeVar("T")
#: any redis-py asyncio client the store builds (single, sentinel master, cluster, embedded fakeredis)
RedisClient = Redis | RedisCluster
#: what redis-py raises when the store fails: its errors, a cluster it cannot reach (``RedisClusterException`` is no
#: ``RedisError``), and the socket's own
STORE_FAILURES: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)


@contextmanager
def store_failures_as(op: str) -> Iterator[None]:
    """A Redis or socket failure inside becomes ``StoreError`` (cause kept): around a pipeline, whose queueing may
    already route by slot on a cluster (and fail there), as well as its ``execute``."""
    try:
        yield
    except STORE_FAILURES as exc:
        raise StoreError(f"store operation {op} failed") from exc


async def guarded(op: str, call: Awaitable[T]) -> T:
    """Await a redis-py call; a Redis or socket failure becomes ``StoreError`` (cause kept)."""
    with store_failures_as(op):
        return await call


def text(value: object) -> str:
    """A text reply (bytes from a client without decoding); anything else is a bad answer."""
    if isinstance(value, (bytes, str)):
        return value.decode() if isinstance(value, bytes) else value
    raise StoreError(f"the store answered {type(value).__name__} where text was expected")


def integer(value: object) -> int:
    """An integer reply (Redis answers numbers as integers or as their text); ``None`` (no key) is 0."""
    if value is None:
        return 0
    if isinstance(value, (int, bytes, str)) and not isinstance(value, bool):
        try:
            return int(value)
        except ValueError:
            pass
    raise StoreError(f"the store answered {value!r} where an integer was expected")


def row(reply: object, width: int) -> list[object]:
    """An array reply of exactly ``width`` values (a script's result, a pipeline's, an MGET)."""
    if isinstance(reply, (list, tuple)) and len(reply) == width:
        return list(reply)
    raise StoreError(f"the store answered {reply!r} where {width} values were expected")


def fields(mapping: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """A text mapping as the field/value mapping redis-py's hash and stream commands take."""
    return {key: value for key, value in mapping.items()}
