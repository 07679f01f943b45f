"""The one home of the session objects' defaults: OpenAI's published values, and every user agrees."""

from __future__ import annotations

from gateway.core import session_schema as schema
from gateway.emulator.realtime import RealtimeSession
from gateway.emulator.script import Script
from gateway.emulator.session_config import default_realtime_session, default_transcription_session
from gateway.emulator.translation import TranslationSession
from gateway.emulator.vad import VadConfig
from gateway.inbound import session_config as sc


def test_server_vad_defaults_are_the_published_ones() -> None:
    """threshold 0.5, prefix padding 300 ms, silence 500 ms; response knobs only in conversation sessions."""
    assert schema.server_vad(conversation=False) == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
    assert schema.server_vad(conversation=True) == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
        "idle_timeout_ms": None, "create_response": True, "interrupt_response": True}
    assert VadConfig() == VadConfig(0.5, 300, 500)


def test_a_requested_turn_detection_keeps_its_values_over_its_types_defaults() -> None:
    """semantic_vad gets semantic defaults, server_vad the server ones; null stays null."""
    assert schema.with_turn_detection_defaults({"type": "semantic_vad", "eagerness": "low"}, conversation=True) == {
        "type": "semantic_vad", "eagerness": "low", "create_response": True, "interrupt_response": True}
    filled = schema.with_turn_detection_defaults({"type": "server_vad", "silence_duration_ms": 900}, conversation=False)
    assert filled == {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 900}
    assert schema.with_turn_detection_defaults(None, conversation=True) is None


def test_the_emulator_and_the_client_secret_answer_start_from_the_same_session() -> None:
    """A realtime session created by the emulator and one described by a client-secret answer agree but for instructions."""
    emulated = default_realtime_session("sess_1", "gpt-realtime-2", 0)
    described = sc.effective_realtime({}, "sess_1", "gpt-realtime-2")
    assert {**emulated, "instructions": ""} == described
    assert emulated["audio"] == schema.realtime_session("s", "m", 0)["audio"]
    assert sc.effective_transcription({}, "sess_2") == default_transcription_session("sess_2", 0)


def test_fresh_emulator_sessions_use_the_schema_defaults() -> None:
    """The emulator's session.created objects for all three kinds come from the schema module."""
    realtime = RealtimeSession("realtime", "gpt-realtime-2", "gpt-realtime-2", Script())
    detection = realtime.session["audio"]["input"]["turn_detection"]  # type: ignore[index,call-overload]
    assert detection == schema.server_vad(conversation=True)
    translation = TranslationSession("gpt-realtime-translate", "gpt-realtime-translate", Script())
    assert translation.session["audio"] == schema.translation_session("s", "m", 0)["audio"]


def test_speech_interrupts_reads_interrupt_response_and_keeps_the_last_answer_when_unsaid() -> None:
    """Turn detection interrupts by default, not when interrupt_response is false or detection is off; a report without it changes nothing."""
    from gateway.core.session_schema import speech_interrupts

    def report(detection: object) -> dict:
        return {"audio": {"input": {"turn_detection": detection}}}

    assert speech_interrupts(report({"type": "server_vad"}), False) is True
    assert speech_interrupts(report({"type": "semantic_vad", "interrupt_response": False}), True) is False
    assert speech_interrupts(report(None), True) is False
    assert speech_interrupts({"instructions": "x"}, False) is False and speech_interrupts({}, True) is True
