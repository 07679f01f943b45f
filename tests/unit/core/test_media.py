"""Direct-media audio measured from sideband events: spoken and played spans become audio counters."""

from __future__ import annotations

from gateway.core.media import DirectMediaMeter
from gateway.core.observers import SessionStats


def test_speech_spans_and_playout_spans_are_credited_in_the_session_formats() -> None:
    """1.5 s of caller speech (PCM 24 kHz) and 2 s of played audio (G.711) become bytes in and out."""
    stats = SessionStats(started_at=0.0, last_activity_at=0.0, output_format="audio/pcmu")
    meter = DirectMediaMeter()
    meter.observe({"type": "input_audio_buffer.speech_started", "audio_start_ms": 500}, 1.0, stats)
    meter.observe({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2000}, 2.5, stats)
    meter.observe({"type": "output_audio_buffer.started", "response_id": "r1"}, 3.0, stats)
    meter.observe({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 5.0, stats)
    assert stats.audio_in_bytes == 72_000 == stats.audio_in_bytes_since_usage
    assert stats.audio_out_bytes == 16_000


def test_a_barge_in_clear_ends_the_playing_span_and_unpaired_events_add_nothing() -> None:
    """``cleared`` closes the span; a stop without a start, or speech without a start, counts nothing."""
    stats = SessionStats(started_at=0.0, last_activity_at=0.0)
    meter = DirectMediaMeter()
    meter.observe({"type": "output_audio_buffer.stopped", "response_id": "rx"}, 1.0, stats)
    meter.observe({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900}, 1.0, stats)
    assert stats.audio_out_bytes == 0 and stats.audio_in_bytes == 0
    meter.observe({"type": "output_audio_buffer.started", "response_id": "r2"}, 2.0, stats)
    meter.observe({"type": "output_audio_buffer.cleared"}, 2.5, stats)
    assert stats.audio_out_bytes == 24_000
