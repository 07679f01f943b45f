"""Single commands issued in one event-loop pass, sent to Redis together: one round trip for all of them.

Under load several handshakes reach the store in the same pass of the event loop (one asks whether its address
is blocked, another takes its admission slot). redis-py spends most of a command's client CPU on the round trip
itself: a connection checked out of the pool and back, a write, a read under a timeout. Sent as one pipeline,
those are paid once per pass instead of once per command.

Each command keeps its own answer: a command Redis refused (``NOSCRIPT``, a wrong type) fails its caller alone; a
failure of the whole round trip (connection, timeout) fails every caller in it, as it would have failed each.
Not a transaction: on a cluster each command goes to its own key's node. A command whose caller has gone
(cancelled) before the pass ends is not sent.

On one server (a plain URL, or Sentinel's master) a pass is one packed write and its replies read back on one pooled
connection, under the client's own retry policy, as redis-py's pipeline does it but without the pipeline's
per-command machinery: the commands are packed by hiredis in one call each (redis-py's serializer runs a Python
encoder per argument), and the replies come back raw (the commands sent here, ``GET``, ``MGET`` and ``EVALSHA``, have
no redis-py reply callback). On a cluster a pass goes through the cluster client's pipeline (one command alone as a
plain command), which routes each command to its slot's node.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ResponseError

from gateway.core.errors import StoreError
from gateway.store.calls import RedisClient

#: commands sent in one round trip at most (a bigger pass goes as several)
MAX_BATCH = 200

#: a command's name and arguments: text, bytes or integers (what hiredis packs as redis-py's encoder would; no floats,
#: whose text the two could write differently, and no bools, which redis-py refuses)
Command = tuple[str | bytes | int, ...]
_Queued = tuple[Command, "asyncio.Future[object]"]
#: hiredis' packer (its stub types the argument as a tuple of one)
_pack = cast(Callable[[Command], bytes], hiredis.pack_command)


class PassBatch:
    """Queues commands during one event-loop pass and sends them as one pipeline when the pass ends."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._queued: list[_Queued] = []
        self._sending: set[asyncio.Task[None]] = set()
        #: the loop whose pass the queued commands wait for
        self._loop: asyncio.AbstractEventLoop | None = None
        #: one server (or Sentinel's master): every pass is one exchange on a pooled connection; not on a cluster
        self._one_server = isinstance(client, Redis)

    async def call(self, *command: str | bytes | int) -> object:
        """Run one command with the others of this pass; its reply, or raise its own error."""
        loop = asyncio.get_running_loop()
        if not self._queued or loop is not self._loop:
            self._queued = []  # what another loop left queued (it stopped before its pass ended) is never sent
            self._loop = loop
            loop.call_soon(self._send_queued)
        future: asyncio.Future[object] = loop.create_future()
        self._queued.append((command, future))
        return await future

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        live = [item for item in queued if not item[1].done()]
        for start in range(0, len(live), MAX_BATCH):
            task = asyncio.ensure_future(self._send(live[start : start + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            replies = await self._replies(batch)
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the round trip
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop is closing): so are its callers
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _replies(self, batch: list[_Queued]) -> list[object]:
        if not self._one_server and len(batch) == 1:  # a cluster: one command alone goes as itself
            ((command, _),) = batch
            try:
                return [await self.client.execute_command(*command)]
            except Exception as exc:  # noqa: BLE001 - the caller's own error
                return [exc]
        return await exchange(self.client, [command for command, _ in batch])


async def exchange(client: RedisClient, commands: Sequence[Command]) -> list[object]:
    """The commands' replies in one round trip, in order, a command Redis refused with its error in its place (not a
    transaction): on one server one exchange on a pooled connection, on a cluster the cluster client's pipeline (each
    command to its slot's node). Raises what failed the round trip itself."""
    if isinstance(client, Redis):
        return await _exchange_on(client.connection_pool, commands)
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)  # queued: the pipeline's methods do not suspend
        replies = await pipe.execute(raise_on_error=False)
    if not isinstance(replies, list) or len(replies) != len(commands):
        raise StoreError(f"the store answered {len(commands)} commands with {replies!r}")
    return replies


async def _exchange_on(pool: ConnectionPool, commands: Sequence[Command]) -> list[object]:
    """The commands' replies, in order (a command Redis refused has its error in its place), from one write and one
    read on a connection of ``pool``. A connection or timeout failure disconnects the connection and is retried as the
    client's retry policy says (as redis-py's own pipeline is: the whole exchange again), then raised."""
    packed = b"".join([_pack(command) for command in commands])
    connection = await pool.get_connection()
    try:
        replies: list[object] = await connection.retry.call_with_retry(
            lambda: _exchange(connection, packed, len(commands)), lambda _error: connection.disconnect()
        )
        return replies
    finally:
        await pool.release(connection)


async def _exchange(connection: AbstractConnection, packed: bytes, count: int) -> list[object]:
    await connection.send_packed_command(packed)
    replies: list[object] = []
    try:
        for _ in range(count):
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # this command's own error; the rest of the replies follow it
                replies.append(exc)
    except BaseException:
        # cancelled, or the connection failed between replies: the rest of the replies may still be on the socket,
        # so the connection is dropped rather than handed to the next borrower
        await connection.disconnect(nowait=True)
        raise
    return replies
