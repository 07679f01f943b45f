"""The per-session relay state machine, Sans-I/O: frames and the current time in; frames and events out.

The relay shell feeds every frame to :meth:`SessionCore.from_client` or
:meth:`SessionCore.from_upstream` and acts on the returned :data:`Action`:

* :data:`FORWARD` — send the original frame, untouched, to the other side: only audio appends
  and deltas proven canonical by :func:`gateway.core.frames.canonical_audio` (one meaning under
  every JSON parser) take it;
* :class:`Emit` — frames to send each way instead, and optionally an error that ends the
  session. Every other event is parsed and goes on as the gateway's own serialization of what it
  understood (:func:`gateway.core.frames.encode`), so duplicate keys, escapes and odd spellings
  never reach the peer in a form the gateway did not read; audio is metered from the same reading.

Low-frequency :mod:`gateway.core.observers` events pile up in :attr:`SessionCore.events`
for the relay to hand to observers off the hot path; counters live in :attr:`stats`.
"""

from __future__ import annotations

import copy
import enum
import itertools
from dataclasses import dataclass, field
from typing import Callable, Concatenate, Final, Iterator, Literal, Mapping, ParamSpec, TypeVar

from gateway.core import dialect as beta
from gateway.core.allowance import clamp_response, clamp_session, lowered_ceiling, reply_bound
from gateway.core.barge_in import BargeIn, BargeInAction, BargeInMode, BargeInPolicy
from gateway.core import observers as ev
from gateway.core.event_ids import GatewayEventIds, refuse_reserved_event_id
from gateway.core.errors import (
    BinaryFrameNotSupported,
    CapReached,
    FrameRateExceeded,
    FrameTooLarge,
    GatewayError,
    HeldFramesExceeded,
    InvalidRequest,
    RetiredParameter,
    UnknownEventType,
    UpstreamRefused,
)
from gateway.core.frames import Reading, canonical_audio, dumps, encode, event_type_of, parse_event, read_parsed
from gateway.core.hot import CLIENT_CODES, UPSTREAM_CODES, HotGate
from gateway.core.handoff import TRANSFER_TOOL, Handoff, HandoffRequest, HandoffRules, HandoffState, Trigger
from gateway.core.language import transcription_language
from gateway.core.jsontypes import JsonObject
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.media import DirectMediaMeter
from gateway.core.money import Pricing
from gateway.core.notices import is_notice
from gateway.core.observers import ResponseAllowance, SessionStats
from gateway.core.overrides import apply_to_response, apply_to_session, opening_session
from gateway.core.protocol import GATEWAY_EVENT_PREFIX, client_events
from gateway.core.ports import Frame
from gateway.core.reservations import ReplyReservations
from gateway.core.routing import SessionOverrides
from gateway.core.tool_calls import ToolCallInterceptor, error_output

#: checks tools declared mid-session against the policy rules that look at declared tools;
#: returns the error to refuse them with (``None`` = the session's route still holds)
DeclaredToolsCheck = Callable[[list[object]], GatewayError | None]


class Forward(enum.Enum):
    """The hot-path verdict: relay the original frame untouched (a singleton a type checker narrows)."""

    FORWARD = "forward"

    def __repr__(self) -> str:
        return "FORWARD"


FORWARD: Final = Forward.FORWARD


@dataclass(slots=True)
class Emit:
    """Frames to send instead of forwarding, and optionally an error that ends the session."""

    to_upstream: list[Frame] = field(default_factory=list)
    to_client: list[Frame] = field(default_factory=list)
    close: GatewayError | None = None


#: what the core tells the shell to do with one frame: ``action is FORWARD`` narrows the rest to ``Emit``
Action = Literal[Forward.FORWARD] | Emit

_FORMAT_NAMES: Final = {"audio/pcm", "audio/pcmu", "audio/pcma"}
#: a translation output delta this long after the previous one starts a new segment
_SEGMENT_GAP_S: Final = 0.5


def _format_of(audio_side: object) -> str | None:
    if not isinstance(audio_side, dict):
        return None
    fmt = audio_side.get("format")
    if isinstance(fmt, dict) and fmt.get("type") in _FORMAT_NAMES:
        return str(fmt["type"])
    return None


def error_frame(error: GatewayError, event_id: str, client_event_id: str | None = None) -> bytes:
    """An OpenAI-shaped ``error`` event frame."""
    return dumps({"type": "error", "event_id": event_id, "error": error.error_body(client_event_id)})


@dataclass(frozen=True, slots=True)
class HandoffTarget:
    """What a handoff target route means for the core (the shell resolved the route and opened its upstream)."""

    model: str
    overrides: SessionOverrides
    rules: HandoffRules | None = None
    tools: ToolCallInterceptor | None = None
    declared_tools_check: DeclaredToolsCheck | None = None
    #: the target route's kind (another kind than the client's: served through a kind bridge)
    kind: SessionKind = SessionKind.REALTIME
    #: a translation target's output language (the route's ``translate_to``; None: the language detected on the input)
    language: str | None = None
    #: the target model's price (its replies are bounded by what the money left pays for at it)
    pricing: Pricing | None = None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _decision(method: Callable[Concatenate[SessionCore, _P], _R]) -> Callable[Concatenate[SessionCore, _P], _R]:
    """A core entry point that may change what the listener may relay alone: the playback estimate hears first about
    the deltas the listener relayed, and the gate is set from the core's state after it (even when it raises)."""

    def decided(self: SessionCore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.hot.pending_out_bytes:
            self._fold_hot()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.refresh_hot()

    decided.__name__, decided.__qualname__, decided.__doc__ = method.__name__, method.__qualname__, method.__doc__
    return decided


class SessionCore:
    """One relayed session's protocol logic; owns no sockets and no clock."""

    # more attributes than an instance's shared-key table holds: without slots every session had a full dict
    __slots__ = (
        "_accepted", "_audio_seen", "_client_hot_bits", "_upstream_hot_bits", "_declared_tools_check", "_forward_hot", "_held_bytes", "_ids",
        "_last_translation_out", "_previous", "_retired_model", "_response_id", "_rewrite_model",
        "_session_max_tokens", "_unlowered", "_unlowered_ceiling", "_target_rules", "_transcribing", "_transcript_seen", "_transfer_call", "_waiting",
        "barge_in", "bound_session", "bridge_ids", "dialect", "events", "gateway_events", "handoff", "hot", "kind", "max_frames_per_second",
        "max_message_bytes", "media", "overrides", "requested_model", "served_model", "stats", "tools", "upstream_model",
    )

    def __init__(
        self,
        *,
        kind: SessionKind,
        dialect: Dialect,
        now: float,
        requested_model: str | None = None,
        served_model: str | None = None,
        overrides: SessionOverrides | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
        max_frames_per_second: int = 500,
        declared_tools_check: DeclaredToolsCheck | None = None,
        tools: ToolCallInterceptor | None = None,
        direct_media: bool = False,
        bound_session: Mapping[str, object] | None = None,
        barge_in: BargeInPolicy | None = None,
        handoff: Handoff | None = None,
        gateway_events: bool = True,
        stats: SessionStats | None = None,
        ids: Iterator[int] | None = None,
        bridge_ids: GatewayEventIds | None = None,
    ) -> None:
        self.kind = kind
        self.dialect = dialect
        self.requested_model = requested_model
        self.served_model = served_model
        self.overrides = overrides or SessionOverrides()
        self._declared_tools_check = declared_tools_check
        #: gateway-side tools injected into and intercepted from this session (None: none)
        self.tools = tools
        #: the session's ``max_output_tokens`` as last sent upstream (``None``: OpenAI's default, ``inf``)
        self._session_max_tokens: object = self.overrides.max_output_tokens
        #: the allowance and ceiling that :meth:`allowance_frames` last found nothing to lower for (both immutable:
        #: the same pair gives the same answer, so the tick asks ``lowered_ceiling`` once per new allowance); two
        #: slots, not a tuple, so an idle capped session holds no more than before but two references
        self._unlowered: ResponseAllowance | None = None
        self._unlowered_ceiling: object = None
        #: a client secret's bound configuration (its enforcement is already folded into ``overrides``)
        self.bound_session = bound_session
        self.max_message_bytes = max_message_bytes
        self.max_frames_per_second = max_frames_per_second
        #: shared with the core of another kind that serves the session after a handoff (one session, one set of counters)
        self.stats = stats if stats is not None else SessionStats(started_at=now, last_activity_at=now)
        #: what the listener may relay alone (off until :meth:`refresh_hot`), and the client frame-rate window it shares
        self.hot = HotGate(self.stats, now, max_frames_per_second, max_message_bytes)
        self.events: list[ev.SessionEvent] = []
        self.upstream_model: str | None = None
        self._accepted = client_events(kind, dialect)
        self._ids = ids if ids is not None else itertools.count(1)
        self._response_id: str | None = None
        self._audio_seen = False
        self._transcript_seen = False
        #: items whose input transcription has started (made at the first: most sessions transcribe nothing)
        self._transcribing: set[str] | None = None
        self._last_translation_out = -1e9
        self._rewrite_model = bool(requested_model and served_model and requested_model != served_model)
        #: canonical audio deltas go on untouched (only a beta realtime client needs their old names)
        self._forward_hot = dialect is not Dialect.BETA or kind is SessionKind.TRANSLATION
        #: client frames held until the observers have metered a finished reply (see :meth:`from_client`)
        self._waiting: list[Frame] = []
        #: bytes of the client frames held awaiting metering (with those a handoff holds, bounded by ``max_message_bytes``)
        self._held_bytes = 0
        #: a direct-media call: audio is measured from the sideband's VAD and playout events
        self.media = DirectMediaMeter() if direct_media else None
        #: barge-in protection of a voice-agent session (None: off); on a direct call the upstream plays the audio
        self.barge_in = (
            BargeIn(barge_in, self.stats.output_format, server_plays=direct_media)
            if barge_in is not None and barge_in.mode is not BargeInMode.OFF and kind is SessionKind.REALTIME
            else None
        )
        #: mid-session handoff: rules, switch lifecycle, conversation record (None: the route allows none)
        self.handoff = handoff
        #: the model's pending ``transfer`` call (answered on the old upstream if the switch fails)
        self._transfer_call: str | None = None
        #: what :meth:`switch_to` replaced, restored if the switch fails after it
        self._previous: tuple[str | None, SessionOverrides, ToolCallInterceptor | None, bool, DeclaredToolsCheck | None, object] | None = None
        self._target_rules: HandoffRules | None = None
        #: the model whose upstream a completed handoff is closing: a late ``response.done`` of it is its own usage
        self._retired_model: str | None = None
        #: whether the client takes gateway notices (``gateway.*``; route policy and handshake choice)
        self.gateway_events = gateway_events
        #: ids a client-side bridge (WebRTC) sends in the client's place: the one way a client event is the gateway's
        #: (the session's: a core of another kind serving after a handoff shares them)
        self.bridge_ids = bridge_ids if bridge_ids is not None else GatewayEventIds()
        #: the gate's masks when nothing of the moment needs the core (:meth:`refresh_hot`): the hot append types this
        #: session accepts; the deltas unless they are renamed (beta) or timed (translation). A direct-media call: none
        self._client_hot_bits = 0 if direct_media else sum(
            1 << code for code, name in CLIENT_CODES.items() if name in self._accepted)
        self._upstream_hot_bits = 0 if direct_media or kind is SessionKind.TRANSLATION or not self._forward_hot else sum(
            1 << code for code in UPSTREAM_CODES)
        self._bind_tools()

    def _bind_tools(self) -> None:
        """The gateway tools' own replies are bounded by this session's allowance and ceiling, as a client's are."""
        if self.tools is not None:
            self.tools.responses.bind(self.stats, lambda: self._session_max_tokens)

    def _refused_reply(self, emit: Emit) -> Emit:
        """Nothing was left for one of the gateway's own replies (not sent): the session ends with the cap's error."""
        refusal = self.tools.responses.refusal if self.tools is not None else None
        if refusal is not None and emit.close is None:
            emit.to_client.append(self.error_event(refusal))
            emit.close = refusal
        return emit

    # --- helpers ---------------------------------------------------------------------------------

    def take_events(self) -> list[ev.SessionEvent]:
        """Hand the pending observer events to the relay (and forget them)."""
        events, self.events = self.events, []
        if self.tools is not None and self.tools.events:
            events += self.tools.take_events()
        return events

    def closing(self, now: float) -> None:
        """The session is ending: what is still in progress is recorded as such (gateway tool calls: cancelled)."""
        if self.tools is not None:
            self.tools.closing(now)

    def error_event(self, error: GatewayError, client_event_id: str | None = None) -> bytes:
        """An OpenAI-shaped ``error`` event for the client."""
        return error_frame(error, f"{GATEWAY_EVENT_PREFIX}evt_{next(self._ids)}", client_event_id)

    def gateway_event(self, event: JsonObject) -> bytes:
        """Serialise a gateway-originated event, stamping an ``event_id`` of our own (notices: :meth:`notice`)."""
        if is_notice(event):
            raise ValueError(f"{event.get('type')} is a gateway notice: send it with notice()")
        return self._stamped(event)

    def notice(self, event: JsonObject) -> bytes | None:
        """A gateway notice (``gateway.*``) for the client, or None when this session takes none.

        The one switch every notice passes (docs/barge-in.md, "How SDKs take gateway events")."""
        if not is_notice(event):
            raise ValueError(f"{event.get('type')} is not a gateway notice")
        return self._stamped(event) if self.gateway_events else None

    @property
    def event_ids(self) -> Iterator[int]:
        """The counter behind the gateway's own event ids (a core of another kind serving the session after a handoff
        shares it, so ids never repeat on the client's socket)."""
        return self._ids

    def _stamped(self, event: JsonObject) -> bytes:
        event.setdefault("event_id", f"{GATEWAY_EVENT_PREFIX}evt_{next(self._ids)}")
        return dumps(event)

    @property
    def response_in_flight(self) -> bool:
        return self._response_id is not None

    def cancel_frames(self) -> list[str]:
        """Frames (text) that stop any response in flight upstream (sent before a cap cut-off)."""
        if self.kind is not SessionKind.REALTIME or self._response_id is None:
            return []
        return [encode({"type": "response.cancel", "event_id": f"{GATEWAY_EVENT_PREFIX}cancel_{next(self._ids)}"})]

    def opening_frames(self) -> list[str]:
        """What the gateway sends upstream (text) before any client frame: the route's enforced ``session.update``."""
        if self.media is not None:  # a direct-media call was created with its session already forced
            return []
        session = opening_session(self.kind, self.overrides, self.bound_session)
        if self.tools is not None and self.tools.tools:
            session = session or {"type": self.kind.value}
            bound_tools = session.get("tools")
            own = self.tools.definitions()  # the gateway's own tools, declared before any client's
            session["tools"] = [*own, *bound_tools] if isinstance(bound_tools, list) else own
        if session is None:
            return []
        return [self.gateway_event({"type": "session.update", "session": session}).decode()]

    # --- barge-in ---------------------------------------------------------------------------------

    @property
    def due_at(self) -> float | None:
        """When :meth:`tick` has a decision to take (a barge-in grace period ending); ``None``: none."""
        return self.barge_in.due_at if self.barge_in is not None else None

    def tick(self, now: float) -> Emit:
        """Time passed: take the decisions that are due (the relay calls this on its tick and at :attr:`due_at`).

        A decision as :func:`_decision` wraps one (the fold before, the gate's refresh after, even when it raises),
        written out: the shared tick calls it for every session ten times a second."""
        if self.hot.pending_out_bytes:
            self._fold_hot()
        try:
            if self.handoff is not None:
                self.handoff.spend(self.stats.cost_share, self.stats.budget_share)
            barge_in = self.barge_in
            action = barge_in.poll(now) if barge_in is not None else None
            emit = Emit() if action is None else self._barge_in_emit(action, now)
            tools = self.tools
            if tools is None:
                return emit  # no gateway reply to refuse (_refused_reply)
            emit.to_upstream.extend(tools.responses.flush(now))  # a follow-up held for metering, now metered
            return self._refused_reply(emit)
        finally:
            self.refresh_hot()

    def _barge_in_emit(self, action: BargeInAction, now: float) -> Emit:
        emit = Emit()
        for event in action.to_upstream:
            event["event_id"] = f"{GATEWAY_EVENT_PREFIX}barge_in_{next(self._ids)}"
            emit.to_upstream.append(encode(event))
        if action.truncated is not None:
            self.events.append(ev.Truncated(at=now, item_id=action.truncated[0], audio_end_ms=action.truncated[1]))
        for event in action.to_client:
            frame = self.notice(event)
            if frame is not None:
                emit.to_client.append(frame.decode())
        if action.measured is not None:
            self.stats.interruptions += 1
            self.events.append(action.measured)
        return emit

    # --- handoff (the shell opens the target; gateway/core/handoff.py decides the rest) ----------

    def _transfer_calls(self, handoff: Handoff, now: float) -> list[Frame]:
        """The model called ``transfer``: queue the handoff, or answer the call with why not."""
        assert self.tools is not None
        frames: list[Frame] = []
        for start in self.tools.claim(TRANSFER_TOOL):
            refusal = handoff.transfer(start.arguments)
            if refusal is None:
                self._transfer_call = start.call_id
            else:
                frames.extend(self.tools.finished(start.call_id, error_output(refusal), now, outcome="refused"))
        return frames

    @_decision
    def switch_to(self, target: HandoffTarget, now: float | None = None) -> list[str]:
        """The target is open: serve the session by ``target`` from now on; returns what the target gets first.

        The client's own settings go over the target route's enforcement (raising a
        :class:`GatewayError` when the target refuses them); then the earlier turns; after a transfer, the
        ``response.create`` that has the target speak, bounded like a client's (not sent with nothing left).
        """
        now = self.stats.last_activity_at if now is None else now
        handoff = self.handoff
        assert handoff is not None and handoff.current is not None
        handoff.opened(self.stats.audio_in_bytes_since_usage)
        session: JsonObject = copy.deepcopy(handoff.conversation.session)
        session["type"] = self.kind.value
        if target.overrides.instructions_prefix:
            session.setdefault("instructions", "")
        session = apply_to_session(session, target.overrides, self.kind)
        allowance = self.stats.response_allowance
        if self.kind is SessionKind.REALTIME and allowance is not None:
            # the target's ceiling starts from the client's own (or its default, "inf"), never from what the old
            # upstream was lowered to: clamp it to what the cap or budget leaves, as a client update would be
            session.setdefault("max_output_tokens", "inf")
            clamp_session(session, allowance)
        self._target_rules = target.rules
        self._previous = (self.served_model, self.overrides, self.tools, self._rewrite_model, self._declared_tools_check, self._session_max_tokens)
        self.served_model, self.overrides, self.tools = target.model, target.overrides, target.tools
        self._rewrite_model = bool(self.requested_model and self.requested_model != target.model)
        self._declared_tools_check = target.declared_tools_check
        self._session_max_tokens = session.get("max_output_tokens")  # what the target has now (None: its default)
        self._bind_tools()
        own = self.tools.definitions() if self.tools is not None else []
        # the target speaks after a transfer only when something is left to pay for its reply, and no longer than that
        reply = self._transfer_reply(now) if handoff.current.trigger is Trigger.TRANSFER else None
        events = handoff.replay(session, own, respond=reply is not None)
        if reply:  # the replay's last event is its response.create
            events[-1]["response"] = reply
        return [encode(event) for event in events]

    def _transfer_reply(self, now: float) -> JsonObject | None:
        """The body of the target's first reply after a transfer, clamped as a client's would be (None: nothing left).

        It names its bound itself (the session's ceiling, or less): the replayed ceiling may not be applied yet when
        the reply starts."""
        ceiling = self._session_max_tokens
        reply: JsonObject = {"max_output_tokens": ceiling} if isinstance(ceiling, int) and not isinstance(ceiling, bool) else {}
        try:
            clamped = clamp_response(reply, self.stats.response_allowance, self._session_max_tokens, now)
        except CapReached:
            return None
        if clamped is not None:
            self.events.append(clamped)
        return reply

    @_decision
    def release_held(self, now: float) -> Emit:
        """The client frames held during the switch, through the usual decisions, in order (FORWARD → the frame)."""
        assert self.handoff is not None
        emit = Emit()
        for frame in self.handoff.take_held():
            action = self._decide_admitted(frame, now)
            if action is FORWARD:
                emit.to_upstream.append(frame)
                continue
            emit.to_upstream.extend(action.to_upstream)
            emit.to_client.extend(action.to_client)
            if action.close is not None:
                emit.close = action.close
                break
        return emit

    @_decision
    def handoff_completed(self, now: float) -> bytes | None:
        """The target serves the session: the ``gateway.handoff`` event for the client (None: it takes no
        notices); the old model's audio is sealed."""
        handoff = self.handoff
        assert handoff is not None and self.served_model is not None
        old_tools = self._previous[2] if self._previous is not None else None
        if old_tools is not self.tools:
            self.retire_tools(old_tools, now)
        from_route, from_model = handoff.route_name, handoff.model
        request = handoff.completed(self._target_rules, self.served_model)
        stats = self.stats
        # the old model's input ends where the switch turned to the target (the held frames went to the target);
        # its output runs until now
        old_in = min(handoff.old_audio_in, stats.audio_in_bytes_since_usage)
        self.events.append(
            ev.HandedOff(
                at=now, from_route=from_route, from_model=from_model, to_route=request.to, to_model=self.served_model,
                reason=request.reason, trigger=request.trigger.value, ok=True,
                audio_in_bytes=old_in, audio_out_bytes=stats.audio_out_bytes_since_usage, to_kind=self.kind,
            )
        )
        stats.audio_in_bytes_since_usage -= old_in
        stats.audio_out_bytes_since_usage = 0
        self._retired_model = from_model
        self._previous, self._transfer_call, self._response_id = None, None, None
        if stats.reservations is not None:  # the old model's replies are billed as its own (RetiredUsage)
            stats.reservations.clear()
        if self.barge_in is not None:  # the old model's items are gone with it: nothing of theirs to cut
            self.barge_in = BargeIn(self.barge_in.policy, stats.output_format)
        event = handoff.client_event(request, "completed", from_route=from_route, to_model=self.served_model)
        return self.notice(event)

    def retire_tools(self, tools: ToolCallInterceptor | None, now: float) -> None:
        """A route's gateway tools no longer serve the session (it moved on): their calls are recorded — the
        ``transfer`` that moved it ok, the rest still running cancelled — and nothing is sent."""
        if tools is None:
            return
        tools.retire(now, moved_by=self._transfer_call)
        self._transfer_call = None
        self.events += tools.take_events()

    @_decision
    def handoff_failed(self, now: float, message: str) -> Emit:
        """The target could not serve the session: stay, tell the client (the shell then replays the held
        frames to the old upstream with :meth:`release_held` and calls :meth:`handoff_settled`)."""
        handoff = self.handoff
        assert handoff is not None
        self.undo_switch()
        request = handoff.failed()
        self.events.append(
            ev.HandedOff(
                at=now, from_route=handoff.route_name, from_model=handoff.model, to_route=request.to, to_model="",
                reason=request.reason, trigger=request.trigger.value, ok=False,
            )
        )
        event = handoff.client_event(request, "failed", from_route=handoff.route_name, message=message)
        notice = self.notice(event)
        emit = Emit(to_client=[notice] if notice is not None else [])
        if self._transfer_call is not None and self.tools is not None:
            output = error_output(f"The transfer to '{request.to}' failed: {message}")
            emit.to_upstream.extend(self.tools.finished(self._transfer_call, output, now, outcome="error"))
            self._transfer_call = None
        return emit

    @_decision
    def undo_switch(self) -> None:
        """Forget what :meth:`switch_to` put in place (the switch failed after it): this core serves as before."""
        if self._previous is not None:
            (self.served_model, self.overrides, self.tools, self._rewrite_model, self._declared_tools_check,
             self._session_max_tokens) = self._previous
            self._previous = None

    @_decision
    def take_over(self, rules: HandoffRules | None) -> None:
        """This core, of the target's kind, serves the session once the switch under way completes
        (:mod:`gateway.core.kind_handoff`); ``rules`` are the target route's handoff rules."""
        self._target_rules = rules

    @_decision
    def handoff_settled(self) -> None:
        """After a failed switch, the held frames are back on the old upstream."""
        assert self.handoff is not None
        self.handoff.settled()

    # --- the listener's fast path (gateway/core/hot.py) --------------------------------------------

    def refresh_hot(self) -> None:
        """Set what the listener may relay alone to exactly the frames this core, as it is now, forwards untouched
        having done nothing but count them: canonical audio appends of the accepted types while nothing holds
        client frames; canonical audio deltas while no rename, first-output timing or translation segment needs
        them, and the playback estimate only adds their bytes. Called after every decision (:func:`_decision`)."""
        hot = self.hot
        handoff = self.handoff
        if self._waiting or (handoff is not None and handoff.holding):
            hot.client_mask = 0
        else:
            hot.client_mask = self._client_hot_bits
        barge_in = self.barge_in
        current = barge_in.playback.current if barge_in is not None else None
        if (self._response_id is not None and not self._audio_seen) or (current is not None and current.first_at is None):
            hot.upstream_mask = 0
        else:
            hot.upstream_mask = self._upstream_hot_bits

    def _fold_hot(self) -> None:
        """Deltas the listener relayed alone reach the playback estimate (their item had its first delta here, so
        only their bytes count: the time of the first is already set)."""
        hot = self.hot
        pending, hot.pending_out_bytes = hot.pending_out_bytes, 0
        if self.barge_in is not None:
            self.barge_in.audio_delivered(pending, hot.upstream_at, None)

    @_decision
    def begin_handoff(self) -> HandoffRequest | None:
        """The shell takes the queued handoff request and starts opening its target; client frames are held from now."""
        assert self.handoff is not None
        return self.handoff.begin()

    # --- client → upstream -------------------------------------------------------------------------

    def from_client(self, data: Frame, now: float) -> Action:
        """Decide what to do with one frame from the client (see :meth:`_client_frame`); a decision (:func:`_decision`,
        spelled out: this runs once per frame the listener leaves to the core)."""
        hot = self.hot
        if hot.pending_out_bytes:
            self._fold_hot()
        try:
            action = self._client_frame(data, now)
        except BaseException:
            self.refresh_hot()
            raise
        if action is not FORWARD or not hot.client_mask:  # a forwarded append moves nothing but counters
            self.refresh_hot()
        return action

    def _client_frame(self, data: Frame, now: float) -> Action:
        """Decide what to do with one frame from the client (held, in order, while a handoff switches upstreams).

        A ``response.create`` that arrives after a reply ended but before the observers metered that
        reply's usage (the allowance is stale: the shared tick has not run yet) is held, with every client
        frame after it, until the relay has delivered the pending events and calls :meth:`release_awaiting`:
        the decision to let a reply start is taken on what the session has really spent.
        """
        handoff = self.handoff
        holding = handoff is not None and handoff.holding
        if holding or self._waiting or (self._allowance_stale() and _is_response_create(data)):
            # admitted now (rate, size, text only: a flood is cut off as it arrives), decided on release
            refused = self.admit_client_frame(data, now)
            if refused is not None:
                return refused
            held_bytes = self._held_bytes + (handoff.held_bytes if handoff is not None else 0)
            if held_bytes + len(data) > self.max_message_bytes:
                error = HeldFramesExceeded()
                return Emit(to_client=[self.error_event(error)], close=error)
            if holding:
                assert handoff is not None
                handoff.hold(data)
            else:
                self._held_bytes += len(data)
                self._waiting.append(data)
            return Emit()
        return self._from_client(data, now)

    @property
    def awaiting_metering(self) -> bool:
        """Client frames, or a gateway tool's follow-up, wait for the observers to meter a finished reply (the relay
        delivers the pending events, then calls :meth:`release_awaiting`)."""
        return bool(self._waiting) or (self.tools is not None and self.tools.responses.held)

    @property
    def allowance_stale(self) -> bool:
        """A reply ended whose usage the allowance does not count yet (the relay meters it at once)."""
        return self._allowance_stale()

    @_decision
    def release_awaiting(self, now: float) -> Emit:
        """Decide the held client frames in order, on the allowance as it is now (stale or not: held once only);
        then a gateway follow-up held the same way."""
        waiting, self._waiting = self._waiting, []
        out = Emit()
        if self.tools is not None:
            out.to_upstream.extend(self.tools.responses.flush(now, force=True))
        self._held_bytes = max(0, self._held_bytes - sum(len(frame) for frame in waiting))
        for frame in waiting:
            action = self._decide_admitted(frame, now)
            if action is FORWARD:
                out.to_upstream.append(frame)
                continue
            out.to_upstream.extend(action.to_upstream)
            out.to_client.extend(action.to_client)
            if action.close is not None:
                out.close = action.close
                break
        return self._refused_reply(out)

    def _allowance_stale(self) -> bool:
        allowance = self.stats.response_allowance
        return allowance is not None and allowance.responses_metered < self.stats.responses

    def _from_client(self, data: Frame, now: float) -> Action:
        refused = self.admit_client_frame(data, now)
        if refused is not None:
            return refused
        return self._decide_admitted(data, now)

    def _decide_admitted(self, data: Frame, now: float) -> Action:
        """Read and decide one client frame the frame limits already admitted (held frames were admitted on arrival)."""
        assert isinstance(data, str)
        proven = canonical_audio(data, False)
        if proven is not None:
            audio_type, audio_bytes = proven
            if audio_type in self._accepted:  # a proven canonical audio append: counted and forwarded as is
                stats = self.stats
                stats.audio_in_bytes += audio_bytes
                stats.audio_in_bytes_since_usage += audio_bytes
                return FORWARD
            info = Reading(audio_type, audio_bytes, None)
        else:
            try:
                info = read_parsed(data, False)
            except GatewayError as exc:
                return Emit(to_client=[self.error_event(exc)])
        return self.client_reading(info, now)

    def admit_client_frame(self, data: Frame, now: float) -> Emit | None:
        """Count one client frame and apply the frame limits (rate, size, text only); ``None``: it may be read."""
        stats = self.stats
        stats.frames_from_client += 1
        stats.bytes_from_client += len(data)
        stats.last_activity_at = now
        hot = self.hot
        if now - hot.rate_window >= 1.0:
            hot.rate_window, hot.rate_count = now, 0
        hot.rate_count += 1
        if hot.rate_count > self.max_frames_per_second:
            error: GatewayError = FrameRateExceeded()
            return Emit(to_client=[self.error_event(error)], close=error)
        if len(data) > self.max_message_bytes:
            error = FrameTooLarge()
            return Emit(to_client=[self.error_event(error)], close=error)
        if not isinstance(data, str):
            return Emit(to_client=[self.error_event(BinaryFrameNotSupported())])
        return None

    def client_reading(self, info: Reading, now: float) -> Action:
        """Decide what to do with one admitted, read client event (the frame itself when it is ``FORWARD``)."""
        stats = self.stats
        if info.type not in self._accepted:
            error = UnknownEventType(f"Unknown event type '{info.type}'.")
            return Emit(to_client=[self.error_event(error, _event_id(info))])
        event = info.event
        if event is None:  # a proven canonical audio append
            stats.audio_in_bytes += info.audio_bytes
            stats.audio_in_bytes_since_usage += info.audio_bytes
            return FORWARD
        try:
            action = self._client_control(event, now)
        except GatewayError as exc:
            return Emit(to_client=[self.error_event(exc, _event_id(info))], close=exc if exc.fatal else None)
        if info.audio_bytes:  # metered once the event is known to go on
            stats.audio_in_bytes += info.audio_bytes
            stats.audio_in_bytes_since_usage += info.audio_bytes
        return action

    def _client_control(self, event: JsonObject, now: float) -> Action:
        by_gateway = self.bridge_ids.redeem(event.get("event_id"))
        if not by_gateway:  # the gateway's namespace is its own: an upstream answer naming it is never the client's
            refuse_reserved_event_id(event)
        if self.dialect is Dialect.BETA:
            translated = beta.beta_client_event_to_ga(event, self.kind)
            if translated is None:
                return Emit()
            event = translated
        if self.barge_in is not None and not self.barge_in.client(event, now, by_gateway=by_gateway):
            return Emit()  # the gateway already sent this on the client's behalf
        event_type = event["type"]
        refuse_retired_fields(event)
        if event_type == "session.update":
            self._client_session_update(event)
        elif event_type == "response.create":
            self._client_response_create(event, now)
            self.events.append(ev.ResponseRequested(at=now))
        elif event_type == "input_audio_buffer.commit":
            self.events.append(ev.InputCommitted(at=now, item_id=None, by_client=True))
        elif event_type == "conversation.item.create":
            self._client_item_create(event, now)
        elif event_type == "conversation.item.truncate":
            self._client_truncate(event, now)
        elif event_type == "response.cancel" and self.tools is not None:
            return Emit(to_upstream=[encode(event), *self.tools.client_cancel(now)])
        return Emit(to_upstream=[encode(event)])

    def _client_session_update(self, event: JsonObject) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            raise InvalidRequest("session.update needs a 'session' object.", param="session")
        self._check_declared_tools(session.get("tools"))
        if self.handoff is not None:  # the client's own settings, before this route's enforcement
            self.handoff.conversation.client_session(copy.deepcopy(session))
        if not self.overrides.empty:
            apply_to_session(session, self.overrides, self.kind)
        if self.tools is not None and "tools" in session:
            self.tools.client_session(session)
        if self.kind is SessionKind.REALTIME:
            clamp_session(session, self.stats.response_allowance)
        if "max_output_tokens" in session:
            self._session_max_tokens = session["max_output_tokens"]
        audio = session.get("audio")
        if isinstance(audio, dict):
            self.stats.input_format = _format_of(audio.get("input")) or self.stats.input_format
            self.stats.output_format = _format_of(audio.get("output")) or self.stats.output_format
        self._served_model_name(session)

    def _served_model_name(self, session: JsonObject) -> None:
        """The model the client asked for becomes the one it is served by (a policy may map it).

        Any other name is passed on unchanged so the upstream refuses it ("cannot be changed").
        """
        if self._rewrite_model and session.get("model") == self.requested_model:
            session["model"] = self.served_model

    def _client_response_create(self, event: JsonObject, now: float) -> None:
        response = event.get("response")
        if response is None:
            response = {}
        elif not isinstance(response, dict):
            raise InvalidRequest("'response' must be an object.", param="response")
        self._check_declared_tools(response.get("tools"))
        if not self.overrides.empty:
            apply_to_response(response, self.overrides)
        if self.tools is not None and "tools" in response:
            self.tools.client_response(response)  # after the allow-list: gateway tools are allowed by construction
        stats = self.stats
        reservations = self._reservations() if stats.response_allowance is not None else None
        promised = reservations.total(now) if reservations is not None else 0
        clamped = clamp_response(response, stats.response_allowance, self._session_max_tokens, now, promised)
        if clamped is not None:
            self.events.append(clamped)
        if reservations is not None:
            bound = reply_bound(response.get("max_output_tokens", self._session_max_tokens))
            reservations.asked(bound, now, out_of_band=response.get("conversation") == "none")
        if response:
            event["response"] = response

    def _reservations(self) -> ReplyReservations:
        """The session's promised replies (:mod:`gateway.core.reservations`), made at first use."""
        stats = self.stats
        if stats.reservations is None:
            stats.reservations = ReplyReservations()
        return stats.reservations

    def allowance_frames(self) -> list[str]:
        """A ``session.update`` lowering the session's ``max_output_tokens`` once what is left falls below half
        of it, so responses the upstream starts itself (server VAD) are bounded too (:mod:`gateway.core.allowance`)."""
        allowance = self.stats.response_allowance
        if allowance is None or self.kind is not SessionKind.REALTIME:
            return []  # lowered_ceiling(None, ...) is None
        if self._unlowered is allowance and self._unlowered_ceiling is self._session_max_tokens:
            return []
        ceiling = lowered_ceiling(allowance, self._session_max_tokens)
        if ceiling is None:
            self._unlowered, self._unlowered_ceiling = allowance, self._session_max_tokens
            return []
        self._session_max_tokens = ceiling
        session: JsonObject = {"type": "realtime", "max_output_tokens": ceiling}
        return [self.gateway_event({"type": "session.update", "session": session}).decode()]

    def _check_declared_tools(self, tools: object) -> None:
        """Policy rules about declared tools hold for the whole session, not only the first update."""
        if self._declared_tools_check is None or not isinstance(tools, list) or not tools:
            return
        error = self._declared_tools_check(tools)
        if error is not None:
            raise error

    def _client_item_create(self, event: JsonObject, now: float) -> None:
        item = event.get("item")
        if self.handoff is not None:
            self.handoff.conversation.client_item(item)
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            call_id = item.get("call_id")
            if isinstance(call_id, str):
                self.events.append(ev.FunctionCallOutput(at=now, call_id=call_id))

    def _client_truncate(self, event: JsonObject, now: float) -> None:
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        if isinstance(item_id, str) and isinstance(end_ms, int):
            self.events.append(ev.Truncated(at=now, item_id=item_id, audio_end_ms=end_ms))

    # --- upstream → client -------------------------------------------------------------------------

    def from_upstream(self, data: Frame, now: float) -> Action:
        """Decide what to do with one frame from the model endpoint; a decision (:func:`_decision`, spelled out: this
        runs once per frame the listener leaves to the core)."""
        hot = self.hot
        if hot.pending_out_bytes:
            self._fold_hot()
        try:
            action = self._upstream_frame(data, now)
        except BaseException:
            self.refresh_hot()
            raise
        # with the gate open, a forwarded delta moves nothing but counters and the playing item's bytes: no first
        # output is pending and the item has had its first delta (or none plays)
        if action is not FORWARD or not hot.upstream_mask:
            self.refresh_hot()
        return action

    def _upstream_frame(self, data: Frame, now: float) -> Action:
        stats = self.stats
        stats.frames_from_upstream += 1
        stats.bytes_from_upstream += len(data)
        stats.last_activity_at = now
        if not isinstance(data, str):  # the service speaks JSON text only
            return self._invalid_upstream_frame(now)
        proven = canonical_audio(data, True)
        if proven is not None:  # a proven canonical audio delta: counted, forwarded as is (or renamed)
            audio_type, audio_bytes = proven
            if audio_bytes:
                stats.audio_out_bytes += audio_bytes
                stats.audio_out_bytes_since_usage += audio_bytes
                if self.kind is SessionKind.TRANSLATION or (self._response_id is not None and not self._audio_seen):
                    self._first_output(now, audio=True)
                if self.barge_in is not None:
                    self.barge_in.audio_delivered(audio_bytes, now, None)
            return FORWARD if self._forward_hot else self._hot_rename(data, audio_type)
        try:
            info = read_parsed(data, True)
        except GatewayError:
            return self._invalid_upstream_frame(now)
        if info.audio_bytes:
            stats.audio_out_bytes += info.audio_bytes
            stats.audio_out_bytes_since_usage += info.audio_bytes
            self._first_output(now, audio=True)
            if self.barge_in is not None:
                self.barge_in.audio_delivered(info.audio_bytes, now, _str(info.event, "item_id"))
        if info.event is None:  # a proven canonical audio delta
            return self._hot_rename(data, info.type)
        return self._upstream_control(info.event, now)

    def from_retired_upstream(self, data: Frame, now: float) -> None:
        """A frame the upstream a completed handoff moved away from sent while it closes: nothing of it reaches the
        client; a ``response.done`` (the reply that was in flight across the switch) is that model's usage, billed at
        its price (:class:`gateway.core.observers.RetiredUsage`), never the new model's."""
        model = self._retired_model
        if model is None or not isinstance(data, str) or '"response.done"' not in data:
            return
        try:
            event = parse_event(data)
        except GatewayError:
            return
        response = event.get("response")
        if event.get("type") != "response.done" or not isinstance(response, dict):
            return
        usage = response.get("usage")
        self.events.append(
            ev.RetiredUsage(at=now, model=model, response_id=_str(response, "id") or "", usage=usage if isinstance(usage, dict) else None)
        )

    def _invalid_upstream_frame(self, now: float) -> Emit:
        self.events.append(ev.ErrorSeen(at=now, code="upstream_invalid_frame", from_upstream=True))
        error = InvalidRequest("The model endpoint sent an invalid frame; it was dropped.")
        return Emit(to_client=[self.error_event(error)])

    def _hot_rename(self, data: str, event_type: str) -> Action:
        """Beta name of a canonical delta: its type is the only quoted string that can spell the name."""
        if self.dialect is not Dialect.BETA or self.kind is SessionKind.TRANSLATION:
            return FORWARD
        new = beta.BETA_HOT_RENAMES.get(event_type.encode())
        if new is None:
            return FORWARD
        return Emit(to_client=[data.replace(f'"{event_type}"', f'"{new.decode()}"', 1)])

    def _first_output(self, now: float, *, audio: bool) -> None:
        if self.kind is SessionKind.TRANSLATION:
            if now - self._last_translation_out > _SEGMENT_GAP_S:
                self.events.append(ev.TranslationOutput(at=now, elapsed_ms=None))
            self._last_translation_out = now
            return
        if self._response_id is None:
            return
        if audio and not self._audio_seen:
            self._audio_seen = True
            self.events.append(ev.FirstAudio(at=now, response_id=self._response_id))
        elif not audio and not self._transcript_seen:
            self._transcript_seen = True
            self.events.append(ev.FirstTranscript(at=now, response_id=self._response_id))

    def _upstream_control(self, event: JsonObject, now: float) -> Action:
        self._observe_upstream(event, now)
        handoff = self.handoff
        if handoff is not None and handoff.swallow(event):
            if handoff.configuration_refused(event):  # fail closed: never serve on a target without the route's rules
                error = UpstreamRefused("The new model refused the session's configuration.")
                return Emit(to_client=[self.error_event(error)], close=error)
            return Emit()  # the target's answer to the gateway's replay
        to_upstream: list[Frame] = []
        barge_in = self.barge_in
        if barge_in is not None:
            barge_in.playback.output_format = self.stats.output_format
            barge_in.upstream(event, now)
        if self.tools is not None:
            verdict = self.tools.upstream(event, now)
            to_upstream.extend(verdict.to_upstream)
            if handoff is not None:
                to_upstream.extend(self._transfer_calls(handoff, now))
            if verdict.drop:
                return self._refused_reply(Emit(to_upstream=to_upstream))
        if self.dialect is Dialect.BETA:
            translated = beta.ga_server_event_to_beta(event, self.kind)
            if translated is None:
                return self._refused_reply(Emit(to_upstream=to_upstream))
            event = translated
        return self._refused_reply(Emit(to_upstream=to_upstream, to_client=[encode(event)]))

    def _observe_upstream(self, event: JsonObject, now: float) -> bool:
        """Turn a control event into observer events; return whether the event was rewritten."""
        t = event["type"]
        if self.media is not None:
            self.media.observe(event, now, self.stats)
            if t == "output_audio_buffer.started":  # a direct call's first audio is when the upstream plays it
                self._first_output(now, audio=True)
        if t in ("session.created", "session.updated"):
            return self._upstream_session(event, now, created=t == "session.created")
        if t == "response.created":
            self._response_started(event, now)
        elif t == "response.done":
            self._response_done(event, now)
        elif t in ("response.output_audio_transcript.delta", "response.output_text.delta"):
            self._first_output(now, audio=False)
        elif t in ("response.output_audio_transcript.done", "response.output_text.done"):
            if self.handoff is not None:
                self.handoff.conversation.assistant_transcript(_str(event, "transcript") or _str(event, "text"))
        elif t in ("session.output_transcript.delta",):
            self._first_output(now, audio=False)
        elif t == "input_audio_buffer.speech_started":
            self.events.append(ev.SpeechStarted(at=now, item_id=_str(event, "item_id"), audio_start_ms=_int(event, "audio_start_ms")))
        elif t == "input_audio_buffer.speech_stopped":
            self.events.append(ev.SpeechStopped(at=now, item_id=_str(event, "item_id"), audio_end_ms=_int(event, "audio_end_ms")))
        elif t == "input_audio_buffer.committed":
            self.events.append(ev.InputCommitted(at=now, item_id=_str(event, "item_id"), by_client=False))
        elif t == "response.function_call_arguments.done" and not self._gateway_tool(event):
            self.events.append(ev.FunctionCallRequested(at=now, call_id=_str(event, "call_id") or "", name=_str(event, "name") or "function"))
        elif t == "conversation.item.input_audio_transcription.delta":
            item_id = _str(event, "item_id") or ""
            if self._transcribing is None:
                self._transcribing = set()
            if item_id not in self._transcribing:
                self._transcribing.add(item_id)
                self.events.append(ev.TranscriptionDelta(at=now, item_id=item_id))
        elif t == "conversation.item.input_audio_transcription.completed":
            item_id = _str(event, "item_id") or ""
            if self._transcribing is not None:
                self._transcribing.discard(item_id)
            if self.handoff is not None:
                self._transcribed_language(self.handoff, event)
            usage = event.get("usage")
            self.events.append(ev.TranscriptionCompleted(at=now, item_id=item_id, usage=usage if isinstance(usage, dict) else None, transcript=_str(event, "transcript")))
        elif t == "error":
            error = event.get("error")
            code = _str(error, "code") if isinstance(error, dict) else None
            self.events.append(ev.ErrorSeen(at=now, code=code or "unknown", from_upstream=True))
        return False

    def _transcribed_language(self, handoff: Handoff, event: JsonObject) -> None:
        """The user's input, transcribed: into the conversation record, and its language to the trigger
        (the upstream's ``language``/``languages`` when it reports one, else detected among the languages the
        route maps and the defaults, only where a route maps languages)."""
        mapped = handoff.rules.on_language if handoff.rules is not None else None
        language = transcription_language(event, detect=mapped or None)
        handoff.conversation.user_transcript(_str(event, "transcript"), language)
        handoff.language(language)

    def _gateway_tool(self, event: JsonObject) -> bool:
        return self.tools is not None and event.get("name") in self.tools.tools

    def _upstream_session(self, event: JsonObject, now: float, *, created: bool) -> bool:
        session = event.get("session")
        if not isinstance(session, dict):
            return False
        model = session.get("model")
        if created:
            self.upstream_model = model if isinstance(model, str) else None
            self.events.append(ev.UpstreamReady(at=now, served_model=self.upstream_model))
        audio = session.get("audio")
        if isinstance(audio, dict):
            self.stats.input_format = _format_of(audio.get("input")) or self.stats.input_format
            self.stats.output_format = _format_of(audio.get("output")) or self.stats.output_format
        if self._rewrite_model and isinstance(model, str):
            session["model"] = self.requested_model
            return True
        return False

    def _response_started(self, event: JsonObject, now: float) -> None:
        response = event.get("response")
        response_id = _str(response, "id") if isinstance(response, dict) else None
        self._response_id = response_id or f"resp_unknown_{next(self._ids)}"
        self._audio_seen = self._transcript_seen = False
        self.events.append(ev.ResponseCreated(at=now, response_id=self._response_id))
        if self.stats.response_allowance is not None and isinstance(response, dict):
            out_of_band = "conversation_id" in response and response["conversation_id"] is None
            self._reservations().started(self._response_id, reply_bound(response.get("max_output_tokens")), out_of_band=out_of_band)

    def _response_done(self, event: JsonObject, now: float) -> None:
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        usage = response.get("usage")
        details = response.get("status_details")
        reason = _str(details, "reason") if isinstance(details, dict) else None
        response_id = _str(response, "id") or self._response_id or ""
        self.events.append(
            ev.ResponseDone(
                at=now,
                response_id=response_id,
                status=_str(response, "status") or "completed",
                usage=usage if isinstance(usage, dict) else None,
                status_reason=reason,
            )
        )
        self.stats.responses += 1
        if self.stats.reservations is not None:
            self.stats.reservations.ended(response_id)
        handoff = self.handoff
        if handoff is not None and handoff.state is HandoffState.REPLAYING:
            # the old model's reply, during the switch: its usage covers its input; what came since is the target's
            self.stats.audio_in_bytes_since_usage -= min(handoff.old_audio_in, self.stats.audio_in_bytes_since_usage)
            handoff.old_audio_in = 0
        else:
            self.stats.audio_in_bytes_since_usage = 0
        self.stats.audio_out_bytes_since_usage = 0
        if response_id == self._response_id or not response_id:
            self._response_id = None


def _is_response_create(data: Frame) -> bool:
    return isinstance(data, str) and event_type_of(data) == "response.create"


def _str(obj: object, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _int(obj: JsonObject, key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) else None


def _event_id(info: Reading) -> str | None:
    return _str(info.event, "event_id") if info.event is not None else None


#: the saved-prompt reference OpenAI shut down on 2026-11-30 (sessions, responses, call accept)
PROMPT_SHUTDOWN = "2026-11-30"


def refuse_retired_fields(event: JsonObject) -> None:
    """Refuse a ``session.update`` / ``response.create`` that still sets the shut-down ``prompt`` field.

    The gateway refuses the whole event with an ``error`` rather than dropping the field: a saved
    prompt usually carries the agent's instructions, and silently running without them is worse.
    ``prompt: null`` (what SDKs echo back) passes.
    """
    kind = event.get("type")
    holder = "session" if kind == "session.update" else "response" if kind == "response.create" else None
    body = event.get(holder) if holder else None
    if isinstance(body, dict) and body.get("prompt") is not None:
        raise RetiredParameter(
            f"Unknown parameter: '{holder}.prompt'. Saved prompts were shut down on {PROMPT_SHUTDOWN}; "
            "send the prompt's text as 'instructions' instead.",
            param=f"{holder}.prompt",
        )
