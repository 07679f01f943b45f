"""The shared tick's plain path (``RelaySession.tick_now``) decides exactly what the awaited delivery decides."""

from __future__ import annotations

import asyncio
import base64

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.accounting import SPEC_USAGE, catalog, info
from tests.unit.relay.test_push import Clock, PushMem

from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.meter import PriceBook
from gateway.accounting.observer import AccountingObserverFactory
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.observers import SessionEnded, SessionEvent, SessionStats, Verdict
from gateway.core.ports import Closed
from gateway.core.routing import Caps
from gateway.core.session import SessionCore
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.live_sessions import LiveSessions
from gateway.relay.session import RelayLimits, RelaySession

#: 20 ms of 24 kHz PCM each way
_AUDIO = base64.b64encode(bytes(960)).decode()
APPEND = '{"type":"input_audio_buffer.append","audio":"' + _AUDIO + '"}'
DELTA = '{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","delta":"' + _AUDIO + '"}'
CREATED = '{"type":"response.created","response":{"id":"resp_1"}}'
DONE = orjson.dumps({"type": "response.done", "response": {"id": "resp_1", "status": "completed",
                                                          "usage": SPEC_USAGE}}).decode()


class Flusher:
    def request_flush(self) -> None:
        pass

    async def finish(self, live: LiveSession, ended: SessionEnded) -> None:
        pass


class Recorder:
    """A direct observer that keeps every event and tick it is given (and, when told to, fails on a tick)."""

    def __init__(self, fail_at: int | None) -> None:
        self.seen: list[object] = []
        self.ticks = True
        self._fail_at = fail_at

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        return self.event_now(event, stats)

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        return self.tick_now(now, stats)

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        self.seen.append(("end", ended.reason))

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        self.seen.append(type(event).__name__)
        return None

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        self.seen.append(("tick", now, stats.audio_in_bytes, stats.audio_out_bytes))
        if self._fail_at is not None and len(self.seen) == self._fail_at:
            raise RuntimeError("boom")
        return None


def _shapes(frames: list[str | bytes]) -> list[bytes]:
    """The frames sent, without their ``event_id`` (the gateway's notices carry random ones), as a sorted multiset:
    the gateway's notices and closing error are sent by tasks of their own, and where they fall among the relayed
    frames is the event loop's (the order of decisions is checked on what the observers saw)."""
    shapes = []
    for frame in frames:
        event = orjson.loads(frame)
        event.pop("event_id", None)
        shapes.append(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))
    return sorted(shapes)


#: one step: seconds passed; appends and deltas relayed meanwhile; a reply starting; a reply ending with usage
STEP = st.tuples(st.floats(min_value=0.01, max_value=0.7), st.integers(0, 40), st.integers(0, 40), st.booleans(),
                 st.booleans())


async def _run(steps: list[tuple[float, int, int, bool, bool]], caps: Caps, fail_at: int | None,
               plain: bool) -> tuple[object, ...]:
    clock = Clock()
    factory = AccountingObserverFactory(Ledger(), PriceBook(catalog()), Flusher(), lambda: 1_700_000_000.0)
    session_info = info(caps=caps)
    accounting = factory.create(session_info, now=clock.now)
    recorder = Recorder(fail_at)
    client, upstream = PushMem(), PushMem()
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now)
    relay = RelaySession(info=session_info, core=core, client=client, upstream=upstream,  # type: ignore[arg-type]
                         observers=[FailsafeObserver(accounting, "accounting"), FailsafeObserver(recorder, "rec")],
                         clock=clock, limits=RelayLimits(upstream_stall_s=1.5, slow_client_s=1.0))
    if not plain:
        relay._direct = False  # noqa: SLF001 - every tick through the awaited delivery: the reference
    live = LiveSessions(clock=clock)
    live.add(relay)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    for dt, appends, deltas, created, done in steps:
        if created:
            upstream.push(CREATED)
        for _ in range(appends):
            client.push(APPEND)
        for _ in range(deltas):
            upstream.push(DELTA)
        if done:
            upstream.push(DONE)
        clock.now += dt
        await live.tick_all(clock.now)
        await asyncio.sleep(0)
        if relay.finished:
            break
    client.push(Closed(1000))
    ended = await asyncio.wait_for(task, 5)
    return (_shapes(client.sent), _shapes(upstream.sent), ended.reason, ended.error_code, recorder.seen,
            accounting.live.cost_micros, core.stats.response_allowance)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(STEP, min_size=1, max_size=40),
    cap=st.none() | st.integers(1, 30_000) | st.integers(30_000, 3_000_000),
    duration=st.none() | st.floats(min_value=0.5, max_value=20.0),
    idle=st.none() | st.floats(min_value=0.3, max_value=5.0),
    fail_at=st.none() | st.integers(1, 30),
)
def test_the_plain_tick_decides_what_the_awaited_delivery_decides(
    steps: list[tuple[float, int, int, bool, bool]], cap: int | None, duration: float | None, idle: float | None,
    fail_at: int | None,
) -> None:
    """Random audio, replies with usage, cost/duration/idle caps and a failing observer: the ticker's plain calls
    send the same frames, end the same way, and give observers and the meter the same as awaiting every delivery."""
    caps = Caps(max_cost_micros=cap, max_duration_s=duration, idle_timeout_s=idle)
    plain = asyncio.run(_run(steps, caps, fail_at, plain=True))
    awaited = asyncio.run(_run(steps, caps, fail_at, plain=False))
    assert plain == awaited


def test_a_session_with_a_waiting_observer_is_ticked_by_the_awaited_path() -> None:
    """``tick_now`` does nothing and answers ``False`` when an observer's hooks wait (the ticker then awaits)."""

    recorder = Recorder(None)

    async def run() -> bool:
        clock = Clock()
        relay = RelaySession(info=info(), core=SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now),
                             client=PushMem(), upstream=PushMem(),  # type: ignore[arg-type]
                             observers=[FailsafeObserver(recorder, "rec")], clock=clock)
        relay._direct = False  # noqa: SLF001 - as with an observer that has no direct hooks
        return relay.tick_now(clock.now)

    assert asyncio.run(run()) is False
    assert recorder.seen == []
