"""Function-call trigger rule and schema-driven argument generation."""

from __future__ import annotations

from gateway.emulator.tools import ToolContext, arguments_for, choose_tool
from gateway.emulator.types import Json

WEATHER: dict[str, Json] = {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}
BOOK: dict[str, Json] = {"type": "function", "name": "book", "parameters": {"type": "object", "properties": {}}}


def ctx(choice: Json = "auto", instructions: str = "", metadata: Json = None, user: str | None = None,
        after_output: bool = False) -> ToolContext:
    """A ToolContext with two tools."""
    return ToolContext([WEATHER, BOOK], choice, instructions, metadata, user, after_output)


def test_named_choice_is_always_honoured() -> None:
    """tool_choice naming a function calls it, even right after a function output."""
    assert choose_tool(ctx({"type": "function", "name": "book"}, after_output=True)) is BOOK


def test_required_calls_first_tool_and_none_never_calls() -> None:
    """'required' → first tool; 'none' → speak even with a marker."""
    assert choose_tool(ctx("required")) is WEATHER
    assert choose_tool(ctx("none", instructions="[emu:call]")) is None


def test_auto_marker_wins_and_speaks_after_tool_output() -> None:
    """An explicit marker (metadata, instructions or user text) calls the tool; never after an output."""
    assert choose_tool(ctx()) is None
    assert choose_tool(ctx(metadata={"emu_tool": "book"})) is BOOK
    assert choose_tool(ctx(instructions="use tools [emu:call]")) is WEATHER
    assert choose_tool(ctx(user="please [emu:call:book] now")) is BOOK
    assert choose_tool(ctx(instructions="[emu:call]", after_output=True)) is None


LOOKUP: dict[str, Json] = {"type": "function", "name": "lookup_order",
                           "description": "Look up an order's shipping status by its ID"}
FORECAST: dict[str, Json] = {"type": "function", "name": "getWeather",
                             "description": "Current weather forecast for a city"}


def test_auto_calls_the_tool_most_relevant_to_the_users_words() -> None:
    """Without a marker, auto calls the tool whose name/description matches the user's words best."""
    tools = [LOOKUP, FORECAST]
    assert choose_tool(ToolContext(tools, "auto", "", None, "Where is my order 4417?", False)) is LOOKUP
    assert choose_tool(ToolContext(tools, "auto", "", None, "what's the weather like in Paris", False)) is FORECAST
    assert choose_tool(ToolContext(tools, "auto", "", None, "Tell me a joke about cats.", False)) is None
    assert choose_tool(ToolContext(tools, "auto", "", None, None, False)) is None


def test_auto_calls_once_per_user_turn() -> None:
    """A turn that already had its call (or whose output came back) gets a spoken answer."""
    tools = [LOOKUP, FORECAST]
    assert choose_tool(ToolContext(tools, "auto", "", None, "Where is my order?", False, turn_had_call=True)) is None
    assert choose_tool(ToolContext(tools, "auto", "", None, "Where is my order?", True)) is None


def test_arguments_follow_types_enums_bounds_and_nesting() -> None:
    """Required properties only, enum first value, numeric bounds, minItems, nested objects and $ref."""
    schema: Json = {
        "type": "object", "required": ["city", "unit", "count", "ratio", "tags", "when", "address", "flag", "opt"],
        "$defs": {"addr": {"type": "object", "required": ["zip"], "properties": {"zip": {"type": "string", "minLength": 12}}}},
        "properties": {
            "city": {"type": "string", "maxLength": 6}, "unit": {"enum": ["c", "f"]},
            "count": {"type": "integer", "minimum": 5, "maximum": 9}, "ratio": {"type": "number", "exclusiveMaximum": 1},
            "tags": {"type": "array", "minItems": 2, "items": {"type": "string"}},
            "when": {"type": "string", "format": "date"}, "address": {"$ref": "#/$defs/addr"},
            "flag": {"type": ["null", "boolean"]}, "opt": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "ignored": {"type": "string"}}}
    assert arguments_for(schema) == {
        "city": "exampl", "unit": "c", "count": 5, "ratio": 0.5, "tags": ["example_tags", "example_tags"],
        "when": "2026-01-15", "address": {"zip": "example_zipx"}, "flag": True, "opt": 1}


def test_arguments_without_required_fill_all_and_allof_merges() -> None:
    """No 'required' → every property; allOf branches are merged into one object."""
    schema: Json = {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                              {"properties": {"b": {"const": "x"}}, "required": ["b"]}]}
    assert arguments_for(schema) == {"a": 1, "b": "x"}
    assert arguments_for({"type": "object", "properties": {"x": {"type": "boolean"}, "y": {"default": 7}}}) == {
        "x": True, "y": 7}
    assert arguments_for(None) == {} and arguments_for({}) == {}
