"""A translation client on a voice-agent model: its three events map onto an interpreter session, and only the
voice agent's audio and transcripts come back, as translation events."""

from __future__ import annotations

import pytest
from openai.types.realtime import RealtimeClientEvent, RealtimeTranslationServerEvent
from pydantic import TypeAdapter

from gateway.core.errors import InvalidRequest, UnknownEventType
from gateway.core.jsontypes import JsonObject
from gateway.core.kind_bridge import TranslationOverAgent, bridge_for
from gateway.core.kind_bridges.translation_over_agent import agent_opening, interpreter_instructions
from gateway.core.kinds import SessionKind

GA_CLIENT = TypeAdapter(RealtimeClientEvent)
TRANSLATION_SERVER = TypeAdapter(RealtimeTranslationServerEvent)
AUDIO = "AAAA" * 3200  # 9600 bytes = 200 ms


def bridge() -> TranslationOverAgent:
    made = bridge_for(SessionKind.TRANSLATION, SessionKind.REALTIME, language="ja", seed=2)
    assert isinstance(made, TranslationOverAgent)
    return made


def ids(**extra: object) -> JsonObject:
    return {"event_id": "event_x", "response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0, **extra}


def test_opening_makes_the_agent_an_interpreter() -> None:
    """The opening update is a valid realtime session.update: interpreter instructions, no tools, VAD that does not interrupt."""
    body = agent_opening("ja", transcription={"model": "gpt-realtime-whisper"})
    GA_CLIENT.validate_python({"type": "session.update", "session": body})
    assert "Japanese" in str(body["instructions"]) and body["tools"] == []
    assert body["audio"]["input"]["turn_detection"]["interrupt_response"] is False  # type: ignore[index]
    assert "xx" in interpreter_instructions("xx")


def test_append_and_update_map_to_realtime() -> None:
    """Appends keep audio and event_id; a language change re-instructs the agent; the update is valid realtime."""
    b = bridge()
    assert b.to_upstream({"type": "session.input_audio_buffer.append", "event_id": "c", "audio": AUDIO}) == [
        {"type": "input_audio_buffer.append", "audio": AUDIO, "event_id": "c"}]
    [update] = b.to_upstream({"type": "session.update", "session": {"audio": {
        "output": {"language": "de"}, "input": {"transcription": {"model": "gpt-realtime-whisper"}}}}})
    GA_CLIENT.validate_python(update)
    assert "German" in str(update["session"]["instructions"])  # type: ignore[index]
    assert update["session"]["audio"] == {"input": {"transcription": {"model": "gpt-realtime-whisper"}}}  # type: ignore[index]


@pytest.mark.parametrize("session", [{"model": "x"}, {"type": "translation"}, {"audio": {"input": {"format": {}}}},
                                     {"audio": {"middle": {}}}, "nope"])
def test_update_refused_as_translation_refuses_it(session: object) -> None:
    """Fields a translation session cannot change are refused as the translation API does."""
    with pytest.raises(InvalidRequest):
        bridge().to_upstream({"type": "session.update", "session": session})


def test_realtime_events_are_not_translation_events() -> None:
    """A voice-agent event from a translation client is unknown."""
    with pytest.raises(UnknownEventType):
        bridge().to_upstream({"type": "response.create"})


def test_output_and_transcripts_come_back_as_translation_events() -> None:
    """Audio and transcript deltas map; items, responses and VAD events are swallowed; errors pass."""
    b = bridge()
    b.to_upstream({"type": "session.input_audio_buffer.append", "audio": AUDIO * 3})
    out = b.to_client({"type": "response.output_audio.delta", **ids(delta=AUDIO)}, 0.0)
    out += b.to_client({"type": "response.output_audio_transcript.delta", **ids(delta="こんにちは")}, 0.0)
    out += b.to_client({"type": "conversation.item.input_audio_transcription.delta", "event_id": "e", "item_id": "item_u",
                        "delta": "hello"}, 0.0)
    out += b.to_client({"type": "conversation.item.input_audio_transcription.completed", "event_id": "e", "item_id": "item_u",
                        "content_index": 0, "transcript": "hello", "usage": {"type": "duration", "seconds": 1}}, 0.0)
    out += b.to_client({"type": "conversation.item.input_audio_transcription.completed", "event_id": "e", "item_id": "item_v",
                        "content_index": 0, "transcript": "whole", "usage": {"type": "duration", "seconds": 1}}, 0.0)
    for swallowed in ("input_audio_buffer.speech_started", "response.output_item.added", "rate_limits.updated"):
        assert b.to_client({"type": swallowed, "event_id": "e"}, 0.0) == []
    assert [e["type"] for e in out] == ["session.output_audio.delta", "session.output_transcript.delta",
                                        "session.input_transcript.delta", "session.input_transcript.delta"]
    assert out[0]["elapsed_ms"] == 600 and out[3]["delta"] == "whole"
    for event in out:
        TRANSLATION_SERVER.validate_python(event)
    error = {"type": "error", "event_id": "e", "error": {"type": "invalid_request_error", "message": "x"}}
    assert b.to_client(error, 0.0) == [error]


def test_close_waits_for_the_response_in_flight() -> None:
    """session.close answers session.closed once the agent's response is done (at once when none is running)."""
    b = bridge()
    b.to_client({"type": "response.created", "event_id": "e", "response": {"id": "resp_1"}}, 0.0)
    assert b.to_upstream({"type": "session.close"}) == [] and b.poll(0.0) == []
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "session.input_audio_buffer.append", "audio": AUDIO})
    [closed] = b.to_client({"type": "response.done", "event_id": "e", "response": {"id": "resp_1"}}, 0.1)
    assert closed["type"] == "session.closed"
    idle = bridge()
    idle.to_upstream({"type": "session.close"})
    assert idle.due_at is not None and [e["type"] for e in idle.poll(0.0)] == ["session.closed"]


def test_session_events_become_the_translation_view() -> None:
    """The agent's session.created/updated reach the client as a translation session.updated with its language."""
    b = bridge()
    [event] = b.to_client({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "model": "gpt-realtime-2"}}, 0.0)
    TRANSLATION_SERVER.validate_python(event)
    assert event["type"] == "session.updated" and event["session"]["audio"]["output"]["language"] == "ja"  # type: ignore[index]
