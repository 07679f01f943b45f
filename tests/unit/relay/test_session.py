"""The relay session's own duties: its synchronous surface, the turn events observers get, and its end."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from gateway.core.errors import CostCapReached
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import (
    ResponseAllowance,
    ResponseCreated,
    ResponseDone,
    SessionEnded,
    SessionEvent,
    SessionInfo,
    SessionStats,
    Terminate,
    Verdict,
)
from gateway.core.ports import Closed
from gateway.core.routing import Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.core.turn_events import TurnEnded, TurnResponseStarted, TurnStarted
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.session import RelaySession
from tests.unit.relay.test_push import Clock, PushMem

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")


class Recorder:
    """An observer that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self.ended: SessionEnded | None = None

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        self.events.append(event)
        return None

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        return None

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        self.ended = ended


def _relay(client: PushMem, upstream: PushMem, clock: Clock, kind: SessionKind, recorder: Recorder) -> RelaySession:
    route = Route(kind=kind, model="gpt-realtime-2", upstreams=("a",))
    info = SessionInfo(session_id="s1", endpoint=EndpointKind.REALTIME, kind=kind, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="t", route=route), route=route)
    core = SessionCore(kind=kind, dialect=Dialect.GA, now=clock.now)
    return RelaySession(info=info, core=core, client=client, upstream=upstream,  # type: ignore[arg-type]
                        observers=[FailsafeObserver(recorder, "recorder")], clock=clock)


async def test_observers_get_each_event_followed_by_the_turn_events_it_caused() -> None:
    """A voice-agent session: response.created arrives, then the turn it opened; the end closes the open turn."""
    client, upstream, clock, recorder = PushMem(), PushMem(), Clock(), Recorder()
    relay = _relay(client, upstream, clock, SessionKind.REALTIME, recorder)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    upstream.push('{"type":"response.created","response":{"id":"resp_1"}}')
    await relay.tick(clock.now)
    client.push(Closed(1000))
    ended = await asyncio.wait_for(task, 5)
    kinds = [type(e) for e in recorder.events]
    assert kinds[:3] == [ResponseCreated, TurnStarted, TurnResponseStarted]
    last = recorder.events[-1]
    assert isinstance(last, TurnEnded) and last.status == "unfinished" and not last.done
    assert recorder.ended == ended


async def test_transcription_sessions_have_no_turn_events() -> None:
    """Turns are a voice-agent notion: a transcription session's observers see no turn events."""
    client, upstream, clock, recorder = PushMem(), PushMem(), Clock(), Recorder()
    relay = _relay(client, upstream, clock, SessionKind.TRANSCRIPTION, recorder)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    upstream.push('{"type":"input_audio_buffer.speech_started","item_id":"item_1","audio_start_ms":0}')
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)
    assert not any(isinstance(e, (TurnStarted, TurnEnded)) for e in recorder.events)


async def test_the_surface_forwards_untouched_and_ends_on_a_close() -> None:
    """client_frame/upstream_frame relay the very frame; client_closed ends the session and passes the close on."""
    client, upstream, clock, recorder = PushMem(), PushMem(), Clock(), Recorder()
    relay = _relay(client, upstream, clock, SessionKind.REALTIME, recorder)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    append = '{"type":"input_audio_buffer.append","audio":"AAAA"}'
    delta = '{"type":"response.output_audio.delta","delta":"AAAA"}'
    relay.client_frame(append)
    relay.upstream_frame(delta)
    assert upstream.sent == [append] and client.sent == [delta]
    relay.client_closed(Closed(1001, "away"))
    assert relay.finished
    ended = await asyncio.wait_for(task, 5)
    assert (ended.reason, ended.client_close_code, upstream.closed) == ("client_closed", 1001, (1001, "away"))


async def test_a_cancelled_run_still_ends_the_session_and_the_first_cause_wins() -> None:
    """Cancelling run() ends the session as a client going away (upstream closed, observers told); a later cause is ignored."""
    client, upstream, clock, recorder = PushMem(), PushMem(), Clock(), Recorder()
    relay = _relay(client, upstream, clock, SessionKind.REALTIME, recorder)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert not relay.finished
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    ended = relay.ended
    assert ended is not None and relay.finished and (ended.reason, ended.client_close_code) == ("client_closed", 1001)
    assert upstream.closed == (1001, "cancelled") and recorder.ended == ended
    relay.upstream_closed(Closed(1011, "late"))
    relay.terminate(CostCapReached())
    assert relay.ended == ended


class CapObserver(Recorder):
    """Like the accounting observer: metering a finished reply leaves the allowance it pays for (nothing → Terminate)."""

    def __init__(self, left_after_reply: int) -> None:
        super().__init__()
        self.left_after_reply = left_after_reply

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        await super().on_event(event, stats)
        if isinstance(event, ResponseDone):
            stats.response_allowance = ResponseAllowance(self.left_after_reply, self.left_after_reply * 64, False, 1)
            if self.left_after_reply < 1:
                return Terminate(CostCapReached())
        return None


def _capped_relay(left_after_reply: int) -> tuple[RelaySession, PushMem, PushMem, CapObserver]:
    client, upstream, clock, observer = PushMem(), PushMem(), Clock(), CapObserver(left_after_reply)
    relay = _relay(client, upstream, clock, SessionKind.REALTIME, observer)
    relay.core.stats.response_allowance = ResponseAllowance(150, 9_600, False, 0)
    return relay, client, upstream, observer


_DONE = '{"type":"response.done","response":{"id":"resp_1","status":"completed"}}'
_CREATE = '{"type":"response.create"}'


async def test_a_reply_asked_right_after_the_last_one_is_decided_on_its_cost_not_at_the_next_tick() -> None:
    """response.done then at once response.create, before any tick: the relay meters the finished reply first; it
    reached the cap, so the second reply never goes upstream and the session ends with the cap's error."""
    relay, client, upstream, _observer = _capped_relay(left_after_reply=0)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    relay.upstream_frame('{"type":"response.created","response":{"id":"resp_1"}}')
    relay.upstream_frame(_DONE)
    relay.client_frame(_CREATE)
    relay.client_frame('{"type":"input_audio_buffer.append","audio":"AAAA"}')
    ended = await asyncio.wait_for(task, 5)
    assert not any("response.create" in str(f) for f in upstream.sent)
    assert (ended.reason, ended.client_close_code) == ("session_cost_cap_reached", 4100)


async def test_a_held_reply_goes_on_with_what_followed_once_metered() -> None:
    """With money left after the finished reply, the held response.create goes upstream clamped, then the audio after it."""
    relay, client, upstream, _observer = _capped_relay(left_after_reply=20)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    relay.upstream_frame('{"type":"response.created","response":{"id":"resp_1"}}')
    relay.upstream_frame(_DONE)
    relay.client_frame(_CREATE)
    append = '{"type":"input_audio_buffer.append","audio":"AAAA"}'
    relay.client_frame(append)
    assert upstream.sent[-1:] != [append]  # held behind the reply
    for _ in range(20):
        await asyncio.sleep(0)
    assert orjson.loads(upstream.sent[-2])["response"] == {"max_output_tokens": 20} and upstream.sent[-1] == append
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)


class DirectRecorder(Recorder):
    """A direct observer (plain hooks): keeps its events and ticks; ``fail`` makes its hooks raise; ticks only while
    ``ticks``."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.ticked: list[float] = []
        self.fail = fail
        self.ticks = True

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        if self.fail:
            raise RuntimeError("event hook broke")
        self.events.append(event)
        return None

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        if self.fail:
            raise RuntimeError("tick hook broke")
        self.ticked.append(now)
        return None

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        raise AssertionError("a direct observer is called by its plain hooks")

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        raise AssertionError("a direct observer is called by its plain hooks")


async def test_direct_observers_are_called_plainly_in_order_and_one_failing_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Observers with plain hooks get every event and tick without a coroutine, beside an awaited one; one whose
    hooks raise is logged once per hook and the others and the session go on; one not ticking is not ticked."""
    client, upstream, clock = PushMem(), PushMem(), Clock()
    broken, awaited, quiet = DirectRecorder(fail=True), Recorder(), DirectRecorder()
    quiet.ticks = False
    relay = _relay(client, upstream, clock, SessionKind.REALTIME, awaited)
    observers = [FailsafeObserver(broken, "broken"), *relay.observers, FailsafeObserver(quiet, "quiet")]
    relay = RelaySession(info=relay.info, core=relay.core, client=client, upstream=upstream,  # type: ignore[arg-type]
                         observers=observers, clock=clock)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    for n in range(3):
        upstream.push('{"type":"response.created","response":{"id":"resp_%d"}}' % n)
        clock.now += 0.1
        await relay.tick(clock.now)
    assert not relay.finished
    assert [type(e) for e in quiet.events] == [type(e) for e in awaited.events]
    assert len(quiet.events) >= 3 and quiet.ticked == []
    quiet.ticks = True
    await relay.tick(clock.now)
    assert quiet.ticked == [clock.now]
    failures = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert sorted(failures) == ["observer broken failed in on_event", "observer broken failed in on_tick"]
    client.push(Closed(1000))
    await asyncio.wait_for(task, 5)
    assert quiet.ended is not None and broken.ended is not None
