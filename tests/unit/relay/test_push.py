"""The relay's push mode with in-memory push sockets: forwarding, Emit, back-pressure, every close path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import orjson

from gateway.core.errors import CostCapReached
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionEnded, SessionInfo
from gateway.core.ports import Closed, Frame, PushHandler
from gateway.core.routing import Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.relay.session import RelayLimits, RelaySession

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")

_APPEND = '{"type":"input_audio_buffer.append","audio":"AAAA"}'
_DELTA = '{"type":"response.output_audio.delta","delta":"AAAA"}'


class PushMem:
    """A PushSocket in memory: frames queued before attach are delivered on attach, later ones at once."""

    def __init__(self) -> None:
        self.queued: list[Frame | Closed] = []
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        self.reading = True
        self.fail_sends = False
        self.handler: PushHandler | None = None

    def attach(self, handler: PushHandler) -> None:
        self.handler = handler
        for item in self.queued:
            handler.on_closed(item) if isinstance(item, Closed) else handler.on_frame(item)
        self.queued = []

    def push(self, item: Frame | Closed) -> None:
        if self.handler is None:
            self.queued.append(item)
        elif isinstance(item, Closed):
            self.handler.on_closed(item)
        else:
            self.handler.on_frame(item)

    def send_now(self, frame: Frame) -> None:
        if self.fail_sends:
            raise ConnectionResetError("gone")
        self.sent.append(frame)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    async def receive(self) -> Frame | Closed:
        """Before attach, like a picows socket, what it queued (a handoff reads the target's first answers)."""
        assert self.handler is None, "push mode never pulls"
        while not self.queued:
            await asyncio.sleep(0.001)
        return self.queued.pop(0)

    async def send(self, frame: Frame) -> None:
        self.sent.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def errors(self) -> list[str]:
        return [orjson.loads(f)["error"]["code"] for f in self.sent if '"error"' in (f if isinstance(f, str) else f.decode())[:20]]


class PullMem:
    """A pull-only FrameSocket over a queue."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> Frame | Closed:
        return await self.inbox.get()

    async def send(self, frame: Frame) -> None:
        self.sent.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class Clock:
    """A settable clock (never 0: the relay uses 0.0 as "no send pending")."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _relay(client: object, upstream: object, clock: Clock, *, fps: int = 500, held: list[Frame] | None = None,
           probe: Callable[[float], None] | None = None) -> RelaySession:
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",))
    info = SessionInfo(session_id="s1", endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="t", route=route), route=route)
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now, max_frames_per_second=fps)
    limits = RelayLimits(upstream_stall_s=2.0, slow_client_s=1.0, delay_probe=probe)
    return RelaySession(info=info, core=core, client=client, upstream=upstream, observers=[],  # type: ignore[arg-type]
                        clock=clock, limits=limits, held_frames=held)


async def _started(relay: RelaySession) -> asyncio.Task[SessionEnded]:
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    return task


async def _ticks(relay: RelaySession, clock: Clock, ticks: list[float]) -> None:
    for at in ticks:
        clock.now = 100.0 + at
        await relay.tick(clock.now)


async def test_frames_flow_both_ways_by_callback_after_held_and_queued_ones() -> None:
    """Held frames go first, then frames queued before attach, then live ones; replies reach the client; no pump tasks."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    client.push('{"type":"input_audio_buffer.append","audio":"QUFB"}')
    relay = _relay(client, upstream, clock, held=['{"type":"session.update","session":{}}'])
    assert relay.push_mode
    before = len(asyncio.all_tasks())
    task = await _started(relay)
    assert len(asyncio.all_tasks()) == before + 1  # only run() itself
    client.push(_APPEND)
    upstream.push(_DELTA)
    assert [orjson.loads(f)["type"] for f in upstream.sent] == ["session.update", "input_audio_buffer.append", "input_audio_buffer.append"]
    assert client.sent == [_DELTA]
    client.push(Closed(1000, "bye"))
    ended = await asyncio.wait_for(task, 5)
    assert (ended.reason, ended.client_close_code, upstream.closed) == ("client_closed", 1000, (1000, "bye"))


async def test_a_frame_the_core_answers_itself_is_emitted_and_ends_the_session() -> None:
    """Past the frame rate: one error event to the client, the session closes 1008, nothing more goes upstream."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    for _ in range(20):
        client.push(_APPEND)
    ended = await asyncio.wait_for(_relay(client, upstream, clock, fps=5).run(), 5)
    assert ended.reason == "rate_limit_exceeded" and client.closed == (1008, "rate_limit_exceeded")
    assert client.errors() == ["rate_limit_exceeded"]
    assert len(upstream.sent) == 5


async def test_an_upstream_that_stops_reading_pauses_the_client() -> None:
    """Upstream write buffer over its mark: reading from the client pauses, and resumes once it drains."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    task = await _started(relay)
    assert upstream.handler is not None
    upstream.handler.on_writable(False)
    assert not client.reading and upstream.reading
    upstream.handler.on_writable(True)
    assert client.reading
    await _ticks(relay, clock, [5.0])
    assert not relay.finished
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)


async def test_a_client_that_stops_reading_pauses_upstream_then_is_cut_off_as_slow() -> None:
    """Client not writable past slow_client_s: upstream reading paused, session ends 4104 with no error event."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    task = await _started(relay)
    assert client.handler is not None
    client.handler.on_writable(False)
    assert not upstream.reading
    await _ticks(relay, clock, [0.5])
    assert not relay.finished
    await _ticks(relay, clock, [1.6])
    ended = await asyncio.wait_for(task, 5)
    assert ended.reason == "client_too_slow" and client.closed == (4104, "client_too_slow")
    assert client.errors() == [] and upstream.closed == (1000, "")
    assert upstream.reading  # read on after the end so the closing handshake completes


async def test_a_client_that_catches_up_is_not_cut_off() -> None:
    """Client writable again before the limit: upstream reading resumes and the slow-client clock stops."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    task = await _started(relay)
    assert client.handler is not None
    client.handler.on_writable(False)
    await _ticks(relay, clock, [0.5])
    client.handler.on_writable(True)
    assert upstream.reading
    await _ticks(relay, clock, [3.0])
    assert not relay.finished
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)


async def test_upstream_loss_is_reported_with_an_error_event_and_1014() -> None:
    """Upstream gone without a close frame (1006): 'upstream_disconnected' event, client closed 1014."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    task = await _started(_relay(client, upstream, clock))
    upstream.push(Closed(1006))
    ended = await asyncio.wait_for(task, 5)
    assert (ended.reason, ended.upstream_close_code, client.closed) == ("upstream_dropped", 1006, (1014, "upstream_disconnected"))
    assert client.errors() == ["upstream_disconnected"]


async def test_a_relayable_upstream_close_is_passed_on() -> None:
    """An upstream 1000 close reaches the client as 1000 with its reason."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    upstream.push(Closed(1000, "done"))
    ended = await asyncio.wait_for(_relay(client, upstream, clock).run(), 5)
    assert (ended.reason, client.closed) == ("upstream_closed", (1000, "done"))


async def test_upstream_stall_with_a_response_in_flight_ends_with_1014() -> None:
    """No upstream frame past the stall limit while a response runs: 'upstream_stalled', cancel sent upstream."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    task = await _started(relay)
    upstream.push('{"type":"response.created","response":{"id":"resp_1"}}')
    await _ticks(relay, clock, [1.0, 2.5])
    ended = await asyncio.wait_for(task, 5)
    assert ended.reason == "upstream_stalled" and client.closed == (1014, "upstream_stalled")
    assert client.errors() == ["upstream_stalled"]
    assert any("response.cancel" in str(f) for f in upstream.sent)


async def test_a_cap_cancels_upstream_reports_and_closes() -> None:
    """terminate() with a cap: response cancelled upstream, error event, the cap's close code to the client."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    task = await _started(relay)
    upstream.push('{"type":"response.created","response":{"id":"resp_1"}}')
    error = CostCapReached()
    relay.terminate(error)
    ended = await asyncio.wait_for(task, 5)
    assert ended.error_code == error.code and client.closed == (error.close_code, error.close_reason)
    assert client.errors() == [error.code]
    assert any("response.cancel" in str(f) for f in upstream.sent)


async def test_a_failing_send_inside_a_callback_ends_the_session_and_does_not_raise() -> None:
    """send_now raising in the callback is caught: nothing escapes to the socket, the session ends 1014."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    task = await _started(_relay(client, upstream, clock))
    upstream.fail_sends = True
    client.push(_APPEND)  # would raise into the socket library if not caught
    ended = await asyncio.wait_for(task, 5)
    assert ended.error_code == "upstream_disconnected" and client.closed == (1014, "upstream_disconnected")


@pytest.mark.parametrize("side", ["client", "upstream"])
async def test_a_hot_listener_failure_reported_to_a_sockets_handler_ends_the_session_as_a_failed_send_does(side: str) -> None:
    """A socket's handler told its listener failed relaying alone (on_failed) ends the session 1014, as a failed send."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    task = await _started(_relay(client, upstream, clock))
    sock = client if side == "client" else upstream
    assert sock.handler is not None
    sock.handler.on_failed(ConnectionResetError("gone"))
    ended = await asyncio.wait_for(task, 5)
    assert ended.error_code == "upstream_disconnected" and client.closed == (1014, "upstream_disconnected")


async def test_the_relay_delay_is_sampled_once_a_second() -> None:
    """The delay probe sees the first upstream frame and the next one a second later, not those in between."""
    client, upstream, clock, seen = PushMem(), PushMem(), Clock(), []
    task = await _started(_relay(client, upstream, clock, probe=seen.append))
    upstream.push(_DELTA)
    upstream.push(_DELTA)
    clock.now += 1.5
    upstream.push(_DELTA)
    assert len(seen) == 2 and len(client.sent) == 3
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)


async def test_frames_after_the_end_are_dropped() -> None:
    """Once the session ended, a late frame from either side is neither processed nor forwarded."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    task = await _started(_relay(client, upstream, clock))
    client.push(Closed(1000))
    client.push(_APPEND)
    upstream.push(_DELTA)
    await asyncio.wait_for(task, 5)
    assert upstream.sent == [] and client.sent == []


async def test_one_pull_only_socket_keeps_the_pump_path() -> None:
    """A pull-only client with a push upstream: the relay uses its pumps and still relays both ways."""
    client, upstream, clock = PullMem(), PushMem(), Clock()
    relay = _relay(client, upstream, clock)
    assert not relay.push_mode
    upstream.queued.append(_DELTA)  # never attached: a pulling relay would not see it
    client.inbox.put_nowait(_APPEND)
    client.inbox.put_nowait(Closed(1000))
    ended = await asyncio.wait_for(relay.run(), 5)
    assert ended.reason == "client_closed" and upstream.sent == [_APPEND] and upstream.handler is None
