"""The OpenAI Realtime session objects and their defaults — the one home of both.

What a fresh ``realtime``, ``transcription`` or ``translation`` session holds, and what a partly
set one is filled with: the emulator's ``session.created``, the gateway's client-secret answers
and everything that reads a VAD setting start from here. Values are OpenAI's published
defaults (see ``realtime-protocol.md``: ``server_vad`` threshold 0.5, prefix padding 300 ms,
silence 500 ms; voice ``marin``; PCM16 at 24 kHz; output modality audio).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Final

from gateway.core.jsontypes import JsonDict, JsonObject

#: the voices a session may name (or a custom ``{"id": "voice_…"}``)
VOICES: Final = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"})
DEFAULT_VOICE: Final = "marin"
#: server_vad knobs (OpenAI's documented defaults)
VAD_THRESHOLD: Final = 0.5
VAD_PREFIX_PADDING_MS: Final = 300
VAD_SILENCE_DURATION_MS: Final = 500
#: semantic_vad's default eagerness
SEMANTIC_EAGERNESS: Final = "auto"
#: the fields each turn-detection type takes
SERVER_VAD_FIELDS: Final = (
    "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response", "idle_timeout_ms",
)
SEMANTIC_VAD_FIELDS: Final = ("eagerness", "create_response", "interrupt_response")
#: the input-transcription model of a fresh transcription session
DEFAULT_TRANSCRIPTION_MODEL: Final = "gpt-live-transcribe"
#: the target language of a fresh translation session
DEFAULT_TRANSLATION_LANGUAGE: Final = "en"


def pcm_format() -> JsonDict:
    """``audio/pcm`` at 24 kHz, the default input and output format."""
    return {"type": "audio/pcm", "rate": 24000}


def server_vad(conversation: bool) -> JsonDict:
    """A ``server_vad`` turn detection with every default (response knobs only in conversation sessions)."""
    vad: JsonDict = {
        "type": "server_vad",
        "threshold": VAD_THRESHOLD,
        "prefix_padding_ms": VAD_PREFIX_PADDING_MS,
        "silence_duration_ms": VAD_SILENCE_DURATION_MS,
    }
    if conversation:
        vad.update(idle_timeout_ms=None, create_response=True, interrupt_response=True)
    return vad


def semantic_vad(conversation: bool) -> JsonDict:
    """A ``semantic_vad`` turn detection with every default."""
    vad: JsonDict = {"type": "semantic_vad", "eagerness": SEMANTIC_EAGERNESS}
    if conversation:
        vad.update(create_response=True, interrupt_response=True)
    return vad


def turn_detection_defaults(detection_type: object, conversation: bool) -> JsonDict:
    """The defaults for a turn detection of ``detection_type`` (server_vad unless it says semantic_vad)."""
    return semantic_vad(conversation) if detection_type == "semantic_vad" else server_vad(conversation)


def with_turn_detection_defaults(turn_detection: object, conversation: bool) -> object:
    """A requested turn detection with its type's defaults under it; ``null`` (VAD off) stays as it is."""
    if not isinstance(turn_detection, dict):
        return turn_detection
    return merged(turn_detection_defaults(turn_detection.get("type"), conversation), turn_detection)


def speech_interrupts(session: Mapping[str, object], current: bool) -> bool:
    """Whether a reported session's turn detection cancels a running response when the user speaks
    (``interrupt_response``, default true; no turn detection: no); ``current`` when the report does not say."""
    audio = session.get("audio")
    side = audio.get("input") if isinstance(audio, dict) else None
    if not isinstance(side, dict) or "turn_detection" not in side:
        return current
    detection = side["turn_detection"]
    return isinstance(detection, dict) and detection.get("interrupt_response", True) is not False


def realtime_session(session_id: str, model: str, expires_at: int, *, instructions: str = "") -> JsonDict:
    """A fresh voice-agent (``realtime``) session object."""
    session: JsonDict = {
        "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
        "expires_at": expires_at, "output_modalities": ["audio"], "instructions": instructions,
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
        "truncation": "auto", "prompt": None, "include": None,
        "audio": {
            "input": {"format": pcm_format(), "transcription": None, "noise_reduction": None,
                      "turn_detection": server_vad(conversation=True)},
            "output": {"format": pcm_format(), "voice": DEFAULT_VOICE, "speed": 1.0},
        },
    }
    if model.startswith("gpt-realtime-2"):
        session["reasoning"] = {"effort": "low"}
    return session


def transcription_session(session_id: str, expires_at: int) -> JsonDict:
    """A fresh ``transcription`` session object."""
    return {
        "type": "transcription", "object": "realtime.transcription_session", "id": session_id,
        "expires_at": expires_at, "include": None,
        "audio": {"input": {
            "format": pcm_format(), "noise_reduction": None,
            "transcription": {"model": DEFAULT_TRANSCRIPTION_MODEL},
            "turn_detection": server_vad(conversation=False)}},
    }


def translation_session(session_id: str, model: str, expires_at: int) -> JsonDict:
    """A fresh ``translation`` session object."""
    return {
        "id": session_id, "type": "translation", "model": model, "expires_at": expires_at,
        "audio": {"input": {"noise_reduction": None, "transcription": None},
                  "output": {"language": DEFAULT_TRANSLATION_LANGUAGE}},
    }


def merged(base: Mapping[str, object], patch: Mapping[str, object]) -> JsonObject:
    """``patch`` laid over ``base``: objects of the same type merge key by key, anything else replaces."""
    out: JsonObject = copy.deepcopy(dict(base))
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and value.get("type", current.get("type")) == current.get("type"):
            out[key] = merged(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out
