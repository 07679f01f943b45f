"""Typed turn events: what happened to a voice-agent turn, for every observer that cares.

:class:`gateway.core.turns.TurnTracker` derives them from the session events and the relay
delivers them to observers right after the session event that caused them. Telemetry makes its
turn, tool-call and interruption spans from them; barge-in handling and gateway-side tools act
on them. Times are the relay clock's (seconds); turns are numbered from 1 per session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeGuard, get_args

from gateway.core.jsontypes import JsonObject


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """A new turn opened: by user speech, a commit, a ``response.create``, tool output, or the server."""

    at: float
    turn: int
    #: ``speech`` | ``commit`` | ``response.create`` | ``tool_output`` | ``server``
    trigger: str


@dataclass(frozen=True, slots=True)
class TurnInputAdded:
    """A user input item (speech or committed audio) belongs to this turn."""

    at: float
    turn: int
    item_id: str


@dataclass(frozen=True, slots=True)
class TurnInputEnded:
    """The user's input for this turn is complete (speech stopped or the buffer was committed)."""

    at: float
    turn: int


@dataclass(frozen=True, slots=True)
class TurnResponseStarted:
    """The upstream created the response that answers this turn."""

    at: float
    turn: int
    response_id: str


@dataclass(frozen=True, slots=True)
class TurnFirstAudio:
    """The response's first audio reached the relay; ``input_end_at`` is when the input ended."""

    at: float
    turn: int
    response_id: str
    input_end_at: float | None


@dataclass(frozen=True, slots=True)
class TurnFirstTranscript:
    """The response's first transcript (or text) delta reached the relay."""

    at: float
    turn: int
    response_id: str
    input_end_at: float | None


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model asked for a function call during this turn; the client runs it, or the gateway
    (``executor`` ``gateway``: a tool of the route's ``gateway_tools``, on ``server``)."""

    at: float
    turn: int
    call_id: str
    name: str
    executor: str = "client"
    server: str | None = None
    cache_hit: bool = False
    #: a gateway call's arguments (telemetry records them only with transcript tracing on; never in a repr)
    arguments: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ToolCallEnded:
    """A function call ended. A client's: ``completed`` when its output came, ``no_output`` when the
    session ended first. The gateway's: its outcome (``ok``, ``error``, ``timeout``, …)."""

    at: float
    turn: int
    call_id: str
    name: str
    status: str
    started_at: float
    executor: str = "client"
    server: str | None = None
    cache_hit: bool = False


@dataclass(frozen=True, slots=True)
class TurnInterrupted:
    """The user barged in: the client truncated this turn's audio at ``audio_end_ms``.

    ``started_at`` is when the interruption began (the user's speech start when it came after
    the turn's first audio, else the truncate itself); ``turn_ended`` tells whether the turn's
    response had already finished.
    """

    at: float
    turn: int
    item_id: str
    audio_end_ms: int
    started_at: float
    turn_ended: bool


@dataclass(frozen=True, slots=True)
class TurnBargeIn:
    """The user spoke over this turn's audio (:mod:`gateway.core.barge_in`): how long both talked
    (``talk_over_ms``, estimated at the listener) and who stopped the agent (``client``, ``server``,
    ``gateway`` or ``none``: its audio ran out by itself)."""

    at: float
    turn: int
    item_id: str
    speech_at: float
    talk_over_ms: int
    stopped_by: str
    audio_end_ms: int
    sent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The turn is over: its response finished (``status`` as the upstream reported it), or the
    session ended first (``unfinished`` with a response running, ``no_response`` without one)."""

    at: float
    turn: int
    status: str
    reason: str | None
    #: the response's ``response.done`` arrived (else the session ended first)
    done: bool
    #: the ``response.done`` usage block, if it had one
    usage: JsonObject | None
    response_id: str | None
    trigger: str
    started_at: float
    input_end_at: float | None
    first_audio_at: float | None
    first_transcript_at: float | None
    tool_calls: int
    interrupted: bool


TurnEvent = (
    TurnStarted
    | TurnInputAdded
    | TurnInputEnded
    | TurnResponseStarted
    | TurnFirstAudio
    | TurnFirstTranscript
    | ToolCallStarted
    | ToolCallEnded
    | TurnInterrupted
    | TurnBargeIn
    | TurnEnded
)

_TURN_EVENT_TYPES: Final[tuple[type, ...]] = get_args(TurnEvent)


def is_turn_event(event: object) -> TypeGuard[TurnEvent]:
    """Whether an observed event is one of the turn events (narrows it for a type checker)."""
    return isinstance(event, _TURN_EVENT_TYPES)
