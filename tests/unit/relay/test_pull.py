"""Pull mode (one pump per direction) under faults, with in-memory sockets: stalls, slow clients, fatal frames, drops."""

from __future__ import annotations

import asyncio

import pytest

import orjson

from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionEnded, SessionInfo
from gateway.core.ports import Closed, Frame
from gateway.core.routing import Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.relay.session import RelayLimits, RelaySession

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")


class MemSocket:
    """A FrameSocket over queues; ``block_sends`` makes send hang like a peer that stopped reading."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        self.block_sends = False

    async def receive(self) -> Frame | Closed:
        return await self.inbox.get()

    async def send(self, frame: Frame) -> None:
        if self.block_sends:
            await asyncio.Event().wait()
        self.sent.append(frame)

    async def close(self, code: int, reason: str) -> None:
        if self.block_sends:
            await asyncio.Event().wait()
        self.closed = (code, reason)

    def errors(self) -> list[str]:
        return [orjson.loads(f)["error"]["code"] for f in self.sent if b'"error"' in (f if isinstance(f, bytes) else f.encode())[:20]]


class Clock:
    """A monotonic-like clock (never 0: the relay uses 0.0 as "no send pending")."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _relay(client: MemSocket, upstream: MemSocket, clock: Clock, *, fps: int = 500) -> RelaySession:
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",))
    info = SessionInfo(session_id="s1", endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="t", route=route), route=route)
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now, max_frames_per_second=fps)
    return RelaySession(info=info, core=core, client=client, upstream=upstream, observers=[], clock=clock,
                        limits=RelayLimits(upstream_stall_s=2.0, slow_client_s=1.0))


async def _run(relay: RelaySession, clock: Clock, ticks: list[float]) -> SessionEnded:
    task = asyncio.create_task(relay.run())
    for at in ticks:
        await asyncio.sleep(0.01)
        clock.now = 100.0 + at
        await relay.tick(clock.now)
    return await asyncio.wait_for(task, 5)


async def test_upstream_stall_with_a_response_in_flight_ends_with_1014() -> None:
    """No upstream frame for longer than the stall limit while a response runs: 'upstream_stalled', 1014, upstream closed."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock)
    upstream.inbox.put_nowait('{"type":"response.created","response":{"id":"resp_1"}}')
    ended = await _run(relay, clock, [1.0, 2.5])
    assert ended.reason == "upstream_stalled" and client.closed == (1014, "upstream_stalled")
    assert client.errors() == ["upstream_stalled"]
    assert upstream.closed == (1000, "")
    assert b"response.cancel" in b"".join(f if isinstance(f, bytes) else f.encode() for f in upstream.sent)


async def test_silence_without_a_response_in_flight_is_not_a_stall() -> None:
    """An idle upstream between turns is normal: the relay keeps the session open."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock)
    task = asyncio.create_task(relay.run())
    for at in (101.0, 105.0, 130.0):
        await asyncio.sleep(0.01)
        await relay.tick(at)
    assert not relay.finished
    client.inbox.put_nowait(Closed(1000))
    assert (await asyncio.wait_for(task, 5)).reason == "client_closed"


async def test_slow_client_is_cut_off_without_waiting_on_its_socket() -> None:
    """A client send blocked past slow_client_s ends the session 'client_too_slow' even though the client never reads again."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock)
    client.block_sends = True
    upstream.inbox.put_nowait('{"type":"response.output_audio.delta","delta":"AAAA"}')
    started = asyncio.get_running_loop().time()
    ended = await _run(relay, clock, [0.5, 1.6])
    assert ended.reason == "client_too_slow" and ended.error_code == "client_too_slow"
    assert asyncio.get_running_loop().time() - started < 1.5  # bounded by the 1 s close timeout, not by the client
    assert upstream.closed == (1000, "")


async def test_queued_frames_do_not_run_past_a_fatal_error() -> None:
    """A frame flood already queued: one error event, one close, nothing more forwarded upstream."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock, fps=5)
    for _ in range(20):
        client.inbox.put_nowait('{"type":"input_audio_buffer.append","audio":"AAAA"}')
    ended = await _run(relay, clock, [])
    assert ended.reason == "rate_limit_exceeded" and client.closed == (1008, "rate_limit_exceeded")
    assert client.errors() == ["rate_limit_exceeded"]
    assert len(upstream.sent) == 5


async def test_upstream_loss_without_close_frame_is_reported_as_1014() -> None:
    """Upstream TCP loss (1006) becomes 'upstream_disconnected' and 1014 for the client."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    upstream.inbox.put_nowait(Closed(1006))
    ended = await _run(_relay(client, upstream, clock), clock, [])
    assert (ended.reason, ended.upstream_close_code, client.closed) == ("upstream_dropped", 1006, (1014, "upstream_disconnected"))
    assert client.errors() == ["upstream_disconnected"]


class SlowSendSocket(MemSocket):
    """A socket whose sends take a moment (a busy peer): an error event must still go out whole."""

    async def send(self, frame: Frame) -> None:
        await asyncio.sleep(0.05)
        self.sent.append(frame)


async def test_an_error_the_core_reports_is_sent_before_the_close_even_when_sending_is_slow() -> None:
    """The pump sending the core's error event is let finish (grace) before the session closes the client."""
    client, upstream, clock = SlowSendSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock, fps=2)
    for _ in range(3):
        client.inbox.put_nowait('{"type":"input_audio_buffer.append","audio":"AAAA"}')
    ended = await _run(relay, clock, [])
    assert ended.reason == "rate_limit_exceeded" and client.errors() == ["rate_limit_exceeded"]
    assert client.closed == (1008, "rate_limit_exceeded") and len(upstream.sent) == 2


class FailingSocket(MemSocket):
    """A socket whose sends fail (the peer vanished mid-write)."""

    async def send(self, frame: Frame) -> None:
        raise ConnectionResetError("gone")


async def test_a_send_that_fails_in_a_pump_ends_the_session_as_an_upstream_drop() -> None:
    """The pump catches the failure: the session ends 'upstream_disconnected' and the client gets 1014."""
    client, upstream, clock = MemSocket(), FailingSocket(), Clock()
    client.inbox.put_nowait('{"type":"input_audio_buffer.append","audio":"AAAA"}')
    ended = await _run(_relay(client, upstream, clock), clock, [])
    assert ended.error_code == "upstream_disconnected" and client.closed == (1014, "upstream_disconnected")


async def test_frames_each_pump_produced_keep_their_order() -> None:
    """Client frames reach the upstream in the order read; upstream frames reach the client in order."""
    client, upstream, clock = MemSocket(), MemSocket(), Clock()
    relay = _relay(client, upstream, clock)
    appends = [f'{{"type":"input_audio_buffer.append","audio":"{c * 4}"}}' for c in "ABCD"]
    deltas = [f'{{"type":"response.output_audio.delta","delta":"{c * 4}"}}' for c in "EFGH"]
    for a, d in zip(appends, deltas):
        client.inbox.put_nowait(a)
        upstream.inbox.put_nowait(d)
    task = asyncio.create_task(relay.run())
    while len(upstream.sent) < 4 or len(client.sent) < 4:
        await asyncio.sleep(0.01)
    client.inbox.put_nowait(Closed(1000))
    await asyncio.wait_for(task, 5)
    assert upstream.sent == appends and client.sent == deltas


class _Surface:
    """A session surface that only records ends (the pumps never deliver in this test)."""

    session_id = "s1"
    finished = False

    def __init__(self) -> None:
        self.ended: list[object] = []

    def end(self, error: object) -> None:
        self.ended.append(error)


async def test_frames_the_session_emits_outside_a_pump_are_sent_on_their_own() -> None:
    """A tick or a timer emitting (no pump is handling a frame): the frame goes out without waiting for traffic."""
    from gateway.relay.pull import PullRelay

    client, upstream, surface = MemSocket(), MemSocket(), _Surface()
    pull = PullRelay(surface, client, upstream)  # type: ignore[arg-type]
    pull.start()
    pull.to_client('{"type":"gateway.notice"}')
    pull.to_upstream('{"type":"response.cancel"}')
    for _ in range(50):
        if client.sent and upstream.sent:
            break
        await asyncio.sleep(0.01)
    await pull.stop(grace=False)
    assert client.sent == ['{"type":"gateway.notice"}'] and upstream.sent == ['{"type":"response.cancel"}']
    assert surface.ended == []
