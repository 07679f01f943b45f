"""One relayed session: the Sans-I/O core behind a synchronous surface, a strategy moving bytes, both sides closed with the right code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Callable, Coroutine, Final, Sequence

from gateway.core.errors import CloseCode, GatewayError, SlowClient, UpstreamDropped, UpstreamStalled
from gateway.core.handoff import HandoffRequest, Trigger
from gateway.core.kind_handoff import Driver, serving_core
from gateway.core.kinds import SessionKind
from gateway.core.lifecycle import SessionState, check_transition
from gateway.core.observers import (
    ClientNotified,
    Notify,
    SessionEnded,
    SessionEvent,
    SessionInfo,
    SessionStats,
    Terminate,
    TickBound,
    Verdict,
    before,
)
from gateway.core.ports import Closed, Frame, FrameSocket
from gateway.core.session import FORWARD, Emit, SessionCore
from gateway.core.turns import TurnTracker
from gateway.relay.failsafe import NEVER, FailsafeObserver
from gateway.relay.handoff import Closer, TargetOpener, run_handoff
from gateway.relay.pull import PullRelay
from gateway.relay.push import PushRelay, push_sockets
from gateway.relay.strategy import Strategy, moving_failed
from gateway.waiting import within

log = logging.getLogger("voice_gateway.relay")

#: close codes from one peer that are passed on to the other unchanged
_RELAYABLE: Final = frozenset({1000, 1001, 1008, 1009, 1013})
_CLOSE_TIMEOUT_S: Final = 1.0


def relayable(code: int) -> bool:
    return code in _RELAYABLE or 3000 <= code <= 4999


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """Timeouts the relay enforces itself (caps live in the accounting observer)."""

    upstream_stall_s: float = 30.0
    slow_client_s: float = 5.0
    #: receives the time the gateway spent on one upstream→client frame, sampled once a second
    delay_probe: Callable[[float], None] | None = None


@dataclass(frozen=True, slots=True)
class _ClientClosed:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class _UpstreamClosed:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Terminated:
    error: GatewayError
    #: the core already put the error event in front of the client
    reported: bool = False


_EndCause = _ClientClosed | _UpstreamClosed | _Terminated


#: the bound that never holds: the next pass ticks the session (and a tick that finds it computes a real one)
_NEXT_PASS: Final = TickBound(-math.inf)


def _not_started(frame: Frame) -> None:
    raise RuntimeError("the relay sends frames only once run() has picked its strategy")


class RelaySession:
    """Relays frames both ways until either side closes or an observer/operator ends it.

    The protocol decisions are made here, synchronously, behind a small public surface that a
    strategy drives (:class:`gateway.relay.strategy.RelaySurface`): a frame from each side, a close
    from each side, the client's writability, and :meth:`end`. The strategy — push mode when both
    sockets deliver by callback, pull mode otherwise — only moves bytes.
    """

    # one per open session, and past 30 attributes CPython gives every instance a full dict of its own (~1.4 KiB)
    __slots__ = (
        "info", "core", "home", "driver", "client", "upstream", "observers", "clock", "limits", "state", "ended",
        "opener", "tool_runner", "_held", "_cause", "_wake", "_last_upstream", "_client_send_since", "_next_probe",
        "_background", "_to_client", "_to_upstream", "_turns", "_due_timer", "_due_at", "_strategy_in_use",
        "_handoff_task", "_retiring", "_delivering", "_release", "_direct",
    )

    def __init__(
        self,
        *,
        info: SessionInfo,
        core: SessionCore,
        client: FrameSocket,
        upstream: FrameSocket,
        observers: list[FailsafeObserver],
        clock: Callable[[], float],
        limits: RelayLimits = RelayLimits(),
        held_frames: list[Frame] | None = None,
        opener: TargetOpener | None = None,
    ) -> None:
        self.info = info
        #: the core of the session serving now (stats, events, notices, the allowance); the home core at first
        self.core = core
        #: the client's own core (its kind and dialect for life; it serves every route of the client's kind)
        self.home = core
        #: what frames and time are fed to: the serving core, or the core of another kind behind a kind bridge
        self.driver: Driver = core
        self.client = client
        self.upstream = upstream
        self.observers = observers
        self.clock = clock
        self.limits = limits
        self.state = SessionState.CONNECTING
        self._held = held_frames or []
        #: why the session ends (``None`` while it runs); the first cause wins
        self._cause: _EndCause | None = None
        #: what ``run`` waits on: its own future, so it needs no ``asyncio.shield`` (an outer future and two
        #: callbacks per open session) for a cancellation of ``run`` to leave the cause intact
        self._wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_upstream = clock()
        self._client_send_since = 0.0
        self._next_probe = 0.0
        #: sends off the tick (made at the first: most sessions never have one)
        self._background: set[asyncio.Task[None]] | None = None
        self._to_client: Callable[[Frame], None] = _not_started
        self._to_upstream: Callable[[Frame], None] = _not_started
        #: voice-agent turns, delivered to observers as turn events after the events that cause them
        self._turns = TurnTracker() if info.kind is SessionKind.REALTIME else None
        #: a timer for the core's next due decision (a barge-in grace period), finer than the shared tick
        self._due_timer: asyncio.TimerHandle | None = None
        self._due_at: float | None = None
        self.ended: SessionEnded | None = None
        #: opens handoff targets (None: this session cannot move)
        self.opener = opener
        #: the gateway tool runner of the route serving the session now (a handoff replaces it)
        self.tool_runner: Closer | None = None
        self._strategy_in_use: Strategy | None = None
        self._handoff_task: asyncio.Task[None] | None = None
        #: replaced upstreams being closed after a switch (made at the first)
        self._retiring: set[asyncio.Task[None]] | None = None
        #: one delivery to observers at a time (the tick, a held reply's release, the end), so each sees events in order
        self._delivering = asyncio.Lock()
        #: delivers pending events, then lets the core decide the client frames it holds (see ``client_frame``)
        self._release: asyncio.Task[None] | None = None
        #: every observer's hooks never wait: a tick is delivered by plain calls (see ``_tick_directly``)
        self._direct = all(observer.direct is not None for observer in observers)

    # --- lifecycle -------------------------------------------------------------------------------

    def _move(self, target: SessionState) -> None:
        self.state = check_transition(self.state, target)

    def _end(self, cause: _EndCause) -> None:
        if self._cause is None:
            self._cause = cause
            if not self._wake.done():  # done: run() was cancelled while waiting
                self._wake.set_result(None)
            self._link_hot()  # from now on every frame reaches the strategy, which drops it

    def _link_hot(self) -> None:
        """Let the sockets relay hot audio frames alone under the serving core's gate (push mode, a core not behind a
        kind bridge, not ended); otherwise unlink them. What the gate lets through is the core's decision."""
        strategy = self._strategy_in_use
        if not isinstance(strategy, PushRelay):
            return
        gate = self.core.hot if self.driver is self.core and not self.finished else None
        if gate is not None:
            gate.use_clock(self.clock)
        strategy.link_hot(gate)

    def terminate(self, error: GatewayError) -> None:
        """End the session with ``error`` (cap, operator, drain); idempotent, first cause wins."""
        self._end(_Terminated(error))

    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def finished(self) -> bool:
        return self._cause is not None

    @property
    def push_mode(self) -> bool:
        """Both sockets deliver by callback: frames are relayed without pump tasks."""
        return push_sockets(self.client, self.upstream) is not None

    async def run(self) -> SessionEnded:
        """Relay until the end; then close both sides, flush observer events, return the record."""
        await self.start()
        try:
            await self.wait_ended()
        finally:
            ended = await self.close()
        return ended

    async def wait_ended(self) -> None:
        """Until the session has a cause to end (cancelling the wait leaves the cause to :meth:`close`)."""
        await self._wake

    async def start(self) -> None:
        """Start relaying (``run`` without the wait): the sockets' callbacks or the pumps move frames from now on.
        Once :meth:`when_ended` calls back, :meth:`close` must be awaited. Nothing waits meanwhile (an idle session
        keeps no task or coroutine frame)."""
        self._move(SessionState.OPEN)
        strategy = self._strategy_in_use = self._strategy()
        self._to_client, self._to_upstream = strategy.to_client, strategy.to_upstream
        await self._deliver(self.clock(), with_tick=True)  # observers decide (caps, allowance) before any frame
        if await self._send_opening():
            self._replay_held()
            strategy.start()
            self._link_hot()

    def when_ended(self, callback: Callable[[object], None]) -> None:
        """Call ``callback`` (once, from the event loop, with an argument to ignore) when the session has a cause to
        end; soon if it has one already."""
        self._wake.add_done_callback(callback)

    async def close(self) -> SessionEnded:
        """After :meth:`start`: close both sides, flush observer events, return the record (ends the session as a
        client going away if it had no cause yet: ``run`` cancelled)."""
        self._end(_ClientClosed(CloseCode.GOING_AWAY, "cancelled"))  # no-op unless we were cancelled
        cause = self._cause
        assert cause is not None  # set by _end
        strategy = self._strategy_in_use
        assert strategy is not None  # set by start
        await self._stop_handoff()
        await strategy.stop(grace=isinstance(cause, _Terminated) and cause.reported)
        self._move(SessionState.CLOSING)
        self.ended = await self._finish(cause)
        self._move(SessionState.CLOSED)
        return self.ended

    async def _send_opening(self) -> bool:
        """Send the gateway's own first frames (the route's enforced session.update) before any client frame."""
        try:
            for frame in [*self.core.opening_frames(), *self.core.allowance_frames()]:
                await self.upstream.send(frame)
        except Exception as exc:  # noqa: BLE001 - an upstream gone before the first frame
            log.warning("opening frames failed", exc_info=exc, extra={"session_id": self.info.session_id})
            self.terminate(UpstreamDropped())
            return False
        return True

    def _strategy(self) -> Strategy:
        pushing = push_sockets(self.client, self.upstream)
        if pushing is not None:
            return PushRelay(self, *pushing)
        return PullRelay(self, self.client, self.upstream)

    def _replay_held(self) -> None:
        """Frames the handshake held back (read while classifying) go first, through the same step."""
        held, self._held = self._held, []
        try:
            for frame in held:
                if self.finished:
                    return
                self.client_frame(frame)
        except Exception as exc:
            moving_failed(self, "client", exc)

    # --- the surface a strategy drives -------------------------------------------------------------

    def client_frame(self, frame: Frame) -> None:
        """A frame from the client: forwarded untouched, or what the core emits instead."""
        self.core.stats.tick_bound = None  # the next tick decides afresh (only the listener's frames leave it be)
        action = self.driver.from_client(frame, self.clock())
        if action is FORWARD:  # counters only: nothing held, no decision falls due (due_at moves on parsed events)
            self._to_upstream(frame)
            return
        self._emit(action)
        if self.driver.awaiting_metering and self._release is None:
            self._release = asyncio.create_task(self._release_held())
        self._schedule_due()

    async def _release_held(self) -> None:
        """A reply asked for before the last one was metered: meter it now (not at the next tick), then decide."""
        try:
            await self._deliver(self.clock(), with_tick=False)
            if not self.finished:
                self._emit(self.driver.release_awaiting(self.clock()))
        except Exception as exc:  # noqa: BLE001 - a failed send ends the session like any other
            moving_failed(self, "upstream", exc)
        finally:
            self._release = None
        if self.driver.awaiting_metering and not self.finished:  # held again while this one ran
            self._release = asyncio.create_task(self._release_held())

    def retired_upstream_frame(self, frame: Frame) -> None:
        """A frame the upstream a handoff replaced sent while it closes: the core bills a late usage report at that
        model's price (nothing reaches the client)."""
        if not self.finished:
            self.core.stats.tick_bound = None
            self.core.from_retired_upstream(frame, self.clock())

    def upstream_frame(self, frame: Frame) -> None:
        """A frame from the upstream: forwarded untouched, or what the core emits instead."""
        now = self.clock()
        self._last_upstream = now
        core, driver = self.core, self.driver
        core.stats.tick_bound = None
        action = driver.from_upstream(frame, now)
        if action is FORWARD:  # a forwarded delta moves no decision (due_at moves on parsed events)
            self._to_client(frame)
        else:
            self._emit(action)
            if core.handoff is not None and core.handoff.requested is not None:
                self._start_handoff()
            if core.tools is not None and core.allowance_stale and self._release is None and not self.finished:
                # a reply ended: meter it now, so a gateway tool's follow-up is bounded by what is really left
                self._release = asyncio.create_task(self._release_held())
            if driver.due_at != self._due_at:
                self._schedule_due()
        probe = self.limits.delay_probe
        if probe is not None and now >= self._next_probe:
            self._next_probe = now + 1.0
            probe(self.clock() - now)

    def _emit(self, emit: Emit) -> None:
        for frame in emit.to_upstream:
            self._to_upstream(frame)
        for frame in emit.to_client:
            self._to_client(frame)
        if emit.close is not None:
            self._end(_Terminated(emit.close, reported=bool(emit.to_client)))

    def client_closed(self, closed: Closed) -> None:
        """The client closed (or vanished): the session ends, passing the close on upstream."""
        self._end(_ClientClosed(closed.code, closed.reason))

    def upstream_closed(self, closed: Closed) -> None:
        """The upstream closed (or vanished): the session ends, passing the close on or reporting a drop."""
        self._end(_UpstreamClosed(closed.code, closed.reason))

    def client_writable(self, writable: bool) -> None:
        """The client stopped (``False``) or resumed reading; the tick cuts off one that stays behind."""
        self._client_send_since = 0.0 if writable else self.clock()
        self.core.stats.tick_bound = None

    def end(self, error: GatewayError) -> None:
        """End the session with ``error`` (a strategy's failure, a cap, the operator); first cause wins."""
        self.terminate(error)

    # --- handoff (gateway/relay/handoff.py does the I/O) -----------------------------------------

    def request_handoff(self, to: str, reason: str, trigger: Trigger = Trigger.ADMIN) -> str | None:
        """Move the session to route ``to``; returns why not (``None``: the switch is starting)."""
        handoff = self.core.handoff
        if handoff is None or self.opener is None:
            return "this session's route allows no handoff"
        if self.finished:
            return "the session is ending"
        self.core.stats.tick_bound = None
        refusal = handoff.request(HandoffRequest(to, reason[:200] or trigger.value, trigger))
        if refusal is None:
            self._start_handoff()
        return refusal

    def _start_handoff(self) -> None:
        handoff, opener = self.core.handoff, self.opener
        if handoff is None or opener is None or handoff.requested is None or self.finished:
            return
        if self._handoff_task is not None and not self._handoff_task.done():
            return
        request = self.core.begin_handoff()
        if request is not None:
            self._handoff_task = asyncio.create_task(run_handoff(self, opener, request), name=f"handoff:{self.session_id}")

    async def _stop_handoff(self) -> None:
        task = self._handoff_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._retiring:  # old upstreams still closing (each bounded): let them finish
            await asyncio.gather(*self._retiring, return_exceptions=True)

    def retire(self, closing: Coroutine[object, object, None]) -> None:
        """Close a replaced upstream off the switch: the switch is over at the swap, so the next one may start at once
        (the session's end waits for the close)."""
        task = asyncio.create_task(closing)
        if self._retiring is None:
            self._retiring = set()
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def send_client(self, frame: Frame) -> None:
        """Send a frame to the client through the strategy (in order with relayed frames)."""
        self._to_client(frame)

    def upstream_failed(self, exc: BaseException) -> None:
        moving_failed(self, "upstream", exc)

    def can_relay(self, upstream: FrameSocket) -> bool:
        """Whether this session's strategy can move bytes with ``upstream`` (checked before a switch commits)."""
        strategy = self._strategy_in_use
        return strategy is not None and strategy.can_relay(upstream)

    def serve_with(self, driver: Driver) -> None:
        """Feed frames and time to ``driver`` from now on (a handoff completed; synchronous with the upstream swap)."""
        self.core.stats.tick_bound = None
        self.driver, self.core = driver, serving_core(driver)
        self.core.stats.tick_bound = None
        self._link_hot()
        self._schedule_due()

    def swap_upstream(self, upstream: FrameSocket, first: Sequence[Frame] = ()) -> FrameSocket:
        """Relay with ``upstream`` from now on (what it queued may flow before this returns); returns the old one.
        ``first`` are frames the handoff already read from it (they go through the core before the rest)."""
        strategy = self._strategy_in_use
        assert strategy is not None
        old, self.upstream = self.upstream, upstream
        self._last_upstream = self.clock()
        self.core.stats.tick_bound = None
        strategy.replace_upstream(upstream)
        self._to_upstream = strategy.to_upstream
        try:
            for frame in first:
                if self.finished:
                    break
                self.upstream_frame(frame)
        except Exception as exc:  # noqa: BLE001 - as a frame the strategy delivers: a failure ends the session
            moving_failed(self, "upstream", exc)
        strategy.start_upstream()
        self._link_hot()
        return old

    # --- decisions the core takes in time ----------------------------------------------------------

    def _schedule_due(self) -> None:
        """Arm a timer for the core's next due decision (the shared tick alone would be up to 100 ms late)."""
        due = self.driver.due_at
        if due == self._due_at:
            return
        if self._due_timer is not None:
            self._due_timer.cancel()
            self._due_timer = None
        self._due_at = due
        if due is not None and not self.finished:
            delay = max(0.0, due - self.clock())
            self._due_timer = asyncio.get_running_loop().call_later(delay, self._on_due)

    def _on_due(self) -> None:
        self._due_timer, self._due_at = None, None
        if self.finished:
            return
        self.core.stats.tick_bound = None
        try:
            self._emit(self.driver.tick(self.clock()))
        except Exception as exc:  # noqa: BLE001 - a failed send ends the session like any other
            moving_failed(self, "upstream", exc)
        self._schedule_due()

    # --- the shared tick ---------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Deliver pending events to observers, ask them for verdicts, check relay timeouts."""
        if self._cause is not None:
            return
        self._tick_core(now)
        if not self._tick_directly(now):
            await self._deliver(now, with_tick=True)
        self._after_tick(now)

    def quiet(self, now: float) -> bool:
        """Nothing the shared tick does can be due at ``now``: the bound the last tick published still holds (its time
        is ahead, the counters the listener moves alone are within it, nothing cleared it since). The ticker skips
        the session: a tick now would decide, send and change nothing."""
        stats = self.core.stats
        bound = stats.tick_bound
        return bound is not None and bound.holds(now, stats)

    def tick_now(self, now: float) -> bool:
        """:meth:`tick` without a coroutine when every observer is direct and no other delivery is under way (the
        same steps in the same order: nothing in them waits); ``False``: nothing was done, await :meth:`tick`.
        Then it publishes when the next tick can have anything to do (:meth:`quiet`)."""
        if self._cause is not None:
            return True
        if not self._direct or self._delivering.locked():
            return False
        stats = self.core.stats
        # cleared since the last tick (a frame through the core, an event): a session busy on that path would clear a
        # new bound before the next pass, so the bound waits for a tick that finds the last one's marker untouched
        untouched = stats.tick_bound is not None
        self._tick_core(now)
        self._tick_observers(now)
        self._after_tick(now)
        if self._cause is None:
            self.core.stats.tick_bound = self._next_tick(now) if untouched else _NEXT_PASS
        return True

    def _next_tick(self, now: float) -> TickBound:
        """The earliest the shared tick can have anything to do for this session, as it stands after a tick at ``now``
        (``_NEXT_PASS``: at the next pass): the core's due decision (barge-in), the relay's upstream-stall and slow-client
        checks, each ticking observer's own bound. A session whose core does more on a tick (gateway tools, a
        handoff, direct media, a kind bridge) or has events or a delivery pending is ticked on every pass."""
        core = self.core
        if (
            self.driver is not core or core.tools is not None or core.handoff is not None or core.media is not None
            or core.events or self._release is not None
        ):
            return _NEXT_PASS
        due = core.due_at
        at = math.inf if due is None else due
        if core.response_in_flight:  # _after_tick: a stall once the upstream is silent for upstream_stall_s
            at = min(at, before(max(self._last_upstream, core.hot.upstream_at) + self.limits.upstream_stall_s))
        since = self._client_send_since
        if since:
            at = min(at, before(since + self.limits.slow_client_s))
        bound: TickBound | None = None
        stats = core.stats
        for observer in self.observers:
            mine = observer.next_tick(now, stats)
            if mine is None:
                return _NEXT_PASS
            if mine is not NEVER:
                bound = mine if bound is None else bound.earliest(mine)
        if bound is None:
            return TickBound(at)
        return bound if bound.at <= at else bound.earliest(TickBound(at))

    def _tick_core(self, now: float) -> None:
        driver = self.driver
        emit = driver.tick(now)
        if emit.to_upstream or emit.to_client or emit.close is not None:
            self._emit(emit)
        if driver.due_at != self._due_at:
            self._schedule_due()

    def _after_tick(self, now: float) -> None:
        core = self.core
        if core.handoff is not None:
            self._start_handoff()
        if core.stats.response_allowance is not None:  # nothing to lower without one (allowance_frames)
            self._lower_ceiling()
        # upstream frames the listener relayed alone count as the upstream's activity too
        upstream_at = core.hot.upstream_at
        if upstream_at > self._last_upstream:
            self._last_upstream = upstream_at
        if core.response_in_flight and now - self._last_upstream > self.limits.upstream_stall_s:
            self.terminate(UpstreamStalled())
        since = self._client_send_since
        if since and now - since > self.limits.slow_client_s:
            self.terminate(SlowClient())

    def _lower_ceiling(self) -> None:
        """Send (off the shared tick) the core's session.update lowering max_output_tokens to what the caps leave."""
        for frame in self.core.allowance_frames():
            self._send_in_background(self.upstream, frame)

    def _send_in_background(self, sock: FrameSocket, frame: Frame) -> None:
        """Send ``frame`` in a task of its own, cancelled at the session's end if still pending."""
        task = asyncio.create_task(self._safe_send(sock, frame))
        if self._background is None:
            self._background = set()
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver(self, now: float, *, with_tick: bool, closing: bool = False) -> None:
        async with self._delivering:
            await self._deliver_now(now, with_tick=with_tick, closing=closing)

    def _take_events(self, now: float, closing: bool) -> list[SessionEvent]:
        events = self.core.take_events()
        turns = self._turns
        if turns is not None:
            if events:
                events = turns.expand(events)
            if closing:
                events.extend(turns.close(now))
        return events

    async def _deliver_now(self, now: float, *, with_tick: bool, closing: bool) -> None:
        self.core.stats.tick_bound = None  # events may move any observer's clock
        events = self._take_events(now, closing)
        stats = self.core.stats
        for observer in self.observers:
            if observer.direct is not None:
                self._deliver_direct(observer, events, now if with_tick else None, stats)
                continue
            for event in events:
                self._apply(await observer.on_event(event, stats))
            if with_tick:
                self._apply(await observer.on_tick(now, stats))

    def _deliver_direct(
        self, observer: FailsafeObserver, events: list[SessionEvent], now: float | None, stats: SessionStats
    ) -> None:
        """Events (and the tick at ``now``, unless ``None``) to an observer whose hooks never wait: plain calls, what
        one raises reported through its wrapper and taken as ``None`` (as the wrapper's own hooks do)."""
        assert observer.direct is not None
        for event in events:
            verdict = observer.event_now(event, stats)
            if verdict is not None:
                self._apply(verdict)
        if now is not None and observer.direct.ticks:
            verdict = observer.tick_now(now, stats)
            if verdict is not None:
                self._apply(verdict)

    def _tick_directly(self, now: float) -> bool:
        """Deliver the tick without a coroutine when every observer is direct and no other delivery is under way
        (nothing here waits, so no other delivery can start before it is done); ``False``: it must be awaited."""
        if not self._direct or self._delivering.locked():
            return False
        self._tick_observers(now)
        return True

    def _tick_observers(self, now: float) -> None:
        """The tick (and pending events) to observers that are all direct, by plain calls."""
        core = self.core
        stats = core.stats
        tools = core.tools
        if core.events or (tools is not None and tools.events):
            events = self._take_events(now, False)
            for observer in self.observers:
                self._deliver_direct(observer, events, now, stats)
            return
        for observer in self.observers:  # no events: the tick alone, as _deliver_direct delivers it
            direct = observer.direct
            assert direct is not None
            if direct.ticks:
                verdict = observer.tick_now(now, stats)
                if verdict is not None:
                    self._apply(verdict)

    def _apply(self, verdict: Verdict) -> None:
        if verdict is None:
            return
        if isinstance(verdict, Terminate):
            self.terminate(verdict.error)
        elif isinstance(verdict, Notify) and not self.finished:
            event = dict(verdict.event)
            frame = self.core.notice(event)
            self.core.events.append(ClientNotified(at=self.clock(), event=event, delivered=frame is not None))
            if frame is None:
                return
            self._send_in_background(self.client, frame)

    # --- closing -----------------------------------------------------------------------------------

    async def _safe_send(self, sock: FrameSocket, frame: Frame) -> None:
        with contextlib.suppress(Exception):
            await within(sock.send(frame), _CLOSE_TIMEOUT_S)

    async def _safe_close(self, sock: FrameSocket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await within(sock.close(code, reason), _CLOSE_TIMEOUT_S)

    async def _finish(self, cause: _EndCause) -> SessionEnded:
        now = self.clock()
        client_code: int | None = None
        upstream_code: int | None = None
        error_code: str | None = None
        if isinstance(cause, _ClientClosed):
            reason = "client_closed"
            client_code = cause.code
            await self._safe_close(self.upstream, cause.code if relayable(cause.code) else 1000, cause.reason)
        elif isinstance(cause, _UpstreamClosed):
            upstream_code = cause.code
            if relayable(cause.code):
                reason, client_code = "upstream_closed", cause.code
                await self._safe_close(self.client, cause.code, cause.reason)
            else:
                dropped = UpstreamDropped()
                reason, client_code, error_code = "upstream_dropped", dropped.close_code, dropped.code
                await self._safe_send(self.client, self.core.error_event(dropped))
                await self._safe_close(self.client, dropped.close_code, dropped.close_reason)
        else:
            error = cause.error
            reason, client_code, error_code = error.code, error.close_code, error.code
            for frame in self.core.cancel_frames():
                await self._safe_send(self.upstream, frame)
            if not cause.reported and not isinstance(error, SlowClient):  # a client that does not read would only make us wait
                await self._safe_send(self.client, self.core.error_event(error))
            await asyncio.gather(
                self._safe_close(self.client, error.close_code, error.close_reason),
                self._safe_close(self.upstream, 1000, ""),
            )
        for task in list(self._background or ()):
            task.cancel()
        if self._release is not None:  # not cancelled: it may be handing a reply's usage to the observers
            with contextlib.suppress(Exception):
                await self._release
        if self._due_timer is not None:
            self._due_timer.cancel()
        ended = SessionEnded(
            at=now,
            reason=reason,
            client_close_code=client_code,
            upstream_close_code=upstream_code,
            error_code=error_code,
        )
        self.core.closing(now)
        await self._deliver(now, with_tick=False, closing=True)
        for observer in self.observers:
            await observer.on_end(ended, self.core.stats)
        return ended
