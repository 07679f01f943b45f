"""Per-turn summaries of one session for the operator's timeline (pure: events and costs in, summaries out).

A turn is one response (``response.created`` → ``response.done``) or, in a transcription
session, one transcribed utterance. It starts at what triggered it: the user's speech start,
the client's commit or ``response.create``, else the response itself. Each summary carries
time offsets from the session start (ms), time to first audio, whether the user barged in
(the client truncated its audio),
the tools called and handoffs made (agent frameworks hand off through a ``transfer_to_<agent>``
tool, as the OpenAI Agents SDK does), the cost the turn added and the running total.

Bounded: the first ``MAX_TURNS // 5`` and the last turns are kept, the rest counted as dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.core.observers import (
    FirstAudio,
    FirstTranscript,
    FunctionCallRequested,
    GatewayToolStarted,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    ResponseRequested,
    SessionEvent,
    SpeechStarted,
    TranscriptionCompleted,
    Truncated,
)

#: turns kept per session (in the record and the live view)
MAX_TURNS = 50
_HEAD = MAX_TURNS // 5
#: tool names an agent framework uses to hand the conversation to another agent
HANDOFF_PREFIX = "transfer_to_"
_MAX_NAME = 64

TurnSummary = dict[str, object]


@dataclass(slots=True)
class _Open:
    number: int
    kind: str
    trigger: str
    started_at: float
    response_id: str | None = None
    first_audio_at: float | None = None
    tools: list[str] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)
    interrupted: bool = False


class TurnLog:
    """Builds the bounded turn summaries of one session from its observer events."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self._pending: tuple[str, float] | None = None
        self._open: dict[str, _Open] = {}
        self._count = 0
        self._head: list[TurnSummary] = []
        self._tail: list[TurnSummary] = []
        self.dropped = 0
        self._cost_at_last_end = 0
        self._last_audio_turn: TurnSummary | _Open | None = None

    def observe(self, event: SessionEvent, cost_micros: int) -> None:
        """Feed one session event with the session's cost so far (after the event was metered)."""
        match event:
            case SpeechStarted():
                self._note_trigger("speech", event.at)
            case InputCommitted():
                self._note_trigger("commit", event.at)
            case ResponseRequested():
                self._note_trigger("response.create", event.at)
            case ResponseCreated():
                self._start_response(event.response_id, event.at)
            case FirstAudio() | FirstTranscript():
                turn = self._open.get(event.response_id)
                if turn is not None and turn.first_audio_at is None:
                    turn.first_audio_at = event.at
                    self._last_audio_turn = turn
            case FunctionCallRequested() | GatewayToolStarted():
                self._tool(event.name)
            case Truncated():
                self._barge_in()
            case ResponseDone():
                turn = self._open.pop(event.response_id, None) or self._start_response(event.response_id, event.at, keep=False)
                self._close(turn, event.at, event.status, cost_micros)
            case TranscriptionCompleted():
                trigger, at = self._pending or ("speech", event.at)
                self._pending = None
                self._count += 1
                self._close(_Open(self._count, "transcription", trigger, at), event.at, "completed", cost_micros)
            case _:
                pass

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

    def _start_response(self, response_id: str, at: float, *, keep: bool = True) -> _Open:
        trigger, started = self._pending or ("server", at)
        self._pending = None
        self._count += 1
        turn = _Open(self._count, "response", trigger, min(started, at), response_id)
        if keep:
            self._open[response_id] = turn
        return turn

    def _tool(self, name: str) -> None:
        turn = next(reversed(self._open.values()), None)
        if turn is None:
            return
        name = name[:_MAX_NAME]
        (turn.handoffs if name.startswith(HANDOFF_PREFIX) else turn.tools).append(name)

    def _barge_in(self) -> None:
        """The client truncated the assistant's audio: the latest turn that had audio was interrupted."""
        turn = self._last_audio_turn
        if isinstance(turn, dict):
            turn["interrupted"] = True
        elif turn is not None:
            turn.interrupted = True

    def _close(self, turn: _Open, ended_at: float, status: str, cost_micros: int) -> None:
        summary: TurnSummary = {
            "n": turn.number,
            "kind": turn.kind,
            "trigger": turn.trigger,
            "start_ms": self._ms(turn.started_at),
            "end_ms": self._ms(ended_at),
            "ttfa_ms": None if turn.first_audio_at is None else round((turn.first_audio_at - turn.started_at) * 1000),
            "status": status,
            "interrupted": turn.interrupted,
            "tools": turn.tools,
            "handoffs": turn.handoffs,
            "cost_micros": max(0, cost_micros - self._cost_at_last_end),
            "total_micros": cost_micros,
        }
        self._cost_at_last_end = max(self._cost_at_last_end, cost_micros)
        if self._last_audio_turn is turn:
            self._last_audio_turn = summary
        self._keep(summary)

    def _keep(self, summary: TurnSummary) -> None:
        if len(self._head) < _HEAD:
            self._head.append(summary)
            return
        self._tail.append(summary)
        if len(self._tail) > MAX_TURNS - _HEAD:
            self._tail.pop(0)
            self.dropped += 1
