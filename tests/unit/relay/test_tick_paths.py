"""The shared tick's plain path (``RelaySession.tick_now``) decides exactly what the awaited delivery decides."""

from __future__ import annotations

import asyncio
import base64
from typing import Sequence

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.accounting import SPEC_USAGE, catalog, info
from tests.support.listener import relayed_alone
from tests.unit.relay.test_push import Clock, PushMem

from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.meter import PriceBook
from gateway.accounting.observer import AccountingObserverFactory
from gateway.core.kinds import Dialect, SessionKind
from gateway.accounting.limits import TenantLimits
from gateway.core.observers import Notify, SessionEnded, SessionEvent, SessionStats, TickBound, Verdict
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


#: the service's own delta layout: the one the compiled listener relays alone (``DELTA`` goes through the relay)
USUAL_DELTA = ('{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1",'
               '"output_index":0,"content_index":0,"delta":"' + _AUDIO + '"}')


class Periodic:
    """A direct observer with a clock of its own: a notice every ``period`` seconds, and the bound of its next one."""

    def __init__(self, period: float) -> None:
        self.ticks = True
        self.period = period
        self.next = float("-inf")
        self.acted: list[float] = []

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        return self.event_now(event, stats)

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        return self.tick_now(now, stats)

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        pass

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        return None

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        if now < self.next:
            return None
        self.next = now + self.period
        self.acted.append(now)
        return Notify({"type": "gateway.periodic"})

    def next_tick(self, now: float, stats: SessionStats) -> TickBound | None:
        return TickBound(self.next)


class EveryPass(RelaySession):
    """The reference: a session the ticker never skips."""

    def quiet(self, now: float) -> bool:
        return False


#: one step: seconds passed; appends and deltas (the listener's when the gate lets them through); a reply starting;
#: a reply ending with usage; a delta through the relay; the client stops (True) or resumes (False) reading, or neither
_RARELY = st.integers(0, 9).map(lambda n: n == 0)
SKIP_STEP = st.tuples(st.floats(min_value=0.01, max_value=0.4), st.integers(0, 8), st.integers(0, 8), _RARELY, _RARELY,
                      _RARELY, st.integers(0, 15).map(lambda n: {0: True, 1: False}.get(n)))


async def _run_skipping(steps: Sequence[tuple[float, int, int, bool, bool, bool, bool | None]], caps: Caps,
                        period: float, budget_tenant: bool, skip: bool) -> tuple[tuple[object, ...], int]:
    clock = Clock()
    ledger = Ledger()
    factory = AccountingObserverFactory(ledger, PriceBook(catalog()), Flusher(), lambda: 1_700_000_000.0)
    session_info = info(caps=caps)
    accounting = factory.create(session_info, now=clock.now)
    periodic = Periodic(period)
    client, upstream = PushMem(), PushMem()
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now)
    kind = RelaySession if skip else EveryPass
    relay = kind(info=session_info, core=core, client=client, upstream=upstream,  # type: ignore[arg-type]
                 observers=[FailsafeObserver(accounting, "accounting"), FailsafeObserver(periodic, "periodic")],
                 clock=clock, limits=RelayLimits(upstream_stall_s=1.5, slow_client_s=1.0))
    live = LiveSessions(clock=clock)
    live.add(relay)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    trace: list[object] = []
    skipped = 0
    for n, (dt, appends, deltas, created, done, slow_delta, reading) in enumerate(steps):
        if budget_tenant and n == len(steps) // 2:  # another session of the tenant arrives with a budget
            other = LiveSession(info=info(session_id="other"), tenant=accounting.live.tenant,
                                limits=TenantLimits(daily_budget_micros=10**9), meter=None, guard=accounting.live.guard,
                                started_wall=0.0)
            ledger.add(other)
        if created:
            upstream.push(CREATED)
        for _ in range(appends):
            if not relayed_alone(core, APPEND, False, clock.now):
                client.push(APPEND)
        for _ in range(deltas):
            if not relayed_alone(core, USUAL_DELTA, True, clock.now):
                upstream.push(USUAL_DELTA)
        if slow_delta:
            upstream.push(DELTA)
        if done:
            upstream.push(DONE)
        if reading is not None:
            relay.client_writable(not reading)
        clock.now += dt
        skipped += relay.quiet(clock.now)
        await live.tick_all(clock.now)
        await asyncio.sleep(0)
        stats = core.stats
        trace.append((relay.finished, accounting.live.cost_micros, stats.response_allowance, stats.money_left,
                      stats.cost_share, len(client.sent), len(upstream.sent)))
        if relay.finished:
            break
    client.push(Closed(1000))
    ended = await asyncio.wait_for(task, 5)
    return (_shapes(client.sent), _shapes(upstream.sent), ended.reason, ended.error_code, periodic.acted, trace,
            accounting.live.cost_micros), skipped


@settings(max_examples=120, deadline=None)
@given(
    steps=st.lists(SKIP_STEP, min_size=1, max_size=80),
    cap=st.none() | st.integers(1, 30_000) | st.integers(30_000, 3_000_000) | st.just(10**10),
    duration=st.none() | st.floats(min_value=0.5, max_value=20.0),
    idle=st.none() | st.floats(min_value=0.3, max_value=5.0),
    period=st.floats(min_value=0.05, max_value=4.0),
    budget_tenant=st.booleans(),
)
def test_skipping_quiet_sessions_decides_what_ticking_every_pass_decides(
    steps: list[tuple[float, int, int, bool, bool, bool, bool | None]], cap: int | None, duration: float | None,
    idle: float | None, period: float, budget_tenant: bool,
) -> None:
    """Random audio (the listener's and the relay's), replies with usage, stalls, a client that stops reading,
    cost/duration/idle caps, an observer with a clock of its own, a budget arriving for the tenant: skipping the
    sessions whose bound holds sends the same frames, ends the same way on the same pass, and leaves the same cost,
    allowance and money figures after every pass as ticking every session on every pass."""
    caps = Caps(max_cost_micros=cap, max_duration_s=duration, idle_timeout_s=idle)
    skipping, _ = asyncio.run(_run_skipping(steps, caps, period, budget_tenant, skip=True))
    every, _ = asyncio.run(_run_skipping(steps, caps, period, budget_tenant, skip=False))
    assert skipping == every


def test_a_quiet_session_is_skipped_until_its_bound_passes() -> None:
    """With only the listener's audio and no limit near, the ticker skips the session on most passes (the reference
    scenario of the skip; the property test above shows the skip changes nothing)."""
    steps = [(0.1, 5, 5, False, False, False, None)] * 30
    _, skipped = asyncio.run(_run_skipping(steps, Caps(max_cost_micros=10**10), 1.0, False, skip=True))
    assert skipped >= 20


_HOT = (0.1, 5, 5, False, False, False, None)
_SILENT = (0.1, 0, 0, False, False, False, None)


@pytest.mark.parametrize(
    ("steps", "caps", "budget_tenant"),
    [
        ([_HOT] * 40, Caps(max_duration_s=2.05), False),  # the duration cap, no money limit
        ([_HOT] * 40, Caps(max_cost_micros=10**10, max_duration_s=3.05), False),  # the same inside a cost horizon
        ([_HOT] * 10 + [_SILENT] * 30, Caps(idle_timeout_s=1.45), False),  # the idle timeout
        ([_HOT] * 10 + [_SILENT] * 50, Caps(max_cost_micros=10**10, idle_timeout_s=3.45), False),
        ([_HOT] * 5 + [(0.1, 0, 0, True, False, False, None)] + [_SILENT] * 30, Caps(), False),  # an upstream stall
        ([_HOT] * 5 + [(0.1, 5, 5, False, False, False, True)] + [_HOT] * 30, Caps(), False),  # a slow client
        ([(0.1, 40, 40, False, False, False, None)] * 30, Caps(max_cost_micros=10**10), False),  # audio 8× real time
        ([_HOT] * 40, Caps(), True),  # a budget arriving for the tenant: priced on every tick from then on
    ],
)
def test_each_clock_fires_on_the_pass_it_fires_without_skipping(
    steps: list[tuple[float, int, int, bool, bool, bool, bool | None]], caps: Caps, budget_tenant: bool
) -> None:
    """Each clock of the tick (duration cap, idle timeout, stall, slow client, report pricing under a tenant's new
    budget) acts on the same pass and the session is skipped in between."""
    skipping, skipped = asyncio.run(_run_skipping(steps, caps, 10.0, budget_tenant, skip=True))
    every, _ = asyncio.run(_run_skipping(steps, caps, 10.0, budget_tenant, skip=False))
    assert skipping == every
    assert skipped > 0
