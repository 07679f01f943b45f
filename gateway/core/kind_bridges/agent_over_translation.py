"""A voice-agent (``realtime``) client served by a translation model: :class:`AgentOverTranslation`.

The client keeps speaking the realtime protocol (GA or beta); the upstream speaks translation's.
Mapping table: ``docs/handoff.md``, "Kinds across a handoff"; entry point
:func:`gateway.core.kind_bridge.bridge_for`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Final

from gateway.core import session_schema as schema
from gateway.core.dialect import beta_client_event_to_ga, ga_server_event_to_beta
from gateway.core.errors import InvalidRequest, NotServedByKind, ResponseCancelNotActive, UnknownEventType
from gateway.core.jsontypes import JsonObject, as_object
from gateway.core.kind_bridges.base import KindBridge, b64_size, is_pcm24, is_quiet, keep_event_id
from gateway.core.kind_bridges.turns import Ids, SynthesizedTurns
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.protocol import REALTIME_CLIENT_EVENTS
from gateway.core.session import refuse_retired_fields

#: a pause in the model's output this long closes the synthesized response (no "done" in translation)
DEFAULT_GAP_S: Final = 0.8
#: the fields of a GA realtime session object; any other is refused as the API does
_REALTIME_SESSION_FIELDS: Final = frozenset({
    "type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice", "max_output_tokens",
    "tracing", "truncation", "prompt", "include", "reasoning", "parallel_tool_calls", "id", "object", "expires_at",
})
#: response.create overrides that ask for something only a voice agent does (refused, not swallowed)
_AGENT_ONLY_RESPONSE_FIELDS: Final = ("input", "instructions", "tools", "tool_choice", "prompt", "reasoning")
_TRANSLATION: Final = "the session is now served by a translation model, which translates speech as it arrives"


class AgentOverTranslation(KindBridge):
    """A voice-agent (``realtime``) client served by a translation model.

    Client → upstream: audio appends become ``session.input_audio_buffer.append``; ``session.update``
    becomes the translation config (input transcription, noise reduction, and the bridge's extension
    ``audio.output.language``), realtime-only settings stay in the client's view of its session and
    are not sent; events a translation model cannot serve are refused (:class:`NotServedByKind`) or
    answered by the bridge itself. Upstream → client: output deltas inside a response of the bridge's
    own (closed after a pause of :data:`DEFAULT_GAP_S`), the source transcript as input transcription
    of a user item, session events as ``session.updated``, errors and unknown events unchanged.
    """

    client_kind = SessionKind.REALTIME
    upstream_kind = SessionKind.TRANSLATION

    def __init__(
        self,
        *,
        dialect: Dialect = Dialect.GA,
        client_session: Mapping[str, object] | None = None,
        language: str | None = None,
        seed: int | None = None,
        gap_s: float = DEFAULT_GAP_S,
        conversation_id: str | None = None,
    ) -> None:
        self.dialect = dialect
        self.language = language
        self.gap_s = gap_s
        ids = Ids(seed)
        self.view: JsonObject = schema.merged(client_session or schema.realtime_session(ids.new("sess"), "", 0), {})
        for side in ("input", "output"):
            fmt = as_object(as_object(self.view.get("audio")).get(side)).get("format")
            if fmt is not None and not is_pcm24(fmt):
                raise NotServedByKind(f"A translation model takes and gives PCM16 at 24 kHz only; this session's {side} "
                                      "audio is in another format.", param=f"session.audio.{side}.format")
        self.turns = SynthesizedTurns(ids, conversation_id or ids.new("conv"))
        self._sync_view()
        self._outbox: list[JsonObject] = []
        self._last_active = -math.inf
        self._last_input = -math.inf
        #: after a client's response.cancel, output is dropped until the speaker pauses
        self._muted = False

    # --- client → upstream ------------------------------------------------------------------------

    def to_upstream(self, event: JsonObject) -> list[JsonObject]:
        if self.dialect is Dialect.BETA:
            translated = beta_client_event_to_ga(event, SessionKind.REALTIME)
            if translated is None:
                return []
            event = translated
        event_type = event.get("type")
        if event_type == "input_audio_buffer.append":
            return [self._append(event)]
        if event_type == "session.update":
            return self._session_update(event)
        if not isinstance(event_type, str) or event_type not in REALTIME_CLIENT_EVENTS:
            raise UnknownEventType(f"Unknown event type '{event_type}'.")
        self._outbox += self._answer(event_type, event)
        return []

    def _append(self, event: JsonObject) -> JsonObject:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise InvalidRequest("'audio' must be a base64 string.", param="audio")
        self.turns.input_audio(b64_size(audio))
        return keep_event_id({"type": "session.input_audio_buffer.append", "audio": audio}, event)

    def _answer(self, event_type: str, event: JsonObject) -> list[JsonObject]:
        """Client events the bridge answers itself (nothing goes upstream), or refuses."""
        turns = self.turns
        if event_type == "input_audio_buffer.commit":
            # translation consumes audio continuously: nothing to commit; the user item stands for it
            user, added = turns.user_item()
            committed = turns.event("input_audio_buffer.committed", previous_item_id=user.previous_item_id,
                                    item_id=user.item_id)
            return [committed, *added]
        if event_type == "input_audio_buffer.clear":
            # audio already sent is being translated; there is no buffer to clear upstream
            return [turns.event("input_audio_buffer.cleared")]
        if event_type == "output_audio_buffer.clear":
            return []  # WebRTC/SIP playback buffer: this WebSocket session has none
        if event_type == "response.create":
            self._check_response_create(event)
            return []  # translation answers without being asked: the output arrives in a response of its own
        if event_type == "response.cancel":
            return self._cancel(event)
        if event_type == "conversation.item.truncate":
            return [self._truncated(event)]
        if event_type == "conversation.item.delete":
            item_id = event.get("item_id")
            if not isinstance(item_id, str):
                raise InvalidRequest("Missing required parameter: 'item_id'.", param="item_id")
            turns.known_items.discard(item_id)
            return [turns.event("conversation.item.deleted", item_id=item_id)]
        # conversation.item.create / conversation.item.retrieve
        raise NotServedByKind(f"'{event_type}' is not available: {_TRANSLATION} and keeps no conversation.", param="type")

    def _check_response_create(self, event: JsonObject) -> None:
        response = as_object(event.get("response"))
        refuse_retired_fields(event)
        asked = [k for k in _AGENT_ONLY_RESPONSE_FIELDS if response.get(k) is not None]
        if response.get("conversation") == "none":
            asked.append("conversation")
        if asked:
            raise NotServedByKind(f"'response.{asked[0]}' is not available: {_TRANSLATION}; it cannot answer a request.",
                                  param=f"response.{asked[0]}")

    def _cancel(self, event: JsonObject) -> list[JsonObject]:
        response = self.turns.response
        wanted = event.get("response_id")
        if response is None or isinstance(wanted, str) and wanted != response.response_id:
            raise ResponseCancelNotActive()
        self._muted = True
        return self.turns.close_user() + self.turns.close_response("cancelled", "client_cancelled")

    def _truncated(self, event: JsonObject) -> JsonObject:
        # nothing to cut server-side (translation keeps no transcript); the client's playback state is its own
        item_id, end_ms, index = event.get("item_id"), event.get("audio_end_ms"), event.get("content_index", 0)
        if not isinstance(item_id, str):
            raise InvalidRequest("Missing required parameter: 'item_id'.", param="item_id")
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            raise InvalidRequest("'audio_end_ms' must be a non-negative integer.", param="audio_end_ms")
        return self.turns.event("conversation.item.truncated", item_id=item_id,
                                content_index=index if isinstance(index, int) else 0, audio_end_ms=end_ms)

    def _session_update(self, event: JsonObject) -> list[JsonObject]:
        session = event.get("session")
        if not isinstance(session, dict):
            raise InvalidRequest("session.update needs a 'session' object.", param="session")
        refuse_retired_fields(event)
        if session.get("type", "realtime") != "realtime":
            raise NotServedByKind(f"A session of type '{session.get('type')}' is not available: {_TRANSLATION}.",
                                  param="session.type")
        unknown = sorted(k for k in session if k not in _REALTIME_SESSION_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unknown parameter: 'session.{unknown[0]}'.", param=f"session.{unknown[0]}")
        modalities = session.get("output_modalities")
        if modalities is not None and modalities not in (["audio"], ["text"]):
            raise InvalidRequest("'output_modalities' must be [\"audio\"] or [\"text\"].", param="session.output_modalities")
        audio = as_object(session.get("audio"))
        audio_in, audio_out = as_object(audio.get("input")), as_object(audio.get("output"))
        for side, values in (("input", audio_in), ("output", audio_out)):
            if "format" in values and not is_pcm24(values["format"]):
                raise NotServedByKind(f"Only PCM16 at 24 kHz is available for {side} audio: {_TRANSLATION}.",
                                      param=f"session.audio.{side}.format")
        patch = self._translation_patch(audio_in, audio_out)
        view_patch = copy.deepcopy(session)
        as_object(as_object(view_patch.get("audio")).get("output")).pop("language", None)
        self.view = schema.merged(self.view, view_patch)
        self._sync_view()
        if not patch:
            # every setting is realtime-only: the client's view changes, the upstream has nothing to apply
            self._outbox.append(self._session_updated())
            return []
        return [keep_event_id({"type": "session.update", "session": {"audio": patch}}, event)]

    def _translation_patch(self, audio_in: JsonObject, audio_out: JsonObject) -> JsonObject:
        patch_in: JsonObject = {}
        if "transcription" in audio_in:
            value = audio_in["transcription"]
            patch_in["transcription"] = None if value is None else transcription_config(value)
        if "noise_reduction" in audio_in:
            patch_in["noise_reduction"] = audio_in["noise_reduction"]
        patch: JsonObject = {"input": patch_in} if patch_in else {}
        language = audio_out.get("language")
        if language is not None:  # the bridge's extension: a voice-agent session has no target language
            self.language = str(language)
            patch["output"] = {"language": language}
        return patch

    def _sync_view(self) -> None:
        output = as_object(as_object(self.view.get("audio")).get("output"))
        self.turns.output_audio = {"format": output.get("format") or schema.pcm_format(),
                                   "voice": output.get("voice") or schema.DEFAULT_VOICE}

    @property
    def text_only(self) -> bool:
        return self.view.get("output_modalities") == ["text"]

    def _session_updated(self) -> JsonObject:
        return self.turns.event("session.updated", session=copy.deepcopy(self.view))

    # --- upstream → client ------------------------------------------------------------------------

    def to_client(self, event: JsonObject, now: float) -> list[JsonObject]:
        out = self._drain()
        event_type = event.get("type")
        if event_type == "session.output_audio.delta":
            out += self._audio(event, now)
        elif event_type == "session.output_transcript.delta":
            out += self._transcript(event, now)
        elif event_type == "session.input_transcript.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._last_input = now
                out += self.turns.input_transcript_delta(delta)
        elif event_type in ("session.created", "session.updated"):
            model = as_object(event.get("session")).get("model")
            if isinstance(model, str) and model:
                self.view["model"] = model
            # the client's session goes on (no second session.created): it learns its effective settings
            out.append(self._session_updated())
        elif event_type == "session.closed":
            out += self._close_segment("completed")  # realtime has no close event; the socket close follows
        else:
            out.append(event)  # errors (their event_id echoes the client's) and unknown events, unchanged
        return self._shape(out)

    def _audio(self, event: JsonObject, now: float) -> list[JsonObject]:
        delta = event.get("delta")
        if not isinstance(delta, str):
            return []
        loud = not is_quiet(delta)
        out = self._pause_closes(now)
        if loud:
            self._last_active = now
        if self._muted or self.text_only:
            return out
        if self.turns.response is None:
            if not loud:
                return out  # silence between turns: a voice-agent client plays audio only inside a response
            out += self.turns.open_response(text_only=False)
        out.append(self.turns.audio_delta(delta))
        return out

    def _transcript(self, event: JsonObject, now: float) -> list[JsonObject]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        out = self._pause_closes(now)
        self._last_active = now
        if self._muted:
            return out
        if self.turns.response is None:
            out += self.turns.open_response(text_only=self.text_only)
        out.append(self.turns.transcript_delta(delta))
        return out

    def _pause_closes(self, now: float) -> list[JsonObject]:
        """A pause of ``gap_s`` since the last speech ends the open response (and a cancel's muting)."""
        if now - self._last_active < self.gap_s:
            return []
        self._muted = False
        return self._close_segment("completed") if self.turns.response is not None else []

    def _close_segment(self, status: str) -> list[JsonObject]:
        return self.turns.close_user() + self.turns.close_response(status)

    def poll(self, now: float) -> list[JsonObject]:
        out = self._drain() + self._pause_closes(now)
        user = self.turns.user
        if self.turns.response is None and user is not None and user.transcript and now - self._last_input >= self.gap_s:
            out += self.turns.close_user()
        return self._shape(out)

    @property
    def due_at(self) -> float | None:
        if self._outbox:
            return -math.inf
        deadlines = []
        if self.turns.response is not None or self._muted:
            deadlines.append(self._last_active + self.gap_s)
        user = self.turns.user
        if self.turns.response is None and user is not None and user.transcript:
            deadlines.append(self._last_input + self.gap_s)
        return min(deadlines) if deadlines else None

    def _drain(self) -> list[JsonObject]:
        out, self._outbox = self._outbox, []
        return out

    def _shape(self, events: list[JsonObject]) -> list[JsonObject]:
        """GA events as built, or their beta form for a beta client."""
        if self.dialect is not Dialect.BETA:
            return events
        shaped = (ga_server_event_to_beta(e, SessionKind.REALTIME) for e in events)
        return [e for e in shaped if e is not None]


def transcription_config(value: object) -> JsonObject:
    """A voice-agent transcription config → the translation one (a model only; language and prompt have no place)."""
    model = as_object(value).get("model")
    return {"model": model if isinstance(model, str) and model else schema.DEFAULT_TRANSCRIPTION_MODEL}
