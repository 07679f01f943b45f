"""The typed hook between the relay and its observers (accounting, telemetry, audit).

The session core emits a few low-frequency events per turn (never one per audio frame) and
keeps per-session counters. Observers receive the events off the hot path, read the counters
on each tick, and answer ``None`` to continue, ``Notify`` to send the client a gateway event,
or ``Terminate`` to end the session with a specific error. An observer that raises is logged
and ignored: it can never break a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Mapping, Protocol

from gateway.core.barge_in import BargeInMeasured  # re-exported: observers receive it
from gateway.core.errors import GatewayError
from gateway.core.hot import HotCounters, PyHotCounters
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.money import Pricing
from gateway.core.jsontypes import JsonObject
from gateway.core.reservations import ReplyReservations
from gateway.core.routing import Caps, Route, RouteDecision
from gateway.core.turn_events import TurnEvent


@dataclass(frozen=True, slots=True)
class Terminate:
    """End the session: cancel any response upstream, send ``error``, close with its code."""

    error: GatewayError


@dataclass(frozen=True, slots=True)
class Notify:
    """Send the client a gateway event (for example a cap warning); official SDKs ignore unknown types."""

    event: JsonObject


Verdict = Terminate | Notify | None

#: no bound on a relayed-audio counter (above any count a session reaches)
NO_COUNTER_BOUND: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TickBound:
    """When a session's shared tick can next have anything to do: not before ``at`` while its relayed-audio counters
    (which the compiled listener moves without a call into Python) stay at or below these. Each clock of the tick
    publishes one after a tick (never later than its real due time; ``None``: the next pass); the relay keeps the
    earliest of them (:meth:`earliest`) and the ticker skips the session while it :meth:`holds`."""

    at: float
    audio_in_bytes: int = NO_COUNTER_BOUND
    audio_out_bytes: int = NO_COUNTER_BOUND
    audio_in_bytes_since_usage: int = NO_COUNTER_BOUND
    audio_out_bytes_since_usage: int = NO_COUNTER_BOUND

    def holds(self, now: float, stats: SessionStats) -> bool:
        """Whether nothing can be due at ``now`` with the session's counters where they are."""
        return (
            now < self.at
            and stats.audio_in_bytes <= self.audio_in_bytes
            and stats.audio_out_bytes <= self.audio_out_bytes
            and stats.audio_in_bytes_since_usage <= self.audio_in_bytes_since_usage
            and stats.audio_out_bytes_since_usage <= self.audio_out_bytes_since_usage
        )

    def earliest(self, other: TickBound) -> TickBound:
        """The bound of both clocks: the earlier time, each counter's lower bound."""
        return TickBound(
            min(self.at, other.at),
            min(self.audio_in_bytes, other.audio_in_bytes),
            min(self.audio_out_bytes, other.audio_out_bytes),
            min(self.audio_in_bytes_since_usage, other.audio_in_bytes_since_usage),
            min(self.audio_out_bytes_since_usage, other.audio_out_bytes_since_usage),
        )


def before(due: float) -> float:
    """A time bound for a clock that fires once ``now - start >= span`` (or ``>``) with ``due = start + span``: a
    microsecond earlier, so that no rounding of the two sums can put the bound after the clock's own comparison."""
    return due - 1e-6


@dataclass(frozen=True, slots=True)
class ResponseAllowance:
    """What the next response may still cost, as the accounting observer last decided (each tick)."""

    #: output tokens the nearest limit still pays for at the model's output price
    max_output_tokens: int
    remaining_micros: int
    #: the tenant's budget is the nearest limit (else the session's cost cap)
    by_budget: bool
    #: how many finished responses (``response.done``) this allowance has paid for; below
    #: ``SessionStats.responses`` it is stale: a reply ended whose cost it does not count yet
    responses_metered: int = 0


class SessionStats(HotCounters):
    """Counters the core updates in place on the hot path; observers read them on each tick.

    The hot counters (frames, bytes and audio each way, last activity) are fields of the base class,
    :class:`gateway.core.hot.HotCounters`: C fields when the hot path is compiled, which the compiled
    listener updates for the frames it relays alone."""

    __slots__ = (
        "started_at", "input_format", "output_format", "responses", "interruptions", "response_allowance", "money_left",
        "switch_pricing", "cost_share", "budget_share", "reservations", "tick_bound",
    )

    def __init__(
        self,
        *,
        started_at: float,
        last_activity_at: float,
        frames_from_client: int = 0,
        frames_from_upstream: int = 0,
        bytes_from_client: int = 0,
        bytes_from_upstream: int = 0,
        audio_in_bytes: int = 0,
        audio_out_bytes: int = 0,
        input_format: str = "audio/pcm",
        output_format: str = "audio/pcm",
        responses: int = 0,
        interruptions: int = 0,
        audio_in_bytes_since_usage: int = 0,
        audio_out_bytes_since_usage: int = 0,
        response_allowance: ResponseAllowance | None = None,
        money_left: tuple[int, bool] | None = None,
        switch_pricing: tuple[str, Pricing] | None = None,
        cost_share: float | None = None,
        budget_share: float | None = None,
    ) -> None:
        self.started_at = started_at
        self.last_activity_at = last_activity_at
        self.frames_from_client = frames_from_client
        self.frames_from_upstream = frames_from_upstream
        self.bytes_from_client = bytes_from_client
        self.bytes_from_upstream = bytes_from_upstream
        self.audio_in_bytes = audio_in_bytes
        self.audio_out_bytes = audio_out_bytes
        #: audio formats in force (``audio/pcm``, ``audio/pcmu``, ``audio/pcma``)
        self.input_format = input_format
        self.output_format = output_format
        self.responses = responses
        #: barge-ins: the user spoke while the model's audio was playing at the listener
        self.interruptions = interruptions
        self.audio_in_bytes_since_usage = audio_in_bytes_since_usage
        self.audio_out_bytes_since_usage = audio_out_bytes_since_usage
        #: written by the accounting observer; ``None`` = no cost cap or budget applies
        self.response_allowance = response_allowance
        #: written by the accounting observer: micro-dollars the nearest money limit leaves and whether it is the
        #: tenant's budget (``None``: no limit) — what a handoff target's allowance is priced from
        self.money_left = money_left
        #: written by the core while a handoff is under way: the target model and its price. Until the accounting
        #: observer has metered the switch, the allowance is priced at the dearer of the serving model and this one,
        #: so replies held for the target (or asked for meanwhile) are bounded at the target's price too
        self.switch_pricing = switch_pricing
        #: written by the accounting observer: share of the session's cost cap / the tenant's budget used
        #: (``None``: no such limit); the handoff triggers read them
        self.cost_share = cost_share
        self.budget_share = budget_share
        #: written by the core where an allowance applies: the output tokens promised to replies asked for or
        #: running, which a new reply's bound must leave room for (made at first use)
        self.reservations: ReplyReservations | None = None
        #: written by the relay after a shared tick: the ticker skips the session while it holds (``None``: the next
        #: pass ticks it). Whatever may make something due outside the tick (a frame through the core, an event, a
        #: budget arriving for the tenant) clears it
        self.tick_bound: TickBound | None = None

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _STATS_FIELDS)

    def __eq__(self, other: object) -> bool:
        """Equal when every field is (as the dataclass it was compared)."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, SessionStats)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable counters: not hashable (as an eq dataclass)

    def __repr__(self) -> str:
        return "SessionStats(" + ", ".join(f"{name}={value!r}" for name, value in zip(_STATS_FIELDS, self._fields())) + ")"


#: every field of :class:`SessionStats`, the hot counters first
_STATS_FIELDS: tuple[str, ...] = (*PyHotCounters.__slots__, *SessionStats.__slots__)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who and what a session is; fixed once the session is routed."""

    session_id: str
    endpoint: EndpointKind
    kind: SessionKind
    dialect: Dialect
    requested_model: str | None
    decision: RouteDecision
    route: Route
    tenant: str | None = None
    key_id: str | None = None
    #: upstream endpoint name actually connected
    upstream: str = ""
    client_address: str = ""
    #: W3C traceparent sent by the client at the handshake, if any
    traceparent: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: how the client reached the model: ``websocket``, ``webrtc`` (media through the gateway),
    #: ``webrtc-direct`` or ``sip`` (media bypasses the gateway; it follows the call's sideband)
    transport: str = "websocket"
    #: the upstream call id of a direct-media call
    call_id: str | None = None
    #: the session's effective caps: its route's, tightened by the gateway-wide defaults —
    #: computed once at set-up; accounting enforces them, the directory and the demo show them
    caps: Caps = field(default_factory=Caps)


# --- session events (a handful per turn) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpstreamReady:
    """``session.created`` arrived from upstream; ``served_model`` is what upstream reports."""

    at: float
    served_model: str | None


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float
    item_id: str | None
    audio_start_ms: int | None


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at: float
    item_id: str | None
    audio_end_ms: int | None


@dataclass(frozen=True, slots=True)
class InputCommitted:
    at: float
    item_id: str | None
    by_client: bool


@dataclass(frozen=True, slots=True)
class ResponseRequested:
    """The client sent ``response.create``."""

    at: float


@dataclass(frozen=True, slots=True)
class ResponseClamped:
    """The gateway lowered a ``response.create``'s ``max_output_tokens`` to what the cost cap or budget leaves."""

    at: float
    max_output_tokens: int
    #: what the response would otherwise have been allowed
    asked: int


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    at: float
    response_id: str


@dataclass(frozen=True, slots=True)
class FirstAudio:
    """The first output audio delta of a response reached the relay."""

    at: float
    response_id: str


@dataclass(frozen=True, slots=True)
class FirstTranscript:
    at: float
    response_id: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    at: float
    response_id: str
    status: str
    #: the raw ``usage`` block (``None`` when absent)
    usage: JsonObject | None
    status_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionCallRequested:
    """``response.function_call_arguments.done``: the client now runs the tool."""

    at: float
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class FunctionCallOutput:
    """The client returned a ``function_call_output`` item."""

    at: float
    call_id: str


@dataclass(frozen=True, slots=True)
class GatewayToolStarted:
    """The model called a gateway-side tool; the gateway runs it (the client never sees the call)."""

    at: float
    call_id: str
    name: str
    #: ``http`` or the MCP server's name
    server: str


@dataclass(frozen=True, slots=True)
class GatewayToolDone:
    """A gateway-side tool call ended; ``outcome`` is ``ok``, ``error``, ``timeout``, ``invalid_arguments``,
    ``too_large``, ``busy`` or ``cancelled``."""

    at: float
    call_id: str
    name: str
    server: str
    started_at: float
    outcome: str
    cache_hit: bool = False
    #: the model's raw arguments — for opt-in transcript tracing only; never logged or recorded by default
    arguments: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayFillerRequested:
    """A gateway tool was slow: the gateway asked the model for a short spoken filler."""

    at: float


@dataclass(frozen=True, slots=True)
class Truncated:
    """Barge-in: the client (or gateway) truncated an assistant item at what was played."""

    at: float
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class TranscriptionDelta:
    """First input-transcription delta for an item (latency from audio to text)."""

    at: float
    item_id: str


@dataclass(frozen=True, slots=True)
class TranscriptionCompleted:
    at: float
    item_id: str
    usage: JsonObject | None
    transcript: str | None = None  # carried for opt-in debug tracing only; never logged by default


@dataclass(frozen=True, slots=True)
class TranslationOutput:
    """First translated output (audio or transcript) after input resumed: one segment."""

    at: float
    elapsed_ms: int | None


@dataclass(frozen=True, slots=True)
class ErrorSeen:
    """An ``error`` event, from upstream or generated by the gateway."""

    at: float
    code: str
    from_upstream: bool


@dataclass(frozen=True, slots=True)
class ClientNotified:
    """The gateway had an event of its own for the client (for example ``gateway.cap_warning``).

    ``delivered`` is False when the session takes no gateway notices (the event was not sent)."""

    at: float
    event: JsonObject
    delivered: bool = True


@dataclass(frozen=True, slots=True)
class SessionEnded:
    at: float
    reason: str
    client_close_code: int | None = None
    upstream_close_code: int | None = None
    #: the gateway error that ended it, when one did
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class HandedOff:
    """The session moved to another route's upstream (``ok``), or tried to and stayed where it was."""

    at: float
    from_route: str
    from_model: str
    to_route: str
    to_model: str
    reason: str
    trigger: str
    ok: bool
    #: audio relayed on the old model since its last usage report (billed at its price)
    audio_in_bytes: int = 0
    audio_out_bytes: int = 0
    #: the kind of the model serving from now on (another kind than the old one's: billed as that kind)
    to_kind: SessionKind | None = None


@dataclass(frozen=True, slots=True)
class RetiredUsage:
    """A ``response.done`` the upstream a handoff moved away from sent after the switch, while it closed: its usage
    is that model's (billed at its price, in place of the estimate of its audio sealed at the switch)."""

    at: float
    model: str
    response_id: str
    usage: JsonObject | None


SessionEvent = (
    UpstreamReady
    | SpeechStarted
    | SpeechStopped
    | InputCommitted
    | ResponseRequested
    | ResponseClamped
    | ResponseCreated
    | FirstAudio
    | FirstTranscript
    | ResponseDone
    | FunctionCallRequested
    | FunctionCallOutput
    | GatewayToolStarted
    | GatewayToolDone
    | GatewayFillerRequested
    | Truncated
    | BargeInMeasured
    | TranscriptionDelta
    | TranscriptionCompleted
    | TranslationOutput
    | ErrorSeen
    | ClientNotified
    | HandedOff
    | RetiredUsage
    # derived by gateway.core.turns.TurnTracker and delivered right after the event that caused them
    | TurnEvent
)


class SessionObserver(Protocol):
    """One observer instance per session; all hooks run off the relay's hot path."""

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict: ...

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict: ...

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None: ...


class DirectObserver(SessionObserver, Protocol):
    """An observer whose event and tick hooks never wait: the relay calls these plain twins of ``on_event`` and
    ``on_tick`` (no coroutine per call; same answers), and skips its tick while ``ticks`` is false."""

    #: whether :meth:`tick_now` has anything to do on the next tick (read by the relay on every tick)
    ticks: bool

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict: ...

    def tick_now(self, now: float, stats: SessionStats) -> Verdict: ...


class BoundedObserver(DirectObserver, Protocol):
    """A direct observer that says, after a tick, when its tick next has anything to do (pure: from ``now`` and
    ``stats``), so the ticker can skip the session until then."""

    def next_tick(self, now: float, stats: SessionStats) -> TickBound | None:
        """The earliest its :meth:`tick_now` can answer or change anything, never later than that (``None``: the
        next tick)."""
        ...


class ObserverFactory(Protocol):
    """Creates the per-session observer; registered once at start-up."""

    name: str

    def create(self, info: SessionInfo, now: float) -> SessionObserver: ...
