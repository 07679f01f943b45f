"""Conversation editing: ``conversation.item.create`` / ``delete`` / ``retrieve`` / ``truncate``."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Final

from gateway.emulator import audio, spoken
from gateway.emulator.audio import samples_of
from gateway.emulator.conversation import Entry
from gateway.emulator.machine import Outgoing
from gateway.emulator.parsing import decode_audio
from gateway.emulator.types import Event, Json
from gateway.core.jsontypes import as_list

if TYPE_CHECKING:
    from gateway.emulator.realtime import RealtimeSession

_CONTENT_TYPES: Final = {
    "user": frozenset({"input_text", "input_audio", "input_image"}),
    "system": frozenset({"input_text"}),
    "assistant": frozenset({"output_text", "text"}),
}


class ItemOps:
    """Applies conversation edits to a session's conversation."""

    def __init__(self, session: RealtimeSession) -> None:
        """Attach to a session."""
        self.session = session

    def create(self, event: Event, now: float) -> list[Outgoing]:
        """Add a message / function_call / function_call_output item."""
        s = self.session
        item = event.get("item")
        if not isinstance(item, dict):
            return [s.error("missing_required_parameter", "Missing required parameter: 'item'.", event, param="item")]
        problem = _check_item(item)
        if problem is not None:
            param, detail = problem
            return [s.error("invalid_value", f"Invalid value for '{param}': {detail}", event, param=param)]
        previous = event.get("previous_item_id")
        if previous is not None and previous != "root" and s.conversation.get(str(previous)) is None:
            return [s.error("invalid_value", f"Invalid value for 'previous_item_id': no item '{previous}'.",
                            event, param="previous_item_id")]
        item_id = item.get("id") or s.ids.item()
        if s.conversation.get(str(item_id)) is not None:
            return [s.error("invalid_value", f"Invalid value for 'item.id': item '{item_id}' already exists.",
                            event, param="item.id")]
        entry = self._entry({**item, "id": item_id, "object": "realtime.item", "status": "completed"})
        real_previous = s.conversation.insert(entry, previous if isinstance(previous, str) else None)
        return [s.event("conversation.item.added", previous_item_id=real_previous, item=entry.item),
                s.event("conversation.item.done", previous_item_id=real_previous, item=entry.item)]

    def delete(self, event: Event, now: float) -> list[Outgoing]:
        """Remove an item."""
        item_id = event.get("item_id")
        if not isinstance(item_id, str) or not self.session.conversation.delete(item_id):
            return [self._not_found(event)]
        return [self.session.event("conversation.item.deleted", item_id=item_id)]

    def retrieve(self, event: Event, now: float) -> list[Outgoing]:
        """Return an item including its audio (input bytes, or the regenerated assistant voice)."""
        item_id = event.get("item_id")
        entry = self.session.conversation.get(item_id) if isinstance(item_id, str) else None
        if entry is None:
            return [self._not_found(event)]
        return [self.session.event("conversation.item.retrieved", item=self._with_audio(entry))]

    def truncate(self, event: Event, now: float) -> list[Outgoing]:
        """Cut an assistant audio item at ``audio_end_ms`` (error past the end of its audio)."""
        s = self.session
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        entry = s.conversation.get(item_id) if isinstance(item_id, str) else None
        if entry is None:
            return [self._not_found(event)]
        if entry.item.get("role") != "assistant" or entry.voice_offset_ms is None:
            return [s.error("invalid_value", "Invalid value for 'item_id': only assistant messages with audio "
                            "can be truncated.", event, param="item_id")]
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            return [s.error("invalid_value", "Invalid value for 'audio_end_ms': expected a non-negative integer.",
                            event, param="audio_end_ms")]
        if end_ms > entry.audio_ms:
            return [s.error("invalid_value", f"Invalid value for 'audio_end_ms': {end_ms}ms is longer than the "
                            f"item's audio ({entry.audio_ms}ms).", event, param="audio_end_ms")]
        _cut_transcript(entry, end_ms)
        entry.audio_ms = end_ms
        return [s.event("conversation.item.truncated", item_id=entry.id,
                        content_index=event.get("content_index", 0), audio_end_ms=end_ms)]

    def _entry(self, item: dict[str, Json]) -> Entry:
        """Wrap a created item, measuring any inline input audio."""
        fmt = self.session.input.format
        data = b"".join(decode_audio(c.get("audio")) or b"" for c in as_list(item.get("content"))
                        if isinstance(c, dict) and c.get("type") == "input_audio")
        stored = {**item}
        if data:
            stored["content"] = [{k: v for k, v in c.items() if k != "audio"} if isinstance(c, dict) else c
                                 for c in as_list(item.get("content"))]
        heard = spoken.decode(samples_of(data, fmt), fmt.rate) if data else None
        return Entry(stored, audio_ms=fmt.ms(len(data)), audio=data or None, audio_format=fmt if data else None,
                     heard=heard)

    def _with_audio(self, entry: Entry) -> dict[str, Json]:
        """The item with base64 audio restored into its audio content part."""
        item = {**entry.item}
        blob: bytes | None = entry.audio
        if entry.voice_offset_ms is not None and entry.audio_ms:
            blob = audio.voice(self.session.output_format(), entry.voice_offset_ms, entry.audio_ms)
        if blob is None:
            return item
        encoded = base64.b64encode(blob).decode()
        item["content"] = [{**c, "audio": encoded} if isinstance(c, dict) and c.get("type") in
                           ("input_audio", "output_audio") else c for c in as_list(item.get("content"))]
        return item

    def _not_found(self, event: Event) -> Event:
        """Error for an unknown ``item_id``."""
        return self.session.error("invalid_value", f"Invalid value for 'item_id': no item "
                                  f"'{event.get('item_id')}' in the conversation.", event, param="item_id")


def _check_item(item: dict[str, Json]) -> tuple[str, str] | None:
    """(param, problem) for items the API would refuse."""
    kind = item.get("type")
    if kind == "function_call_output":
        if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
            return "item", "function_call_output needs string 'call_id' and 'output'."
        return None
    if kind == "function_call":
        ok = all(isinstance(item.get(k), str) for k in ("name", "arguments"))
        return None if ok else ("item", "function_call needs string 'name' and 'arguments'.")
    if kind != "message":
        return "item.type", "expected 'message', 'function_call' or 'function_call_output'."
    allowed = _CONTENT_TYPES.get(str(item.get("role")))
    if allowed is None:
        return "item.role", "expected 'user', 'assistant' or 'system'."
    content = item.get("content")
    if not isinstance(content, list) or not all(isinstance(c, dict) and c.get("type") in allowed for c in content):
        return "item.content", f"{item.get('role')} content parts must be of type {sorted(allowed)}."
    return None


def _cut_transcript(entry: Entry, end_ms: int) -> None:
    """Drop the transcript words the listener never heard."""
    for part in as_list(entry.item.get("content")):
        transcript = part.get("transcript") if isinstance(part, dict) else None
        if isinstance(part, dict) and isinstance(transcript, str) and entry.audio_ms:
            words = transcript.split(" ")
            keep = round(len(words) * end_ms / entry.audio_ms)
            part["transcript"] = " ".join(words[:keep])
