"""One event-loop pass's commands in one round trip: each keeps its own answer, a cancelled caller's is not sent."""

from __future__ import annotations

import asyncio
import uuid

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from gateway.accounting.limits import TenantLimits
from gateway.core.errors import StoreError
from gateway.store import batch as batch_module
from gateway.store.accounting_store import AccountingStore
from gateway.store.auth_failures import RedisFailureCounts
from gateway.store.batch import PassBatch
from gateway.store.keyspace import KeySpace

WALL = 1_750_000_000.0


def _client() -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


class _CountingClient:
    """A real (embedded) client that counts the round trips made through it."""

    def __init__(self) -> None:
        self.client = _client()
        self.pipelines = 0
        self.commands = 0

    def pipeline(self, transaction: bool = True) -> object:
        self.pipelines += 1
        return self.client.pipeline(transaction=transaction)

    async def execute_command(self, *args: object) -> object:
        self.commands += 1
        return await self.client.execute_command(*args)

    def register_script(self, script: str) -> object:
        return self.client.register_script(script)


async def test_commands_of_one_pass_go_in_one_round_trip_with_their_own_replies() -> None:
    """Three commands issued in the same pass are one pipeline; each caller gets its own command's reply."""
    counting = _CountingClient()
    await counting.client.set("a", "1")
    batch = PassBatch(counting)  # type: ignore[arg-type]
    replies = await asyncio.gather(batch.call("GET", "a"), batch.call("INCR", "b"), batch.call("GET", "missing"))
    assert replies == [b"1", 1, None]
    assert (counting.pipelines, counting.commands) == (1, 0)


async def test_a_command_alone_in_its_pass_goes_as_a_plain_command() -> None:
    """One command in a pass is sent as itself, not as a pipeline of one; the next pass is a new round trip."""
    counting = _CountingClient()
    batch = PassBatch(counting)  # type: ignore[arg-type]
    assert await batch.call("INCR", "n") == 1
    assert await batch.call("INCR", "n") == 2
    assert (counting.pipelines, counting.commands) == (0, 2)


async def test_a_refused_command_fails_its_caller_alone() -> None:
    """A command Redis refuses (wrong type) raises for its caller only; the others of the pass get their replies."""
    client = _client()
    await client.hset("h", "f", "v")
    batch = PassBatch(client)
    replies = await asyncio.gather(batch.call("INCR", "n"), batch.call("GET", "h"), batch.call("INCR", "n"), return_exceptions=True)
    assert replies[0] == 1 and replies[2] == 2
    assert isinstance(replies[1], ResponseError)


async def test_a_cancelled_callers_command_is_not_sent() -> None:
    """A caller cancelled before its pass ends sends nothing (no INCR lands); the others of the pass run."""
    client = _client()
    batch = PassBatch(client)
    gone = asyncio.ensure_future(batch.call("INCR", "gone"))
    kept = asyncio.ensure_future(batch.call("INCR", "kept"))
    await asyncio.sleep(0)  # both queued
    gone.cancel()
    assert await kept == 1
    assert await client.get("gone") is None


async def test_a_failed_round_trip_fails_every_caller_of_the_pass() -> None:
    """No store: every caller of the pass gets the connection failure, as each alone would have."""
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    batch = PassBatch(client)
    replies = await asyncio.gather(batch.call("GET", "a"), batch.call("GET", "b"), return_exceptions=True)
    assert all(isinstance(r, (RedisConnectionError, OSError)) for r in replies)
    await client.aclose()


async def test_a_pass_bigger_than_one_round_trip_goes_as_several(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_BATCH commands the pass is split; every reply still reaches its caller."""
    monkeypatch.setattr(batch_module, "MAX_BATCH", 2)
    counting = _CountingClient()
    batch = PassBatch(counting)  # type: ignore[arg-type]
    replies = await asyncio.gather(*(batch.call("INCR", f"k{i % 2}") for i in range(5)))
    assert sorted(replies) == [1, 1, 2, 2, 3]
    assert (counting.pipelines, counting.commands) == (2, 1)


async def test_admissions_and_auth_failure_reads_of_one_pass_share_a_round_trip() -> None:
    """Two admissions and an auth-failure read issued together take their slots and read the count in one pipeline."""
    counting = _CountingClient()
    keys = KeySpace(f"t{uuid.uuid4().hex[:8]}")
    store = AccountingStore(counting, keys)  # type: ignore[arg-type]
    failures = RedisFailureCounts(counting, keys, store.batch)  # type: ignore[arg-type]
    await counting.client.script_load(store._admit.script)
    await failures.add("10.0.0.1", 7, 60)
    limits = TenantLimits(max_concurrent_sessions=1)
    first, second, count = await asyncio.gather(
        store.admit("s1", "acme", limits, WALL, 60.0),
        store.admit("s2", "acme", limits, WALL, 60.0),
        failures.count("10.0.0.1", 7),
    )
    assert (first.status, second.status, count) == ("ok", "concurrency", 1)
    assert counting.pipelines == 2  # the failure's INCR/EXPIRE transaction, then the pass


async def test_an_admission_on_a_server_without_the_script_loads_it_and_runs_once() -> None:
    """After SCRIPT FLUSH (a restart or failover) an admission loads the script and takes exactly one slot."""
    store = AccountingStore(_client(), KeySpace(f"t{uuid.uuid4().hex[:8]}"))
    assert (await store.admit("s0", "acme", TenantLimits(), WALL, 60.0)).status == "ok"
    await store.client.script_flush()
    result = await store.admit("s1", "acme", TenantLimits(), WALL, 60.0)
    assert (result.status, result.detail) == ("ok", 2)
    assert await store.active_leases("acme", WALL) == 2


async def test_an_admission_without_a_store_raises_store_error() -> None:
    """An unreachable store fails the admission with StoreError (the service applies its failure mode)."""
    store = AccountingStore(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), KeySpace("t"))
    with pytest.raises(StoreError):
        await store.admit("s1", "acme", TenantLimits(), WALL, 60.0)
    await store.close()


def test_commands_left_queued_by_a_stopped_loop_neither_run_nor_hold_up_the_next_loop() -> None:
    """A loop stopped before its pass ended leaves its command unsent; a command on the next loop runs at once."""
    server = fakeredis.FakeServer()
    batch = PassBatch(fakeredis.FakeAsyncRedis(server=server))
    first = asyncio.new_event_loop()

    async def queue_then_stop() -> None:
        asyncio.ensure_future(batch.call("INCR", "left"))
        first.call_soon(first.stop)  # runs right after the call has queued its command, before the pass's send
        await asyncio.Event().wait()

    first.create_task(queue_then_stop())
    first.run_forever()
    first.close()

    async def later() -> tuple[object, object]:
        return await asyncio.wait_for(batch.call("INCR", "next"), 5), await batch.call("GET", "left")

    assert asyncio.run(later()) == (1, None)


class _TakenConnections:
    """Counts the connections a client's pool hands out (one per round trip on a single server)."""

    def __init__(self, client: Redis) -> None:
        self.taken = 0
        pool = client.connection_pool
        take = pool.get_connection

        async def counted() -> object:
            self.taken += 1
            return await take()

        pool.get_connection = counted  # type: ignore[method-assign,assignment]


async def test_a_pass_on_one_server_is_one_exchange_on_one_connection() -> None:
    """On a single-server client a pass's commands take one pooled connection, whatever their number."""
    client = _client()
    await client.set("a", "1")
    taken = _TakenConnections(client)
    batch = PassBatch(client)
    replies = await asyncio.gather(batch.call("GET", "a"), batch.call("INCR", "b"), batch.call("MGET", "a", "b"))
    assert replies == [b"1", 1, [b"1", b"1"]]
    assert taken.taken == 1


async def test_arguments_reach_the_server_as_redis_py_would_write_them() -> None:
    """Text (non-ASCII too), bytes and integers, negative ones included, are stored as redis-py's own encoder writes
    them."""
    client = _client()
    batch = PassBatch(client)
    await asyncio.gather(batch.call("SET", "t", "é"), batch.call("SET", b"b", b"\x00\xff"), batch.call("SET", "i", -17))
    assert await client.mget("t", "b", "i") == ["é".encode(), b"\x00\xff", b"-17"]


async def test_a_script_error_fails_its_caller_alone_on_one_server() -> None:
    """An EVALSHA of an unknown script answers NOSCRIPT to its caller only; the pass's other command is answered."""
    client = _client()
    batch = PassBatch(client)
    missing, count = await asyncio.gather(
        batch.call("EVALSHA", "0" * 40, 0), batch.call("INCR", "n"), return_exceptions=True
    )
    assert isinstance(missing, NoScriptError)
    assert count == 1


async def test_a_connection_the_server_closed_is_reconnected_and_the_pass_runs_once() -> None:
    """The pooled connection dropped under the client (a restarted server): the exchange reconnects and each command
    runs once."""
    client = _client()
    batch = PassBatch(client)
    assert await batch.call("INCR", "n") == 1
    connection = await client.connection_pool.get_connection()
    await connection.disconnect()
    await client.connection_pool.release(connection)
    assert await asyncio.gather(batch.call("INCR", "n"), batch.call("INCR", "m")) == [2, 1]


async def test_a_spend_read_shares_its_pass_with_admissions() -> None:
    """A budgeted handshake's spend read issued with an admission goes in the same pipeline and reads the spend."""
    counting = _CountingClient()
    keys = KeySpace(f"t{uuid.uuid4().hex[:8]}")
    store = AccountingStore(counting, keys)  # type: ignore[arg-type]
    await counting.client.script_load(store._admit.script)
    await counting.client.set(keys.day_spend("acme", WALL), 7)
    admitted, spend = await asyncio.gather(
        store.admit("s1", "acme", TenantLimits(), WALL, 60.0), store.spend("acme", WALL)
    )
    assert (admitted.status, spend) == ("ok", (7, 0))
    assert (counting.pipelines, counting.commands) == (1, 0)


class _ScriptedConnection:
    """A connection whose replies are scripted: a reply, or an exception the read raises."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.dropped = False

    async def send_packed_command(self, packed: bytes) -> None:
        pass

    async def read_response(self) -> object:
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def disconnect(self, nowait: bool = False) -> None:
        self.dropped = True


async def test_an_exchange_cut_between_replies_drops_its_connection() -> None:
    """Cancelled after the first of two replies, the exchange disconnects the connection (its second reply is still
    unread), so no later borrower reads it."""
    connection = _ScriptedConnection(b"1", asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await batch_module._exchange(connection, b"", 2)  # type: ignore[arg-type]
    assert connection.dropped


async def test_an_exchange_keeps_a_refused_command_in_its_place_and_its_connection() -> None:
    """A command's error reply takes its place among the replies; the connection, read to the end, is kept."""
    refused = ResponseError("WRONGTYPE")
    connection = _ScriptedConnection(refused, b"2")
    assert await batch_module._exchange(connection, b"", 2) == [refused, b"2"]  # type: ignore[arg-type]
    assert not connection.dropped
