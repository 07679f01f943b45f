"""Frame peeking: read an event's ``type`` and audio payload size without decoding the audio.

Audio events are large JSON text frames whose bulk is one base64 string. Decoding them fully
on every frame would double the relay's cost, so for large frames we find the top-level
``"type"`` with a byte search and measure the base64 field with ``bytes.find``; small or
unusual frames fall back to a full (cheap) parse.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import orjson

from gateway.core.errors import InvalidJson, MissingEventType

#: frames at most this long are parsed whole; above it we peek (a 20 ms PCM16 append is ~1.3 kB)
FULL_PARSE_LIMIT: Final = 384

_TYPE_RE: Final = re.compile(rb'"type"\s*:\s*"([^"\\]{1,128})"')
_TYPE_RE_STR: Final = re.compile(r'"type"\s*:\s*"([^"\\]{1,128})"')

#: event types whose bulk is a base64 audio string, and the key holding it
AUDIO_FIELDS: Final[dict[bytes, bytes]] = {
    b"input_audio_buffer.append": b'"audio"',
    b"session.input_audio_buffer.append": b'"audio"',
    b"response.output_audio.delta": b'"delta"',
    b"response.audio.delta": b'"delta"',
    b"session.output_audio.delta": b'"delta"',
}


class Peek(NamedTuple):
    """What the relay needs to know about a frame without decoding it (a tuple: cheap to build)."""

    type: str
    #: decoded audio bytes carried by the frame (0 for non-audio events)
    audio_bytes: int
    #: the parsed event when the frame was small enough to parse, else ``None``
    event: dict[str, object] | None


#: the same table for text frames as received (``str``), so they need no encoding to peek
AUDIO_FIELDS_STR: Final[dict[str, str]] = {k.decode(): v.decode() for k, v in AUDIO_FIELDS.items()}


def _b64_decoded_len(frame: bytes | str, key: bytes | str) -> int:
    """Length of the decoded base64 string stored under ``key`` (0 when absent)."""
    quote: bytes | str = '"' if isinstance(frame, str) else b'"'
    at = frame.find(key)  # type: ignore[arg-type]
    if at < 0:
        return 0
    start = frame.find(quote, at + len(key))  # type: ignore[arg-type]
    if start < 0:
        return 0
    end = frame.find(quote, start + 1)  # type: ignore[arg-type]
    if end < 0:
        return 0
    n = end - start - 1
    padding = 0
    if n and frame[end - 1] in (0x3D, "="):
        padding = 2 if frame[end - 2] in (0x3D, "=") else 1
    return (n * 3) // 4 - padding


def parse_event(frame: bytes | str) -> dict[str, object]:
    """Parse a whole frame as a JSON object with a string ``type``; raise a client-safe error otherwise."""
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson() from exc
    if not isinstance(event, dict):
        raise InvalidJson("The frame must be a JSON object.")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MissingEventType()
    return event


def peek(frame: bytes | str) -> Peek:
    """Return the event type and audio size of a text frame (``str`` as received, or UTF-8 bytes)."""
    if len(frame) > FULL_PARSE_LIMIT:
        found = _peek_prefix(frame) if frame.__class__ is str else None
        if found is None:
            found = _peek_large(frame)
        if found is not None:
            return found
    event = parse_event(frame)
    event_type = str(event["type"])
    audio = 0
    key = AUDIO_FIELDS_STR.get(event_type)
    if key is not None:
        field = event.get(key.strip('"'))
        if isinstance(field, str):
            audio = (len(field) * 3) // 4 - (len(field) - len(field.rstrip("=")))
    return Peek(event_type, audio, event)


def _peek_prefix(frame: str) -> Peek | None:
    """The common shape, type first (``{"type":"…"`` or ``{"type": "…"``): a few ``find`` calls."""
    if frame.startswith('{"type":"'):
        start = 9
    elif frame.startswith('{"type": "'):
        start = 10
    else:
        return None
    end = frame.find('"', start)
    event_type = frame[start:end]
    key = AUDIO_FIELDS_STR.get(event_type)
    if key is None or frame.find("\\", start, end) >= 0:
        return None
    at = frame.find(key, end)
    if at < 0:
        return Peek(event_type, 0, None)
    value_start = frame.find('"', at + len(key)) + 1
    value_end = frame.find('"', value_start)
    if value_start <= 0 or value_end < 0:
        return None
    n = value_end - value_start
    padding = (frame[value_end - 1] == "=") + (frame[value_end - 2] == "=") if n else 0
    return Peek(event_type, (n * 3) // 4 - padding, None)


def _peek_large(frame: bytes | str) -> Peek | None:
    """Type and audio size of a large audio event found by search; ``None`` → parse the frame whole."""
    if isinstance(frame, str):
        match = _TYPE_RE_STR.search(frame)
        # top level only: no object may open between the frame's first brace and the key
        if match is None or frame[:1] != "{" or frame.find("{", 1, match.start()) >= 0:
            return None
        event_type = match.group(1)
        key_str = AUDIO_FIELDS_STR.get(event_type)
        return None if key_str is None else Peek(event_type, _b64_decoded_len(frame, key_str), None)
    bmatch = _TYPE_RE.search(frame)
    if bmatch is None or frame[:1] != b"{" or frame.find(b"{", 1, bmatch.start()) >= 0:
        return None
    key = AUDIO_FIELDS.get(bmatch.group(1))
    return None if key is None else Peek(bmatch.group(1).decode(), _b64_decoded_len(frame, key), None)


def dumps(event: dict[str, object]) -> bytes:
    """Serialise an event to a compact JSON text frame body."""
    return orjson.dumps(event)
