"""A translation client served by a voice-agent model: :class:`TranslationOverAgent`.

The voice agent is told to act as an interpreter into the target language (server VAD answers each
utterance; the speaker does not interrupt the interpretation); the client keeps receiving the seven
translation events. Mapping table: ``docs/handoff.md``, "Kinds across a handoff".

Known gaps: audio not yet committed by VAD when the client sends ``session.close`` is not flushed
(the bridge answers ``session.closed`` once the response in flight is done); the agent's conversation
grows with every utterance (its input tokens are billed at the agent's price, as metered).
"""

from __future__ import annotations

import copy
import math
from typing import Final

from gateway.core import session_schema as schema
from gateway.core.errors import InvalidRequest, UnknownEventType
from gateway.core.jsontypes import JsonObject, as_object
from gateway.core.kind_bridges.base import KindBridge, b64_size, keep_event_id
from gateway.core.kind_bridges.turns import PCM_BYTES_PER_S, Ids
from gateway.core.kinds import SessionKind

#: language names for the interpreter's instructions (translation's output languages; others by code)
_LANGUAGE_NAMES: Final = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "ja": "Japanese", "ru": "Russian",
    "zh": "Chinese", "de": "German", "ko": "Korean", "hi": "Hindi", "id": "Indonesian", "vi": "Vietnamese",
    "it": "Italian",
}
#: the fields a translation ``session.update`` may change, per audio side (as the API checks them)
_UPDATABLE: Final = {"input": frozenset({"noise_reduction", "transcription"}), "output": frozenset({"language"})}
#: voice-agent events that carry output or input text for the translation client; the rest are swallowed
_OUTPUT_TEXT: Final = frozenset({"response.output_audio_transcript.delta", "response.output_text.delta"})


def interpreter_instructions(language: str) -> str:
    """What a voice-agent model is told so that it acts as a translation model into ``language``."""
    name = _LANGUAGE_NAMES.get(language, language)
    return (f"You are a simultaneous interpreter. Translate everything the user says into {name}. "
            "Speak only the translation, in the first person, as the speaker would; never answer, "
            "comment, greet or add anything of your own.")


def agent_opening(language: str, transcription: object = None, noise_reduction: object = None) -> JsonObject:
    """The voice-agent ``session.update`` body that makes the model a translation model into ``language``."""
    vad = schema.server_vad(conversation=True)
    vad["interrupt_response"] = False
    audio_in: JsonObject = {"format": schema.pcm_format(), "turn_detection": vad}
    if transcription is not None:
        audio_in["transcription"] = transcription
    if noise_reduction is not None:
        audio_in["noise_reduction"] = noise_reduction
    return {"type": "realtime", "instructions": interpreter_instructions(language), "output_modalities": ["audio"],
            "tools": [], "audio": {"input": audio_in, "output": {"format": schema.pcm_format()}}}


class TranslationOverAgent(KindBridge):
    """A translation client on a voice-agent upstream: appends and config go up; audio and transcripts come down."""

    client_kind = SessionKind.TRANSLATION
    upstream_kind = SessionKind.REALTIME

    def __init__(self, *, language: str | None = None, seed: int | None = None) -> None:
        self.ids = Ids(seed)
        self.language = language or schema.DEFAULT_TRANSLATION_LANGUAGE
        self.view: JsonObject = schema.merged(schema.translation_session(self.ids.new("sess"), "", 0), {})
        as_object(as_object(self.view["audio"])["output"])["language"] = self.language
        self._input_bytes = 0
        self._responses: set[str] = set()
        self._transcribed: set[str] = set()
        self._closing = False
        self._outbox: list[JsonObject] = []

    def _event(self, event_type: str, **fields: object) -> JsonObject:
        return {"type": event_type, "event_id": self.ids.new("event"), **fields}

    # --- client → upstream ------------------------------------------------------------------------

    def to_upstream(self, event: JsonObject) -> list[JsonObject]:
        event_type = event.get("type")
        if event_type == "session.input_audio_buffer.append":
            audio = event.get("audio")
            if not isinstance(audio, str):
                raise InvalidRequest("'audio' must be a base64 string.", param="audio")
            if self._closing:
                raise InvalidRequest("The session is closing; no more audio is accepted.", param="type")
            self._input_bytes += b64_size(audio)
            return [keep_event_id({"type": "input_audio_buffer.append", "audio": audio}, event)]
        if event_type == "session.update":
            return [keep_event_id({"type": "session.update", "session": self._update(event.get("session"))}, event)]
        if event_type == "session.close":
            self._closing = True
            if not self._responses:
                self._outbox.append(self._event("session.closed"))
            return []
        raise UnknownEventType(f"Invalid value: '{event_type}'. Supported values are: session.update, "
                               "session.input_audio_buffer.append, session.close.")

    def _update(self, patch: object) -> JsonObject:
        """A translation update (checked as the translation API checks it) → the voice-agent update."""
        if not isinstance(patch, dict):
            raise InvalidRequest("Missing required parameter: 'session'.", param="session")
        for key in patch:
            if key != "audio":
                raise InvalidRequest(f"Unknown parameter: 'session.{key}'.", param=f"session.{key}")
        for side, fields in as_object(patch.get("audio")).items():
            allowed = _UPDATABLE.get(side)
            if allowed is None or not isinstance(fields, dict):
                raise InvalidRequest(f"Unknown parameter: 'session.audio.{side}'.", param=f"session.audio.{side}")
            for key in fields:
                if key not in allowed:
                    raise InvalidRequest(f"Unknown parameter: 'session.audio.{side}.{key}'.",
                                         param=f"session.audio.{side}.{key}")
        audio = as_object(patch.get("audio"))
        view_audio = as_object(self.view["audio"])
        for side in ("input", "output"):
            as_object(view_audio[side]).update(copy.deepcopy(as_object(audio.get(side))))
        language = as_object(audio.get("output")).get("language")
        if isinstance(language, str) and language:
            self.language = language
        audio_in = as_object(audio.get("input"))
        update: JsonObject = {"type": "realtime", "instructions": interpreter_instructions(self.language)}
        upstream_in = {k: audio_in[k] for k in ("transcription", "noise_reduction") if k in audio_in}
        if upstream_in:
            update["audio"] = {"input": upstream_in}
        return update

    # --- upstream → client ------------------------------------------------------------------------

    def to_client(self, event: JsonObject, now: float) -> list[JsonObject]:
        out = self._drain()
        event_type = event.get("type")
        if event_type == "response.output_audio.delta":
            out.append(self._event("session.output_audio.delta", delta=event.get("delta"), format="pcm16",
                                   sample_rate=24000, channels=1, elapsed_ms=self._elapsed_ms()))
        elif event_type in _OUTPUT_TEXT and isinstance(event.get("delta"), str):
            out.append(self._event("session.output_transcript.delta", delta=event["delta"],
                                   elapsed_ms=self._elapsed_ms()))
        elif event_type == "conversation.item.input_audio_transcription.delta" and isinstance(event.get("delta"), str):
            self._transcribed.add(str(event.get("item_id")))
            out.append(self._event("session.input_transcript.delta", delta=event["delta"], elapsed_ms=self._elapsed_ms()))
        elif event_type == "conversation.item.input_audio_transcription.completed":
            out += self._transcription_completed(event)
        elif event_type in ("session.created", "session.updated"):
            model = as_object(event.get("session")).get("model")
            if isinstance(model, str) and model:
                self.view["model"] = model
            out.append(self._event("session.updated", session=copy.deepcopy(self.view)))
        elif event_type == "response.created":
            self._responses.add(str(as_object(event.get("response")).get("id")))
        elif event_type == "response.done":
            self._responses.discard(str(as_object(event.get("response")).get("id")))
            if self._closing and not self._responses:
                out.append(self._event("session.closed"))
        elif event_type == "error":
            out.append(event)
        # everything else (items, content parts, VAD, rate limits, tool calls) has no translation form
        return out

    def _transcription_completed(self, event: JsonObject) -> list[JsonObject]:
        """A transcription that arrived whole (no deltas) still reaches the client as one delta."""
        item_id = str(event.get("item_id"))
        transcript = event.get("transcript")
        if item_id in self._transcribed or not isinstance(transcript, str) or not transcript:
            self._transcribed.discard(item_id)
            return []
        return [self._event("session.input_transcript.delta", delta=transcript, elapsed_ms=self._elapsed_ms())]

    def _elapsed_ms(self) -> int:
        """Input time so far in translation's 200 ms steps (alignment metadata, not an id)."""
        return self._input_bytes * 1000 // PCM_BYTES_PER_S // 200 * 200

    def poll(self, now: float) -> list[JsonObject]:
        return self._drain()

    @property
    def due_at(self) -> float | None:
        return -math.inf if self._outbox else None

    def _drain(self) -> list[JsonObject]:
        out, self._outbox = self._outbox, []
        return out
