"""Transcription utterances: one span per input item, from its audio to its final transcript.

An utterance span starts at the earliest moment the gateway saw its item (speech start,
speech stop, commit, or the first delta when deltas stream before any commit) and ends at
``...input_audio_transcription.completed``. Latencies are measured from the end of input
(speech stop, else commit): ``time_to_first_delta_ms`` and ``time_to_final_ms``. In
voice-agent sessions the same spans appear under the turn whose input the item was, and
only once a transcription event arrives (input transcription is optional there).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from opentelemetry.trace import Span

from gateway.core.money import token_usage_from_response
from gateway.core.jsontypes import JsonObject
from gateway.core.observers import (
    TranscriptionCompleted,
    TranscriptionDelta,
)
from gateway.telemetry import names as n
from gateway.telemetry.clock import ms_between
from gateway.telemetry.scope import SessionScope
from gateway.telemetry.turns import TurnSpans

_MAX_OPEN_ITEMS = 256


@dataclass(slots=True)
class _Item:
    item_id: str
    first_seen_at: float
    input_end_at: float | None = None
    first_delta_at: float | None = None
    span: Span | None = None


class UtteranceTracker:
    """Utterance spans keyed by ``item_id`` (completions may arrive out of order)."""

    def __init__(
        self,
        scope: SessionScope,
        turns: TurnSpans | None = None,
        *,
        report_unfinished: bool,
    ) -> None:
        self._scope = scope
        self._turns = turns
        self._report_unfinished = report_unfinished
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self.count = 0

    def input_seen(self, item_id: str | None, at: float, *, input_end: bool) -> None:
        """Speech start/stop or commit for an item: remember when its audio began and ended."""
        if not item_id:
            return
        item = self._item(item_id, at)
        if input_end and item.input_end_at is None:
            item.input_end_at = at

    def delta(self, ev: TranscriptionDelta) -> None:
        item = self._item(ev.item_id, ev.at)
        if item.first_delta_at is not None:
            return
        item.first_delta_at = ev.at
        span = self._span(item)
        span.add_event(n.EV_FIRST_DELTA, timestamp=self._scope.clock.ns(ev.at))
        latency = ms_between(item.input_end_at, ev.at)
        if latency is not None:
            span.set_attribute(n.UTTERANCE_FIRST_DELTA_MS, latency)

    def completed(self, ev: TranscriptionCompleted) -> None:
        item = self._item(ev.item_id, ev.at)
        span = self._span(item)
        if item.first_delta_at is None:
            latency = ms_between(item.input_end_at, ev.at)
            if latency is not None:
                span.set_attribute(n.UTTERANCE_FIRST_DELTA_MS, latency)
        final = ms_between(item.input_end_at, ev.at)
        if final is not None:
            span.set_attribute(n.UTTERANCE_FINAL_MS, final)
            self._scope.metrics.transcription_latency.record(
                final / 1000, self._scope.metric_attrs
            )
        self._usage(span, ev.usage)
        if self._scope.trace_transcripts and ev.transcript is not None:
            span.set_attribute(n.TRANSCRIPT, ev.transcript)
        span.set_attribute(n.UTTERANCE_STATUS, "completed")
        self._items.pop(item.item_id, None)
        self._scope.end(span, ev.at)
        if (
            self._report_unfinished
        ):  # a transcription session: one log line per utterance
            self._scope.log(
                "utterance transcribed",
                span,
                turn_id=item.item_id,
                timings={
                    "duration_ms": ms_between(item.first_seen_at, ev.at),
                    "time_to_first_delta_ms": ms_between(
                        item.input_end_at, item.first_delta_at or ev.at
                    ),
                    "time_to_final_ms": final,
                },
            )

    def close(self, at: float) -> None:
        """Session over: end open utterances; in transcription sessions report untranscribed input too."""
        for item in list(self._items.values()):
            if item.span is None and not self._report_unfinished:
                continue
            span = self._span(item)
            status = (
                "incomplete" if item.first_delta_at is not None else "no_transcript"
            )
            span.set_attribute(n.UTTERANCE_STATUS, status)
            self._scope.end(span, max(at, item.first_seen_at))
        self._items.clear()

    def _item(self, item_id: str, at: float) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(item_id, at)
            while len(self._items) > _MAX_OPEN_ITEMS:
                _, dropped = self._items.popitem(last=False)
                if dropped.span is not None:
                    dropped.span.set_attribute(n.UTTERANCE_STATUS, "abandoned")
                    self._scope.end(dropped.span, at)
        return item

    def _span(self, item: _Item) -> Span:
        if item.span is None:
            self.count += 1
            turn_span = self._turns.span_for_item(item.item_id) if self._turns else None
            attrs = dict(self._scope.genai_attrs)
            attrs.update(
                {
                    n.GEN_AI_OPERATION: "transcription",
                    n.SESSION_ID: self._scope.session_id,
                    n.ITEM_ID: item.item_id,
                }
            )
            item.span = self._scope.start_child(
                n.UTTERANCE_SPAN,
                item.first_seen_at,
                attrs,
                parent=turn_span,
            )
            if item.input_end_at is not None:
                item.span.add_event(
                    n.EV_INPUT_END, timestamp=self._scope.clock.ns(item.input_end_at)
                )
        return item.span

    def _usage(self, span: Span, usage: JsonObject | None) -> None:
        if not usage:
            return
        if usage.get("type") == "duration":
            seconds = usage.get("seconds")
            if isinstance(seconds, (int, float)):
                span.set_attribute(n.UTTERANCE_AUDIO_SECONDS, float(seconds))
            return
        tokens = token_usage_from_response(usage)
        span.set_attribute(n.GEN_AI_INPUT_TOKENS, tokens.input_tokens)
        span.set_attribute(n.GEN_AI_OUTPUT_TOKENS, tokens.output_tokens)
