"""Voice-agent turns, Sans-I/O: session events in, typed turn events out.

A turn opens at the user's speech start (or the client's commit or ``response.create``, or the
server's ``response.created`` when nothing came before it) and ends at that response's
``response.done``. A tool round trip is two turns: the one that ended with the function call, and
the follow-up the client's ``response.create`` opened (trigger ``tool_output``). A barge-in is the
client truncating the audio of the turn that last played audio, whether or not it already ended.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from gateway.core.barge_in import BargeInMeasured
from gateway.core.jsontypes import JsonObject
from gateway.core.observers import (
    FirstAudio,
    FirstTranscript,
    FunctionCallOutput,
    FunctionCallRequested,
    GatewayToolDone,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    ResponseRequested,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    Truncated,
)
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

#: user input items remembered per session (oldest forgotten first)
MAX_REMEMBERED_ITEMS: Final = 256


@dataclass(slots=True)
class _Turn:
    number: int
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


@dataclass(frozen=True, slots=True)
class _ToolCall:
    turn: _Turn
    name: str
    started_at: float


class TurnTracker:
    """The turns of one voice-agent session; :meth:`feed` returns the turn events a session event causes."""

    def __init__(self) -> None:
        self._count = 0
        self._pending: _Turn | None = None
        self._responding: dict[str, _Turn] = {}
        self._last_turn: _Turn | None = None
        self._last_audio_turn: _Turn | None = None
        self._last_speech_at: float | None = None
        self._tools: dict[str, _ToolCall] = {}
        self._tool_output_seen = False
        self._by_item: OrderedDict[str, int] = OrderedDict()
        self._out: list[TurnEvent] = []

    @property
    def count(self) -> int:
        """Turns opened so far."""
        return self._count

    def turn_for_item(self, item_id: str) -> int | None:
        """The number of the turn whose user input was this item."""
        return self._by_item.get(item_id)

    def feed(self, event: SessionEvent) -> list[TurnEvent]:
        """The turn events ``event`` causes (most session events cause none)."""
        match event:
            case SpeechStarted():
                self._speech_started(event)
            case SpeechStopped():
                self._input_ended(self._input_turn(event.at, "speech", event.item_id), event.at)
            case InputCommitted():
                trigger = "commit" if event.by_client else "speech"
                self._input_ended(self._input_turn(event.at, trigger, event.item_id), event.at)
            case ResponseRequested():
                self._response_requested(event)
            case ResponseCreated():
                self._response_created(event)
            case FirstAudio():
                self._first_audio(event)
            case FirstTranscript():
                self._first_transcript(event)
            case ResponseDone():
                self._response_done(event)
            case FunctionCallRequested():
                self._function_call(event)
            case FunctionCallOutput():
                self._function_output(event)
            case GatewayToolDone():
                self._gateway_tool(event)
            case Truncated():
                self._truncated(event)
            case BargeInMeasured():
                self._barge_in(event)
        return self._flush()

    def expand(self, events: list[SessionEvent]) -> list[SessionEvent]:
        """``events`` with the turn events each one causes right after it (what observers receive)."""
        out: list[SessionEvent] = []
        for event in events:
            out.append(event)
            out.extend(self.feed(event))
        return out

    def close(self, at: float) -> list[TurnEvent]:
        """Session over: end whatever is still open (tools, unfinished responses, unanswered input)."""
        for call_id, call in self._tools.items():
            self._out.append(ToolCallEnded(at, call.turn.number, call_id, call.name, "no_output", call.started_at))
        self._tools.clear()
        for turn in self._responding.values():
            self._end(turn, at, "unfinished", None, done=False, usage=None)
        self._responding.clear()
        if self._pending is not None:
            self._end(self._pending, at, "no_response", None, done=False, usage=None)
            self._pending = None
        return self._flush()

    # --- user input --------------------------------------------------------------------------

    def _speech_started(self, ev: SpeechStarted) -> None:
        self._last_speech_at = ev.at
        self._input_turn(ev.at, "speech", ev.item_id)

    def _input_ended(self, turn: _Turn, at: float) -> None:
        if turn.input_end_at is None:
            turn.input_end_at = at
            self._out.append(TurnInputEnded(at, turn.number))

    def _response_requested(self, ev: ResponseRequested) -> None:
        trigger = "tool_output" if self._tool_output_seen else "response.create"
        self._tool_output_seen = False
        turn = self._input_turn(ev.at, trigger, None)
        if turn.input_end_at is None:
            turn.input_end_at = ev.at

    # --- the response ------------------------------------------------------------------------

    def _response_created(self, ev: ResponseCreated) -> None:
        turn = self._pending or self._open(ev.at, "server")
        self._pending = None
        if turn.input_end_at is None:
            turn.input_end_at = ev.at
        self._respond(turn, ev.at, ev.response_id)

    def _respond(self, turn: _Turn, at: float, response_id: str) -> None:
        turn.response_id = response_id
        self._responding[response_id] = turn
        self._out.append(TurnResponseStarted(at, turn.number, response_id))

    def _first_audio(self, ev: FirstAudio) -> None:
        turn = self._responding.get(ev.response_id)
        if turn is None or turn.first_audio_at is not None:
            return
        turn.first_audio_at = ev.at
        self._last_audio_turn = turn
        self._out.append(TurnFirstAudio(ev.at, turn.number, ev.response_id, turn.input_end_at))

    def _first_transcript(self, ev: FirstTranscript) -> None:
        turn = self._responding.get(ev.response_id)
        if turn is None or turn.first_transcript_at is not None:
            return
        turn.first_transcript_at = ev.at
        self._out.append(TurnFirstTranscript(ev.at, turn.number, ev.response_id, turn.input_end_at))

    def _response_done(self, ev: ResponseDone) -> None:
        turn = self._responding.pop(ev.response_id, None)
        if turn is None:  # response.created was never seen: a zero-length turn still records usage
            turn = self._open(ev.at, "server")
            self._respond(turn, ev.at, ev.response_id)
            self._responding.pop(ev.response_id, None)
        self._end(turn, ev.at, ev.status, ev.status_reason, done=True, usage=ev.usage)

    # --- tools and barge-in ------------------------------------------------------------------

    def _function_call(self, ev: FunctionCallRequested) -> None:
        turn = next(reversed(self._responding.values()), None) or self._last_turn or self._open(ev.at, "server")
        turn.tool_calls += 1
        self._tools[ev.call_id] = _ToolCall(turn, ev.name, ev.at)
        self._out.append(ToolCallStarted(ev.at, turn.number, ev.call_id, ev.name))

    def _function_output(self, ev: FunctionCallOutput) -> None:
        call = self._tools.pop(ev.call_id, None)
        self._tool_output_seen = True
        if call is not None:
            self._out.append(ToolCallEnded(ev.at, call.turn.number, ev.call_id, call.name, "completed", call.started_at))

    def _gateway_tool(self, ev: GatewayToolDone) -> None:
        """A call the gateway ran itself: started and ended under the latest turn; its output feeds the next turn."""
        turn = self._last_turn or self._open(ev.started_at, "server")
        turn.tool_calls += 1
        self._tool_output_seen = True
        self._out.append(
            ToolCallStarted(ev.started_at, turn.number, ev.call_id, ev.name, "gateway", ev.server, ev.cache_hit, ev.arguments)
        )
        self._out.append(
            ToolCallEnded(ev.at, turn.number, ev.call_id, ev.name, ev.outcome, ev.started_at, "gateway", ev.server, ev.cache_hit)
        )

    def _truncated(self, ev: Truncated) -> None:
        turn = self._last_audio_turn
        if turn is None:
            return
        speech = self._last_speech_at
        heard_after_audio = speech is not None and turn.first_audio_at is not None and speech >= turn.first_audio_at
        start = speech if heard_after_audio and speech is not None else ev.at
        turn.interrupted = True
        self._out.append(TurnInterrupted(ev.at, turn.number, ev.item_id, ev.audio_end_ms, start, turn.ended))

    def _barge_in(self, ev: BargeInMeasured) -> None:
        turn = self._last_audio_turn
        if turn is not None:
            self._out.append(
                TurnBargeIn(ev.at, turn.number, ev.item_id, ev.speech_at, ev.talk_over_ms, ev.stopped_by, ev.audio_end_ms, ev.sent)
            )

    # --- internals ---------------------------------------------------------------------------

    def _input_turn(self, at: float, trigger: str, item_id: str | None) -> _Turn:
        turn = self._pending or self._open(at, trigger)
        self._pending = turn
        if item_id and item_id not in turn.item_ids:
            turn.item_ids.append(item_id)
            self._by_item[item_id] = turn.number
            while len(self._by_item) > MAX_REMEMBERED_ITEMS:
                self._by_item.popitem(last=False)
            self._out.append(TurnInputAdded(at, turn.number, item_id))
        return turn

    def _open(self, at: float, trigger: str) -> _Turn:
        self._count += 1
        turn = _Turn(number=self._count, trigger=trigger, started_at=at)
        self._last_turn = turn
        self._out.append(TurnStarted(at, turn.number, trigger))
        return turn

    def _end(self, turn: _Turn, at: float, status: str, reason: str | None, *, done: bool, usage: JsonObject | None) -> None:
        turn.ended = True
        self._out.append(
            TurnEnded(
                at=at,
                turn=turn.number,
                status=status,
                reason=reason,
                done=done,
                usage=usage,
                response_id=turn.response_id,
                trigger=turn.trigger,
                started_at=turn.started_at,
                input_end_at=turn.input_end_at,
                first_audio_at=turn.first_audio_at,
                first_transcript_at=turn.first_transcript_at,
                tool_calls=turn.tool_calls,
                interrupted=turn.interrupted,
            )
        )

    def _flush(self) -> list[TurnEvent]:
        out, self._out = self._out, []
        return out
