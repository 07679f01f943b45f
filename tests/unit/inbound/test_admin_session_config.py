"""Client-secret session configurations: validation mirrors OpenAI's request params; effective sessions fill defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.inbound import session_config as sc


def _error(body: dict[str, object]) -> sc.InvalidRequest:
    with pytest.raises(ValidationError) as caught:
        sc.ClientSecretRequest.model_validate(body)
    return sc.request_error(caught.value, body)


def test_a_full_realtime_config_is_accepted_and_dumped_as_set() -> None:
    """Every documented realtime field validates; the dump holds only what the client set."""
    session = {
        "type": "realtime", "model": "gpt-realtime-2", "instructions": "x", "output_modalities": ["text"],
        "audio": {"input": {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "near_field"},
                            "transcription": {"model": "whisper-1", "language": "en"},
                            "turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
                  "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": {"id": "voice_123"}, "speed": 1.2}},
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}},
                  {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example"}],
        "tool_choice": {"type": "function", "name": "lookup"}, "max_output_tokens": "inf", "tracing": "auto",
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.5}, "prompt": {"id": "pmpt_1"},
        "include": ["item.input_audio_transcription.logprobs"], "reasoning": {"effort": "low"}, "parallel_tool_calls": False,
    }
    parsed = sc.ClientSecretRequest.model_validate({"session": session})
    assert sc.dump(parsed.session) == session


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime", "output_modalities": ["audio", "text"]}, "session.output_modalities"),
        ({"type": "realtime", "audio": {"output": {"speed": 3}}}, "session.audio.output.speed"),
        ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}}},
         "session.audio.input.turn_detection.threshold"),
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "session.audio.input.format.rate"),
        ({"type": "realtime", "max_output_tokens": 0}, "session.max_output_tokens"),
        ({"type": "transcription", "instructions": "no"}, "session.instructions"),
    ],
)
def test_invalid_values_name_the_parameter(session: dict[str, object], param: str) -> None:
    """The error's param is the dotted path of the offending field, without pydantic's union tags."""
    error = _error({"session": session})
    assert error.param == param and error.http_status == 400


def test_effective_realtime_session_merges_onto_openai_defaults() -> None:
    """Unset fields get OpenAI's defaults; set nested fields keep their siblings' defaults."""
    parsed = sc.ClientSecretRequest.model_validate(
        {"session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 900}}}}}
    )
    session = sc.effective_realtime(sc.dump(parsed.session), "sess_1", "gpt-realtime-2")
    vad = session["audio"]["input"]["turn_detection"]  # type: ignore[index]
    assert vad == {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 900,
                   "idle_timeout_ms": None, "create_response": True, "interrupt_response": True}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0}  # type: ignore[index]
    assert (session["model"], session["id"], session["max_output_tokens"]) == ("gpt-realtime-2", "sess_1", "inf")


def test_turning_vad_off_is_kept() -> None:
    """turn_detection: null stays null in the effective session."""
    parsed = sc.ClientSecretRequest.model_validate({"session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}})
    session = sc.effective_realtime(sc.dump(parsed.session), "sess_1", "m")
    assert session["audio"]["input"]["turn_detection"] is None  # type: ignore[index]


def test_translation_request_requires_a_model_and_fills_the_session() -> None:
    """Translation secrets need session.model; the effective session carries id, type, model and expiry."""
    with pytest.raises(ValidationError):
        sc.TranslationClientSecretRequest.model_validate({"session": {"audio": {}}})
    parsed = sc.TranslationClientSecretRequest.model_validate({"session": {"model": "gpt-realtime-translate"}})
    session = sc.effective_translation(sc.dump(parsed.session), "sess_t", "gpt-realtime-translate", 1234)
    assert session == {"id": "sess_t", "type": "translation", "model": "gpt-realtime-translate", "expires_at": 1234,
                       "audio": {"input": {"noise_reduction": None, "transcription": None}, "output": {"language": "en"}}}
