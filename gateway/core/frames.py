"""Frame peeking: read an event's ``type`` and audio payload size without decoding the audio.

Audio events are large JSON text frames whose bulk is one base64 string. Decoding them fully
on every frame would double the relay's cost, so for large frames we find the top-level
``"type"`` with a byte search and measure the base64 field with ``bytes.find``; small or
unusual frames fall back to a full (cheap) parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import orjson

from gateway.core.errors import InvalidJson, MissingEventType

#: frames at most this long are parsed whole; above it we peek
FULL_PARSE_LIMIT: Final = 2048

_TYPE_RE: Final = re.compile(rb'"type"\s*:\s*"([^"\\]{1,128})"')

#: event types whose bulk is a base64 audio string, and the key holding it
AUDIO_FIELDS: Final[dict[bytes, bytes]] = {
    b"input_audio_buffer.append": b'"audio"',
    b"session.input_audio_buffer.append": b'"audio"',
    b"response.output_audio.delta": b'"delta"',
    b"response.audio.delta": b'"delta"',
    b"session.output_audio.delta": b'"delta"',
}


@dataclass(frozen=True, slots=True)
class Peek:
    """What the relay needs to know about a frame without decoding it."""

    type: str
    #: decoded audio bytes carried by the frame (0 for non-audio events)
    audio_bytes: int
    #: the parsed event when the frame was small enough to parse, else ``None``
    event: dict[str, object] | None


def _b64_decoded_len(frame: bytes, key: bytes) -> int:
    """Length of the decoded base64 string stored under ``key`` (0 when absent)."""
    at = frame.find(key)
    if at < 0:
        return 0
    start = frame.find(b'"', at + len(key))
    if start < 0:
        return 0
    end = frame.find(b'"', start + 1)
    if end < 0:
        return 0
    n = end - start - 1
    padding = 0
    if n and frame[end - 1] == 0x3D:  # '='
        padding = 2 if frame[end - 2] == 0x3D else 1
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


def peek(frame: bytes) -> Peek:
    """Return the event type and audio size of a text frame given as UTF-8 bytes."""
    if len(frame) > FULL_PARSE_LIMIT:
        match = _TYPE_RE.search(frame)
        # top level only: no object may open between the frame's first brace and the key
        if match is not None and frame.find(b"{", 1, match.start()) < 0 and frame[:1] == b"{":
            type_bytes = match.group(1)
            key = AUDIO_FIELDS.get(type_bytes)
            if key is not None:
                return Peek(type_bytes.decode(), _b64_decoded_len(frame, key), None)
    event = parse_event(frame)
    event_type = str(event["type"])
    audio = 0
    key = AUDIO_FIELDS.get(event_type.encode())
    if key is not None:
        field = event.get(key.strip(b'"').decode())
        if isinstance(field, str):
            audio = (len(field) * 3) // 4 - (len(field) - len(field.rstrip("=")))
    return Peek(event_type, audio, event)


def dumps(event: dict[str, object]) -> bytes:
    """Serialise an event to a compact JSON text frame body."""
    return orjson.dumps(event)
