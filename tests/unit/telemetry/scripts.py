"""Scripted sessions fed to the telemetry observer (shared by unit and integration tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.catalog import Catalog, ModelSpec, UpstreamEndpoint
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.money import Pricing, PricingUnit, TokenRates
from gateway.core.observers import (
    ErrorSeen,
    FirstAudio,
    FirstTranscript,
    FunctionCallOutput,
    FunctionCallRequested,
    InputCommitted,
    ObserverFactory,
    ResponseCreated,
    ResponseDone,
    ResponseRequested,
    SessionEnded,
    SessionEvent,
    SessionInfo,
    SessionStats,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranslationOutput,
    Truncated,
    UpstreamReady,
)
from gateway.core.routing import Route, RouteDecision
from gateway.core.turns import TurnTracker

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
TRANSCRIPT_TEXT = "my card number is 4111 secret phrase"
TOOL_ARGUMENTS = '{"city": "Lisbon-private"}'

_TOKENS = Pricing(
    unit=PricingUnit.TOKENS,
    text=TokenRates(input=4_000_000, cached_input=400_000, output=24_000_000),
    audio=TokenRates(input=32_000_000, cached_input=400_000, output=64_000_000),
)
CATALOG = Catalog(
    models={
        "gpt-realtime-2": ModelSpec(
            "gpt-realtime-2",
            SessionKind.REALTIME,
            "gpt-realtime-2",
            _TOKENS,
            ("openai",),
            snapshots=("gpt-realtime-2-20*",),
        ),
        "gpt-realtime-whisper": ModelSpec(
            "gpt-realtime-whisper",
            SessionKind.TRANSCRIPTION,
            "gpt-realtime-whisper",
            Pricing(unit=PricingUnit.MINUTES, per_minute=17_000),
            ("openai",),
        ),
        "gpt-realtime-translate": ModelSpec(
            "gpt-realtime-translate",
            SessionKind.TRANSLATION,
            "gpt-realtime-translate",
            Pricing(unit=PricingUnit.MINUTES, per_minute=34_000),
            ("openai",),
        ),
    },
    endpoints={"openai": UpstreamEndpoint("openai", "wss://api.openai.com/v1")},
)


def usage(
    text_in: int, audio_in: int, text_out: int, audio_out: int
) -> dict[str, object]:
    """A ``response.done`` usage block."""
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "cached_tokens": 0,
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def session_info(
    kind: SessionKind,
    session_id: str,
    model: str,
    *,
    traceparent: str | None = TRACEPARENT,
) -> SessionInfo:
    """A routed session of the given kind."""
    route = Route(
        kind=kind, model=model, upstreams=("openai",), name=f"{kind.value}-route"
    )
    endpoint = (
        EndpointKind.TRANSLATIONS
        if kind is SessionKind.TRANSLATION
        else EndpointKind.REALTIME
    )
    return SessionInfo(
        session_id=session_id,
        endpoint=endpoint,
        kind=kind,
        dialect=Dialect.GA,
        requested_model=model,
        decision=RouteDecision(
            rule_id=f"rule-{kind.value}", reason="declared intent", route=route
        ),
        route=route,
        tenant="acme",
        key_id="key_42",
        upstream="openai",
        client_address="127.0.0.1",
        traceparent=traceparent,
        labels={"team": "support"},
    )


@dataclass(frozen=True)
class Tick:
    """A tick at ``at``, after adding these counter deltas."""

    at: float
    audio_in: int = 0
    audio_out: int = 0
    frames_in: int = 0
    frames_out: int = 0


Step = SessionEvent | Tick


def relayed(steps: Sequence[Step], kind: SessionKind, end_at: float | None = None) -> list[Step]:
    """The steps as observers see them from the relay: in voice-agent sessions each session event is
    followed by the turn events it causes, and the turns still open are closed at ``end_at``."""
    if kind is not SessionKind.REALTIME:
        return list(steps)
    turns = TurnTracker()
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if not isinstance(step, Tick):
            out.extend(turns.feed(step))
    if end_at is not None:
        out.extend(turns.close(end_at))
    return out


async def drive(
    factory: ObserverFactory,
    info: SessionInfo,
    start: float,
    steps: Sequence[Step],
    ended: SessionEnded,
) -> SessionStats:
    """Feed a scripted session to a fresh observer, as the relay would; returns the final stats."""
    stats = SessionStats(started_at=start, last_activity_at=start)
    observer = factory.create(info, start)
    for step in relayed(steps, info.kind, ended.at):
        if isinstance(step, Tick):
            stats.audio_in_bytes += step.audio_in
            stats.bytes_from_client += step.audio_in * 4 // 3 + 60 * step.frames_in
            stats.frames_from_client += step.frames_in
            stats.audio_out_bytes += step.audio_out
            stats.bytes_from_upstream += step.audio_out * 4 // 3 + 60 * step.frames_out
            stats.frames_from_upstream += step.frames_out
            assert await observer.on_tick(step.at, stats) is None
        else:
            assert await observer.on_event(step, stats) is None
    await observer.on_end(ended, stats)
    return stats


T0 = 1000.0


def voice_agent_script(t0: float = T0) -> list[Step]:
    """Three responses and a pending fourth turn: a completed turn, a barge-in after it, a tool call, a live barge-in."""
    return [
        UpstreamReady(t0 + 0.2, "gpt-realtime-2-2026-01-15"),
        SpeechStarted(t0 + 1.0, "item_u1", 800),
        Tick(t0 + 1.5, audio_in=24_000, frames_in=25),
        SpeechStopped(t0 + 2.0, "item_u1", 1800),
        InputCommitted(t0 + 2.01, "item_u1", by_client=False),
        ResponseCreated(t0 + 2.05, "resp_1"),
        TranscriptionDelta(t0 + 2.2, "item_u1"),
        FirstTranscript(t0 + 2.3, "resp_1"),
        FirstAudio(t0 + 2.4, "resp_1"),
        TranscriptionCompleted(
            t0 + 2.5,
            "item_u1",
            {"type": "tokens", "input_tokens": 20, "output_tokens": 8},
            TRANSCRIPT_TEXT,
        ),
        Tick(t0 + 2.6, audio_in=48_000, audio_out=96_000, frames_in=50, frames_out=40),
        ResponseDone(t0 + 3.0, "resp_1", "completed", usage(100, 200, 10, 300)),
        # the user barges in while the client is still playing resp_1's audio
        SpeechStarted(t0 + 4.0, "item_u2", 4000),
        Truncated(t0 + 4.1, "item_a1", 1500),
        SpeechStopped(t0 + 5.0, "item_u2", 4900),
        InputCommitted(t0 + 5.01, "item_u2", by_client=False),
        ResponseCreated(t0 + 5.05, "resp_2"),
        FunctionCallRequested(t0 + 5.5, "call_1", "get_weather"),
        ResponseDone(t0 + 5.6, "resp_2", "completed", usage(150, 0, 20, 0)),
        ErrorSeen(
            t0 + 5.7, "conversation_already_has_active_response", from_upstream=True
        ),
        FunctionCallOutput(t0 + 6.0, "call_1"),
        ResponseRequested(t0 + 6.01),
        ResponseCreated(t0 + 6.05, "resp_3"),
        FirstAudio(t0 + 6.5, "resp_3"),
        Tick(t0 + 6.6, audio_in=4_800, audio_out=48_000, frames_in=5, frames_out=20),
        # barge-in while resp_3 is still generating: the server cancels it
        SpeechStarted(t0 + 7.0, "item_u3", 6900),
        Truncated(t0 + 7.2, "item_a3", 300),
        ResponseDone(
            t0 + 7.25,
            "resp_3",
            "cancelled",
            usage(400, 50, 5, 60),
            status_reason="turn_detected",
        ),
    ]


VOICE_AGENT_END = SessionEnded(T0 + 8.0, "client_closed", client_close_code=1000)

T1 = 2000.0


def transcription_script(t0: float = T1) -> list[Step]:
    """Three committed items (two completing out of order) and one never transcribed."""
    return [
        UpstreamReady(t0 + 0.1, "gpt-realtime-whisper"),
        Tick(t0 + 0.9, audio_in=43_200, frames_in=45),
        InputCommitted(t0 + 1.0, "item_1", by_client=True),
        TranscriptionDelta(t0 + 1.3, "item_1"),
        TranscriptionCompleted(
            t0 + 1.8, "item_1", {"type": "duration", "seconds": 1.0}, TRANSCRIPT_TEXT
        ),
        InputCommitted(t0 + 3.0, "item_2", by_client=True),
        InputCommitted(t0 + 4.0, "item_3", by_client=True),
        TranscriptionCompleted(
            t0 + 4.5, "item_3", {"type": "duration", "seconds": 1.0}, "okapi three"
        ),
        TranscriptionCompleted(
            t0 + 4.6, "item_2", {"type": "duration", "seconds": 1.0}, "okapi two"
        ),
        InputCommitted(t0 + 6.0, "item_4", by_client=True),
        Tick(t0 + 6.5, audio_in=240_000, frames_in=250),
    ]


TRANSCRIPTION_END = SessionEnded(T1 + 7.0, "client_closed", client_close_code=1000)

T2 = 3000.0


def translation_script(t0: float = T2) -> list[Step]:
    """Input audio streams at real time (PCM16 24 kHz: 4,800 bytes per 100 ms); two output segments."""
    steps: list[Step] = []
    outputs = {round(t0 + 1.5, 3): 1000, round(t0 + 5.2, 3): 4000}
    output_windows = ((t0 + 1.5, t0 + 3.0), (t0 + 5.2, t0 + 6.0))
    for i in range(1, 60):
        at = round(t0 + i * 0.1, 3)
        if at in outputs:
            steps.append(TranslationOutput(at, outputs[at]))
        flowing = any(lo <= at <= hi for lo, hi in output_windows)
        steps.append(
            Tick(
                at,
                audio_in=4_800,
                audio_out=4_800 if flowing else 0,
                frames_in=1,
                frames_out=2 if flowing else 0,
            )
        )
    return steps


TRANSLATION_END = SessionEnded(T2 + 6.0, "client_closed", client_close_code=1000)
