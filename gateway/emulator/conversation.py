"""The conversation: ordered items, their audio, and the token cost of sending them as context.

Usage rules (deterministic, documented for accounting tests): every item costs 4 text tokens of
overhead; text costs ``ceil(chars / 4)``; user audio 1 token per 100 ms, assistant audio 1 token
per 50 ms (the same tokenisation it had as output); instructions and the tool list are text.
Cached tokens are the longest unchanged prefix (instructions+tools, then items) shared with the
previous response's context, split into text and audio.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from gateway.emulator import audio, text
from gateway.emulator.audio import AudioFormat
from gateway.emulator.response import InputUsage
from gateway.emulator.types import Json

ITEM_OVERHEAD_TOKENS = 4
#: keep input audio bytes (for ``conversation.item.retrieve``) of this many newest user items
KEEP_AUDIO_ITEMS = 20


@dataclass(slots=True)
class Entry:
    """One conversation item plus what the wire events leave out (its audio)."""

    item: dict[str, Json]
    audio_ms: int = 0
    #: user audio in the input format it arrived in (dropped for old items to bound memory)
    audio: bytes | None = None
    audio_format: AudioFormat | None = None
    #: assistant audio is regenerated on retrieve from the synthetic voice track
    voice_offset_ms: int | None = None
    #: what the emulated model understood of user audio (``spoken`` text or the stand-in transcript)
    heard: str | None = None

    @property
    def id(self) -> str:
        """The item id."""
        return str(self.item["id"])


ContextKey = tuple[str, int, int]


class Conversation:
    """Ordered items of the default conversation (``conv_…``)."""

    def __init__(self, conversation_id: str) -> None:
        """Start empty."""
        self.id = conversation_id
        self._entries: list[Entry] = []
        self._previous_context: list[ContextKey] = []

    def __iter__(self) -> Iterator[Entry]:
        """Items in conversation order."""
        return iter(self._entries)

    def __len__(self) -> int:
        """Number of items."""
        return len(self._entries)

    def last_id(self) -> str | None:
        """Id of the newest item (``None`` when empty)."""
        return self._entries[-1].id if self._entries else None

    def last(self) -> Entry | None:
        """The newest item."""
        return self._entries[-1] if self._entries else None

    def get(self, item_id: str) -> Entry | None:
        """The item with ``item_id``."""
        return next((e for e in self._entries if e.id == item_id), None)

    def insert(self, entry: Entry, previous_item_id: str | None = None) -> str | None:
        """Add after ``previous_item_id`` (``"root"`` = first; ``None`` = last); return the real predecessor."""
        if previous_item_id is None:
            position = len(self._entries)
        elif previous_item_id == "root":
            position = 0
        else:
            position = next(i for i, e in enumerate(self._entries) if e.id == previous_item_id) + 1
        self._entries.insert(position, entry)
        self._drop_old_audio()
        return self._entries[position - 1].id if position > 0 else None

    def delete(self, item_id: str) -> bool:
        """Remove an item; ``False`` when it does not exist."""
        entry = self.get(item_id)
        if entry is None:
            return False
        self._entries.remove(entry)
        return True

    def context_usage(self, preamble: str, entries: list[Entry] | None = None) -> InputUsage:
        """Input tokens for a response over ``entries`` (default: the whole conversation)."""
        keys: list[ContextKey] = [(f"pre:{hash(preamble)}", text.text_tokens(preamble), 0)]
        keys += [(e.id, *_entry_tokens(e)) for e in (self._entries if entries is None else entries)]
        cached_text = cached_audio = 0
        for old, new in zip(self._previous_context, keys, strict=False):
            if old != new:
                break
            cached_text, cached_audio = cached_text + new[1], cached_audio + new[2]
        self._previous_context = keys
        return InputUsage(text_tokens=sum(k[1] for k in keys), audio_tokens=sum(k[2] for k in keys),
                          cached_text=cached_text, cached_audio=cached_audio)

    def _drop_old_audio(self) -> None:
        """Forget input audio bytes of all but the newest ``KEEP_AUDIO_ITEMS`` audio items."""
        with_audio = [e for e in self._entries if e.audio is not None]
        for entry in with_audio[:-KEEP_AUDIO_ITEMS]:
            entry.audio = None


def preamble_text(instructions: str, tools: Json) -> str:
    """The text the model sees before the conversation: instructions and the tool list."""
    return instructions + (orjson.dumps(tools).decode() if tools else "")


def _content(item: dict[str, Json]) -> list[dict[str, Json]]:
    """The item's content parts (empty for non-message items)."""
    content = item.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _entry_tokens(entry: Entry) -> tuple[int, int]:
    """(text tokens, audio tokens) an item costs as context."""
    item = entry.item
    kind = item.get("type")
    text_tokens = ITEM_OVERHEAD_TOKENS
    audio_tokens = 0
    if kind == "function_call":
        text_tokens += text.text_tokens(f"{item.get('name')}{item.get('arguments')}")
    elif kind == "function_call_output":
        text_tokens += text.text_tokens(str(item.get("output", "")))
    for part in _content(item):
        if part.get("type") in ("input_audio", "output_audio"):
            continue
        text_tokens += text.text_tokens(str(part.get("text") or ""))
    if entry.audio_ms:
        if item.get("role") == "assistant":
            audio_tokens = text.output_audio_tokens(entry.audio_ms)
        else:
            audio_tokens = text.input_audio_tokens(entry.audio_ms)
    return text_tokens, audio_tokens


def user_turn_words(entries: list[Entry]) -> tuple[str | None, bool]:
    """The newest user message's words (typed text, else what was heard) and whether a tool was
    already called after it (then that turn has had its call)."""
    called = False
    for entry in reversed(entries):
        item = entry.item
        if item.get("type") in ("function_call", "function_call_output"):
            called = True
        elif item.get("type") == "message" and item.get("role") == "user":
            typed = " ".join(str(c.get("text") or "") for c in _content(item)).strip()
            return (typed or entry.heard), called
    return None, called
