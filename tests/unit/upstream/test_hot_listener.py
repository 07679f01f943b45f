"""The listener's hot path over real picows sockets: what it relays alone, what it leaves to the core, same counters.

One push-mode session (GA realtime, barge-in protection on, as the gateway builds it) between a client
peer and an upstream peer, all picows over loopback in this process. Each test runs with the compiled
listener and with its pure-Python twin (``hot_listener`` fixture).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

from gateway.core.barge_in import BargeInPolicy
from gateway.core.errors import GatewayError
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionEnded, SessionInfo
from gateway.core.routing import Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.relay.session import RelaySession
from gateway.transports.picows.socket import PicowsClientSocket
from gateway.upstream.picows_connector import PicowsUpstream

AUDIO = base64.b64encode(bytes((i * 37) & 0xFF for i in range(960))).decode()
APPEND = '{"type":"input_audio_buffer.append","audio":"%s"}' % AUDIO
DELTA = ('{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1",'
         '"item_id":"item_1","output_index":0,"content_index":0,"delta":"%s"}' % AUDIO)
MAX = 1024 * 1024


class _Peer(WSListener):  # type: ignore[misc]
    """A picows peer that queues the text frames it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.frames.put_nowait(frame.get_payload_as_utf8_text())
        elif frame.msg_type == WSMsgType.CLOSE and not self.closed.done():
            self.closed.set_result(int(frame.get_close_code()))

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, text.encode())

    async def next(self) -> str:
        return await asyncio.wait_for(self.frames.get(), 5)


@dataclass
class _Session:
    client: _Peer
    upstream: _Peer
    core: SessionCore
    relay: RelaySession
    task: asyncio.Task[SessionEnded]


@pytest.fixture
async def session(hot_listener: str, request: pytest.FixtureRequest) -> AsyncIterator[_Session | None]:
    """A running push-mode session between two picows peers (``None`` when the test ran in a child process)."""
    if hot_listener == "ran in a child process":
        yield None
        return
    fps = getattr(request, "param", 500)
    loop = asyncio.get_running_loop()
    upstream_peer: asyncio.Future[_Peer] = loop.create_future()

    def upstream_side(_: object) -> _Peer:
        peer = _Peer()
        upstream_peer.set_result(peer)
        return peer

    upstream_server = await ws_create_server(upstream_side, "127.0.0.1", 0)
    accepted: asyncio.Future[PicowsClientSocket] = loop.create_future()

    def client_side(_: object) -> PicowsClientSocket:
        sock = PicowsClientSocket(max_message_bytes=MAX, linger_s=1.0)
        accepted.set_result(sock)
        return sock

    gateway_server = await ws_create_server(client_side, "127.0.0.1", 0)
    _, upstream = await ws_connect(lambda: PicowsUpstream(max_message_bytes=MAX),
                                   f"ws://127.0.0.1:{upstream_server.sockets[0].getsockname()[1]}/")
    _, client_peer = await ws_connect(_Peer, f"ws://127.0.0.1:{gateway_server.sockets[0].getsockname()[1]}/")
    client = await accepted
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",))
    info = SessionInfo(session_id="hot", endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="test", route=route), route=route)
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=time.monotonic(), max_frames_per_second=fps,
                       max_message_bytes=MAX, barge_in=BargeInPolicy())
    relay = RelaySession(info=info, core=core, client=client, upstream=upstream, observers=[], clock=time.monotonic)
    task = asyncio.create_task(relay.run())
    while not relay.push_mode or relay._strategy_in_use is None:  # the strategy is attached
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    yield _Session(client_peer, await upstream_peer, core, relay, task)
    relay.terminate(GatewayError())
    await asyncio.wait_for(task, 5)
    assert client_peer.transport is not None
    client_peer.transport.disconnect()
    gateway_server.close()
    upstream_server.close()


async def _exchange(s: _Session, rounds: int) -> None:
    for _ in range(rounds):
        s.client.send(APPEND)
        assert await s.upstream.next() == APPEND
        s.upstream.send(DELTA)
        assert await s.client.next() == DELTA


async def test_audio_is_relayed_alone_both_ways_unchanged_and_counted_as_the_core_counts(session: _Session | None) -> None:
    """After the core's first decision, appends and deltas go through the listener alone, arrive byte for byte, and
    the session's counters read exactly what the core would have counted."""
    if session is None:
        return
    audio = len(base64.b64decode(AUDIO))
    await _exchange(session, 20)
    stats, hot = session.core.stats, session.core.hot
    assert hot.relayed_alone >= 38  # the first frame of each direction may reach the core before its first decision
    assert (stats.frames_from_client, stats.frames_from_upstream) == (20, 20)
    assert (stats.bytes_from_client, stats.bytes_from_upstream) == (20 * len(APPEND), 20 * len(DELTA))
    assert (stats.audio_in_bytes, stats.audio_out_bytes) == (20 * audio, 20 * audio)
    assert (stats.audio_in_bytes_since_usage, stats.audio_out_bytes_since_usage) == (20 * audio, 20 * audio)
    assert stats.last_activity_at <= time.monotonic()


async def test_a_frame_outside_the_usual_layout_is_decided_by_the_core(session: _Session | None) -> None:
    """A canonical append with its keys in another order, and a control event, are not the listener's: the core
    decides them (the append forwarded as received, the event re-serialized)."""
    if session is None:
        return
    await _exchange(session, 2)
    before = session.core.hot.relayed_alone
    reordered = '{"audio":"%s","type":"input_audio_buffer.append"}' % AUDIO
    session.client.send(reordered)
    assert await session.upstream.next() == reordered
    session.client.send('{"type": "input_audio_buffer.commit"}')
    assert await session.upstream.next() == '{"type":"input_audio_buffer.commit"}'
    assert session.core.hot.relayed_alone == before
    assert session.core.stats.frames_from_client == 4


async def test_a_client_event_id_in_the_gateway_namespace_is_refused_not_relayed(session: _Session | None) -> None:
    """An append naming a ``gw_`` event id is in the usual layout but not canonical: the core refuses it."""
    if session is None:
        return
    await _exchange(session, 2)
    session.client.send('{"type":"input_audio_buffer.append","event_id":"gw_x","audio":"%s"}' % AUDIO)
    error = await session.client.next()
    assert '"type":"error"' in error and "gw_" in error
    assert session.upstream.frames.empty()


@pytest.mark.parametrize("session", [5], indirect=True)
async def test_the_frame_rate_limit_holds_for_frames_the_listener_relays(session: _Session | None) -> None:
    """With 5 frames a second allowed, the sixth append within the second is refused by the core and ends the session."""
    if session is None:
        return
    for _ in range(5):
        session.client.send(APPEND)
    for _ in range(5):
        assert await session.upstream.next() == APPEND
    session.client.send(APPEND)
    error = await session.client.next()
    assert "rate" in error
    ended = await asyncio.wait_for(session.task, 5)
    assert ended.error_code is not None and "rate" in ended.error_code
    assert session.core.stats.frames_from_client == 6


async def test_a_response_start_sends_the_first_delta_through_the_core_then_the_rest_alone(session: _Session | None) -> None:
    """While a reply's first audio has not been seen, deltas go to the core (first-audio timing, the playback
    estimate's start); the following ones are relayed alone and still reach the playback estimate."""
    if session is None:
        return
    await _exchange(session, 1)
    session.upstream.send('{"type":"response.created","event_id":"e1","response":{"id":"resp_1","object":"realtime.response"}}')
    await session.client.next()
    session.upstream.send('{"type":"response.output_item.added","event_id":"e2","response_id":"resp_1","output_index":0,'
                          '"item":{"id":"item_1","type":"message","role":"assistant"}}')
    await session.client.next()
    before = session.core.hot.relayed_alone
    assert session.core.hot.upstream_mask == 0
    session.upstream.send(DELTA)
    assert await session.client.next() == DELTA
    assert session.core.hot.relayed_alone == before  # the first delta: the core's
    for _ in range(3):
        session.upstream.send(DELTA)
        assert await session.client.next() == DELTA
    assert session.core.hot.relayed_alone == before + 3
    session.client.send('{"type":"input_audio_buffer.commit"}')  # any decision of the core hears the deltas first
    await session.upstream.next()
    assert session.core.barge_in is not None
    item = session.core.barge_in.playback.get("item_1")
    assert item is not None and item.delivered_bytes == 4 * len(base64.b64decode(AUDIO))


async def test_after_the_end_nothing_is_relayed(session: _Session | None) -> None:
    """Once the session is ending, the listeners relay nothing more: frames reach the relay, which drops them."""
    if session is None:
        return
    await _exchange(session, 2)
    session.relay.terminate(GatewayError())
    session.client.send(APPEND)
    await asyncio.sleep(0.1)
    assert session.upstream.frames.empty() or (await session.upstream.next()) != APPEND


def test_the_compiled_listener_is_not_used_under_another_picows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled listener is tied to the picows it was built against: under another version the loader picks the
    pure-Python twin."""
    import picows

    from gateway.upstream import hot_listener

    if hot_listener.LISTENER_COMPILED is None:
        pytest.skip("the compiled listener is not in use here")
    assert hot_listener._compiled() is hot_listener.LISTENER_COMPILED
    monkeypatch.setattr(picows, "__version__", "0.0.1")
    assert hot_listener._compiled() is None


def test_the_pure_listener_relays_under_the_compiled_gate_too() -> None:
    """With the compiled core and the pure listener (another picows), the listener still links to the core's gate;
    a gate of neither kind, or a peer that is not a hot listener, unlinks it."""
    from gateway.core import hot
    from gateway.core.observers import SessionStats
    from gateway.upstream.hot_listener import PyHotListener

    stats = SessionStats(started_at=0.0, last_activity_at=0.0)
    gates = [hot.PyHotGate(stats, 0.0, 50, 1024)] + ([hot.COMPILED[1](stats, 0.0, 50, 1024)] if hot.COMPILED else [])
    listener, peer = PyHotListener(), PyHotListener()
    for gate in gates:
        assert listener.hot_link(gate, peer, True) and listener.hot_linked
    assert not listener.hot_link(object(), peer, True) and not listener.hot_linked
    assert not listener.hot_link(gates[0], object(), False) and not listener.hot_linked
