"""Function calling: when the emulated model calls a tool, and with which arguments.

Trigger rule (deterministic, checked in this order for each response):

1. ``tool_choice`` naming a function (``{"type": "function", "name": N}``, from ``response.create``
   or else the session) → call ``N``. Always honoured.
2. ``tool_choice: "required"`` → call the first function tool.
3. ``tool_choice: "none"`` or no function tools → speak.
4. ``tool_choice: "auto"`` → speak when the newest item is a ``function_call_output`` (the model
   talks about the result) or when a tool was already called since the newest user message (one
   call per user turn). Otherwise an explicit marker wins (for tests):
   ``response.create.response.metadata["emu_tool"]`` (a tool name, or anything else for the first
   tool), or the text ``[emu:call]`` / ``[emu:call:<name>]`` in the effective instructions or in the
   newest user message. Without a marker the tool most *relevant* to the user's words is called:
   the newest user message's typed text, or what the emulator heard of its audio (``spoken``), is
   compared word by word (lower-cased, stop words dropped, a plural ``s`` and ``ing``/``ed`` endings
   stripped) with each tool's name (split at ``_``, ``-``, ``.`` and camel case; 2 points a word)
   and description (1 point a word). The best score of at least 2 wins; ties go to the tool
   declared first. Below that the model speaks.

Arguments are generated from the tool's JSON Schema ``parameters`` so they validate: required
properties (all properties when ``required`` is absent), ``const``/``enum``/``default`` first,
type-correct values within numeric and length bounds, arrays honour ``minItems``, objects recurse,
``anyOf``/``oneOf`` take the first branch, ``allOf`` merges, local ``$ref`` is followed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.emulator.types import Json
from gateway.core.jsontypes import as_list, as_dict

_MARKER: Final = re.compile(r"\[emu:call(?::([A-Za-z0-9_.\-]+))?\]")
_MAX_DEPTH: Final = 8


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What the trigger rule looks at for one response."""

    tools: Sequence[Json]
    tool_choice: Json
    instructions: str
    metadata: Json
    #: the newest user message's words: typed text, or what was heard of its audio
    last_user_text: str | None
    last_item_is_tool_output: bool
    #: a tool was already called after the newest user message
    turn_had_call: bool = False


def function_tools(tools: Sequence[Json]) -> list[dict[str, Json]]:
    """The ``type: function`` entries of a tools list (MCP tools are not emulated)."""
    return [t for t in tools if isinstance(t, dict) and t.get("type", "function") == "function"
            and isinstance(t.get("name"), str)]


def choose_tool(ctx: ToolContext) -> dict[str, Json] | None:
    """Apply the documented trigger rule; return the tool to call or ``None`` to speak."""
    functions = function_tools(ctx.tools)
    choice = ctx.tool_choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return _named(functions, choice.get("name"))
    if not functions or choice == "none":
        return None
    if choice == "required":
        return functions[0]
    if ctx.last_item_is_tool_output or ctx.turn_had_call:
        return None
    wanted = _marker_request(ctx)
    if wanted is not None:
        return _named(functions, wanted) or functions[0]
    return most_relevant(functions, ctx.last_user_text or "")


_STOP_WORDS: Final = frozenset(
    "a an and are as at be but by can could do does for from get give has have how i if in into is it "
    "its me my of on or our please show some tell than that the their them then there these this to "
    "us was we what when where which who why will with would you your about more need because soon just "
    "like want know so not no yes any all up out".split()
)
_WORD: Final = re.compile(r"[a-z0-9]+")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MIN_RELEVANCE: Final = 2


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words of ``text`` without stop words."""
    return {_stem(w) for w in _WORD.findall(_CAMEL.sub(" ", text).lower()) if w not in _STOP_WORDS}


def relevance(tool: dict[str, Json], words: set[str]) -> int:
    """2 points per user word in the tool's name, 1 per user word in its description."""
    name = content_words(str(tool.get("name") or "").replace("_", " ").replace("-", " ").replace(".", " "))
    description = content_words(str(tool.get("description") or "")) - name
    return 2 * len(words & name) + len(words & description)


def most_relevant(functions: list[dict[str, Json]], user_text: str) -> dict[str, Json] | None:
    """The function tool most relevant to ``user_text`` (first on ties), if relevant enough."""
    words = content_words(user_text)
    if not words:
        return None
    best, best_score = None, MIN_RELEVANCE - 1
    for tool in functions:
        score = relevance(tool, words)
        if score > best_score:
            best, best_score = tool, score
    return best


def _named(functions: list[dict[str, Json]], name: Json) -> dict[str, Json] | None:
    """The function tool called ``name``, if configured."""
    return next((f for f in functions if f.get("name") == name), None)


def _marker_request(ctx: ToolContext) -> str | None:
    """Name requested by a marker ('' for "the first tool"), or ``None`` when no marker is present."""
    if isinstance(ctx.metadata, dict) and "emu_tool" in ctx.metadata:
        value = ctx.metadata["emu_tool"]
        return value if isinstance(value, str) else ""
    for text in (ctx.instructions, ctx.last_user_text or ""):
        match = _MARKER.search(text)
        if match:
            return match.group(1) or ""
    return None


def arguments_for(schema: Json) -> Json:
    """A value satisfying the (supported subset of) JSON Schema ``schema``; no schema → ``{}``."""
    if not isinstance(schema, dict) or not schema:
        return {}
    return _value(schema, schema, "value", 0)


def _value(schema: dict[str, Json], root: dict[str, Json], name: str, depth: int) -> Json:
    """Generate one value for ``schema`` (property ``name`` is used to make strings readable)."""
    schema = _resolve(schema, root)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and isinstance(branches[0], dict):
            return _value(branches[0], root, name, depth + 1)
    if isinstance(schema.get("allOf"), list):
        return _value(_merge_all_of(schema, root), root, name, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, name, depth)
    return _scalar(kind, schema, name)


def _resolve(schema: dict[str, Json], root: dict[str, Json]) -> dict[str, Json]:
    """Follow a local ``$ref`` (``#/…``) to the schema it points at."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return schema
    node: Json = root
    for part in [p for p in ref[1:].split("/") if p]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _merge_all_of(schema: dict[str, Json], root: dict[str, Json]) -> dict[str, Json]:
    """Fold ``allOf`` branches into one object schema (properties and required lists unioned)."""
    merged: dict[str, Json] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Json] = dict(as_dict(merged.get("properties")))
    required: list[Json] = list(as_list(merged.get("required")))
    for branch in as_list(schema.get("allOf")):
        part = _resolve(branch, root) if isinstance(branch, dict) else {}
        properties.update(as_dict(part.get("properties")))
        required.extend(as_list(part.get("required")))
        merged.setdefault("type", part.get("type"))
    merged.update(properties=properties, required=required)
    return merged


def _kind(schema: dict[str, Json]) -> str:
    """The schema's type (first non-null of a list), inferred from keywords when absent."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def _object(schema: dict[str, Json], root: dict[str, Json], depth: int) -> dict[str, Json]:
    """Fill required properties (or all, when nothing is marked required)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or depth > _MAX_DEPTH:
        return {}
    required = schema.get("required")
    names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else list(properties)
    out: dict[str, Json] = {}
    for prop in names:
        sub = properties.get(prop)
        out[prop] = _value(sub if isinstance(sub, dict) else {}, root, prop, depth + 1)
    return out


def _array(schema: dict[str, Json], root: dict[str, Json], name: str, depth: int) -> list[Json]:
    """An array of ``max(minItems, 1)`` items (capped by ``maxItems``)."""
    items = schema.get("items")
    low = schema.get("minItems")
    high = schema.get("maxItems")
    count = max(low if isinstance(low, int) else 0, 1)
    if isinstance(high, int):
        count = min(count, high)
    if depth > _MAX_DEPTH:
        return []
    item_schema = items if isinstance(items, dict) else {}
    return [_value(item_schema, root, name, depth + 1) for _ in range(count)]


def _scalar(kind: str, schema: dict[str, Json], name: str) -> Json:
    """A string, number, integer, boolean or null value within the schema's bounds."""
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind in ("integer", "number"):
        return _number(kind, schema)
    return _string(schema, name)


def _number(kind: str, schema: dict[str, Json]) -> int | float:
    """1 (or 1.5), moved inside ``minimum``/``maximum``/exclusive bounds."""
    value: float = 1 if kind == "integer" else 1.5
    low, high = schema.get("minimum"), schema.get("maximum")
    xlow, xhigh = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, (int, float)) and value < low:
        value = low
    if isinstance(xlow, (int, float)) and value <= xlow:
        value = xlow + 1 if kind == "integer" else xlow + 0.5
    if isinstance(high, (int, float)) and value > high:
        value = high
    if isinstance(xhigh, (int, float)) and value >= xhigh:
        value = xhigh - 1 if kind == "integer" else xhigh - 0.5
    return int(value) if kind == "integer" else float(value)


_FORMATS: Final[dict[str, str]] = {
    "date": "2026-01-15", "date-time": "2026-01-15T09:30:00Z", "time": "09:30:00",
    "email": "user@example.com", "uri": "https://example.com/", "uuid": "123e4567-e89b-42d3-a456-426614174000",
}


def _string(schema: dict[str, Json], name: str) -> str:
    """A readable string (``example_<name>``) or a format sample, padded/cut to length bounds."""
    fmt = schema.get("format")
    text = _FORMATS.get(fmt, f"example_{name}") if isinstance(fmt, str) else f"example_{name}"
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text
