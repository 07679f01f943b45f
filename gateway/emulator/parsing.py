"""Client frame decoding shared by the session machines: JSON, ``type``, base64 audio."""

from __future__ import annotations

import base64
import binascii

import orjson

from gateway.emulator import errors
from gateway.emulator.ids import IdFactory
from gateway.emulator.types import Event, Json


def decode_event(ids: IdFactory, frame: str | bytes) -> Event:
    """Parse a client frame; returns the event, or an ``error`` event (its ``type`` is ``error``)."""
    try:
        value: Json = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return errors.error_event(ids, "invalid_json", f"The server could not parse the JSON of the "
                                  f"client event: {exc}.")
    if not isinstance(value, dict):
        return errors.error_event(ids, "invalid_json", "A client event must be a JSON object.")
    event_id = value.get("event_id")
    client_id = event_id if isinstance(event_id, str) else None
    if not isinstance(value.get("type"), str):
        return errors.missing_parameter(ids, "type", client_id)
    if value["type"] == "error":
        return errors.invalid_value(ids, "type", "'error' is a server event.", client_id)
    return value


def client_event_id(event: Event) -> str | None:
    """The optional client ``event_id`` (echoed in errors)."""
    value = event.get("event_id")
    return value if isinstance(value, str) else None


def decode_audio(value: Json) -> bytes | None:
    """Strictly decode a base64 audio field; ``None`` when it is not valid base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
