"""The one home of the JSON type aliases and the small typed accessors over parsed JSON.

``JsonObject`` is a parsed JSON object whose values are not yet checked (what ``orjson.loads``
gives a caller that only looked at the top level); ``Json`` is a fully typed JSON value, used where
the whole tree is built by our own code (the emulator's events). The accessors narrow a value that
came off the wire without a ``cast``: a member that is not the expected shape reads as absent.
"""

from __future__ import annotations

from typing import TypeAlias

#: a parsed JSON object whose member values are not yet checked
JsonObject: TypeAlias = dict[str, object]
#: a JSON value as produced by ``orjson.loads``
Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
#: a JSON object built from typed JSON values (one client or server event)
JsonDict: TypeAlias = dict[str, Json]


def as_object(value: object) -> JsonObject:
    """``value`` when it is a JSON object (members unchecked), else an empty one (a missing or mistyped member)."""
    return value if isinstance(value, dict) else {}


def as_dict(value: object) -> JsonDict:
    """``value`` when it is a JSON object of typed JSON values, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Json]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def member(value: object, *path: str) -> Json:
    """The member at ``path`` inside nested objects, or ``None`` when any step is absent or not an object."""
    current: Json = as_dict(value)
    for key in path:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def as_number(value: object, default: float = 0.0) -> float:
    """``value`` as a float when it is a JSON number (not a boolean), else ``default``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def as_int(value: object, default: int = 0) -> int:
    """``value`` as an int when it is a JSON number (not a boolean), else ``default``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return default
