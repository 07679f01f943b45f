"""The emulator's event alias: events are plain JSON-ready dicts, produced by the pure state machines."""

from __future__ import annotations

from typing import TypeAlias

from gateway.core.jsontypes import Json, JsonDict

#: one server or client event (a JSON object)
Event: TypeAlias = JsonDict

__all__ = ["Event", "Json"]
