"""One relayed session: two pumps around the Sans-I/O core, closing both sides with the right code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Callable, Final

from gateway.core.errors import CloseCode, GatewayError, SlowClient, UpstreamDropped, UpstreamStalled
from gateway.core.lifecycle import SessionState, check_transition
from gateway.core.observers import ClientNotified, Notify, SessionEnded, SessionInfo, Terminate, Verdict
from gateway.core.session import FORWARD, Emit, SessionCore
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.push import PushRelay
from gateway.core.ports import Closed, Frame, FrameSocket, PushSocket

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


class RelaySession:
    """Relays frames both ways until either side closes or an observer/operator ends it."""

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
    ) -> None:
        self.info = info
        self.core = core
        self.client = client
        self.upstream = upstream
        self.observers = observers
        self.clock = clock
        self.limits = limits
        self.state = SessionState.CONNECTING
        self._held = held_frames or []
        self._ended: asyncio.Future[_EndCause] = asyncio.get_running_loop().create_future()
        self._last_upstream = clock()
        self._client_send_since = 0.0
        self._next_probe = 0.0
        self._background: set[asyncio.Task[None]] = set()
        self.ended: SessionEnded | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def _move(self, target: SessionState) -> None:
        self.state = check_transition(self.state, target)

    def _end(self, cause: _EndCause) -> None:
        if not self._ended.done():
            self._ended.set_result(cause)

    def terminate(self, error: GatewayError) -> None:
        """End the session with ``error`` (cap, operator, drain); idempotent, first cause wins."""
        self._end(_Terminated(error))

    def _report(self, error: GatewayError, *, reported: bool) -> None:
        self._end(_Terminated(error, reported=reported))

    def _client_closed(self, closed: Closed) -> None:
        self._end(_ClientClosed(closed.code, closed.reason))

    def _upstream_closed(self, closed: Closed) -> None:
        self._end(_UpstreamClosed(closed.code, closed.reason))

    @property
    def finished(self) -> bool:
        return self._ended.done()

    @property
    def push_mode(self) -> bool:
        """Both sockets deliver by callback: frames are relayed without pump tasks."""
        return isinstance(self.client, PushSocket) and isinstance(self.upstream, PushSocket)

    async def run(self) -> SessionEnded:
        """Relay until the end; then close both sides, flush observer events, return the record."""
        self._move(SessionState.OPEN)
        push: PushRelay | None = None
        pumps: list[asyncio.Task[None]] = []
        opened = await self._send_opening()
        client, upstream = self.client, self.upstream
        if opened and isinstance(client, PushSocket) and isinstance(upstream, PushSocket):
            push = PushRelay(self, client, upstream)
            held, self._held = self._held, []
            push.start(held)
        elif opened:
            pumps = [
                asyncio.create_task(self._pump_client(), name=f"client:{self.info.session_id}"),
                asyncio.create_task(self._pump_upstream(), name=f"upstream:{self.info.session_id}"),
            ]
        try:
            await asyncio.shield(self._ended)
        finally:
            self._end(_ClientClosed(CloseCode.GOING_AWAY, "cancelled"))  # no-op unless we were cancelled
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            if push is not None:
                push.stop()
            self._move(SessionState.CLOSING)
            self.ended = await self._finish(self._ended.result())
            self._move(SessionState.CLOSED)
        return self.ended

    async def _send_opening(self) -> bool:
        """Send the gateway's own first frames (the route's enforced session.update) before any client frame."""
        try:
            for frame in self.core.opening_frames():
                await self.upstream.send(frame)
        except Exception as exc:  # noqa: BLE001 - an upstream gone before the first frame
            log.warning("opening frames failed", exc_info=exc, extra={"session_id": self.info.session_id})
            self.terminate(UpstreamDropped())
            return False
        return True

    # --- pumps -----------------------------------------------------------------------------------

    async def _pump_client(self) -> None:
        client, upstream, core, clock = self.client, self.upstream, self.core, self.clock
        try:
            for held in self._held:
                await self._client_frame(held)
            self._held = []
            while True:
                frame = await client.receive()
                if isinstance(frame, Closed):
                    self._end(_ClientClosed(frame.code, frame.reason))
                    return
                action = core.from_client(frame, clock())
                if action is FORWARD:
                    await upstream.send(frame)
                else:
                    await self._dispatch(action)
                    if self._ended.done():  # queued frames must not run on past a fatal error
                        return
        except Exception as exc:  # noqa: BLE001 - any pump failure ends the session cleanly
            log.error("client pump failed", exc_info=exc, extra={"session_id": self.info.session_id})
            self.terminate(UpstreamDropped())

    async def _client_frame(self, frame: Frame) -> None:
        action = self.core.from_client(frame, self.clock())
        if action is FORWARD:
            await self.upstream.send(frame)
        else:
            await self._dispatch(action)

    async def _pump_upstream(self) -> None:
        client, upstream, core, clock = self.client, self.upstream, self.core, self.clock
        probe = self.limits.delay_probe
        try:
            while True:
                frame = await upstream.receive()
                if isinstance(frame, Closed):
                    self._end(_UpstreamClosed(frame.code, frame.reason))
                    return
                now = clock()
                self._last_upstream = now
                action = core.from_upstream(frame, now)
                self._client_send_since = now
                if action is FORWARD:
                    await client.send(frame)
                else:
                    await self._dispatch(action)
                self._client_send_since = 0.0
                if self._ended.done():
                    return
                if now >= self._next_probe and probe is not None:
                    self._next_probe = now + 1.0
                    probe(clock() - now)
        except Exception as exc:  # noqa: BLE001
            log.error("upstream pump failed", exc_info=exc, extra={"session_id": self.info.session_id})
            self.terminate(UpstreamDropped())

    async def _dispatch(self, emit: Emit) -> None:
        for frame in emit.to_upstream:
            await self.upstream.send(frame)
        for frame in emit.to_client:
            await self.client.send(frame)
        if emit.close is not None:
            self._end(_Terminated(emit.close, reported=bool(emit.to_client)))

    # --- the shared tick ---------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Deliver pending events to observers, ask them for verdicts, check relay timeouts."""
        if self._ended.done():
            return
        await self._deliver(now, with_tick=True)
        if self.core.response_in_flight and now - self._last_upstream > self.limits.upstream_stall_s:
            self.terminate(UpstreamStalled())
        since = self._client_send_since
        if since and now - since > self.limits.slow_client_s:
            self.terminate(SlowClient())

    async def _deliver(self, now: float, *, with_tick: bool) -> None:
        events = self.core.take_events()
        stats = self.core.stats
        for observer in self.observers:
            for event in events:
                self._apply(await observer.on_event(event, stats))
            if with_tick:
                self._apply(await observer.on_tick(now, stats))

    def _apply(self, verdict: Verdict) -> None:
        if verdict is None:
            return
        if isinstance(verdict, Terminate):
            self.terminate(verdict.error)
        elif isinstance(verdict, Notify) and not self._ended.done():
            event = dict(verdict.event)
            frame = self.core.gateway_event(event)
            self.core.events.append(ClientNotified(at=self.clock(), event=event))
            task = asyncio.create_task(self._safe_send(self.client, frame))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # --- closing -----------------------------------------------------------------------------------

    async def _safe_send(self, sock: FrameSocket, frame: Frame) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sock.send(frame), _CLOSE_TIMEOUT_S)

    async def _safe_close(self, sock: FrameSocket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sock.close(code, reason), _CLOSE_TIMEOUT_S)

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
        for task in list(self._background):
            task.cancel()
        ended = SessionEnded(
            at=now,
            reason=reason,
            client_close_code=client_code,
            upstream_close_code=upstream_code,
            error_code=error_code,
        )
        await self._deliver(now, with_tick=False)
        for observer in self.observers:
            await observer.on_end(ended, self.core.stats)
        return ended
