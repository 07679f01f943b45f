"""Session objects for ``realtime`` and ``transcription`` sessions and ``session.update`` merging.

Pure functions: a default GA session object, and ``apply_update(current, patch)`` returning the
new effective object or the first problem found (the update is then not applied at all, as
OpenAI rejects an invalid update as a whole).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Final

from gateway.core import session_schema as schema
from gateway.emulator.audio import format_from_json
from gateway.emulator.types import Json
from gateway.core.jsontypes import as_dict, member

DEFAULT_INSTRUCTIONS: Final = (
    "You are a helpful, concise voice assistant. This session is served by the voice-gateway "
    "emulator, which follows the Realtime protocol but does not run a model."
)
VOICES: Final = schema.VOICES
TRANSCRIPTION_MODELS: Final = frozenset({
    "whisper-1", "gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper",
    "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-diarize"})
#: input-transcription models billed by duration; the others report token usage
DURATION_BILLED: Final = frozenset({"whisper-1", "gpt-realtime-whisper", "gpt-live-transcribe"})
_REALTIME_KEYS: Final = frozenset({
    "type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice",
    "max_output_tokens", "tracing", "truncation", "prompt", "include", "reasoning",
    "parallel_tool_calls"})
_TRANSCRIPTION_KEYS: Final = frozenset({"type", "audio", "include"})
_INPUT_KEYS: Final = frozenset({"format", "transcription", "noise_reduction", "turn_detection"})
_OUTPUT_KEYS: Final = frozenset({"format", "voice", "speed"})
_TRANSCRIPTION_FIELDS: Final = frozenset({"model", "language", "languages", "prompt", "delay",
                                          "keywords"})
_SEMANTIC_SILENCE_MS: Final = {"low": 1200, "medium": 700, "auto": 700, "high": 300}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an update was refused; ``fatal`` problems close the socket with code 4000."""

    code: str
    param: str | None
    message: str
    fatal: bool = False


def server_vad_defaults(conversation: bool) -> dict[str, Json]:
    """OpenAI's documented server_vad defaults (response knobs only in conversation sessions)."""
    return schema.server_vad(conversation)


def default_realtime_session(session_id: str, model: str, expires_at: int) -> dict[str, Json]:
    """The ``session.created`` object of a fresh voice-agent session."""
    return schema.realtime_session(session_id, model, expires_at, instructions=DEFAULT_INSTRUCTIONS)


def default_transcription_session(session_id: str, expires_at: int) -> dict[str, Json]:
    """The ``session.created`` object of a fresh transcription session."""
    return schema.transcription_session(session_id, expires_at)


def apply_update(current: dict[str, Json], patch: Json, *, audio_produced: bool = False
                 ) -> dict[str, Json] | Problem:
    """Merge a ``session.update`` payload into ``current`` (only the fields present change)."""
    if not isinstance(patch, dict):
        return Problem("missing_required_parameter", "session", "Missing required parameter: 'session'.")
    kind = patch.get("type")
    if kind is None:
        return Problem("missing_required_parameter", "session.type",
                       "Missing required parameter: 'session.type'.")
    problem = _check_kind(current, kind)
    if problem is not None:
        return problem
    conversation = current["type"] == "realtime"
    allowed = _REALTIME_KEYS if conversation else _TRANSCRIPTION_KEYS
    unknown = sorted(set(patch) - allowed)
    if unknown:
        return _unknown(f"session.{unknown[0]}")
    updated = copy.deepcopy(current)
    for key, value in patch.items():
        result = _apply_key(updated, key, value, conversation, audio_produced)
        if result is not None:
            return result
    return _check_transcription_rules(updated, conversation, patch)


def _check_kind(current: dict[str, Json], kind: Json) -> Problem | None:
    """Session type cannot change; conversation → transcription is OpenAI's fatal invalid_model."""
    if kind == current["type"]:
        return None
    if kind == "transcription" and current["type"] == "realtime":
        return Problem("invalid_model",
                       "session.type", f"Model \"{current.get('model')}\" is not supported in transcription "
                       "mode. Connect with ?intent=transcription and no model to transcribe.", fatal=True)
    return Problem("invalid_value", "session.type",
                   f"Invalid value for 'session.type': this is a {current['type']} session, "
                   f"cannot switch to {kind!r}.")


def _apply_key(session: dict[str, Json], key: str, value: Json, conversation: bool,
               audio_produced: bool) -> Problem | None:
    """Validate and store one top-level field."""
    checks = {
        "model": lambda: None if value in (session.get("model"), None) else _invalid(
            "session.model", "the model cannot be changed after the session is created."),
        "instructions": lambda: None if isinstance(value, str)
        else _invalid("session.instructions", "expected a string."),
        "output_modalities": lambda: None if value in (["audio"], ["text"]) else _invalid(
            "session.output_modalities", "expected [\"audio\"] or [\"text\"]."),
        "tools": lambda: check_tools(value, "session.tools"),
        "tool_choice": lambda: check_tool_choice(value, "session.tool_choice"),
        "prompt": lambda: check_prompt(value, "session.prompt"),
        "max_output_tokens": lambda: check_max_tokens(value, "session.max_output_tokens"),
    }
    problem = checks[key]() if key in checks else None
    if problem is not None:
        return problem
    if key == "model":
        return None
    if key == "audio":
        return _apply_audio(session, value, conversation, audio_produced)
    session[key] = value
    return None


def _apply_audio(session: dict[str, Json], value: Json, conversation: bool, audio_produced: bool
                 ) -> Problem | None:
    """Merge ``audio.input`` / ``audio.output`` field by field."""
    if not isinstance(value, dict):
        return _invalid("session.audio", "expected an object.")
    sides = {"input": _INPUT_KEYS, "output": _OUTPUT_KEYS} if conversation else {"input": _INPUT_KEYS}
    unknown = sorted(set(value) - set(sides))
    if unknown:
        return _unknown(f"session.audio.{unknown[0]}")
    audio = session["audio"]
    assert isinstance(audio, dict)
    for side, patch in value.items():
        if not isinstance(patch, dict):
            return _invalid(f"session.audio.{side}", "expected an object.")
        unknown = sorted(set(patch) - sides[side])
        if unknown:
            return _unknown(f"session.audio.{side}.{unknown[0]}")
        target = audio[side]
        assert isinstance(target, dict)
        for key, field in patch.items():
            problem = _apply_audio_field(target, side, key, field, conversation, audio_produced)
            if problem is not None:
                return problem
    return None


def _apply_audio_field(target: dict[str, Json], side: str, key: str, value: Json, conversation: bool,
                       audio_produced: bool) -> Problem | None:
    """Validate and store one ``audio.<side>.<key>`` field."""
    param = f"session.audio.{side}.{key}"
    if key == "format":
        fmt = format_from_json(value)
        if fmt is None:
            return _invalid(param, "expected {\"type\":\"audio/pcm\",\"rate\":24000}, "
                                   "{\"type\":\"audio/pcmu\"} or {\"type\":\"audio/pcma\"}.")
        value = fmt.to_json()
    elif key == "turn_detection":
        parsed = _turn_detection(value, param, conversation)
        if isinstance(parsed, Problem):
            return parsed
        value = parsed
    elif key == "transcription":
        problem = _check_transcription(value, param)
        if problem is not None:
            return problem
    elif key == "voice":
        if audio_produced and value != target.get("voice"):
            return _invalid(param, "cannot change the voice once the model has responded with audio.")
        if not (value in VOICES or (isinstance(value, dict) and isinstance(value.get("id"), str))):
            return _invalid(param, f"expected one of {sorted(VOICES)} or {{\"id\": \"voice_…\"}}.")
    elif key == "speed" and not (isinstance(value, (int, float)) and 0.25 <= value <= 1.5):
        return _invalid(param, "expected a number between 0.25 and 1.5.")
    target[key] = value
    return None


def _turn_detection(value: Json, param: str, conversation: bool) -> Json | Problem:
    """Fill a turn-detection object with defaults for its type; ``None`` turns VAD off."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("server_vad", "semantic_vad"):
        return _invalid(param, "expected null or an object of type server_vad or semantic_vad.")
    filled = schema.turn_detection_defaults(value["type"], conversation)
    filled.update(value)
    threshold = filled.get("threshold", schema.VAD_THRESHOLD)
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        return _invalid(f"{param}.threshold", "expected a number between 0 and 1.")
    return filled


def _check_transcription(value: Json, param: str) -> Problem | None:
    """Input transcription must be ``null`` or name a known ASR model with known fields."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return _invalid(param, "expected an object or null.")
    unknown = sorted(set(value) - _TRANSCRIPTION_FIELDS)
    if unknown:
        return _unknown(f"{param}.{unknown[0]}")
    if value.get("model") not in TRANSCRIPTION_MODELS:
        return _invalid(f"{param}.model", f"unsupported transcription model {value.get('model')!r}.")
    if "language" in value and "languages" in value:
        return _invalid(param, "send either 'language' or 'languages', not both.")
    return None


def _check_transcription_rules(session: dict[str, Json], conversation: bool, patch: dict[str, Json]
                               ) -> dict[str, Json] | Problem:
    """Model-specific rules of transcription sessions (whisper: no VAD, no prompt)."""
    if conversation:
        return session
    audio_in = as_dict(member(session, "audio", "input"))
    asr = as_dict(audio_in.get("transcription"))
    if asr.get("model") != "gpt-realtime-whisper":
        return session
    param = "session.audio.input.turn_detection"
    if member(patch, "audio", "input", "turn_detection") is not None:
        return _invalid(param, "gpt-realtime-whisper does not support VAD; set turn_detection to null.")
    if asr.get("prompt"):
        return _invalid("session.audio.input.transcription.prompt", "not supported by gpt-realtime-whisper.")
    audio_in["turn_detection"] = None
    return session


def check_tool_choice(value: Json, param: str) -> Problem | None:
    """``none``/``auto``/``required`` or a forced function/MCP tool."""
    if value in ("none", "auto", "required"):
        return None
    if isinstance(value, dict) and value.get("type") in ("function", "mcp") and isinstance(value.get("name"), str):
        return None
    return _invalid(param, "expected 'none', 'auto', 'required' or {\"type\":\"function\",\"name\":…}.")


def check_max_tokens(value: Json, param: str) -> Problem | None:
    """An integer 1..4096 or ``"inf"``."""
    if value == "inf" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096):
        return None
    return _invalid(param, "expected an integer between 1 and 4096, or 'inf'.")


def semantic_silence_ms(turn_detection: dict[str, Json]) -> int:
    """Silence a semantic_vad session waits for, by eagerness (the emulator has no turn model)."""
    eagerness = turn_detection.get("eagerness", "auto")
    return _SEMANTIC_SILENCE_MS.get(eagerness if isinstance(eagerness, str) else "auto", 700)


def _invalid(param: str, detail: str) -> Problem:
    """An ``invalid_value`` problem."""
    return Problem("invalid_value", param, f"Invalid value for '{param}': {detail}")


def _unknown(param: str) -> Problem:
    """An ``unknown_parameter`` problem."""
    return Problem("unknown_parameter", param, f"Unknown parameter: '{param}'.")


#: saved prompts (the ``prompt`` reference) were shut down on this day
PROMPT_SHUTDOWN: Final = "2026-11-30"


def check_prompt(value: Json, param: str) -> Problem | None:
    """A saved-prompt reference is refused since its shutdown; ``null`` is accepted.

    What the real service answers after the shutdown is unconfirmed; the emulator answers like any
    removed parameter (``unknown_parameter``).
    """
    if value is None:
        return None
    return Problem("unknown_parameter", param, f"Unknown parameter: '{param}'. Saved prompts were shut down on "
                   f"{PROMPT_SHUTDOWN}; send the text as 'instructions'.")


_FUNCTION_TOOL_KEYS: Final = frozenset({"type", "name", "description", "parameters"})
#: MCP tool fields of the openai 3.63 types (``tunnel_id``/``allowed_callers`` new; ``connector_id``
#: deprecated for models released after 2026-09-01, which no realtime model is yet)
_MCP_TOOL_KEYS: Final = frozenset({
    "type", "server_label", "server_url", "connector_id", "tunnel_id", "authorization", "headers",
    "allowed_tools", "allowed_callers", "require_approval", "server_description", "defer_loading"})
_MCP_TARGETS: Final = ("server_url", "connector_id", "tunnel_id")


def check_tools(value: Json, param: str) -> Problem | None:
    """Tools are function tools (``name``) or MCP tools (``server_label`` and one of url/connector/tunnel)."""
    tools = [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []
    if not isinstance(value, list) or len(tools) != len(value):
        return _invalid(param, "expected an array of tool objects.")
    for index, tool in enumerate(tools):
        problem = _check_tool(tool, f"{param}[{index}]")
        if problem is not None:
            return problem
    return None


def _check_tool(tool: dict[str, Json], param: str) -> Problem | None:
    kind = tool.get("type", "function")
    if kind not in ("function", "mcp"):
        return _invalid(f"{param}.type", "expected 'function' or 'mcp'.")
    allowed = _FUNCTION_TOOL_KEYS if kind == "function" else _MCP_TOOL_KEYS
    unknown = sorted(set(tool) - allowed)
    if unknown:
        return _unknown(f"{param}.{unknown[0]}")
    if kind == "function":
        return None if isinstance(tool.get("name"), str) else _invalid(f"{param}.name", "expected a string.")
    if not isinstance(tool.get("server_label"), str):
        return _invalid(f"{param}.server_label", "expected a string.")
    if not any(isinstance(tool.get(key), str) for key in _MCP_TARGETS):
        return _invalid(param, "one of 'server_url', 'connector_id' or 'tunnel_id' must be provided.")
    callers = tool.get("allowed_callers")
    if callers is not None and not (isinstance(callers, list) and set(callers) <= {"direct", "programmatic"}):
        return _invalid(f"{param}.allowed_callers", "expected a list of 'direct' and 'programmatic'.")
    return None
