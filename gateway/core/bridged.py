"""A session core behind a kind bridge, with the core's own surface: what the relay drives after a handoff
to a model of another kind.

:class:`BridgedCore` puts a :class:`gateway.core.kind_bridge.KindBridge` on the client side of a
:class:`gateway.core.session.SessionCore` **of the upstream's kind** (GA dialect) and answers the four
calls the relay makes of a core — :meth:`from_client`, :meth:`from_upstream`, :meth:`tick`,
:attr:`due_at` — with the same :data:`gateway.core.session.Action`. The order is the point:

* client frame → the core's frame limits (rate, size, text only) on the client's own frame → strict
  parse → bridge → each mapped event read and decided by the core (route overrides, caps, input
  metering on exactly what the upstream receives) → upstream;
* upstream frame → the core (metering, observer events, on exactly what the model sent) → bridge →
  client, in the client's kind and dialect;
* a refusal by the bridge → an OpenAI-shaped ``error`` event from the core's error factory (the
  session goes on unless the error is fatal).

Everything else the relay reads of a core (``stats``, ``take_events``, ``opening_frames``,
``cancel_frames``, ``allowance_frames``, ``response_in_flight``, …) is the inner :attr:`core`'s.
"""

from __future__ import annotations

import math
from typing import Callable, Final

from gateway.core.errors import GatewayError
from gateway.core.event_ids import refuse_reserved_event_id
from gateway.core.frames import CLIENT_AUDIO, Reading, encode, parse_event, read_client
from gateway.core.kind_bridge import KindBridge
from gateway.core.handoff import Conversation
from gateway.core.jsontypes import JsonObject
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.ports import Frame
from gateway.core.session import FORWARD, Action, Emit, SessionCore
from gateway.core.tool_calls import ToolCallInterceptor


def _user(conversation: Conversation, event: JsonObject) -> None:
    transcript = event.get("transcript")
    conversation.user_transcript(transcript if isinstance(transcript, str) else None)


def _assistant(conversation: Conversation, event: JsonObject) -> None:
    text = event.get("transcript", event.get("text"))
    conversation.assistant_transcript(text if isinstance(text, str) else None)


#: client-bound (realtime) events whose transcript is part of the conversation a later voice agent is told
_RECORDED: Final[dict[str, Callable[[Conversation, JsonObject], None]]] = {
    "conversation.item.input_audio_transcription.completed": _user,
    "response.output_audio_transcript.done": _assistant,
    "response.output_text.done": _assistant,
    "response.audio_transcript.done": _assistant,  # the retired beta names a beta client gets
    "response.text.done": _assistant,
}


class BridgedCore:
    """A :class:`SessionCore` of the upstream's kind seen through a :class:`KindBridge` by the client."""

    def __init__(self, core: SessionCore, bridge: KindBridge) -> None:
        if core.kind is not bridge.upstream_kind or core.dialect is not Dialect.GA:
            raise ValueError("the core behind a kind bridge is of the upstream's kind and speaks GA")
        self.core = core
        self.bridge = bridge
        handoff = core.handoff
        #: where a voice-agent client's transcripts are recorded (None: no handoff, or a translation client)
        self._conversation = handoff.conversation if handoff is not None and bridge.client_kind is SessionKind.REALTIME else None

    # --- client → upstream ------------------------------------------------------------------------

    def from_client(self, data: Frame, now: float) -> Action:
        """One client frame: limits, the core's strict reading, the bridge, then the core's decision on each mapped event
        (held by the core, in order, while a handoff switches upstreams)."""
        core = self.core
        if core.handoff is not None and core.handoff.holding:
            return core.from_client(data, now)
        refused = core.admit_client_frame(data, now)
        if refused is not None:
            return refused
        return self._decide_admitted(data, now)

    def release_held(self, now: float) -> Emit:
        """The client frames a handoff held (admitted on arrival), through the bridge and the core's decisions, in order."""
        handoff = self.core.handoff
        assert handoff is not None
        emit = Emit()
        for frame in handoff.take_held():
            action = self._decide_admitted(frame, now)
            if action is FORWARD:
                emit.to_upstream.append(frame)
                continue
            emit.to_upstream += action.to_upstream
            emit.to_client += action.to_client
            if action.close is not None:
                emit.close = action.close
                break
        return emit

    def _decide_admitted(self, data: Frame, now: float) -> Action:
        core = self.core
        assert isinstance(data, str)
        try:
            reading = read_client(data)
            # a proven canonical audio append has one meaning under every parser: the fast parse is exact
            event = reading.event if reading.event is not None else parse_event(data)
            if reading.type in CLIENT_AUDIO:  # its mapped append is not read again: the gateway's ids stay its own
                refuse_reserved_event_id(event)
        except GatewayError as exc:
            return Emit(to_client=[core.error_event(exc)])
        emit = Emit()
        try:
            mapped = self.bridge.to_upstream(event)
        except GatewayError as exc:
            client_event_id = event.get("event_id")
            emit.to_client.append(core.error_event(exc, client_event_id if isinstance(client_event_id, str) else None))
            emit.close = exc if exc.fatal else None
            mapped = []
        client_audio = event.get(CLIENT_AUDIO.get(reading.type, ""))
        for upstream_event in mapped:
            frame = encode(upstream_event)
            upstream_type = str(upstream_event.get("type"))
            try:
                if client_audio is not None and upstream_event.get(CLIENT_AUDIO.get(upstream_type, "")) is client_audio:
                    # the client's audio, already read strictly and sized; the frame is the gateway's own encoding
                    action = core.client_reading(Reading(upstream_type, reading.audio_bytes, None), now)
                else:
                    action = core.client_reading(read_client(frame), now)
            except GatewayError as exc:  # the bridge's own output is always readable; kept for safety
                emit.to_client.append(core.error_event(exc))
                continue
            if action is FORWARD:
                emit.to_upstream.append(frame)
            else:
                self._merge(emit, action, now)
        emit.to_client += self._encoded(self.bridge.poll(now))
        return emit

    @property
    def awaiting_metering(self) -> bool:
        """The relay's surface of a core: mapped events are decided at once here, so the inner core holds nothing."""
        return self.core.awaiting_metering

    def release_awaiting(self, now: float) -> Emit:
        return self.core.release_awaiting(now)

    @property
    def allowance_stale(self) -> bool:
        return self.core.allowance_stale

    @property
    def tools(self) -> ToolCallInterceptor | None:
        return self.core.tools

    def from_retired_upstream(self, data: Frame, now: float) -> None:
        """A replaced upstream closing: only its usage counts, and the core reads that (nothing goes to the client)."""
        self.core.from_retired_upstream(data, now)

    # --- upstream → client ------------------------------------------------------------------------

    def from_upstream(self, data: Frame, now: float) -> Action:
        """One upstream frame: metered and observed by the core first, then mapped for the client."""
        action = self.core.from_upstream(data, now)
        if action is FORWARD:
            return Emit(to_client=self._to_client([data], now))
        return Emit(to_upstream=action.to_upstream, to_client=self._to_client(action.to_client, now), close=action.close)

    def _to_client(self, frames: list[Frame], now: float) -> list[Frame]:
        out: list[Frame] = []
        for frame in frames:
            try:
                event = parse_event(frame)
            except GatewayError:
                continue  # the core only lets through what it parsed or proved canonical
            out += self._encoded(self.bridge.to_client(event, now))
        return out

    def _encoded(self, events: list[JsonObject]) -> list[Frame]:
        """Client-bound events, encoded; a voice-agent client's transcripts go into the handoff's conversation record
        (a later voice agent gets them replayed)."""
        conversation = self._conversation
        if conversation is not None:
            for event in events:
                recorder = _RECORDED.get(str(event.get("type")))
                if recorder is not None:
                    recorder(conversation, event)
        return [encode(e) for e in events]

    def close_bridge(self, now: float) -> list[Frame]:
        """The session leaves this upstream: what the bridge still has open for the client, closed (a synthesized
        response gets its ``response.done``)."""
        return self._encoded([*self.bridge.poll(now), *self.bridge.to_client({"type": "session.closed"}, now)])

    def _merge(self, emit: Emit, action: Emit, now: float) -> None:
        """A core decision on a mapped event: its upstream frames go on; its client frames are the core's
        own (errors, in the GA shape every dialect shares) and pass through the bridge."""
        emit.to_upstream += action.to_upstream
        emit.to_client += self._to_client(action.to_client, now)
        if action.close is not None and emit.close is None:
            emit.close = action.close

    # --- time ---------------------------------------------------------------------------------------

    def tick(self, now: float) -> Emit:
        """The core's due decisions (mapped for the client), then the bridge's (a response closed by a pause)."""
        emit = self.core.tick(now)
        mapped = Emit(to_upstream=emit.to_upstream, to_client=self._to_client(emit.to_client, now), close=emit.close)
        mapped.to_client += self._encoded(self.bridge.poll(now))
        return mapped

    @property
    def due_at(self) -> float | None:
        """The earlier of the core's and the bridge's next decision (``None``: neither has one)."""
        times = [t for t in (self.core.due_at, self.bridge.due_at) if t is not None]
        if not times:
            return None
        due = min(times)
        return 0.0 if due == -math.inf else due
