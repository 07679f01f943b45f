"""Voice-agent turns: one span per response, with tool-call and barge-in spans beneath it.

A turn opens at the user's speech start (or the client's commit or ``response.create``,
or the server's ``response.created`` when nothing came before it) and ends at that
response's ``response.done``. A tool round trip is two turns: the one that ended with the
function call, which holds the ``execute_tool`` span, and the follow-up that the client's
``response.create`` opened (trigger ``tool_output``). A barge-in is a short
``realtime.interruption`` span under the turn whose audio was cut, from the user's speech
start to the ``conversation.item.truncate``; it works whether or not that turn already ended.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from opentelemetry.trace import Span, Status, StatusCode

from gateway.core.money import TokenUsage
from gateway.core.observers import (
    FunctionCallOutput,
    FunctionCallRequested,
    GatewayToolDone,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    ResponseRequested,
    SpeechStarted,
    SpeechStopped,
    Truncated,
)
from gateway.telemetry import names as n
from gateway.telemetry.clock import ms_between
from gateway.telemetry.scope import SessionScope

_MAX_REMEMBERED_ITEMS = 256


@dataclass(slots=True)
class Turn:
    """One user-input → response exchange."""

    number: int
    span: Span
    trigger: str
    started_at: float
    input_end_at: float | None = None
    response_id: str | None = None
    first_audio_at: float | None = None
    first_transcript_at: float | None = None
    tool_calls: int = 0
    ended: bool = False
    interrupted: bool = False
    item_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _ToolCall:
    span: Span
    turn: Turn
    name: str
    started_at: float


#: opt-in transcript tracing records at most this much of a gateway tool call's arguments
_MAX_TRACED_ARGUMENTS = 2000


class TurnTracker:
    """Turn, tool and interruption spans of one voice-agent session."""

    def __init__(self, scope: SessionScope) -> None:
        self._scope = scope
        self._count = 0
        self._pending: Turn | None = None
        self._responding: dict[str, Turn] = {}
        self._last_turn: Turn | None = None
        self._last_audio_turn: Turn | None = None
        self._last_speech_at: float | None = None
        self._tools: dict[str, _ToolCall] = {}
        self._tool_output_seen = False
        self._by_item: OrderedDict[str, Turn] = OrderedDict()

    @property
    def count(self) -> int:
        return self._count

    def turn_for_item(self, item_id: str) -> Turn | None:
        """The turn whose user input was this item (for input-transcription spans)."""
        return self._by_item.get(item_id)

    # --- user input -----------------------------------------------------------------------
    def speech_started(self, ev: SpeechStarted) -> None:
        self._last_speech_at = ev.at
        self._input_turn(ev.at, "speech", ev.item_id)

    def speech_stopped(self, ev: SpeechStopped) -> None:
        turn = self._input_turn(ev.at, "speech", ev.item_id)
        if turn.input_end_at is None:
            turn.input_end_at = ev.at
            turn.span.add_event(n.EV_INPUT_END, timestamp=self._scope.clock.ns(ev.at))

    def input_committed(self, ev: InputCommitted) -> None:
        turn = self._input_turn(
            ev.at, "commit" if ev.by_client else "speech", ev.item_id
        )
        if turn.input_end_at is None:
            turn.input_end_at = ev.at
            turn.span.add_event(n.EV_INPUT_END, timestamp=self._scope.clock.ns(ev.at))

    def response_requested(self, ev: ResponseRequested) -> None:
        trigger = "tool_output" if self._tool_output_seen else "response.create"
        self._tool_output_seen = False
        turn = self._input_turn(ev.at, trigger, None)
        if turn.input_end_at is None:
            turn.input_end_at = ev.at

    # --- the response ---------------------------------------------------------------------
    def response_created(self, ev: ResponseCreated) -> None:
        turn = self._pending or self._open(ev.at, "server")
        self._pending = None
        turn.response_id = ev.response_id
        if turn.input_end_at is None:
            turn.input_end_at = ev.at
        turn.span.set_attribute(n.GEN_AI_RESPONSE_ID, ev.response_id)
        self._responding[ev.response_id] = turn

    def first_audio(self, at: float, response_id: str) -> None:
        turn = self._responding.get(response_id)
        if turn is None or turn.first_audio_at is not None:
            return
        turn.first_audio_at = at
        self._last_audio_turn = turn
        turn.span.add_event(n.EV_FIRST_AUDIO, timestamp=self._scope.clock.ns(at))
        ttfa = ms_between(turn.input_end_at, at)
        if ttfa is not None:
            turn.span.set_attribute(n.TURN_TTFA_MS, ttfa)
            self._scope.metrics.ttfa.record(ttfa / 1000, self._scope.metric_attrs)

    def first_transcript(self, at: float, response_id: str) -> None:
        turn = self._responding.get(response_id)
        if turn is None or turn.first_transcript_at is not None:
            return
        turn.first_transcript_at = at
        turn.span.add_event(n.EV_FIRST_TRANSCRIPT, timestamp=self._scope.clock.ns(at))
        ttft = ms_between(turn.input_end_at, at)
        if ttft is not None:
            turn.span.set_attribute(n.TURN_TTFT_MS, ttft)

    def response_done(self, ev: ResponseDone) -> None:
        turn = self._responding.pop(ev.response_id, None)
        if (
            turn is None
        ):  # response.created was never seen: a zero-length turn still records usage
            turn = self._open(ev.at, "server")
            turn.response_id = ev.response_id
            turn.span.set_attribute(n.GEN_AI_RESPONSE_ID, ev.response_id)
        usage, cost = self._scope.cost.add_response_usage(ev.usage)
        self._finish(
            turn, ev.at, ev.status, ev.status_reason, usage if ev.usage else None, cost
        )

    # --- tools and barge-in ---------------------------------------------------------------
    def _tool_span(self, turn: Turn, name: str, call_id: str, at: float, extra: dict[str, str | bool]) -> Span:
        turn.tool_calls += 1
        attributes: dict[str, str | bool] = {
            n.GEN_AI_OPERATION: "execute_tool",
            n.GEN_AI_TOOL_NAME: name,
            n.GEN_AI_TOOL_CALL_ID: call_id,
            n.GEN_AI_TOOL_TYPE: "function",
            n.SESSION_ID: self._scope.session_id,
            **extra,
        }
        return self._scope.start_child(f"{n.TOOL_SPAN} {name}", at, attributes, parent=turn.span)

    def function_call_requested(self, ev: FunctionCallRequested) -> None:
        turn = (
            next(reversed(self._responding.values()), None)
            or self._last_turn
            or self._open(ev.at, "server")
        )
        span = self._tool_span(turn, ev.name, ev.call_id, ev.at, {})
        self._tools[ev.call_id] = _ToolCall(span, turn, ev.name, ev.at)

    def function_call_output(self, ev: FunctionCallOutput) -> None:
        call = self._tools.pop(ev.call_id, None)
        self._tool_output_seen = True
        if call is not None:
            self._end_tool(call, ev.at, "completed")

    def gateway_tool_done(self, ev: GatewayToolDone) -> None:
        """A gateway-side call: its span (tool, server, duration, cache hit, outcome; never arguments)."""
        turn = self._last_turn or self._open(ev.started_at, "server")
        extra: dict[str, str | bool] = {n.TOOL_SERVER: ev.server, n.TOOL_CACHE_HIT: ev.cache_hit, n.TOOL_EXECUTOR: "gateway"}
        span = self._tool_span(turn, ev.name, ev.call_id, ev.started_at, extra)
        if self._scope.trace_transcripts and ev.arguments:
            span.set_attribute(n.TOOL_ARGUMENTS, ev.arguments[:_MAX_TRACED_ARGUMENTS])
        if ev.outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, ev.outcome))
        self._tool_output_seen = True
        self._end_tool(_ToolCall(span, turn, ev.name, ev.started_at), ev.at, ev.outcome)
        attrs = {**self._scope.metric_attrs, "tool": ev.name, "server": ev.server}
        metrics = self._scope.metrics
        metrics.gateway_tool_calls.add(1, {**attrs, "outcome": ev.outcome, "cache_hit": ev.cache_hit})
        duration = ms_between(ev.started_at, ev.at)
        if duration is not None:
            metrics.gateway_tool_latency.record(duration, attrs)

    def truncated(self, ev: Truncated) -> None:
        turn = self._last_audio_turn
        if turn is None:
            return
        speech = self._last_speech_at
        start = (
            speech
            if speech is not None
            and turn.first_audio_at is not None
            and speech >= turn.first_audio_at
            else ev.at
        )
        span = self._scope.start_child(
            n.INTERRUPTION_SPAN,
            start,
            {
                n.TURN_PLAYED_MS: ev.audio_end_ms,
                n.ITEM_ID: ev.item_id,
                n.TURN_NUMBER: turn.number,
            },
            parent=turn.span,
        )
        self._scope.end(span, ev.at)
        self._scope.metrics.interruptions.add(1, self._scope.metric_attrs)
        turn.interrupted = True
        if not turn.ended:
            turn.span.set_attribute(n.TURN_INTERRUPTED, True)
            turn.span.set_attribute(n.TURN_PLAYED_MS, ev.audio_end_ms)

    def close(self, at: float) -> None:
        """Session over: end whatever is still open (unanswered input, unfinished responses, tools)."""
        for call in list(self._tools.values()):
            self._end_tool(call, at, "no_output")
        self._tools.clear()
        for turn in list(self._responding.values()):
            self._finish(turn, at, "unfinished", None, None, None)
        self._responding.clear()
        if self._pending is not None:
            self._finish(self._pending, at, "no_response", None, None, None)
            self._pending = None

    # --- internals --------------------------------------------------------------------------
    def _input_turn(self, at: float, trigger: str, item_id: str | None) -> Turn:
        turn = self._pending or self._open(at, trigger)
        self._pending = turn
        if item_id and item_id not in turn.item_ids:
            turn.item_ids.append(item_id)
            self._by_item[item_id] = turn
            while len(self._by_item) > _MAX_REMEMBERED_ITEMS:
                self._by_item.popitem(last=False)
        return turn

    def _open(self, at: float, trigger: str) -> Turn:
        self._count += 1
        attrs = dict(self._scope.genai_attrs)
        attrs.update(
            {
                n.GEN_AI_OPERATION: "chat",
                n.SESSION_ID: self._scope.session_id,
                n.TURN_NUMBER: self._count,
                n.TURN_TRIGGER: trigger,
            }
        )
        span = self._scope.start_child(n.TURN_SPAN, at, attrs)
        turn = Turn(number=self._count, span=span, trigger=trigger, started_at=at)
        self._last_turn = turn
        return turn

    def _finish(
        self,
        turn: Turn,
        at: float,
        status: str,
        reason: str | None,
        usage: TokenUsage | None,
        cost: int | None,
    ) -> None:
        span = turn.span
        span.set_attribute(n.TURN_STATUS, status)
        span.set_attribute(n.GEN_AI_FINISH_REASONS, [status])
        span.set_attribute(n.TURN_TOOL_CALLS, turn.tool_calls)
        if reason:
            span.set_attribute(n.TURN_STATUS_REASON, reason)
        if turn.interrupted:
            span.set_attribute(n.TURN_INTERRUPTED, True)
        if usage is not None:
            self._usage_attributes(span, usage)
        if cost is not None:
            span.set_attribute(n.COST_MICROS, cost)
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, reason or "failed"))
        turn.ended = True
        self._scope.end(span, at)
        self._scope.metrics.turns.add(1, {**self._scope.metric_attrs, "status": status})
        self._scope.log(
            "turn ended",
            span,
            turn_id=turn.number,
            response_id=turn.response_id,
            trigger=turn.trigger,
            status=status,
            status_reason=reason,
            timings={
                "duration_ms": ms_between(turn.started_at, at),
                "time_to_first_audio_ms": ms_between(
                    turn.input_end_at, turn.first_audio_at
                ),
                "time_to_first_transcript_ms": ms_between(
                    turn.input_end_at, turn.first_transcript_at
                ),
            },
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cost_micros=cost,
            interrupted=turn.interrupted,
            tool_calls=turn.tool_calls,
        )

    def _usage_attributes(self, span: Span, usage: TokenUsage) -> None:
        span.set_attribute(n.GEN_AI_INPUT_TOKENS, usage.input_tokens)
        span.set_attribute(n.GEN_AI_OUTPUT_TOKENS, usage.output_tokens)
        for name in TokenUsage.__slots__:
            value = getattr(usage, name)
            if value:
                span.set_attribute(n.USAGE_PREFIX + name, value)
        attrs = self._scope.metric_attrs
        if usage.input_tokens:
            self._scope.metrics.tokens.add(
                usage.input_tokens, {**attrs, "type": "input"}
            )
        if usage.output_tokens:
            self._scope.metrics.tokens.add(
                usage.output_tokens, {**attrs, "type": "output"}
            )

    def _end_tool(self, call: _ToolCall, at: float, status: str) -> None:
        call.span.set_attribute(n.TOOL_STATUS, status)
        duration = ms_between(call.started_at, at)
        if duration is not None:
            call.span.set_attribute(n.TOOL_DURATION_MS, duration)
        self._scope.end(call.span, at)
        self._scope.metrics.tool_calls.add(
            1, {**self._scope.metric_attrs, "outcome": status}
        )
