"""Voice-agent turn spans, made from the core's turn events: one span per turn, tool-call and
barge-in spans beneath it.

The turns themselves are tracked by :class:`gateway.core.turns.TurnTracker` (pure); this module
only turns its :mod:`gateway.core.turn_events` into spans, span events, metrics and the
"turn ended" log line. A barge-in is a short ``realtime.interruption`` span under the turn whose
audio was cut, from the user's speech start to the ``conversation.item.truncate``.
"""

from __future__ import annotations

from collections import OrderedDict

from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.core.money import TokenUsage
from gateway.core.turn_events import (
    ToolCallEnded,
    ToolCallStarted,
    TurnBargeIn,
    TurnEnded,
    TurnEvent,
    TurnFirstAudio,
    TurnFirstTranscript,
    TurnInputAdded,
    TurnInputEnded,
    TurnInterrupted,
    TurnResponseStarted,
    TurnStarted,
)
from gateway.core.turns import MAX_REMEMBERED_ITEMS
from gateway.telemetry import names as n
from gateway.telemetry.clock import ms_between
from gateway.telemetry.scope import SessionScope

#: opt-in transcript tracing records at most this much of a gateway tool call's arguments
_MAX_TRACED_ARGUMENTS = 2000
#: turn spans kept as parents for late children (utterances, interruptions)
_MAX_REMEMBERED_TURNS = MAX_REMEMBERED_ITEMS


class TurnSpans:
    """Turn, tool and interruption spans of one voice-agent session."""

    def __init__(self, scope: SessionScope) -> None:
        self._scope = scope
        self._count = 0
        self._spans: OrderedDict[int, Span] = OrderedDict()
        self._tools: dict[str, Span] = {}
        self._by_item: OrderedDict[str, int] = OrderedDict()

    @property
    def count(self) -> int:
        return self._count

    def span_ids(self) -> dict[int, str]:
        """The span id (16 hex digits) of each remembered turn, by turn number (for links to the turn in Jaeger)."""
        found: dict[int, str] = {}
        for turn, span in self._spans.items():
            context = span.get_span_context()
            if context.is_valid:
                found[turn] = format(context.span_id, "016x")
        return found

    def span_for_item(self, item_id: str) -> Span | None:
        """The span of the turn whose user input was this item (parent of its utterance span)."""
        turn = self._by_item.get(item_id)
        return self._spans.get(turn) if turn is not None else None

    def on_turn_event(self, event: TurnEvent) -> None:
        match event:
            case TurnStarted():
                self._open(event)
            case TurnInputAdded():
                self._by_item[event.item_id] = event.turn
                while len(self._by_item) > MAX_REMEMBERED_ITEMS:
                    self._by_item.popitem(last=False)
            case TurnInputEnded():
                self._span_event(event.turn, n.EV_INPUT_END, event.at)
            case TurnResponseStarted():
                span = self._spans.get(event.turn)
                if span is not None:
                    span.set_attribute(n.GEN_AI_RESPONSE_ID, event.response_id)
            case TurnFirstAudio():
                self._first_audio(event)
            case TurnFirstTranscript():
                self._first_transcript(event)
            case ToolCallStarted():
                self._tool_started(event)
            case ToolCallEnded():
                self._tool_ended(event)
            case TurnInterrupted():
                self._interrupted(event)
            case TurnBargeIn():
                self._barge_in(event)
            case TurnEnded():
                self._ended(event)

    # --- the turn ----------------------------------------------------------------------------

    def _open(self, event: TurnStarted) -> None:
        self._count += 1
        attrs = dict(self._scope.genai_attrs)
        attrs.update(
            {
                n.GEN_AI_OPERATION: "chat",
                n.SESSION_ID: self._scope.session_id,
                n.TURN_NUMBER: event.turn,
                n.TURN_TRIGGER: event.trigger,
            }
        )
        self._spans[event.turn] = self._scope.start_child(n.TURN_SPAN, event.at, attrs)
        while len(self._spans) > _MAX_REMEMBERED_TURNS:
            self._spans.popitem(last=False)

    def _span_event(self, turn: int, name: str, at: float) -> None:
        span = self._spans.get(turn)
        if span is not None:
            span.add_event(name, timestamp=self._scope.clock.ns(at))

    def _first_audio(self, event: TurnFirstAudio) -> None:
        ttfa = self._first_output(event, n.EV_FIRST_AUDIO, n.TURN_TTFA_MS)
        if ttfa is not None:
            self._scope.metrics.ttfa.record(ttfa / 1000, self._scope.metric_attrs)

    def _first_transcript(self, event: TurnFirstTranscript) -> None:
        self._first_output(event, n.EV_FIRST_TRANSCRIPT, n.TURN_TTFT_MS)

    def _first_output(self, event: TurnFirstAudio | TurnFirstTranscript, name: str, latency_attr: str) -> int | None:
        """Mark the turn's first audio or transcript; the latency from the input's end (ms), if known."""
        span = self._spans.get(event.turn)
        if span is None:
            return None
        span.add_event(name, timestamp=self._scope.clock.ns(event.at))
        latency = ms_between(event.input_end_at, event.at)
        if latency is not None:
            span.set_attribute(latency_attr, latency)
        return latency

    def _ended(self, event: TurnEnded) -> None:
        span = self._spans.get(event.turn)
        if span is None:
            return
        usage: TokenUsage | None = None
        cost: int | None = None
        if event.done:
            counted, cost = self._scope.cost.add_response_usage(event.usage)
            usage = counted if event.usage else None
        status = event.status
        span.set_attribute(n.TURN_STATUS, status)
        span.set_attribute(n.GEN_AI_FINISH_REASONS, [status])
        span.set_attribute(n.TURN_TOOL_CALLS, event.tool_calls)
        if event.reason:
            span.set_attribute(n.TURN_STATUS_REASON, event.reason)
        if event.interrupted:
            span.set_attribute(n.TURN_INTERRUPTED, True)
        if usage is not None:
            self._usage_attributes(span, usage)
        if cost is not None:
            span.set_attribute(n.COST_MICROS, cost)
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, event.reason or "failed"))
        self._scope.end(span, event.at)
        self._scope.metrics.turns.add(1, {**self._scope.metric_attrs, "status": status})
        self._scope.log(
            "turn ended",
            span,
            turn_id=event.turn,
            response_id=event.response_id,
            trigger=event.trigger,
            status=status,
            status_reason=event.reason,
            timings={
                "duration_ms": ms_between(event.started_at, event.at),
                "time_to_first_audio_ms": ms_between(event.input_end_at, event.first_audio_at),
                "time_to_first_transcript_ms": ms_between(event.input_end_at, event.first_transcript_at),
            },
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cost_micros=cost,
            interrupted=event.interrupted,
            tool_calls=event.tool_calls,
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
            self._scope.metrics.tokens.add(usage.input_tokens, {**attrs, "type": "input"})
        if usage.output_tokens:
            self._scope.metrics.tokens.add(usage.output_tokens, {**attrs, "type": "output"})

    # --- tools and barge-in ------------------------------------------------------------------

    def _tool_started(self, event: ToolCallStarted) -> None:
        """One ``execute_tool`` span for client and gateway calls (a gateway call names its server and cache hit)."""
        attributes: dict[str, str | bool] = {
            n.GEN_AI_OPERATION: "execute_tool",
            n.GEN_AI_TOOL_NAME: event.name,
            n.GEN_AI_TOOL_CALL_ID: event.call_id,
            n.GEN_AI_TOOL_TYPE: "function",
            n.SESSION_ID: self._scope.session_id,
        }
        if event.executor == "gateway":
            attributes.update({n.TOOL_SERVER: event.server or "", n.TOOL_CACHE_HIT: event.cache_hit, n.TOOL_EXECUTOR: "gateway"})
        span = self._scope.start_child(f"{n.TOOL_SPAN} {event.name}", event.at, attributes, parent=self._spans.get(event.turn))
        if self._scope.trace_transcripts and event.arguments:
            span.set_attribute(n.TOOL_ARGUMENTS, event.arguments[:_MAX_TRACED_ARGUMENTS])
        self._tools[event.call_id] = span

    def _tool_ended(self, event: ToolCallEnded) -> None:
        span = self._tools.pop(event.call_id, None)
        if span is None:
            return
        gateway = event.executor == "gateway"
        if gateway and event.status not in ("ok", "cancelled"):  # cancelled: the conversation moved on, not a fault
            span.set_status(Status(StatusCode.ERROR, event.status))
        span.set_attribute(n.TOOL_STATUS, event.status)
        duration = ms_between(event.started_at, event.at)
        if duration is not None:
            span.set_attribute(n.TOOL_DURATION_MS, duration)
        self._scope.end(span, event.at)
        metrics = self._scope.metrics
        metrics.tool_calls.add(1, {**self._scope.metric_attrs, "outcome": event.status})
        if gateway:
            attrs = {**self._scope.metric_attrs, "tool": event.name, "server": event.server or ""}
            metrics.gateway_tool_calls.add(1, {**attrs, "outcome": event.status, "cache_hit": event.cache_hit})
            if duration is not None and event.status != "cancelled":  # a cut-short call says nothing of the tool's latency
                metrics.gateway_tool_latency.record(duration, attrs)

    def _barge_in(self, event: TurnBargeIn) -> None:
        span = self._spans.get(event.turn)
        if span is not None:
            attrs: dict[str, AttributeValue] = {
                n.BARGE_IN_TALK_OVER_MS: event.talk_over_ms,
                n.BARGE_IN_STOPPED_BY: event.stopped_by,
                n.TURN_PLAYED_MS: event.audio_end_ms,
                n.ITEM_ID: event.item_id,
            }
            if event.sent:
                attrs[n.BARGE_IN_SENT] = list(event.sent)
            span.add_event(n.EV_BARGE_IN, attributes=attrs, timestamp=self._scope.clock.ns(event.at))
        attrs_metric = {**self._scope.metric_attrs, "stopped_by": event.stopped_by}
        self._scope.metrics.barge_in_talk_over.record(event.talk_over_ms / 1000, attrs_metric)

    def _interrupted(self, event: TurnInterrupted) -> None:
        turn_span = self._spans.get(event.turn)
        span = self._scope.start_child(
            n.INTERRUPTION_SPAN,
            event.started_at,
            {n.TURN_PLAYED_MS: event.audio_end_ms, n.ITEM_ID: event.item_id, n.TURN_NUMBER: event.turn},
            parent=turn_span,
        )
        self._scope.end(span, event.at)
        self._scope.metrics.interruptions.add(1, self._scope.metric_attrs)
        if not event.turn_ended and turn_span is not None:
            turn_span.set_attribute(n.TURN_INTERRUPTED, True)
            turn_span.set_attribute(n.TURN_PLAYED_MS, event.audio_end_ms)
