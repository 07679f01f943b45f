"""Shared type aliases: events are plain JSON-ready dicts, produced by the pure state machines."""

from __future__ import annotations

from typing import TypeAlias

#: a JSON value as produced by ``orjson.loads``
Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
#: one server or client event (a JSON object)
Event: TypeAlias = dict[str, Json]
