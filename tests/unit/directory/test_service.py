"""The cross-replica directory: publishing, listing, finding and ending sessions held by another replica."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import fakeredis
import pytest

from gateway.directory.service import DirectoryHooks, SessionDirectory, publish_end
from gateway.store.directory import RedisDirectoryBoard, end_channel, replica_key
from gateway.store.keyspace import KeySpace
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionEnded, SessionInfo, SessionStats
from gateway.core.routing import Caps, Route, RouteDecision


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


#: the gateway-wide defaults the sessions of these tests were set up with
GATEWAY_CAPS = Caps(max_duration_s=600.0)


def _info(session_id: str, key_id: str = "key_a", caps: Caps = Caps(max_cost_micros=500_000)) -> SessionInfo:
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("emulator",), caps=caps, name="voice")
    return SessionInfo(
        session_id=session_id, endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
        requested_model=None, decision=RouteDecision(rule_id="voice", reason="default", route=route), route=route,
        tenant="acme", key_id=key_id, upstream="emulator", client_address="127.0.0.1",
        caps=caps.tightened(GATEWAY_CAPS),  # as set-up computes them
    )


async def _subscribed(client: fakeredis.FakeAsyncRedis, keys: KeySpace, count: int) -> None:
    """Wait until ``count`` listeners are subscribed to the end channel (bounded)."""
    for _ in range(200):
        [(_, listeners)] = await client.pubsub_numsub(end_channel(keys))
        if listeners >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("directory listeners did not subscribe")


async def _until_ended(replica: "Replica") -> None:
    for _ in range(200):
        if replica.ended:
            return
        await asyncio.sleep(0.02)


class Replica:
    """One replica's directory with a local session table standing in for LiveSessions."""

    def __init__(self, server: fakeredis.FakeServer, keys: KeySpace, wall: Wall, name: str) -> None:
        self.client = fakeredis.FakeAsyncRedis(server=server)
        self.ended: list[str] = []
        self.hung_up: list[str] = []
        self.hooks = DirectoryHooks(
            end_local=self.end_local,
            live_spend=lambda sid: 1234,
            trace_id_of=lambda sid: "ab" * 16,
            hang_up_local=self.hang_up_local,
        )
        self.directory = SessionDirectory(RedisDirectoryBoard(self.client, keys), self.hooks, replica_id=name, wall=wall, period_s=0.05)

    def hang_up_local(self, session_id: str) -> bool:
        if session_id in self.directory._local:  # noqa: SLF001 - the stand-in LiveSessions
            self.hung_up.append(session_id)
            return True
        return False

    def end_local(self, session_id: str) -> bool:
        if session_id in self.directory._local:  # noqa: SLF001 - the stand-in LiveSessions
            self.ended.append(session_id)
            return True
        return False


async def test_sessions_on_two_replicas_are_listed_from_either() -> None:
    """Each replica publishes its sessions; any replica lists all of them with spend, caps and trace id."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir1"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    a.directory.create(_info("vgs_1"), 0.0)
    wall.now += 5
    b.directory.create(_info("vgs_2"), 0.0)
    await a.directory.publish()
    await b.directory.publish()
    listed = await b.directory.list_sessions()
    assert [e["session_id"] for e in listed] == ["vgs_1", "vgs_2"]
    first = listed[0]
    assert first["replica"] == "ra" and first["tenant"] == "acme" and first["route"] == "voice"
    assert first["model"] == "gpt-realtime-2" and first["spend_micros"] == 1234 and first["trace_id"] == "ab" * 16
    assert first["caps"] == {"max_cost_micros": 500_000, "max_duration_s": 600.0, "idle_timeout_s": None}
    assert sorted(await a.directory.replicas()) == ["ra", "rb"]
    assert (await a.directory.find("vgs_2") or {}).get("replica") == "rb"
    assert await a.directory.find("vgs_missing") is None


async def test_a_dead_replica_drops_out_after_its_ttl() -> None:
    """A replica that stops publishing disappears from listings once its TTL passes."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir2"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    a.directory.create(_info("vgs_1"), 0.0)
    await a.directory.publish()
    wall.now += a.directory.ttl_s + 1
    assert await b.directory.list_sessions() == []
    assert await b.directory.replicas() == []


async def test_ended_sessions_leave_the_directory() -> None:
    """on_end removes the session; the next publish no longer lists it."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir3"), Wall()
    a = Replica(server, keys, wall, "ra")
    observer = a.directory.create(_info("vgs_1"), 0.0)
    stats = SessionStats(started_at=0.0, last_activity_at=0.0, responses=2)
    assert await observer.on_tick(1.0, stats) is None
    await a.directory.publish()
    assert (await a.directory.list_sessions())[0]["responses"] == 2
    await observer.on_end(SessionEnded(at=2.0, reason="client_closed"), stats)
    await a.directory.publish()
    assert await a.directory.list_sessions() == []
    assert not await a.client.exists(replica_key(keys, "ra"))


async def test_the_observer_asks_for_no_tick_once_it_holds_the_sessions_stats() -> None:
    """The stats are the session's for life, updated in place: the first tick notes them, later ticks are skipped
    (``ticks``), and what is published follows the counters without them."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir-ticks"), Wall()
    a = Replica(server, keys, wall, "ra")
    observer = a.directory.create(_info("vgs_1"), 0.0)
    assert observer.ticks
    stats = SessionStats(started_at=0.0, last_activity_at=0.0)
    assert observer.tick_now(0.1, stats) is None and not observer.ticks
    stats.responses = 3
    await a.directory.publish()
    assert (await a.directory.list_sessions())[0]["responses"] == 3


@pytest.mark.parametrize("request_name,heard,other", [("request_end", "ended", "hung_up"), ("request_hangup", "hung_up", "ended")])
async def test_ending_a_session_held_by_another_replica_goes_through_pub_sub(request_name: str, heard: str, other: str) -> None:
    """request_end (an operator's end) or request_hangup (the call's owner) on replica A reaches the matching hook of
    replica B, which holds the session, and no other hook; unknown ids give False."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace(f"dir4{heard}"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    b.directory.create(_info("vgs_2"), 0.0)
    await a.directory.start()
    await b.directory.start()
    ask = getattr(a.directory, request_name)
    try:
        await _subscribed(a.client, keys, 2)
        await b.directory.publish()
        assert await ask("vgs_missing") is False
        assert await ask("vgs_2") is True
        for _ in range(200):
            if getattr(b, heard):
                break
            await asyncio.sleep(0.02)
        assert getattr(b, heard) == ["vgs_2"] and getattr(b, other) == [] and getattr(a, heard) == []
    finally:
        await a.directory.close()
        await b.directory.close()
    assert await a.directory.replicas() == []


async def test_ending_by_key_ends_every_local_session_of_that_key() -> None:
    """A key_id end request (revoke --end-sessions) ends that key's sessions only."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir5"), Wall()
    a = Replica(server, keys, wall, "ra")
    a.directory.create(_info("vgs_1", key_id="key_a"), 0.0)
    a.directory.create(_info("vgs_2", key_id="key_b"), 0.0)
    a.directory.create(_info("vgs_3", key_id="key_a"), 0.0)
    assert a.directory.handle_message(json.dumps({"key_id": "key_a"})) == 2
    assert sorted(a.ended) == ["vgs_1", "vgs_3"]
    assert a.directory.handle_message(b"not json") == 0
    assert a.directory.handle_message(json.dumps(["x"])) == 0


async def test_publish_end_reaches_subscribed_replicas() -> None:
    """publish_end (used by the CLI) is delivered to a started directory's listener."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir6"), Wall()
    a = Replica(server, keys, wall, "ra")
    a.directory.create(_info("vgs_1", key_id="key_z"), 0.0)
    await a.directory.start()
    try:
        await _subscribed(a.client, keys, 1)
        listeners = await publish_end(RedisDirectoryBoard(a.client, keys), key_id="key_z")
        assert listeners == 1
        await _until_ended(a)
        assert a.ended == ["vgs_1"]
    finally:
        await a.directory.close()


async def test_a_failing_hook_leaves_its_value_out() -> None:
    """A raising live_spend hook never stops publishing; spend is reported as unknown."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir7"), Wall()
    a = Replica(server, keys, wall, "ra")

    def boom(_sid: str) -> int:
        raise RuntimeError("no spend")

    a.hooks.live_spend = boom
    a.directory.create(_info("vgs_1"), 0.0)
    await a.directory.publish()
    assert (await a.directory.list_sessions())[0]["spend_micros"] is None


def test_a_client_traceparent_gives_the_trace_id_when_telemetry_does_not() -> None:
    """With no trace id from telemetry, the session's trace is the one its W3C traceparent names; bad ones are ignored."""
    from gateway.directory.service import traceparent_trace_id

    assert traceparent_trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == "0af7651916cd43dd8448eb211c80319c"
    for bad in (None, "", "garbage", "00-XYZ-b7ad6b7169203331-01", "00-" + "0" * 32 + "-b7ad6b7169203331-01"):
        assert traceparent_trace_id(bad) is None


async def test_an_unreachable_store_is_a_503_for_readers() -> None:
    """Listing or finding sessions while Redis is down raises StoreUnavailable (the admin API answers 503)."""
    import pytest
    from redis.asyncio import Redis

    from gateway.core.errors import StoreUnavailable

    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    directory = SessionDirectory(RedisDirectoryBoard(client, KeySpace("down")), DirectoryHooks(end_local=lambda s: False))
    with pytest.raises(StoreUnavailable):
        await directory.list_sessions()
    with pytest.raises(StoreUnavailable):
        await directory.request_end("vgs_x")
    await client.aclose()


async def test_a_handoff_request_reaches_the_replica_holding_the_session_and_never_ends_it() -> None:
    """request_handoff on replica A: a local session answers at once (started or why not); a session on B gets
    the request through pub/sub and is moved, not ended; an unknown id is not found."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir-handoff"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    moved: list[tuple[str, str, str, str]] = []

    def hand_off(replica: Replica, name: str) -> Callable[[str, str, str], bool | str]:
        def local(session_id: str, to: str, reason: str) -> bool | str:
            if session_id not in replica.directory._local:  # noqa: SLF001 - the stand-in LiveSessions
                return False
            moved.append((name, session_id, to, reason))
            return True if to == "mini" else f"route '{to}' is not a handoff target"

        return local

    a.hooks.handoff_local, b.hooks.handoff_local = hand_off(a, "ra"), hand_off(b, "rb")
    a.directory.create(_info("vgs_1"), 0.0)
    b.directory.create(_info("vgs_2"), 0.0)
    await a.directory.start()
    await b.directory.start()
    try:
        await _subscribed(a.client, keys, 2)
        await b.directory.publish()
        local = await a.directory.request_handoff("vgs_1", "mini", "operator")
        assert (local.found, local.local, local.refusal) == (True, True, None)
        refused = await a.directory.request_handoff("vgs_1", "elsewhere", "operator")
        assert refused.refusal == "route 'elsewhere' is not a handoff target"
        assert (await a.directory.request_handoff("vgs_missing", "mini", "x")).found is False
        remote = await a.directory.request_handoff("vgs_2", "mini", "operator")
        assert (remote.found, remote.local) == (True, False)
        for _ in range(200):
            if ("rb", "vgs_2", "mini", "operator") in moved:
                break
            await asyncio.sleep(0.02)
        assert ("rb", "vgs_2", "mini", "operator") in moved
        assert a.ended == [] and b.ended == []  # a handoff message is not an end request
    finally:
        await a.directory.close()
        await b.directory.close()


async def test_between_full_passes_only_started_and_ended_sessions_are_written() -> None:
    """publish_changes adds a started session and removes an ended one, leaving other published entries untouched."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir_inc"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    a.directory.create(_info("vgs_1"), 0.0)
    gone = a.directory.create(_info("vgs_2"), 0.0)
    await a.directory.publish()
    await a.client.hset(replica_key(keys, "ra"), "vgs_1", json.dumps({"session_id": "vgs_1", "marker": True}))
    await a.directory.publish_changes()  # nothing started or ended: nothing written
    a.directory.create(_info("vgs_3"), 0.0)
    await gone.on_end(SessionEnded(at=2.0, reason="client_closed"), SessionStats(started_at=0.0, last_activity_at=0.0))
    await a.directory.publish_changes()
    published = {k.decode(): json.loads(v) for k, v in (await a.client.hgetall(replica_key(keys, "ra"))).items()}
    assert sorted(published) == ["vgs_1", "vgs_3"]
    assert published["vgs_1"] == {"session_id": "vgs_1", "marker": True}  # not rewritten
    assert published["vgs_3"]["tenant"] == "acme"
    assert 0 < await a.client.pttl(replica_key(keys, "ra")) <= a.directory.ttl_s * 1000
    await a.directory.publish()  # the next full pass rewrites every entry
    assert "marker" not in json.loads(await a.client.hget(replica_key(keys, "ra"), "vgs_1") or b"{}")
    assert [e["session_id"] for e in await b.directory.list_sessions()] == ["vgs_1", "vgs_3"]


async def test_a_started_directory_publishes_a_new_session_before_its_next_full_pass() -> None:
    """A session started between full passes is visible to other replicas at once, not a period later."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir_wake"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    a.directory.period_s = 60.0
    await a.directory.start()
    try:
        for _ in range(100):
            if await b.directory.replicas() == ["ra"]:
                break
            await asyncio.sleep(0.01)
        a.directory.create(_info("vgs_late"), 0.0)
        for _ in range(100):
            if [e["session_id"] for e in await b.directory.list_sessions()] == ["vgs_late"]:
                break
            await asyncio.sleep(0.01)
        assert [e["session_id"] for e in await b.directory.list_sessions()] == ["vgs_late"]
    finally:
        await a.directory.close()


async def test_sessions_started_within_the_settle_time_are_written_in_one_pass() -> None:
    """Starts and an end arriving while the publisher settles after a wake go to the store in one update."""
    server, keys, wall = fakeredis.FakeServer(), KeySpace("dir_settle"), Wall()
    a, b = Replica(server, keys, wall, "ra"), Replica(server, keys, wall, "rb")
    a.directory.period_s, a.directory.settle_s = 60.0, 0.2
    board = a.directory.board
    updates: list[tuple[list[str], list[str]]] = []
    update = board.update

    async def counted(replica_id: str, entries: dict[str, str], removed: list[str], ttl_ms: int) -> None:
        updates.append((sorted(entries), list(removed)))
        await update(replica_id, entries, removed, ttl_ms)

    board.update = counted  # type: ignore[method-assign]
    a.directory.create(_info("vgs_gone"), 0.0)
    await a.directory.start()
    try:
        await asyncio.sleep(0.05)  # the first full pass has run
        for sid in ("vgs_1", "vgs_2", "vgs_3"):
            a.directory.create(_info(sid), 0.0)
            await asyncio.sleep(0.01)
        a.directory.forget("vgs_gone")
        for _ in range(100):
            if updates:
                break
            await asyncio.sleep(0.02)
        assert updates == [(["vgs_1", "vgs_2", "vgs_3"], ["vgs_gone"])]
        assert sorted(e["session_id"] for e in await b.directory.list_sessions()) == ["vgs_1", "vgs_2", "vgs_3"]
    finally:
        await a.directory.close()
