"""The voice-agent events a kind bridge synthesizes around a translation model's continuous output.

A translation model answers without being asked and without turns: audio and transcript deltas flow
as long as the speaker talks. A voice-agent client expects every output delta inside a response:
``response.created`` → ``response.output_item.added`` → ``conversation.item.added`` →
``response.content_part.added`` → deltas → ``response.output_audio.done`` →
``response.output_audio_transcript.done`` → ``response.content_part.done`` →
``response.output_item.done`` → ``conversation.item.done`` → ``response.done``, the order the API
uses. :class:`SynthesizedTurns` builds exactly those events, with ids shaped like the API's
(``resp_``/``item_``/``event_`` + 21 alphanumerics) and unique per bridge. The user's side (the
source-language transcript) becomes a user message item with
``conversation.item.input_audio_transcription.delta``/``.completed`` events.

Pure: no clock (the bridge passes ``now``), no I/O; ids come from a seedable generator.
"""

from __future__ import annotations

import os
import random
import string
from dataclasses import dataclass, field
from typing import Final

from gateway.core.jsontypes import JsonObject

_ALPHABET: Final = string.ascii_letters + string.digits
_ID_LENGTH: Final = 21
_COUNTER_LENGTH: Final = 8
#: PCM16 24 kHz mono: bytes per second of input audio
PCM_BYTES_PER_S: Final = 48_000


class Ids:
    """Mints ``<prefix>_<21 alphanumerics>`` ids, unique per bridge: a random stem of 13 characters (seedable for
    reproducible tests) and an 8-character base-62 counter, so no id repeats and none has to be remembered."""

    __slots__ = ("_stem", "_count")

    def __init__(self, seed: int | None = None) -> None:
        rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self._stem = "".join(rng.choices(_ALPHABET, k=_ID_LENGTH - _COUNTER_LENGTH))
        self._count = 0

    def new(self, prefix: str) -> str:
        self._count += 1
        n, digits = self._count, []
        for _ in range(_COUNTER_LENGTH):
            n, digit = divmod(n, 62)
            digits.append(_ALPHABET[digit])
        return f"{prefix}_{self._stem}{''.join(reversed(digits))}"


@dataclass(slots=True)
class _Response:
    response_id: str
    item_id: str
    previous_item_id: str | None
    text_only: bool
    transcript: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _UserItem:
    item_id: str
    previous_item_id: str | None
    transcript: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    announced: bool = False


class SynthesizedTurns:
    """The response and the user item the bridge has open, and the events that open and close them."""

    def __init__(self, ids: Ids, conversation_id: str) -> None:
        self.ids = ids
        self.conversation_id = conversation_id
        self.response: _Response | None = None
        self.user: _UserItem | None = None
        #: the conversation's last item (``previous_item_id`` of the next one)
        self.last_item_id: str | None = None
        #: every item id the client has been told about (truncate/delete of these are answered)
        self.known_items: set[str] = set()
        #: the output format and voice shown in each response object
        self.output_audio: JsonObject = {}

    def event(self, event_type: str, **fields: object) -> JsonObject:
        """A client-bound server event with a fresh ``event_id``."""
        return {"type": event_type, "event_id": self.ids.new("event"), **fields}

    # --- the assistant's response ---------------------------------------------------------------

    def open_response(self, *, text_only: bool) -> list[JsonObject]:
        """``response.created`` through ``response.content_part.added`` of a new response, after the
        user item it answers (announced here when the input transcript has not announced it yet)."""
        _, out = self.user_item()
        response = _Response(self.ids.new("resp"), self.ids.new("item"), self.last_item_id, text_only)
        self.response = response
        self.last_item_id = response.item_id
        self.known_items.add(response.item_id)
        item = self._item(response, "in_progress")
        return out + [
            self.event("response.created", response=self._response_object(response, "in_progress", None)),
            self.event("response.output_item.added", response_id=response.response_id, output_index=0, item=item),
            self.event("conversation.item.added", previous_item_id=response.previous_item_id, item=item),
            self.event("response.content_part.added", **self._ids(response), part=self._part(response)),
        ]

    def audio_delta(self, delta: object) -> JsonObject:
        """One audio delta of the open response."""
        assert self.response is not None
        return self.event("response.output_audio.delta", **self._ids(self.response), delta=delta)

    def transcript_delta(self, delta: str) -> JsonObject:
        """One transcript (audio mode) or text (text mode) delta of the open response."""
        response = self.response
        assert response is not None
        if not response.transcript:
            delta = delta.lstrip()  # append-only deltas of a continuous stream: a new item starts clean
        response.transcript.append(delta)
        kind = "response.output_text.delta" if response.text_only else "response.output_audio_transcript.delta"
        return self.event(kind, **self._ids(response), delta=delta)

    def close_response(self, status: str, reason: str | None = None) -> list[JsonObject]:
        """Close every open stream of the response: ``…done`` events up to ``response.done``."""
        response = self.response
        if response is None:
            return []
        self.response = None
        ids = self._ids(response)
        text = "".join(response.transcript)
        if response.text_only:
            out = [self.event("response.output_text.done", **ids, text=text)]
        else:
            out = [self.event("response.output_audio.done", **ids),
                   self.event("response.output_audio_transcript.done", **ids, transcript=text)]
        item = self._item(response, "completed" if status == "completed" else "incomplete")
        details: JsonObject | None = {"type": status, "reason": reason} if status != "completed" else None
        out += [
            self.event("response.content_part.done", **ids, part=self._part(response)),
            self.event("response.output_item.done", response_id=response.response_id, output_index=0, item=item),
            self.event("conversation.item.done", previous_item_id=response.previous_item_id, item=item),
            self.event("response.done", response={**self._response_object(response, status, details), "output": [item]}),
        ]
        return out

    def _ids(self, response: _Response) -> JsonObject:
        return {"response_id": response.response_id, "item_id": response.item_id, "output_index": 0, "content_index": 0}

    def _part(self, response: _Response) -> JsonObject:
        text = "".join(response.transcript)
        return {"type": "text", "text": text} if response.text_only else {"type": "audio", "transcript": text}

    def _item(self, response: _Response, status: str) -> JsonObject:
        content: list[object] = []
        if status != "in_progress":
            text = "".join(response.transcript)
            content = [{"type": "output_text", "text": text} if response.text_only else {"type": "output_audio", "transcript": text}]
        return {"id": response.item_id, "type": "message", "object": "realtime.item", "status": status,
                "role": "assistant", "content": content}

    def _response_object(self, response: _Response, status: str, details: JsonObject | None) -> JsonObject:
        # no usage: a translation model reports none; the gateway meters it by input audio seconds
        # on the upstream side of the bridge, and an invented token count here would mislead clients
        return {
            "object": "realtime.response", "id": response.response_id, "status": status, "status_details": details,
            "output": [], "conversation_id": self.conversation_id,
            "output_modalities": ["text"] if response.text_only else ["audio"],
            "max_output_tokens": "inf", "audio": {"output": dict(self.output_audio)}, "usage": None, "metadata": None,
        }

    # --- the user's input item ------------------------------------------------------------------

    def user_item(self) -> tuple[_UserItem, list[JsonObject]]:
        """The current user item, announced (``conversation.item.added``) the first time it is needed."""
        user = self.user
        if user is None:
            user = self.user = _UserItem(self.ids.new("item"), None)
        if user.announced:
            return user, []
        user.announced = True
        user.previous_item_id = self.last_item_id
        self.last_item_id = user.item_id
        self.known_items.add(user.item_id)
        added = self.event("conversation.item.added", previous_item_id=user.previous_item_id,
                           item=_user_item_object(user, "completed", None))
        return user, [added]

    def input_audio(self, audio_bytes: int) -> None:
        """Input audio sent upstream while the current user item is open (its duration)."""
        if self.user is None:
            self.user = _UserItem(self.ids.new("item"), None)
        self.user.audio_bytes += audio_bytes

    def input_transcript_delta(self, delta: str) -> list[JsonObject]:
        """``conversation.item.input_audio_transcription.delta`` on the current user item."""
        user, out = self.user_item()
        if not user.transcript:
            delta = delta.lstrip()
        user.transcript.append(delta)
        out.append(self.event("conversation.item.input_audio_transcription.delta", item_id=user.item_id,
                              content_index=0, delta=delta))
        return out

    def close_user(self) -> list[JsonObject]:
        """Finish the announced user item (its transcription's completion when it had any); the next
        input audio belongs to a new item."""
        user = self.user
        if user is None or not user.announced:
            return []
        self.user = None
        out: list[JsonObject] = []
        transcript = "".join(user.transcript) if user.transcript else None
        if transcript is not None:
            # duration-shaped, the input audio this item spanned: informational for the client only
            # (the gateway's meter never reads client-bound events; see docs/handoff.md)
            usage = {"type": "duration", "seconds": round(user.audio_bytes / PCM_BYTES_PER_S, 3)}
            out.append(self.event("conversation.item.input_audio_transcription.completed", item_id=user.item_id,
                                  content_index=0, transcript=transcript, usage=usage))
        out.append(self.event("conversation.item.done", previous_item_id=user.previous_item_id,
                              item=_user_item_object(user, "completed", transcript)))
        return out


def _user_item_object(user: _UserItem, status: str, transcript: str | None) -> JsonObject:
    return {"id": user.item_id, "type": "message", "object": "realtime.item", "status": status, "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}]}
