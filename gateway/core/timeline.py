"""Per-turn summaries of one session for the operator's timeline (pure: events and costs in, summaries out).

What a turn is depends on the session's kind:

* **voice agent** — the core's turn (:mod:`gateway.core.turn_events`, from
  :class:`gateway.core.turns.TurnTracker`): this log does not derive turns itself, it summarises
  ``TurnStarted`` … ``TurnEnded`` (trigger, start, time to first audio or transcript, the tools called
  and handoffs made — agent frameworks hand off through a ``transfer_to_<agent>`` tool, as the OpenAI
  Agents SDK does — and whether the user barged in, even after the turn ended);
* **transcription** — one transcribed utterance, from the user's speech start (or commit) to its
  ``…transcription.completed``;
* **translation** — one translated segment: from the first translated output after input resumed
  (``TranslationOutput``) to the last tick that saw output flowing, once output has been quiet for
  ``SEGMENT_QUIET_S`` (or the next segment starts, or the session ends).

Each summary carries time offsets from the session start (ms), the cost the turn added and the
running total. Bounded: the first ``MAX_TURNS // 5`` and the last turns are kept, the rest counted
as dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from gateway.core.kinds import SessionKind
from gateway.core.observers import (
    InputCommitted,
    SessionEvent,
    SessionStats,
    SpeechStarted,
    TranscriptionCompleted,
    TranslationOutput,
)
from gateway.core.turn_events import ToolCallStarted, TurnEnded, TurnInterrupted, TurnStarted

#: turns kept per session (in the record and the live view)
MAX_TURNS = 50
_HEAD = MAX_TURNS // 5
#: tool names an agent framework uses to hand the conversation to another agent
HANDOFF_PREFIX = "transfer_to_"
_MAX_NAME = 64
#: translated output silent this long ends the segment (as the telemetry's segment spans do)
SEGMENT_QUIET_S = 1.0

TurnSummary = dict[str, object]


@dataclass(slots=True)
class _Names:
    tools: list[str] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Segment:
    number: int
    started_at: float
    last_output_at: float
    output_bytes: int


class TurnLog:
    """Builds the bounded turn summaries of one session from its observer events (turn events for a voice agent)."""

    def __init__(self, started_at: float, kind: SessionKind = SessionKind.REALTIME) -> None:
        self.started_at = started_at
        self.kind = kind
        self._count = 0
        self._head: list[TurnSummary] = []
        self._tail: list[TurnSummary] = []
        self.dropped = 0
        self._cost_at_last_end = 0
        #: tools and handoffs of the open voice-agent turns, by turn number
        self._names: dict[int, _Names] = {}
        #: kept summaries by turn number (a barge-in after the turn ended marks its summary)
        self._kept: dict[int, TurnSummary] = {}
        self._pending: tuple[str, float] | None = None
        self._segment: _Segment | None = None

    def observe(self, event: SessionEvent, cost_micros: int) -> None:
        """Feed one session or turn event with the session's cost so far (after the event was metered)."""
        match event:
            case TurnStarted():
                self._count = max(self._count, event.turn)
                self._names[event.turn] = _Names()
            case ToolCallStarted():
                self._tool(event.turn, event.name)
            case TurnInterrupted():
                self._interrupted(event.turn)
            case TurnEnded():
                self._turn_ended(event, cost_micros)
            case SpeechStarted() if self.kind is SessionKind.TRANSCRIPTION:
                self._note_trigger("speech", event.at)
            case InputCommitted() if self.kind is SessionKind.TRANSCRIPTION:
                self._note_trigger("commit", event.at)
            case TranscriptionCompleted() if self.kind is SessionKind.TRANSCRIPTION:
                trigger, at = self._pending or ("speech", event.at)
                self._pending = None
                self._count += 1
                self._keep(self._summary(self._count, "transcription", trigger, at, event.at, None, "completed", cost_micros))
            case TranslationOutput() if self.kind is SessionKind.TRANSLATION:
                self._segment_started(event.at, cost_micros)
            case _:
                pass

    @property
    def segment_open(self) -> bool:
        """A translation segment is open: a tick may end it (and record the session's cost at that moment)."""
        return self._segment is not None

    def tick(self, now: float, stats: SessionStats, cost_micros: int) -> None:
        """A translation segment ends once its output has been quiet for ``SEGMENT_QUIET_S`` (seen on ticks)."""
        segment = self._segment
        if segment is None:
            return
        if stats.bytes_from_upstream > segment.output_bytes:
            segment.output_bytes, segment.last_output_at = stats.bytes_from_upstream, now
        elif now - segment.last_output_at >= SEGMENT_QUIET_S:
            self._segment_ended(cost_micros)

    def close(self, cost_micros: int) -> None:
        """The session ended: an open translation segment ends at its last output."""
        if self._segment is not None:
            self._segment_ended(cost_micros)

    def summaries(self) -> list[TurnSummary]:
        """The kept summaries, oldest first (the still-open turns are not included)."""
        return [*self._head, *self._tail]

    @property
    def count(self) -> int:
        return self._count

    # --- internals ---------------------------------------------------------------------------------

    def _ms(self, at: float) -> int:
        return max(0, round((at - self.started_at) * 1000))

    def _note_trigger(self, trigger: str, at: float) -> None:
        if self._pending is None:
            self._pending = (trigger, at)

    def _tool(self, turn: int, name: str) -> None:
        """A call belongs to its turn, open or already summarised (a gateway tool is reported once it has run)."""
        name = name[:_MAX_NAME]
        handoff = name.startswith(HANDOFF_PREFIX)
        names = self._names.get(turn)
        if names is not None:
            (names.handoffs if handoff else names.tools).append(name)
            return
        summary = self._kept.get(turn)
        listed = summary.get("handoffs" if handoff else "tools") if summary is not None else None
        if isinstance(listed, list):
            listed.append(name)

    def _interrupted(self, turn: int) -> None:
        summary = self._kept.get(turn)
        if summary is not None:
            summary["interrupted"] = True

    def _turn_ended(self, event: TurnEnded, cost_micros: int) -> None:
        names = self._names.pop(event.turn, None) or _Names()
        if not event.done:  # the session ended first: the timeline lists finished turns only
            return
        firsts = [t for t in (event.first_audio_at, event.first_transcript_at) if t is not None]
        summary = self._summary(
            event.turn, "response", event.trigger, event.started_at, event.at, min(firsts) if firsts else None,
            event.status, cost_micros, interrupted=event.interrupted, names=names,
        )
        self._keep(summary)

    def _segment_started(self, at: float, cost_micros: int) -> None:
        if self._segment is not None:
            self._segment_ended(cost_micros)
        self._count += 1
        self._segment = _Segment(self._count, at, at, 0)

    def _segment_ended(self, cost_micros: int) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        end = max(segment.last_output_at, segment.started_at)
        self._keep(self._summary(segment.number, "segment", "speech", segment.started_at, end, None, "completed", cost_micros))

    def _summary(
        self,
        number: int,
        kind: str,
        trigger: str,
        started_at: float,
        ended_at: float,
        first_output_at: float | None,
        status: str,
        cost_micros: int,
        *,
        interrupted: bool = False,
        names: _Names | None = None,
    ) -> TurnSummary:
        summary: TurnSummary = {
            "n": number,
            "kind": kind,
            "trigger": trigger,
            "start_ms": self._ms(started_at),
            "end_ms": self._ms(ended_at),
            "ttfa_ms": None if first_output_at is None else round((first_output_at - started_at) * 1000),
            "status": status,
            "interrupted": interrupted,
            "tools": names.tools if names else [],
            "handoffs": names.handoffs if names else [],
            "cost_micros": max(0, cost_micros - self._cost_at_last_end),
            "total_micros": cost_micros,
        }
        self._cost_at_last_end = max(self._cost_at_last_end, cost_micros)
        return summary

    def _keep(self, summary: TurnSummary) -> None:
        number = summary["n"]
        if isinstance(number, int):
            self._kept[number] = summary
        if len(self._head) < _HEAD:
            self._head.append(summary)
            return
        self._tail.append(summary)
        if len(self._tail) > MAX_TURNS - _HEAD:
            gone = self._tail.pop(0)["n"]
            if isinstance(gone, int):
                self._kept.pop(gone, None)
            self.dropped += 1


def with_spans(summaries: list[TurnSummary], span_ids: Mapping[int, str]) -> list[TurnSummary]:
    """The voice-agent turn summaries with their turn span's id (``span_id``) where tracing knows it (copies)."""
    out: list[TurnSummary] = []
    for summary in summaries:
        number = summary.get("n")
        span_id = span_ids.get(number) if isinstance(number, int) and summary.get("kind") == "response" else None
        out.append({**summary, "span_id": span_id} if span_id else summary)
    return out
