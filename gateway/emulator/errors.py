"""OpenAI-shaped ``error`` events: the one place their layout is written down.

Every recoverable protocol mistake becomes one of these and the session stays open, as on the
real API; only a handful of codes (``invalid_model``) are followed by a close 4000.
"""

from __future__ import annotations

from typing import Final

from gateway.emulator.ids import IdFactory
from gateway.emulator.types import Event

#: WebSocket close code OpenAI uses after fatal session errors (e.g. ``invalid_model``)
CLOSE_INVALID_SESSION: Final = 4000


def error_event(
    ids: IdFactory,
    code: str,
    message: str,
    *,
    param: str | None = None,
    client_event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> Event:
    """Build an ``error`` server event that echoes the offending client ``event_id``."""
    return {
        "type": "error",
        "event_id": ids.event(),
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }


def unknown_parameter(ids: IdFactory, param: str, client_event_id: str | None) -> Event:
    """Error for a field the server does not accept at that place."""
    return error_event(ids, "unknown_parameter", f"Unknown parameter: '{param}'.", param=param,
                       client_event_id=client_event_id)


def missing_parameter(ids: IdFactory, param: str, client_event_id: str | None) -> Event:
    """Error for a required field that is absent."""
    return error_event(ids, "missing_required_parameter", f"Missing required parameter: '{param}'.",
                       param=param, client_event_id=client_event_id)


def invalid_value(ids: IdFactory, param: str, detail: str, client_event_id: str | None) -> Event:
    """Error for a field whose value is out of range or of the wrong kind."""
    return error_event(ids, "invalid_value", f"Invalid value for '{param}': {detail}", param=param,
                       client_event_id=client_event_id)
