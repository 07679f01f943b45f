"""Span trees of scripted transcription (utterances) and translation (segments) sessions."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from gateway.core.kinds import SessionKind
from gateway.telemetry.segments import InputTimeline
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import (
    T1,
    T2,
    TRANSCRIPTION_END,
    TRANSLATION_END,
    drive,
    session_info,
    transcription_script,
    translation_script,
)


def _offsets(span: ReadableSpan, session: ReadableSpan) -> tuple[float, float]:
    assert span.start_time and span.end_time and session.start_time
    return (
        round((span.start_time - session.start_time) / 1e9, 3),
        round((span.end_time - session.start_time) / 1e9, 3),
    )


async def test_transcription_utterance_spans(traced: Traced) -> None:
    """One utterance span per committed item under the session span, latencies from the commit."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.TRANSCRIPTION, "sess_tr", "gpt-realtime-whisper"),
        T1,
        transcription_script(),
        TRANSCRIPTION_END,
    )
    session = traced.one("realtime.session transcription")
    utterances = {
        span.attributes["voice_gateway.item.id"]: span
        for span in traced.by_name("transcription.utterance")
    }  # type: ignore[index]
    assert set(utterances) == {"item_1", "item_2", "item_3", "item_4"}
    assert all(
        span.parent and span.parent.span_id == session.context.span_id
        for span in utterances.values()
    )
    assert {item: _offsets(span, session) for item, span in utterances.items()} == {
        "item_1": (1.0, 1.8),
        "item_2": (3.0, 4.6),
        "item_3": (4.0, 4.5),
        "item_4": (6.0, 7.0),
    }
    first = utterances["item_1"].attributes
    assert first is not None
    assert first["voice_gateway.utterance.time_to_first_delta_ms"] == 300
    assert first["voice_gateway.utterance.time_to_final_ms"] == 800
    assert first["voice_gateway.utterance.audio_seconds"] == 1.0
    assert first["gen_ai.operation.name"] == "transcription"
    assert (
        utterances["item_2"].attributes["voice_gateway.utterance.time_to_final_ms"]
        == 1600
    )  # type: ignore[index]
    assert (
        utterances["item_4"].attributes["voice_gateway.utterance.status"]
        == "no_transcript"
    )  # type: ignore[index]
    attrs = session.attributes
    assert attrs is not None
    assert attrs["voice_gateway.session.turns"] == 4
    # 283,200 bytes of PCM16 at 48,000 B/s = 5.9 s, at $0.017/min = 1,672 µ$ (rounded up)
    assert attrs["voice_gateway.audio.input_seconds"] == 5.9
    assert attrs["voice_gateway.cost_micros"] == 1672


async def test_transcripts_only_on_spans_when_opted_in() -> None:
    """trace_transcripts=True puts the final transcript on the utterance span."""
    from tests.unit.telemetry.conftest import make_traced

    traced = make_traced(trace_transcripts=True)
    try:
        await drive(
            traced.telemetry.observer_factory,
            session_info(SessionKind.TRANSCRIPTION, "sess_tt", "gpt-realtime-whisper"),
            T1,
            transcription_script(),
            TRANSCRIPTION_END,
        )
        transcripts = {
            span.attributes.get("voice_gateway.transcript")  # type: ignore[union-attr]
            for span in traced.by_name("transcription.utterance")
        }
        assert transcripts == {
            "my card number is 4111 secret phrase",
            "okapi two",
            "okapi three",
            None,
        }
    finally:
        traced.telemetry.shutdown()


async def test_translation_segment_spans(traced: Traced) -> None:
    """Segments start at their source audio, first output after latency_ms, end when output goes quiet."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.TRANSLATION, "sess_tl", "gpt-realtime-translate"),
        T2,
        translation_script(),
        TRANSLATION_END,
    )
    session = traced.one("realtime.session translation")
    segments = sorted(
        traced.by_name("translation.segment"), key=lambda span: span.start_time or 0
    )
    assert [_offsets(span, session) for span in segments] == [(1.0, 3.0), (4.0, 5.9)]
    assert all(
        span.parent and span.parent.span_id == session.context.span_id
        for span in segments
    )
    first, second = (span.attributes for span in segments)
    assert first is not None and second is not None
    assert (
        first["voice_gateway.segment.latency_ms"],
        first["voice_gateway.segment.elapsed_ms"],
    ) == (500, 1000)
    assert second["voice_gateway.segment.latency_ms"] == 1200
    assert first["gen_ai.operation.name"] == "translation"
    first_output = [
        event for event in segments[0].events if event.name == "first_output"
    ]
    assert len(first_output) == 1 and session.start_time
    assert round((first_output[0].timestamp - session.start_time) / 1e9, 3) == 1.5
    assert session.attributes["voice_gateway.session.turns"] == 2  # type: ignore[index]


def test_input_timeline_interpolates_between_ticks() -> None:
    """The time the input reached a position is interpolated between tick samples."""
    timeline = InputTimeline()
    timeline.sample(10.0, 0)
    timeline.sample(10.1, 100)
    timeline.sample(10.3, 300)
    assert timeline.time_of(50) == 10.05
    assert (
        timeline.time_of(200) is not None and abs(timeline.time_of(200) - 10.2) < 1e-9
    )  # type: ignore[operator]
    assert timeline.time_of(301) is None
