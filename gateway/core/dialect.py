"""Beta ⇄ GA translation, so clients of the retired beta Realtime interface keep working.

OpenAI shut the beta interface (``OpenAI-Beta: realtime=v1``) down on 2026-05-12; the gateway
always speaks GA upstream and, for a beta client, rewrites every client event beta → GA and
every server event GA → beta. Both functions return the *same object* when nothing changes
(the session core uses identity to decide whether to re-encode), ``None`` to drop an event,
and a new dict otherwise; nested values are shared, never mutated.

Client events dropped (no GA equivalent): none — every beta client event has a GA form.
Client fields dropped: ``temperature`` (not in GA), ``model`` (chosen by the URL and the router,
and GA refuses to change it), ``client_secret`` (REST-only), ``modalities`` of a transcription
session (GA transcription sessions have no output). Unknown top-level session/response fields
are forwarded, so GA-only settings (``reasoning``, ``truncation``, …) still work and typos get the
upstream's own error.

Server events dropped (``_DROPPED``): ``conversation.item.done`` (beta announced items once, as
``conversation.item.created``; the final item also arrives as ``response.output_item.done``),
``input_audio_buffer.timeout_triggered`` (idle timeouts are GA-only config; the response it
starts still arrives), ``input_audio_buffer.dtmf_event_received`` (SIP only),
``conversation.item.input_audio_transcription.segment`` (diarization, GA-only), the MCP events
(beta had no MCP tools), and ``conversation.created`` on transcription sessions (the beta server
never sent it there). Unknown GA events pass through unchanged (forward compatibility).

Deviation worth knowing: the beta *response* object names its limit ``max_output_tokens``
(only the beta session and ``response.create`` used ``max_response_output_tokens``), so that
field keeps its name in ``response.created``/``response.done``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from gateway.core import session_schema as schema
from gateway.core.errors import InvalidRequest
from gateway.core.kinds import SessionKind

from gateway.core.jsontypes import JsonObject

BETA_SUBPROTOCOL: Final = "openai-beta.realtime-v1"
BETA_HEADER_VALUE: Final = "realtime=v1"

#: GA → beta names of the delta events the relay renames in large frames without parsing
BETA_HOT_RENAMES: Final[dict[bytes, bytes]] = {
    b"response.output_audio.delta": b"response.audio.delta",
    b"response.output_audio_transcript.delta": b"response.audio_transcript.delta",
    b"response.output_text.delta": b"response.text.delta",
}

#: GA → beta names of events whose payload is otherwise identical
_PLAIN_RENAMES: Final[dict[str, str]] = {
    **{k.decode(): v.decode() for k, v in BETA_HOT_RENAMES.items()},
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.done": "response.text.done",
}

_DROPPED: Final = frozenset(
    {
        "conversation.item.done",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "conversation.item.input_audio_transcription.segment",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
    }
)

_GA_FORMATS: Final[dict[str, JsonObject]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_BETA_FORMATS: Final[dict[str, str]] = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}

_VAD_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "server_vad": schema.SERVER_VAD_FIELDS,
    "semantic_vad": schema.SEMANTIC_VAD_FIELDS,
}
_TOOL_CHOICE_MODES: Final = frozenset({"auto", "none", "required"})

#: beta assistant content types → GA, and back (GA content parts of server events too)
_CONTENT_TO_GA: Final = {"text": "output_text", "audio": "output_audio"}
_CONTENT_TO_BETA: Final = {"output_text": "text", "output_audio": "audio"}

#: beta session fields whose JSON ``null`` means "turn off", so it must reach GA as ``null``
_INPUT_FIELDS: Final[dict[str, str]] = {
    "input_audio_transcription": "transcription",
    "input_audio_noise_reduction": "noise_reduction",
    "turn_detection": "turn_detection",
}
_SESSION_DROPPED: Final = frozenset({"temperature", "model", "client_secret", "id", "object", "expires_at"})


def is_beta_handshake(headers: Mapping[str, str], subprotocols: Sequence[str]) -> bool:
    """Whether a WebSocket handshake asks for the beta dialect (header names lower-cased)."""
    header = headers.get("openai-beta", "")
    if any(part.strip().lower() == BETA_HEADER_VALUE for part in header.split(",")):
        return True
    return any(p.strip() == BETA_SUBPROTOCOL for p in subprotocols)


# --- client → upstream -------------------------------------------------------------------------


def beta_client_event_to_ga(event: dict[str, object], kind: SessionKind) -> dict[str, object] | None:
    """Translate one beta client event to GA (same object when the names and shapes agree)."""
    if kind is SessionKind.TRANSLATION:
        raise InvalidRequest("The beta Realtime dialect is not available for translation sessions.")
    event_type = event.get("type")
    if event_type == "session.update":
        return {**event, "session": _session_to_ga(_object(event.get("session"), "session"), kind)}
    if event_type == "transcription_session.update":
        session = _session_to_ga(_object(event.get("session"), "session"), SessionKind.TRANSCRIPTION)
        return {**event, "type": "session.update", "session": session}
    if event_type == "response.create" and event.get("response") is not None:
        return {**event, "response": _response_params_to_ga(_object(event["response"], "response"))}
    if event_type == "conversation.item.create":
        return {**event, "item": _item_to_ga(_object(event.get("item"), "item"), "item")}
    return event


def _object(value: object, param: str) -> Mapping[str, object]:
    """The value as a JSON object, or a client-safe refusal naming the field."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    return value


def _session_to_ga(beta: Mapping[str, object], kind: SessionKind) -> JsonObject:
    """Flat beta session config → nested GA config of the session's type."""
    transcription = kind is SessionKind.TRANSCRIPTION
    ga: JsonObject = {"type": "transcription" if transcription else "realtime"}
    audio_in: JsonObject = {}
    audio_out: JsonObject = {}
    for key, value in beta.items():
        if key in _INPUT_FIELDS:
            audio_in[_INPUT_FIELDS[key]] = _turn_detection_to_ga(value) if key == "turn_detection" else value
        elif key == "input_audio_format":
            audio_in["format"] = _format_to_ga(value, f"session.{key}")
        elif key in _SESSION_DROPPED or key == "type" or value is None and key != "tracing":
            continue
        elif transcription:
            if key in ("include", "audio"):
                ga[key] = value
            # every other field configures responses, which a transcription session has none of
        elif key in ("voice", "speed"):
            audio_out[key] = value
        elif key == "output_audio_format":
            audio_out["format"] = _format_to_ga(value, f"session.{key}")
        else:
            _response_field_to_ga(ga, key, value, "session")
    _merge_audio(ga, audio_in, audio_out)
    return ga


def _response_params_to_ga(beta: Mapping[str, object]) -> JsonObject:
    """Beta ``response.create`` overrides → GA ``RealtimeResponseCreateParams``."""
    ga: JsonObject = {}
    audio_out: JsonObject = {}
    for key, value in beta.items():
        if key == "temperature" or value is None:
            continue
        if key == "voice":
            audio_out["voice"] = value
        elif key == "output_audio_format":
            audio_out["format"] = _format_to_ga(value, f"response.{key}")
        elif key == "input":
            ga["input"] = [_item_to_ga(_object(item, "response.input"), "response.input") for item in _list(value, "response.input")]
        else:
            _response_field_to_ga(ga, key, value, "response")
    _merge_audio(ga, {}, audio_out)
    return ga


def _response_field_to_ga(ga: JsonObject, key: str, value: object, scope: str) -> None:
    """Fields shared by the beta session and ``response.create``; the rest are forwarded."""
    if key == "modalities":
        ga["output_modalities"] = _modalities_to_ga(value, f"{scope}.modalities")
    elif key == "max_response_output_tokens":
        ga["max_output_tokens"] = value
    elif key == "tool_choice":
        ga["tool_choice"] = _tool_choice_to_ga(value, f"{scope}.tool_choice")
    else:
        ga[key] = value


def _merge_audio(ga: JsonObject, audio_in: JsonObject, audio_out: JsonObject) -> None:
    """Put translated audio settings under ``audio`` (merged with any GA ``audio`` already sent)."""
    if not audio_in and not audio_out:
        return
    audio = dict(_object(ga.get("audio") or {}, "audio"))
    for side, values in (("input", audio_in), ("output", audio_out)):
        if values:
            audio[side] = {**_object(audio.get(side) or {}, f"audio.{side}"), **values}
    ga["audio"] = audio


def _format_to_ga(value: object, param: str) -> JsonObject:
    """``pcm16``/``g711_ulaw``/``g711_alaw`` → the GA format object (a fresh dict)."""
    found = _GA_FORMATS.get(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidRequest(f"Unsupported audio format {value!r}; use pcm16, g711_ulaw or g711_alaw.", param=param)
    return dict(found)


def _modalities_to_ga(value: object, param: str) -> list[str]:
    """GA allows one output modality: audio (which always carries a transcript) or text."""
    items = _list(value, param)
    if not items or any(m not in ("text", "audio") for m in items):
        raise InvalidRequest("'modalities' must be a non-empty list of 'text' and 'audio'.", param=param)
    return ["audio"] if "audio" in items else ["text"]


def _tool_choice_to_ga(value: object, param: str) -> object:
    """Beta tool choice: a mode, a bare function name, or the ``{type, name}`` object."""
    if isinstance(value, str):
        return value if value in _TOOL_CHOICE_MODES else {"type": "function", "name": value}
    if isinstance(value, dict):
        return value
    raise InvalidRequest("'tool_choice' must be a string or an object.", param=param)


def _turn_detection_to_ga(value: object) -> object:
    """Beta VAD config → GA: ``type`` is required in GA and each type takes its own fields."""
    if value is None:
        return None
    beta = _object(value, "session.turn_detection")
    vad = beta.get("type") or "server_vad"
    fields = _VAD_FIELDS.get(vad) if isinstance(vad, str) else None
    if fields is None:
        raise InvalidRequest(f"Unsupported turn detection type {vad!r}.", param="session.turn_detection.type")
    return {"type": vad, **{k: beta[k] for k in fields if beta.get(k) is not None}}


def _item_to_ga(item: Mapping[str, object], param: str) -> JsonObject:
    """Beta item → GA: ``type`` required, assistant content ``text``/``audio`` → ``output_*``."""
    ga = dict(item)
    if ga.get("type") is None and "role" in ga:
        ga["type"] = "message"
    if ga.get("type") is None:
        raise InvalidRequest("Conversation items need a 'type'.", param=f"{param}.type")
    if ga["type"] == "item_reference":
        return {"type": "item_reference", "id": ga.get("id")}
    content = ga.get("content")
    if ga["type"] == "message" and isinstance(content, list):
        assistant = ga.get("role") == "assistant"
        ga["content"] = [_content_to_ga(part, assistant, param) for part in content]
    return ga


def _content_to_ga(part: object, assistant: bool, param: str) -> object:
    """One content part beta → GA; content-level item references have no GA form."""
    if not isinstance(part, dict):
        return part
    part_type = part.get("type")
    if part_type == "item_reference":
        raise InvalidRequest("Content-level item references are not supported; reference whole items.", param=f"{param}.content")
    if assistant and isinstance(part_type, str) and part_type in _CONTENT_TO_GA:
        return {**part, "type": _CONTENT_TO_GA[part_type]}
    return part


def _list(value: object, param: str) -> list[object]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be a list.", param=param)
    return value


# --- upstream → client -------------------------------------------------------------------------


def ga_server_event_to_beta(event: dict[str, object], kind: SessionKind) -> dict[str, object] | None:
    """Translate one GA server event to beta (same object when unchanged, ``None`` to drop)."""
    if kind is SessionKind.TRANSLATION:
        return event
    event_type = event.get("type")
    if not isinstance(event_type, str):
        return event
    renamed = _PLAIN_RENAMES.get(event_type)
    if renamed is not None:
        return {**event, "type": renamed}
    if event_type in _DROPPED or event_type == "conversation.created" and kind is SessionKind.TRANSCRIPTION:
        return None
    handler = _SERVER_HANDLERS.get(event_type)
    return event if handler is None else handler(event, kind)


def _session_event(event: JsonObject, kind: SessionKind) -> JsonObject:
    session = event.get("session")
    if not isinstance(session, dict):
        return event
    session_type = session.get("type") or kind.value
    if session_type == "transcription":
        name = "transcription_session." + str(event["type"]).split(".", 1)[1]
        return {**event, "type": name, "session": _transcription_session_to_beta(session)}
    return {**event, "session": _session_to_beta(session)}


def _session_to_beta(ga: Mapping[str, object]) -> JsonObject:
    """GA realtime session object → the flat beta ``realtime.session`` object."""
    beta: JsonObject = {"object": "realtime.session"}
    for key, value in ga.items():
        if key in ("type", "object", "audio"):
            continue
        if key == "output_modalities":
            beta["modalities"] = _modalities_to_beta(value)
        elif key == "max_output_tokens":
            beta["max_response_output_tokens"] = value
        else:
            beta[key] = value
    audio = _mapping(ga.get("audio"))
    _input_to_beta(beta, _mapping(audio.get("input")))
    _output_to_beta(beta, _mapping(audio.get("output")), with_speed=True)
    return beta


def _transcription_session_to_beta(ga: Mapping[str, object]) -> JsonObject:
    """GA transcription session → beta ``realtime.transcription_session`` (no secret over WS)."""
    beta: JsonObject = {"object": "realtime.transcription_session"}
    for key in ("id", "expires_at", "include"):
        if key in ga:
            beta[key] = ga[key]
    _input_to_beta(beta, _mapping(_mapping(ga.get("audio")).get("input")))
    beta["client_secret"] = None
    return beta


def _input_to_beta(beta: JsonObject, audio_in: Mapping[str, object]) -> None:
    if "format" in audio_in:
        _set_format(beta, "input_audio_format", audio_in["format"])
    for beta_key, ga_key in _INPUT_FIELDS.items():
        if ga_key in audio_in:
            beta[beta_key] = audio_in[ga_key]


def _output_to_beta(beta: JsonObject, audio_out: Mapping[str, object], *, with_speed: bool) -> None:
    if "format" in audio_out:
        _set_format(beta, "output_audio_format", audio_out["format"])
    if "voice" in audio_out:
        voice = audio_out["voice"]
        beta["voice"] = voice.get("id") if isinstance(voice, dict) else voice
    if with_speed and "speed" in audio_out:
        beta["speed"] = audio_out["speed"]


def _set_format(beta: JsonObject, key: str, value: object) -> None:
    """GA format object → beta format name (left out when the format has no beta name)."""
    name = _BETA_FORMATS.get(str(value.get("type"))) if isinstance(value, dict) else None
    if name is not None:
        beta[key] = name


def _modalities_to_beta(value: object) -> object:
    """GA audio output always carries a transcript, which beta spelled ``["text", "audio"]``."""
    return ["text", "audio"] if value == ["audio"] else value


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _response_event(event: JsonObject, kind: SessionKind) -> JsonObject:
    response = event.get("response")
    if not isinstance(response, dict):
        return event
    beta: JsonObject = {}
    for key, value in response.items():
        if key == "output_modalities":
            beta["modalities"] = _modalities_to_beta(value)
        elif key == "output" and isinstance(value, list):
            beta["output"] = [_item_to_beta(item) for item in value]
        elif key != "audio":
            beta[key] = value
    _output_to_beta(beta, _mapping(_mapping(response.get("audio")).get("output")), with_speed=False)
    return {**event, "response": beta}


def _item_event(event: JsonObject, kind: SessionKind) -> JsonObject:
    item = event.get("item")
    converted = _item_to_beta(item)
    renamed = "conversation.item.created" if event["type"] == "conversation.item.added" else event["type"]
    if converted is item and renamed == event["type"]:
        return event
    return {**event, "type": renamed, "item": converted}


def _item_to_beta(item: object) -> object:
    """GA item → beta: content ``output_text``/``output_audio`` back to ``text``/``audio``."""
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(content, list):
        return item
    parts = [_part_to_beta(part) for part in content]
    if all(new is old for new, old in zip(parts, content)):
        return item
    return {**item, "content": parts}


def _part_to_beta(part: object) -> object:
    part_type = part.get("type") if isinstance(part, dict) else None
    if isinstance(part, dict) and isinstance(part_type, str) and part_type in _CONTENT_TO_BETA:
        return {**part, "type": _CONTENT_TO_BETA[part_type]}
    return part


def _part_event(event: JsonObject, kind: SessionKind) -> JsonObject:
    part = event.get("part")
    converted = _part_to_beta(part)
    return event if converted is part else {**event, "part": converted}


_SERVER_HANDLERS: Final[dict[str, Callable[[JsonObject, SessionKind], JsonObject]]] = {
    "session.created": _session_event,
    "session.updated": _session_event,
    "response.created": _response_event,
    "response.done": _response_event,
    "conversation.item.added": _item_event,
    "conversation.item.created": _item_event,
    "conversation.item.retrieved": _item_event,
    "response.output_item.added": _item_event,
    "response.output_item.done": _item_event,
    "response.content_part.added": _part_event,
    "response.content_part.done": _part_event,
}
