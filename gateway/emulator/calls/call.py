"""One emulated call: a session machine driven by its media peer (WebRTC or a simulated SIP caller) and sidebands.

The peer carries the media and, for WebRTC, the ``oai-events`` data channel: it receives every
event the machine emits (model audio becomes media). Each sideband WebSocket attached by
``call_id`` receives every server event of the call except audio deltas (audio is media), and
may send client events, which the machine handles exactly like the peer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Protocol

import orjson

from gateway.emulator.machine import Outgoing, SessionMachine
from gateway.waiting import within

log = logging.getLogger(__name__)

AUDIO_DELTAS: Final = frozenset({"response.output_audio.delta", "session.output_audio.delta"})
CLEAR: Final = "output_audio_buffer.clear"
_END: Final = object()


class CallStatus(str, Enum):
    INCOMING = "incoming"  # a SIP call waiting for accept / reject / refer
    ACTIVE = "active"
    REJECTED = "rejected"
    REFERRED = "referred"
    ENDED = "ended"


_TRANSITIONS: Final = {
    CallStatus.INCOMING: {CallStatus.ACTIVE, CallStatus.REJECTED, CallStatus.REFERRED, CallStatus.ENDED},
    CallStatus.ACTIVE: {CallStatus.REFERRED, CallStatus.ENDED},
    CallStatus.REJECTED: set(),
    CallStatus.REFERRED: set(),
    CallStatus.ENDED: set(),
}


class CallStateError(ValueError):
    """The call is not in a state that allows the operation (HTTP 400 ``invalid_call_state``)."""

    def __init__(self, expected: str, actual: CallStatus) -> None:
        super().__init__(f"The call is {actual.value}; expected {expected}.")


class Peer(Protocol):
    """The call's media side: frames in (client events, appends), every emitted event out."""

    async def receive(self) -> str | bytes | object: ...

    async def send(self, frame: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Sideband(Protocol):
    """A WebSocket attached with ``?call_id=`` (websockets' ServerConnection fits)."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass(eq=False)
class EmulatedCall:
    """State and I/O of one call; ``run`` drives the machine until the call ends."""

    call_id: str
    transport: str  # "webrtc" | "sip"
    status: CallStatus = CallStatus.ACTIVE
    machine: SessionMachine | None = None
    peer: Peer | None = None
    sip_headers: list[dict[str, str]] = field(default_factory=list)
    refer_target: str | None = None
    reject_status: int | None = None
    #: who ended it: "api" (REST hangup), "peer" (the caller), "not_answered", "refer"
    ended_by: str | None = None
    #: server event types sent to sidebands, in order (tests read them)
    sideband_events: list[str] = field(default_factory=list)
    sidebands: set[Sideband] = field(default_factory=set)
    sidebands_seen: int = 0
    #: how long the simulated SIP caller talks once the call is accepted
    speak_ms: int = 1200
    #: test fault: sidebands were cut and new ones are refused (the call itself goes on)
    sidebands_refused: bool = False
    created_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    _inbox: asyncio.Queue[str | bytes | object] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)

    def move(self, target: CallStatus) -> None:
        if target not in _TRANSITIONS[self.status]:
            raise CallStateError(" or ".join(s.value for s in _TRANSITIONS if target in _TRANSITIONS[s]) or "none", self.status)
        self.status = target
        if target is not CallStatus.ACTIVE:
            self.ended_at = time.monotonic()

    @property
    def live(self) -> bool:
        return self.status in (CallStatus.INCOMING, CallStatus.ACTIVE)

    # --- running ---------------------------------------------------------------------------------

    def start(self, machine: SessionMachine, peer: Peer) -> None:
        """Go active: the machine's opening events are queued for the peer, then the loop runs."""
        self.machine, self.peer = machine, peer
        if self.status is CallStatus.INCOMING:
            self.move(CallStatus.ACTIVE)
        self._task = asyncio.create_task(self._run(machine, peer), name=f"emulated-call:{self.call_id}")

    def end(self, by: str, status: CallStatus = CallStatus.ENDED) -> None:
        """End the call (idempotent): the loop stops, the peer and every sideband are closed."""
        if self.live:
            self.move(status)
            self.ended_by = by
        self._inbox.put_nowait(_END)
        if self._task is None:
            self._done.set()
            self._spawn_close()

    async def wait_ended(self, timeout: float) -> bool:
        with contextlib.suppress(asyncio.TimeoutError):
            await within(self._done.wait(), timeout)
        return self._done.is_set()

    async def _run(self, machine: SessionMachine, peer: Peer) -> None:
        pump = asyncio.create_task(self._pump_peer(peer))
        try:
            await self._emit(machine.start(time.monotonic()))
            await self._loop(machine)
        except Exception:  # noqa: BLE001 - an emulated call failing must not take the emulator down
            log.exception("emulated call failed", extra={"call_id": self.call_id})
        finally:
            pump.cancel()
            if self.live:
                self.move(CallStatus.ENDED)
                self.ended_by = self.ended_by or "error"
            await self._close_all()
            self._done.set()

    async def _loop(self, machine: SessionMachine) -> None:
        while True:
            deadline = machine.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = await within(self._inbox.get(), timeout)
            except asyncio.TimeoutError:
                await self._emit(machine.poll(time.monotonic()))
                continue
            if item is _END:
                return
            assert isinstance(item, (str, bytes))
            await self._emit(machine.receive(item, time.monotonic()))
            if machine.close is not None:
                self.end("error")

    async def _pump_peer(self, peer: Peer) -> None:
        while True:
            frame = await peer.receive()
            if not isinstance(frame, (str, bytes)):  # Closed: the caller hung up / the peer went away
                self.end("peer")
                return
            self._inbox.put_nowait(frame)

    def client_event(self, frame: str | bytes) -> None:
        """A client event from a sideband; its ``output_audio_buffer.clear`` cuts the media peer's playout."""
        if not self.live:
            return
        cut = getattr(self.peer, "from_channel", None)
        if cut is not None and isinstance(frame, str) and _peek_type(frame) == CLEAR:
            cut(frame)  # the WebRTC peer cuts, truncates at what it played and reports cleared to everyone
            return
        self._inbox.put_nowait(frame)

    async def _emit(self, events: list[Outgoing]) -> None:
        for event in events:
            text = event if isinstance(event, str) else orjson.dumps(event).decode()
            kind = event.get("type") if isinstance(event, dict) else _peek_type(text)
            if self.peer is not None:
                with contextlib.suppress(Exception):
                    await self.peer.send(text)
            if kind not in AUDIO_DELTAS:
                await self.to_sidebands(text, str(kind))

    async def to_sidebands(self, text: str, kind: str) -> None:
        self.sideband_events.append(kind)
        for sideband in list(self.sidebands):
            try:
                await sideband.send(text)
            except Exception:  # noqa: BLE001 - a closed sideband is dropped, the call goes on
                self.sidebands.discard(sideband)

    def echo(self, text: str) -> None:
        """A WebRTC-only event the peer socket sent (``output_audio_buffer.*``): the sidebands see it too."""
        task = asyncio.ensure_future(self.to_sidebands(text, str(_peek_type(text))))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    _background: set[asyncio.Future[None]] = field(default_factory=set)

    # --- closing ---------------------------------------------------------------------------------

    def _spawn_close(self) -> None:
        task = asyncio.ensure_future(self._close_all())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_all(self) -> None:
        """Sidebands first (they learn at once that the call is over), then the media peer."""
        sidebands, self.sidebands = list(self.sidebands), set()
        await asyncio.gather(*(self._close_sideband(s) for s in sidebands))
        if self.peer is not None:
            with contextlib.suppress(Exception):
                await within(self.peer.close(1000, "call ended"), 2.0)

    @staticmethod
    async def _close_sideband(sideband: Sideband) -> None:
        with contextlib.suppress(Exception):
            await within(sideband.close(1000, "call ended"), 2.0)


def _peek_type(text: str) -> str | None:
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else None
