"""Gateway tool arguments: parsed, checked against a schema compiled once, problems worded for the model."""

from __future__ import annotations

import json

from gateway.core.tool_arguments import compiled_schema, error_output

SCHEMA = {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}}, "required": ["order_id"]}


def test_the_same_schema_is_compiled_once_whatever_its_key_order() -> None:
    """Two equal schemas (keys in another order) share one compiled checker."""
    reordered = {"required": ["order_id"], "properties": SCHEMA["properties"], "type": "object"}
    assert compiled_schema(SCHEMA) is compiled_schema(reordered)


def test_valid_arguments_pass_and_empty_text_is_an_empty_object() -> None:
    """Valid JSON matching the schema comes back parsed; no text at all means no arguments."""
    assert compiled_schema(SCHEMA).parse('{"order_id": "42"}') == ({"order_id": "42"}, "")
    assert compiled_schema({"type": "object"}).parse("  ") == ({}, "")


def test_bad_arguments_are_explained() -> None:
    """Not JSON, not an object, or failing the schema: the model is told which and where."""
    schema = compiled_schema(SCHEMA)
    assert schema.parse("{nope")[1] == "The arguments are not valid JSON."
    assert schema.parse("[1]")[1] == "The arguments must be a JSON object."
    arguments, problem = schema.parse('{"order_id": "abc"}')
    assert arguments is None and problem.startswith("Invalid arguments at order_id:") and "does not match" in problem
    assert schema.parse("{}")[1].startswith("Invalid arguments at arguments:")


def test_an_invalid_schema_makes_the_tool_uncallable() -> None:
    """A schema that is not JSON Schema never validates anything: every call is refused with a reason."""
    assert compiled_schema({"type": 12}).parse("{}") == (None, "The tool's argument schema is invalid; it cannot be called.")


def test_error_output_is_a_json_object_with_the_message() -> None:
    """The model reads tool errors as {"error": ...}."""
    assert json.loads(error_output("down")) == {"error": "down"}
