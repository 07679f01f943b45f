"""Session configurations a client secret may carry, validated as OpenAI's GA request shapes.

Pydantic models (``extra="forbid"``) mirroring ``RealtimeSessionCreateRequestParam``,
``RealtimeTranscriptionSessionCreateRequestParam`` and ``RealtimeTranslationSessionCreateRequestParam``,
plus the effective session objects returned with a secret (OpenAI's documented defaults filled in).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.core.errors import InvalidRequest

from gateway.core import session_schema as schema
from gateway.core.jsontypes import JsonObject, as_object, member


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """Objects the gateway passes through without checking every field (tools on MCP servers, prompts)."""

    model_config = ConfigDict(extra="allow")


class Pcm(_Strict):
    type: Literal["audio/pcm"]
    rate: Literal[24000] = 24000

    @model_validator(mode="before")
    @classmethod
    def _rate(cls, data: object) -> object:
        return {"rate": 24000, **data} if isinstance(data, dict) else data


class Pcmu(_Strict):
    type: Literal["audio/pcmu"]


class Pcma(_Strict):
    type: Literal["audio/pcma"]


AudioFormat = Annotated[Union[Pcm, Pcmu, Pcma], Field(discriminator="type")]


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"]
    strength: float | None = Field(None, ge=0)


class Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    languages: list[str] | None = None
    prompt: str | None = None
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None
    keywords: list[str] | None = None


class ServerVad(_Strict):
    type: Literal["server_vad"]
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: int | None = Field(None, ge=0)
    prefix_padding_ms: int | None = Field(None, ge=0)
    silence_duration_ms: int | None = Field(None, ge=0)
    threshold: float | None = Field(None, ge=0, le=1)


class SemanticVad(_Strict):
    type: Literal["semantic_vad"]
    create_response: bool | None = None
    interrupt_response: bool | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


TurnDetection = Annotated[Union[ServerVad, SemanticVad], Field(discriminator="type")]


class AudioInput(_Strict):
    format: AudioFormat | None = None
    noise_reduction: NoiseReduction | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = None


class VoiceId(_Strict):
    id: str


class AudioOutput(_Strict):
    format: AudioFormat | None = None
    speed: float | None = Field(None, ge=0.25, le=1.5)
    voice: str | VoiceId | None = None


class RealtimeAudio(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(_Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: JsonObject | None = None


class McpTool(_Open):
    type: Literal["mcp"]
    server_label: str


Tool = Annotated[Union[FunctionTool, McpTool], Field(discriminator="type")]


class ToolChoiceFunction(_Strict):
    type: Literal["function"]
    name: str


class ToolChoiceMcp(_Strict):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


class TracingConfig(_Strict):
    group_id: str | None = None
    metadata: JsonObject | None = None
    workflow_name: str | None = None


class RetentionRatio(_Open):
    type: Literal["retention_ratio"]
    retention_ratio: float = Field(ge=0, le=1)


class Prompt(_Strict):
    id: str
    variables: JsonObject | None = None
    version: str | None = None


class Reasoning(_Strict):
    effort: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None


class RealtimeSessionRequest(_Strict):
    type: Literal["realtime"]
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["text", "audio"]] | None = Field(None, min_length=1, max_length=1)
    audio: RealtimeAudio | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | ToolChoiceMcp | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=4096)] | Literal["inf"] | None = None
    tracing: Literal["auto"] | TracingConfig | None = None
    truncation: Literal["auto", "disabled"] | RetentionRatio | None = None
    prompt: Prompt | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    reasoning: Reasoning | None = None
    parallel_tool_calls: bool | None = None


class TranscriptionAudio(_Strict):
    input: AudioInput | None = None


class TranscriptionSessionRequest(_Strict):
    type: Literal["transcription"]
    audio: TranscriptionAudio | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


class TranslationTranscription(_Strict):
    model: str


class TranslationInput(_Strict):
    noise_reduction: NoiseReduction | None = None
    transcription: TranslationTranscription | None = None


class TranslationOutput(_Strict):
    language: str | None = None


class TranslationAudio(_Strict):
    input: TranslationInput | None = None
    output: TranslationOutput | None = None


class TranslationSessionRequest(_Strict):
    model: str
    audio: TranslationAudio | None = None


SessionRequest = Annotated[Union[RealtimeSessionRequest, TranscriptionSessionRequest], Field(discriminator="type")]


class ExpiresAfter(_Strict):
    anchor: Literal["created_at"] = "created_at"
    seconds: int = Field(600, ge=10, le=7200)


class ClientSecretRequest(_Strict):
    """``POST /v1/realtime/client_secrets``: the session defaults to a realtime session."""

    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: SessionRequest = Field(default_factory=lambda: RealtimeSessionRequest(type="realtime"))


class TranslationClientSecretRequest(_Strict):
    """``POST /v1/realtime/translations/client_secrets``: the session is required."""

    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: TranslationSessionRequest


# --- errors in OpenAI's shape ----------------------------------------------------------------------


class UnknownParameter(InvalidRequest):
    code = "unknown_parameter"


class InvalidValue(InvalidRequest):
    code = "invalid_value"


class MissingParameter(InvalidRequest):
    code = "missing_required_parameter"


def request_error(exc: ValidationError, body: object) -> InvalidRequest:
    """The first validation problem as a client-safe error naming the parameter (``session.audio…``)."""
    first = exc.errors(include_url=False)[0]
    param = _param(first["loc"], body)
    kind = first["type"]
    if kind == "extra_forbidden":
        return UnknownParameter(f"Unknown parameter: '{param}'.", param=param)
    if kind == "missing":
        return MissingParameter(f"Missing required parameter: '{param}'.", param=param)
    return InvalidValue(f"Invalid value for '{param}': {first['msg']}.", param=param)


def _param(loc: tuple[int | str, ...], body: object) -> str | None:
    """Follow the error location through the request body; parts that are not in it are union tags."""
    parts: list[str] = []
    current = body
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            parts.append(f".{part}")
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            parts.append(f"[{part}]")
            current = current[part]
        elif index == len(loc) - 1 and isinstance(current, dict):
            parts.append(f".{part}")
    return "".join(parts).lstrip(".") or None


# --- effective sessions -----------------------------------------------------------------------------

def effective_realtime(requested: JsonObject, session_id: str, model: str) -> JsonObject:
    """The ``realtime.session`` object OpenAI returns for this request (defaults filled in)."""
    session = schema.merged(schema.realtime_session(session_id, model, 0), {k: v for k, v in requested.items() if k != "model"})
    audio_in = as_object(member(session, "audio", "input"))
    audio_in["turn_detection"] = schema.with_turn_detection_defaults(audio_in.get("turn_detection"), conversation=True)
    return session


def effective_transcription(requested: JsonObject, session_id: str) -> JsonObject:
    """The ``realtime.transcription_session`` object for this request."""
    session = schema.merged(schema.transcription_session(session_id, 0), requested)
    audio_in = as_object(member(session, "audio", "input"))
    audio_in["turn_detection"] = schema.with_turn_detection_defaults(audio_in.get("turn_detection"), conversation=False)
    return session


def effective_translation(requested: JsonObject, session_id: str, model: str, expires_at: int) -> JsonObject:
    """The ``RealtimeTranslationSession`` object for this request."""
    return schema.merged(schema.translation_session(session_id, model, expires_at), {k: v for k, v in requested.items() if k != "model"})


def dump(model: BaseModel) -> JsonObject:
    """What the client set (nothing the models defaulted), as plain JSON."""
    return model.model_dump(mode="json", exclude_unset=True)
