"""Beta ⇄ GA translation: beta clients' events become valid GA, GA server events become valid beta."""

from __future__ import annotations

import copy
import typing
from typing import Literal, Optional

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.beta.realtime import RealtimeClientEvent as BetaClientEvent
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.beta.realtime import TranscriptionSessionUpdatedEvent
from openai.types.beta.realtime.session_created_event import SessionCreatedEvent as BetaSessionCreated
from openai.types.beta.realtime.transcription_session import ClientSecret, TranscriptionSession
from openai.types.realtime import RealtimeClientEvent as GaClientEvent
from openai.types.realtime import RealtimeServerEvent as GaServerEvent
from openai.types.realtime import ResponseCreateEventWithReferencesParam
from pydantic import TypeAdapter, ValidationError

from gateway.core.dialect import (
    BETA_HOT_RENAMES,
    beta_client_event_to_ga,
    ga_server_event_to_beta,
    is_beta_handshake,
)
from gateway.core.errors import InvalidRequest
from gateway.core.kinds import SessionKind

REALTIME, TRANSCRIPTION = SessionKind.REALTIME, SessionKind.TRANSCRIPTION
BETA_CLIENT = TypeAdapter(BetaClientEvent)
BETA_SERVER = TypeAdapter(BetaServerEvent)
GA_CLIENT = TypeAdapter(GaClientEvent)
GA_SERVER = TypeAdapter(GaServerEvent)
AUDIO_B64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" * 8


class _WsTranscriptionSession(TranscriptionSession):
    """The beta transcription session as sent over WebSocket: no ephemeral secret (SDK docstring)."""

    client_secret: Optional[ClientSecret] = None


class _WsTranscriptionSessionEvent(TranscriptionSessionUpdatedEvent):
    """The beta server also sent ``transcription_session.created`` first, which its SDK union omits."""

    session: _WsTranscriptionSession  # type: ignore[assignment]
    type: Literal["transcription_session.created", "transcription_session.updated"]  # type: ignore[assignment]


_BETA_TRANSCRIPTION_EVENT = TypeAdapter(_WsTranscriptionSessionEvent)


def _literals(union: object) -> set[str]:
    """Every ``type`` literal of a discriminated SDK event union."""
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in members}


def _valid_beta_server(event: dict[str, object]) -> None:
    """Validate a translated server event against the beta SDK (relaxed only where documented)."""
    if str(event["type"]).startswith("transcription_session."):
        _BETA_TRANSCRIPTION_EVENT.validate_python(event)
        return
    parsed = BETA_SERVER.validate_python(event)
    assert parsed.type == event["type"]


# --- beta client events (built as dicts, proven real by the beta SDK union) ----------------------

BETA_SESSION = {
    "modalities": ["text", "audio"],
    "instructions": "Be brief.",
    "voice": "verse",
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": "invoices"},
    "turn_detection": {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200, "silence_duration_ms": 400,
                       "create_response": True, "interrupt_response": True},
    "input_audio_noise_reduction": {"type": "near_field"},
    "tools": [{"type": "function", "name": "lookup", "description": "Find an order.",
               "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 512,
    "speed": 1.1,
    "tracing": "auto",
}

BETA_CLIENT_EVENTS: dict[str, dict[str, object]] = {
    "full_session": {"type": "session.update", "event_id": "evt_1", "session": BETA_SESSION},
    "semantic_vad_alaw": {"type": "session.update", "session": {
        "input_audio_format": "g711_alaw", "output_audio_format": "g711_alaw", "modalities": ["text"],
        "turn_detection": {"type": "semantic_vad", "eagerness": "high"}, "tool_choice": "lookup"}},
    "vad_off": {"type": "session.update", "session": {"turn_detection": None, "input_audio_transcription": None,
                                                       "input_audio_noise_reduction": None, "tracing": None}},
    "vad_without_type": {"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": 800}}},
    "response_overrides": {"type": "response.create", "response": {
        "modalities": ["audio", "text"], "voice": "alloy", "output_audio_format": "pcm16", "instructions": "Say hi.",
        "temperature": 0.7, "max_response_output_tokens": "inf", "tool_choice": "none", "conversation": "none",
        "metadata": {"topic": "greeting"},
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]}},
    "response_text_only": {"type": "response.create", "response": {"modalities": ["text"]}},
    "response_bare": {"type": "response.create"},
    "item_user_text": {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What's my balance?"}]}},
    "item_user_audio": {"type": "conversation.item.create", "previous_item_id": "root", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": AUDIO_B64}]}},
    "item_assistant_text": {"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Your balance is $4."}]}},
    "item_system": {"type": "conversation.item.create", "item": {
        "type": "message", "role": "system", "content": [{"type": "input_text", "text": "Stay polite."}]}},
    "item_function_call": {"type": "conversation.item.create", "item": {
        "type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{\"id\":\"7\"}"}},
    "item_function_output": {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": "{\"balance\":4}"}},
    "append": {"type": "input_audio_buffer.append", "audio": AUDIO_B64},
    "commit": {"type": "input_audio_buffer.commit", "event_id": "c1"},
    "clear": {"type": "input_audio_buffer.clear"},
    "output_clear": {"type": "output_audio_buffer.clear"},
    "truncate": {"type": "conversation.item.truncate", "item_id": "item_9", "content_index": 0, "audio_end_ms": 1500},
    "delete": {"type": "conversation.item.delete", "item_id": "item_9"},
    "retrieve": {"type": "conversation.item.retrieve", "item_id": "item_9"},
    "cancel": {"type": "response.cancel", "response_id": "resp_1"},
}

BETA_TRANSCRIPTION_UPDATE = {
    "type": "transcription_session.update",
    "session": {
        "input_audio_format": "pcm16",
        "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "de", "prompt": "Rechnungen"},
        "turn_detection": {"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 700},
        "input_audio_noise_reduction": {"type": "far_field"},
        "include": ["item.input_audio_transcription.logprobs"],
        "modalities": ["text"],
    },
}


def test_handshake_detection() -> None:
    """The beta header or the beta subprotocol select the beta dialect; plain GA does not."""
    assert is_beta_handshake({"openai-beta": "realtime=v1"}, [])
    assert is_beta_handshake({"openai-beta": "assistants=v2, realtime=v1"}, [])
    assert is_beta_handshake({}, ["realtime", "openai-insecure-api-key.k", "openai-beta.realtime-v1"])
    assert not is_beta_handshake({"authorization": "Bearer x"}, ["realtime"])
    assert not is_beta_handshake({"openai-beta": "realtime=v2"}, [])


@pytest.mark.parametrize("name", sorted(BETA_CLIENT_EVENTS))
def test_beta_client_event_becomes_valid_ga(name: str) -> None:
    """Each real beta client event (per the beta SDK) translates to a valid GA client event."""
    event = BETA_CLIENT_EVENTS[name]
    BETA_CLIENT.validate_python(event)
    before = copy.deepcopy(event)
    ga = beta_client_event_to_ga(event, REALTIME)
    assert ga is not None and event == before
    parsed = GA_CLIENT.validate_python(ga)
    assert parsed.type == ga["type"]


def test_transcription_update_becomes_ga_transcription_session() -> None:
    """``transcription_session.update`` becomes a GA ``session.update`` of type transcription."""
    BETA_CLIENT.validate_python(BETA_TRANSCRIPTION_UPDATE)
    for kind in (TRANSCRIPTION, REALTIME):  # also during classification, before the kind is known
        ga = beta_client_event_to_ga(BETA_TRANSCRIPTION_UPDATE, kind)
        assert ga is not None
        GA_CLIENT.validate_python(ga)
        assert ga["type"] == "session.update"
        assert ga["session"] == {
            "type": "transcription",
            "include": ["item.input_audio_transcription.logprobs"],
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": "de", "prompt": "Rechnungen"},
                "turn_detection": {"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 700},
                "noise_reduction": {"type": "far_field"},
            }},
        }


def test_session_update_on_transcription_session_keeps_only_input_settings() -> None:
    """A beta ``session.update`` on a transcription session configures the GA transcription session."""
    ga = beta_client_event_to_ga(BETA_CLIENT_EVENTS["full_session"], TRANSCRIPTION)
    assert ga is not None
    GA_CLIENT.validate_python(ga)
    session = ga["session"]
    assert isinstance(session, dict) and session["type"] == "transcription"
    assert set(session) == {"type", "audio"} and set(session["audio"]) == {"input"}


def test_session_fields_map_to_nested_ga_locations() -> None:
    """Formats, voice, speed, VAD, transcription, limits land where GA expects; temperature is dropped."""
    ga = beta_client_event_to_ga(BETA_CLIENT_EVENTS["full_session"], REALTIME)
    assert ga is not None and ga["event_id"] == "evt_1"
    s = ga["session"]
    assert isinstance(s, dict)
    assert s["type"] == "realtime" and s["output_modalities"] == ["audio"]
    assert s["max_output_tokens"] == 512 and "temperature" not in s and "max_response_output_tokens" not in s
    assert s["audio"] == {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1", "language": "en", "prompt": "invoices"},
            "turn_detection": BETA_SESSION["turn_detection"],
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"voice": "verse", "format": {"type": "audio/pcmu"}, "speed": 1.1},
    }
    assert s["tools"] == BETA_SESSION["tools"] and s["tool_choice"] == "auto" and s["tracing"] == "auto"
    alaw = beta_client_event_to_ga(BETA_CLIENT_EVENTS["semantic_vad_alaw"], REALTIME)
    assert alaw is not None and isinstance(alaw["session"], dict)
    assert alaw["session"]["tool_choice"] == {"type": "function", "name": "lookup"}
    assert alaw["session"]["output_modalities"] == ["text"]
    assert alaw["session"]["audio"]["input"]["format"] == {"type": "audio/pcma"}


def test_null_settings_still_turn_features_off() -> None:
    """Beta ``null`` for VAD, transcription, noise reduction and tracing reaches GA as ``null``."""
    ga = beta_client_event_to_ga(BETA_CLIENT_EVENTS["vad_off"], REALTIME)
    assert ga is not None
    assert ga["session"] == {"type": "realtime", "tracing": None, "audio": {"input": {
        "turn_detection": None, "transcription": None, "noise_reduction": None}}}
    typeless = beta_client_event_to_ga(BETA_CLIENT_EVENTS["vad_without_type"], REALTIME)
    assert typeless is not None and isinstance(typeless["session"], dict)
    assert typeless["session"]["audio"]["input"]["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 800}


def test_response_create_overrides_map_to_ga() -> None:
    """Response modalities, voice, format and token limit move to GA names; temperature is dropped."""
    ga = beta_client_event_to_ga(BETA_CLIENT_EVENTS["response_overrides"], REALTIME)
    assert ga is not None
    r = ga["response"]
    assert isinstance(r, dict)
    assert r["output_modalities"] == ["audio"] and r["max_output_tokens"] == "inf"
    assert r["audio"] == {"output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}}}
    assert "temperature" not in r and "modalities" not in r and "voice" not in r
    assert r["conversation"] == "none" and r["metadata"] == {"topic": "greeting"} and r["tool_choice"] == "none"
    bare = BETA_CLIENT_EVENTS["response_bare"]
    assert beta_client_event_to_ga(bare, REALTIME) is bare


def test_response_input_item_reference_becomes_ga_reference() -> None:
    """A beta ``item_reference`` in ``response.input`` becomes GA's ``{type, id}`` reference."""
    beta = {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "item_3"}]}}
    BETA_CLIENT.validate_python(beta)
    ga = beta_client_event_to_ga(beta, REALTIME)
    assert ga == {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "item_3"}]}}
    TypeAdapter(ResponseCreateEventWithReferencesParam).validate_python(ga)


def test_assistant_content_types_become_output_types() -> None:
    """Assistant ``text`` content becomes ``output_text``; user ``input_*`` content is untouched."""
    ga = beta_client_event_to_ga(BETA_CLIENT_EVENTS["item_assistant_text"], REALTIME)
    assert ga is not None and isinstance(ga["item"], dict)
    assert ga["item"]["content"] == [{"type": "output_text", "text": "Your balance is $4."}]
    user = beta_client_event_to_ga(BETA_CLIENT_EVENTS["item_user_audio"], REALTIME)
    assert user is not None and isinstance(user["item"], dict)
    assert user["item"]["content"] == [{"type": "input_audio", "audio": AUDIO_B64}] and user["previous_item_id"] == "root"
    typeless = beta_client_event_to_ga({"type": "conversation.item.create", "item": {
        "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}, REALTIME)
    assert typeless is not None and isinstance(typeless["item"], dict) and typeless["item"]["type"] == "message"


@pytest.mark.parametrize("name", ["append", "commit", "clear", "output_clear", "truncate", "delete", "retrieve", "cancel"])
def test_same_named_client_events_pass_as_the_same_object(name: str) -> None:
    """Events that are identical in both dialects are forwarded untouched (no copy, no re-encode)."""
    event = BETA_CLIENT_EVENTS[name]
    assert beta_client_event_to_ga(event, REALTIME) is event


@pytest.mark.parametrize(
    ("event", "param"),
    [
        ({"type": "session.update", "session": {"input_audio_format": "pcm24"}}, "session.input_audio_format"),
        ({"type": "session.update", "session": {"output_audio_format": "opus"}}, "session.output_audio_format"),
        ({"type": "session.update", "session": {"modalities": []}}, "session.modalities"),
        ({"type": "session.update", "session": {"turn_detection": {"type": "magic_vad"}}}, "session.turn_detection.type"),
        ({"type": "session.update", "session": "fast"}, "session"),
        ({"type": "response.create", "response": {"modalities": ["video"]}}, "response.modalities"),
        ({"type": "response.create", "response": {"output_audio_format": 16000}}, "response.output_audio_format"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
            {"type": "item_reference", "id": "item_1"}]}}, "item.content"),
        ({"type": "conversation.item.create", "item": {"content": []}}, "item.type"),
    ],
)
def test_untranslatable_content_is_refused_with_a_client_safe_error(event: dict[str, object], param: str) -> None:
    """Content with no GA form raises a non-fatal InvalidRequest naming the offending field."""
    with pytest.raises(InvalidRequest) as caught:
        beta_client_event_to_ga(event, REALTIME)
    assert caught.value.param == param and not caught.value.fatal


def test_translation_sessions_have_no_beta_dialect() -> None:
    """Beta client events on a translation session are refused; its server events pass unchanged."""
    with pytest.raises(InvalidRequest):
        beta_client_event_to_ga({"type": "session.update", "session": {}}, SessionKind.TRANSLATION)
    closed = {"type": "session.closed", "event_id": "e1"}
    assert ga_server_event_to_beta(closed, SessionKind.TRANSLATION) is closed


def test_every_beta_client_event_type_has_a_ga_form() -> None:
    """The beta client union maps onto GA names: nothing a beta client can send is left untranslated."""
    ga_types = _literals(GaClientEvent)
    for beta_type in _literals(BetaClientEvent):
        translated = "session.update" if beta_type == "transcription_session.update" else beta_type
        assert translated in ga_types, beta_type


# --- GA server events of a voice-agent turn -------------------------------------------------------

GA_SESSION = {
    "id": "sess_1", "object": "realtime.session", "type": "realtime", "model": "gpt-realtime",
    "output_modalities": ["audio"], "instructions": "Be brief.", "expires_at": 1_790_000_000,
    "audio": {
        "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "whisper-1", "language": "en"},
                  "noise_reduction": None,
                  "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                     "silence_duration_ms": 500, "idle_timeout_ms": None, "create_response": True,
                                     "interrupt_response": True}},
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
    },
    "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None, "prompt": None, "include": None,
}
RESP = {"id": "resp_1", "object": "realtime.response", "conversation_id": "conv_1", "metadata": None,
        "output_modalities": ["audio"], "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}}}
IDS = {"response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0}
USER_ITEM = {"id": "item_u", "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
             "content": [{"type": "input_audio", "transcript": None}]}
ASSISTANT_ITEM = {"id": "item_a", "object": "realtime.item", "type": "message", "role": "assistant",
                  "status": "in_progress", "content": []}
DONE_ITEM = {**ASSISTANT_ITEM, "status": "completed", "content": [{"type": "output_audio", "transcript": "Hi there."}]}
CALL_ITEM = {"id": "item_f", "object": "realtime.item", "type": "function_call", "status": "completed",
             "call_id": "call_1", "name": "lookup", "arguments": "{\"id\":\"7\"}"}
USAGE = {"total_tokens": 300, "input_tokens": 200, "output_tokens": 100,
         "input_token_details": {"text_tokens": 20, "audio_tokens": 180, "cached_tokens": 0},
         "output_token_details": {"text_tokens": 10, "audio_tokens": 90}}


def _ev(n: int, type_: str, **fields: object) -> dict[str, object]:
    return {"type": type_, "event_id": f"event_{n}", **fields}


def voice_turn() -> list[dict[str, object]]:
    """A realistic GA voice-agent session: VAD turn, audio reply, tool call, text reply, barge-in."""
    return [
        _ev(1, "session.created", session=GA_SESSION),
        _ev(2, "conversation.created", conversation={"id": "conv_1", "object": "realtime.conversation"}),
        _ev(3, "session.updated", session={**GA_SESSION, "tools": [{"type": "function", "name": "lookup",
                                                                     "parameters": {"type": "object"}}]}),
        _ev(4, "input_audio_buffer.speech_started", audio_start_ms=120, item_id="item_u"),
        _ev(5, "input_audio_buffer.speech_stopped", audio_end_ms=1900, item_id="item_u"),
        _ev(6, "input_audio_buffer.committed", item_id="item_u", previous_item_id=None),
        _ev(7, "conversation.item.added", item=USER_ITEM, previous_item_id=None),
        _ev(8, "conversation.item.done", item=USER_ITEM, previous_item_id=None),
        _ev(9, "conversation.item.input_audio_transcription.delta", item_id="item_u", content_index=0, delta="What's"),
        _ev(10, "response.created", response={**RESP, "status": "in_progress", "output": [], "usage": None}),
        _ev(11, "rate_limits.updated", rate_limits=[{"name": "tokens", "limit": 40000, "remaining": 39000,
                                                      "reset_seconds": 1.5}]),
        _ev(12, "response.output_item.added", response_id="resp_1", output_index=0, item=ASSISTANT_ITEM),
        _ev(13, "conversation.item.added", item=ASSISTANT_ITEM, previous_item_id="item_u"),
        _ev(14, "response.content_part.added", **IDS, part={"type": "audio", "transcript": ""}),
        _ev(15, "response.output_audio.delta", **IDS, delta=AUDIO_B64),
        _ev(16, "response.output_audio_transcript.delta", **IDS, delta="Hi "),
        _ev(17, "conversation.item.input_audio_transcription.completed", item_id="item_u", content_index=0,
            transcript="What's up?", usage={"type": "duration", "seconds": 1.8}),
        _ev(18, "response.output_audio.done", **IDS),
        _ev(19, "response.output_audio_transcript.done", **IDS, transcript="Hi there."),
        _ev(20, "response.content_part.done", **IDS, part={"type": "audio", "transcript": "Hi there."}),
        _ev(21, "response.output_item.done", response_id="resp_1", output_index=0, item=DONE_ITEM),
        _ev(22, "conversation.item.done", item=DONE_ITEM, previous_item_id="item_u"),
        _ev(23, "response.done", response={**RESP, "status": "completed", "status_details": None,
                                           "output": [DONE_ITEM], "usage": USAGE}),
        _ev(24, "output_audio_buffer.started", response_id="resp_1"),
        _ev(25, "response.output_item.added", response_id="resp_2", output_index=0, item={**CALL_ITEM, "arguments": ""}),
        _ev(26, "response.function_call_arguments.delta", response_id="resp_2", item_id="item_f", output_index=0,
            call_id="call_1", delta="{\"id\":"),
        _ev(27, "response.function_call_arguments.done", response_id="resp_2", item_id="item_f", output_index=0,
            call_id="call_1", name="lookup", arguments="{\"id\":\"7\"}"),
        _ev(28, "response.done", response={**RESP, "id": "resp_2", "status": "completed", "output": [CALL_ITEM],
                                           "usage": USAGE}),
        _ev(29, "response.content_part.added", **{**IDS, "response_id": "resp_3"}, part={"type": "text", "text": ""}),
        _ev(30, "response.output_text.delta", **{**IDS, "response_id": "resp_3"}, delta="Done"),
        _ev(31, "response.output_text.done", **{**IDS, "response_id": "resp_3"}, text="Done."),
        _ev(32, "response.done", response={**RESP, "id": "resp_4", "status": "cancelled", "output_modalities": ["text"],
                                           "status_details": {"type": "cancelled", "reason": "turn_detected"},
                                           "output": [{**DONE_ITEM, "status": "incomplete", "content": [
                                               {"type": "output_text", "text": "Do"}]}], "usage": USAGE}),
        _ev(33, "conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=800),
        _ev(34, "conversation.item.retrieved", item=DONE_ITEM),
        _ev(35, "conversation.item.deleted", item_id="item_a"),
        _ev(36, "input_audio_buffer.cleared"),
        _ev(37, "error", error={"type": "invalid_request_error", "code": "response_cancel_not_active",
                                "message": "No active response.", "param": None, "event_id": "c9"}),
    ]


EXPECTED_BETA_TYPES = [
    "session.created", "conversation.created", "session.updated", "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.created",
    "conversation.item.input_audio_transcription.delta", "response.created", "rate_limits.updated",
    "response.output_item.added", "conversation.item.created", "response.content_part.added", "response.audio.delta",
    "response.audio_transcript.delta", "conversation.item.input_audio_transcription.completed",
    "response.audio.done", "response.audio_transcript.done", "response.content_part.done",
    "response.output_item.done", "response.done", "output_audio_buffer.started", "response.output_item.added",
    "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.done",
    "response.content_part.added", "response.text.delta", "response.text.done", "response.done",
    "conversation.item.truncated", "conversation.item.retrieved", "conversation.item.deleted",
    "input_audio_buffer.cleared", "error",
]


def test_voice_turn_translates_to_valid_beta_events() -> None:
    """Every GA event of a voice-agent session becomes a valid beta event, in order, minus item.done."""
    out = []
    for event in voice_turn():
        GA_SERVER.validate_python(event)
        before = copy.deepcopy(event)
        beta = ga_server_event_to_beta(event, REALTIME)
        assert event == before
        if beta is not None:
            _valid_beta_server(beta)
            out.append(beta)
    assert [e["type"] for e in out] == EXPECTED_BETA_TYPES


def test_session_object_becomes_flat_beta_session() -> None:
    """The GA session object becomes the flat beta ``realtime.session`` with beta field names."""
    beta = ga_server_event_to_beta(voice_turn()[0], REALTIME)
    assert beta is not None
    s = beta["session"]
    assert isinstance(s, dict)
    assert s["object"] == "realtime.session" and s["id"] == "sess_1" and s["model"] == "gpt-realtime"
    assert s["modalities"] == ["text", "audio"] and s["max_response_output_tokens"] == "inf"
    assert s["input_audio_format"] == "pcm16" and s["output_audio_format"] == "pcm16"
    assert s["voice"] == "marin" and s["speed"] == 1.0
    assert s["input_audio_transcription"] == {"model": "whisper-1", "language": "en"}
    assert s["input_audio_noise_reduction"] is None
    assert s["turn_detection"] == GA_SESSION["audio"]["input"]["turn_detection"]  # type: ignore[index]
    assert not {"audio", "type", "output_modalities", "max_output_tokens"} & set(s)


def test_response_objects_and_items_become_beta_shapes() -> None:
    """``response.done`` gets beta modalities, voice, format and ``text``/``audio`` content types."""
    events = voice_turn()
    done = ga_server_event_to_beta(events[22], REALTIME)
    assert done is not None and isinstance(done["response"], dict)
    r = done["response"]
    assert r["modalities"] == ["text", "audio"] and r["voice"] == "marin" and r["output_audio_format"] == "pcm16"
    assert r["max_output_tokens"] == "inf" and r["usage"] == USAGE and "audio" not in r
    assert r["output"] == [{**DONE_ITEM, "content": [{"type": "audio", "transcript": "Hi there."}]}]
    cancelled = ga_server_event_to_beta(events[31], REALTIME)
    assert cancelled is not None and isinstance(cancelled["response"], dict)
    assert cancelled["response"]["modalities"] == ["text"]
    assert cancelled["response"]["output"][0]["content"] == [{"type": "text", "text": "Do"}]  # type: ignore[index]


def test_content_parts_named_like_item_content_are_renamed() -> None:
    """A content part typed ``output_audio``/``output_text`` (item-content naming) reaches beta as ``audio``/``text``."""
    for ga_type, beta_type in (("output_audio", "audio"), ("output_text", "text")):
        event = _ev(1, "response.content_part.done", **IDS, part={"type": ga_type, "transcript": "Hi"})
        beta = ga_server_event_to_beta(event, REALTIME)
        assert beta is not None and beta["part"] == {"type": beta_type, "transcript": "Hi"}
        _valid_beta_server(beta)


def test_unchanged_server_events_pass_as_the_same_object() -> None:
    """Events identical in both dialects (and items without GA-only content types) are not copied."""
    for event in voice_turn():
        if event["type"] in ("input_audio_buffer.committed", "error", "rate_limits.updated",
                             "response.function_call_arguments.delta", "conversation.item.truncated"):
            assert ga_server_event_to_beta(event, REALTIME) is event
    call_added = voice_turn()[24]
    assert ga_server_event_to_beta(call_added, REALTIME) is call_added
    part = voice_turn()[13]
    assert ga_server_event_to_beta(part, REALTIME) is part


def test_ga_only_events_are_dropped() -> None:
    """GA-only events with no beta meaning (item.done, idle timeout, DTMF, diarization, MCP) are dropped."""
    ga_only = [
        _ev(1, "conversation.item.done", item=USER_ITEM),
        _ev(2, "input_audio_buffer.timeout_triggered", item_id="item_u", audio_start_ms=0, audio_end_ms=5000),
        {"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1_790_000_000},
        _ev(3, "conversation.item.input_audio_transcription.segment", id="seg_1", item_id="item_u", content_index=0,
            text="hi", speaker="A", start=0.0, end=0.4),
        _ev(4, "mcp_list_tools.in_progress", item_id="item_m"),
        _ev(5, "mcp_list_tools.completed", item_id="item_m"),
        _ev(6, "mcp_list_tools.failed", item_id="item_m"),
        _ev(7, "response.mcp_call_arguments.delta", response_id="r", item_id="i", output_index=0, delta="{"),
        _ev(8, "response.mcp_call_arguments.done", response_id="r", item_id="i", output_index=0, arguments="{}"),
        _ev(9, "response.mcp_call.in_progress", item_id="i", output_index=0),
        _ev(10, "response.mcp_call.completed", item_id="i", output_index=0),
        _ev(11, "response.mcp_call.failed", item_id="i", output_index=0),
    ]
    for event in ga_only:
        GA_SERVER.validate_python(event)
        assert ga_server_event_to_beta(event, REALTIME) is None, event["type"]


def test_every_ga_server_event_type_is_translated_or_dropped() -> None:
    """Each GA server event type either exists in beta, is renamed to a beta type, or is dropped."""
    beta_types = _literals(BetaServerEvent) | {"transcription_session.created"}
    for ga_type in _literals(GaServerEvent):
        probe: dict[str, object] = {"type": ga_type, "event_id": "e"}
        if ga_type.startswith("session."):
            probe["session"] = {"type": "realtime"}
        out = ga_server_event_to_beta(probe, REALTIME)
        assert out is None or out["type"] in beta_types, ga_type


def test_hot_renames_agree_with_full_translation() -> None:
    """Renaming ``"type"`` in the raw frame gives the same bytes as parsing, translating and re-encoding."""
    events = {
        "response.output_audio.delta": _ev(1, "response.output_audio.delta", **IDS, delta=AUDIO_B64 * 40),
        "response.output_audio_transcript.delta": _ev(2, "response.output_audio_transcript.delta", **IDS, delta="Hi"),
        "response.output_text.delta": _ev(3, "response.output_text.delta", **IDS, delta="Hi"),
    }
    assert set(BETA_HOT_RENAMES) == {k.encode() for k in events}
    for ga_type, event in events.items():
        frame = orjson.dumps(event)
        new = BETA_HOT_RENAMES[ga_type.encode()]
        raw = frame.replace(b'"type":"' + ga_type.encode() + b'"', b'"type":"' + new + b'"', 1)
        translated = ga_server_event_to_beta(event, REALTIME)
        assert translated is not None
        assert raw == orjson.dumps(translated)
        _valid_beta_server(orjson.loads(raw))
        assert frame.decode().replace(f'"{ga_type}"', f'"{new.decode()}"', 1) == raw.decode()  # the relay's form


def test_gpt_realtime_2_model_name_passes_through() -> None:
    """Newer GA model names reach beta clients verbatim; only the beta SDK's closed model list objects."""
    event = _ev(1, "session.created", session={**GA_SESSION, "model": "gpt-realtime-2"})
    beta = ga_server_event_to_beta(event, REALTIME)
    assert beta is not None and isinstance(beta["session"], dict) and beta["session"]["model"] == "gpt-realtime-2"
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(BetaSessionCreated).validate_python(beta)
    assert {e["loc"][:2] for e in caught.value.errors()} == {("session", "model")}


def test_custom_voice_object_becomes_voice_id() -> None:
    """A GA custom voice ``{"id": ...}`` is shown to beta clients as its id string."""
    session = {**GA_SESSION, "audio": {"output": {"voice": {"id": "voice_123"}}}}
    beta = ga_server_event_to_beta(_ev(1, "session.updated", session=session), REALTIME)
    assert beta is not None and isinstance(beta["session"], dict) and beta["session"]["voice"] == "voice_123"


# --- transcription sessions ----------------------------------------------------------------------

GA_TRANSCRIPTION_SESSION = {
    "id": "sess_t", "object": "realtime.transcription_session", "type": "transcription", "expires_at": 1_790_000_000,
    "audio": {"input": {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "near_field"},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": ""},
                        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                           "silence_duration_ms": 500}}},
    "include": ["item.input_audio_transcription.logprobs"],
}


def transcription_flow() -> list[dict[str, object]]:
    """A GA transcription session: created, updated, one committed turn with deltas and completion."""
    return [
        _ev(1, "session.created", session=GA_TRANSCRIPTION_SESSION),
        _ev(2, "conversation.created", conversation={"id": "conv_t", "object": "realtime.conversation"}),
        _ev(3, "session.updated", session=GA_TRANSCRIPTION_SESSION),
        _ev(4, "input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_1"),
        _ev(5, "input_audio_buffer.speech_stopped", audio_end_ms=2000, item_id="item_1"),
        _ev(6, "input_audio_buffer.committed", item_id="item_1", previous_item_id=None),
        _ev(7, "conversation.item.added", item={**USER_ITEM, "id": "item_1"}),
        _ev(8, "conversation.item.done", item={**USER_ITEM, "id": "item_1"}),
        _ev(9, "conversation.item.input_audio_transcription.delta", item_id="item_1", content_index=0, delta="The"),
        _ev(10, "conversation.item.input_audio_transcription.completed", item_id="item_1", content_index=0,
            transcript="The invoice.", usage={"type": "tokens", "input_tokens": 30, "output_tokens": 4,
                                              "total_tokens": 34}),
        _ev(11, "conversation.item.input_audio_transcription.failed", item_id="item_2", content_index=0,
            error={"type": "server_error", "code": "transcription_failed", "message": "failed", "param": None}),
    ]


def test_transcription_session_events_become_beta_transcription_events() -> None:
    """A GA transcription session reads as the beta one: ``transcription_session.*`` and deltas."""
    out = []
    for event in transcription_flow():
        GA_SERVER.validate_python(event)
        beta = ga_server_event_to_beta(event, TRANSCRIPTION)
        if beta is not None:
            _valid_beta_server(beta)
            out.append(beta)
    assert [e["type"] for e in out] == [
        "transcription_session.created", "transcription_session.updated", "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.created",
        "conversation.item.input_audio_transcription.delta", "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
    ]
    assert out[0]["session"] == {
        "object": "realtime.transcription_session", "id": "sess_t", "expires_at": 1_790_000_000,
        "include": ["item.input_audio_transcription.logprobs"], "input_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": ""},
        "input_audio_noise_reduction": {"type": "near_field"},
        "turn_detection": GA_TRANSCRIPTION_SESSION["audio"]["input"]["turn_detection"],  # type: ignore[index]
        "client_secret": None,
    }


def test_transcription_session_is_recognised_by_its_type_on_any_kind() -> None:
    """The session object's own ``type`` decides the beta event name, not the session kind guess."""
    beta = ga_server_event_to_beta(_ev(1, "session.updated", session=GA_TRANSCRIPTION_SESSION), REALTIME)
    assert beta is not None and beta["type"] == "transcription_session.updated"
    conv = _ev(2, "conversation.created", conversation={"id": "c"})
    assert ga_server_event_to_beta(conv, REALTIME) is conv


def test_transcription_config_round_trip_preserves_meaning() -> None:
    """Beta transcription config → GA update → GA echo → beta keeps format, model, language, VAD, include."""
    ga = beta_client_event_to_ga(BETA_TRANSCRIPTION_UPDATE, TRANSCRIPTION)
    assert ga is not None and isinstance(ga["session"], dict)
    echo = _ev(1, "session.updated", session={**ga["session"], "id": "sess_t", "object": "realtime.transcription_session"})
    GA_SERVER.validate_python(echo)
    beta = ga_server_event_to_beta(echo, TRANSCRIPTION)
    assert beta is not None
    _valid_beta_server(beta)
    sent = BETA_TRANSCRIPTION_UPDATE["session"]
    assert isinstance(sent, dict) and isinstance(beta["session"], dict)
    for key in ("input_audio_format", "input_audio_transcription", "turn_detection", "input_audio_noise_reduction",
                "include"):
        assert beta["session"][key] == sent[key], key


# --- round trips of realtime session config --------------------------------------------------------

_vad = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("server_vad")}, optional={
        "threshold": st.floats(0, 1), "prefix_padding_ms": st.integers(0, 1000),
        "silence_duration_ms": st.integers(0, 2000), "create_response": st.booleans(),
        "interrupt_response": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("semantic_vad")}, optional={
        "eagerness": st.sampled_from(["low", "medium", "high", "auto"]), "create_response": st.booleans(),
        "interrupt_response": st.booleans()}),
)
_tool = st.fixed_dictionaries({"type": st.just("function"), "name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                               "description": st.text(max_size=20), "parameters": st.just({"type": "object"})})
_beta_sessions = st.fixed_dictionaries({}, optional={
    "modalities": st.sampled_from([["text", "audio"], ["audio", "text"], ["text"], ["audio"]]),
    "instructions": st.text(max_size=40),
    "voice": st.sampled_from(["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin"]),
    "input_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
    "output_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
    "input_audio_transcription": st.one_of(st.none(), st.fixed_dictionaries(
        {"model": st.sampled_from(["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"])},
        optional={"language": st.sampled_from(["en", "de", "ja"]), "prompt": st.text(max_size=10)})),
    "turn_detection": _vad,
    "input_audio_noise_reduction": st.one_of(st.none(), st.fixed_dictionaries(
        {"type": st.sampled_from(["near_field", "far_field"])})),
    "tools": st.lists(_tool, max_size=3),
    "tool_choice": st.sampled_from(["auto", "none", "required"]),
    "max_response_output_tokens": st.one_of(st.integers(1, 4096), st.just("inf")),
    "speed": st.floats(0.25, 1.5),
    "tracing": st.one_of(st.none(), st.just("auto"), st.fixed_dictionaries({"workflow_name": st.text(max_size=8)})),
    "temperature": st.floats(0.6, 1.2),
})


@settings(max_examples=150, deadline=None)
@given(_beta_sessions)
def test_realtime_session_round_trip_preserves_meaning(sent: dict[str, object]) -> None:
    """Any beta session config survives beta → GA → (server echo) → beta with the same meaning."""
    update = {"type": "session.update", "session": sent}
    BETA_CLIENT.validate_python(update)
    ga = beta_client_event_to_ga(update, REALTIME)
    assert ga is not None and isinstance(ga["session"], dict)
    GA_CLIENT.validate_python(ga)
    echo = _ev(1, "session.updated", session={**ga["session"], "id": "sess_1", "object": "realtime.session",
                                              "model": "gpt-realtime"})
    GA_SERVER.validate_python(echo)
    beta = ga_server_event_to_beta(echo, REALTIME)
    assert beta is not None and isinstance(beta["session"], dict)
    _valid_beta_server(beta)
    got = beta["session"]
    for key, value in sent.items():
        if key == "temperature":
            assert key not in got  # GA has no temperature
        elif key == "modalities":
            assert isinstance(value, list)
            assert set(got[key]) == ({"text", "audio"} if "audio" in value else {"text"})  # type: ignore[arg-type]
        else:
            assert got[key] == value, key

