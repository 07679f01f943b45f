"""An incoming SIP call as the gateway sees it: the ``realtime.call.incoming`` webhook, validated. Pure.

The SIP headers are untrusted metadata (the caller controls ``From``, custom ``X-`` headers, …):
they are bounded, stripped of control characters and only ever used as routing facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.core.errors import InvalidRequest

from gateway.core.jsontypes import JsonObject

INCOMING: Final = "realtime.call.incoming"
MAX_HEADERS: Final = 64
MAX_VALUE_CHARS: Final = 1024
_CALL_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call_id: str
    #: (name, value) in arrival order, repeats kept
    sip_headers: tuple[tuple[str, str], ...]

    def routing_headers(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined with ``, `` (as HTTP does)."""
        joined: dict[str, str] = {}
        for name, value in self.sip_headers:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return joined


def timestamp_fresh(header: str | None, now: float, tolerance_s: int) -> bool:
    """The ``webhook-timestamp`` is a whole number of seconds within ``tolerance_s`` of ``now`` (either side)."""
    if header is None or not header.isdigit() or len(header) > 12:
        return False
    return abs(now - int(header)) <= tolerance_s


def parse_incoming(event: object) -> IncomingCall | None:
    """The call of a ``realtime.call.incoming`` event; ``None`` for other event types; 400 when malformed."""
    if not isinstance(event, dict):
        raise InvalidRequest("The webhook body must be a JSON object.")
    if event.get("type") != INCOMING:
        return None
    data = event.get("data")
    call_id = data.get("call_id") if isinstance(data, dict) else None
    if not isinstance(call_id, str) or not _CALL_ID.match(call_id):
        raise InvalidRequest("The webhook has no valid data.call_id.", param="data.call_id")
    raw = data.get("sip_headers") if isinstance(data, dict) else None
    headers: list[tuple[str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if len(headers) >= MAX_HEADERS:
            break
        name = item.get("name") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(name, str) and _HEADER_NAME.match(name) and isinstance(value, str):
            headers.append((name, _CONTROL.sub("", value)[:MAX_VALUE_CHARS]))
    return IncomingCall(call_id, tuple(headers))
