"""A gateway tool's arguments: parsed from the model's JSON text and checked against the tool's JSON Schema.

Schemas are compiled once per distinct schema in the process (:func:`compiled_schema`, memoised on
the schema's canonical JSON): policy compilation and MCP listing compile them when they load, so a
session start or a call never pays for the meta-schema check or the validator construction again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Final

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.core.jsontypes import JsonObject

#: distinct argument schemas kept compiled (a policy has a handful; MCP servers a few dozen)
_COMPILED: Final = 1024


class ArgumentSchema:
    """One compiled schema (``None`` validator: the schema itself is invalid, the tool cannot be called)."""

    __slots__ = ("_validator",)

    def __init__(self, validator: Draft202012Validator | None) -> None:
        self._validator = validator

    def parse(self, raw: object) -> tuple[JsonObject | None, str]:
        """``(arguments, "")`` when valid, else ``(None, what the model is told)``."""
        try:
            arguments = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
        except orjson.JSONDecodeError:
            return None, "The arguments are not valid JSON."
        if not isinstance(arguments, dict):
            return None, "The arguments must be a JSON object."
        validator = self._validator
        if validator is None:
            return None, "The tool's argument schema is invalid; it cannot be called."
        if validator.is_valid(arguments):  # the common case: no error objects built, no sorting
            return arguments, ""
        error = min(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.path])
        where = "/".join(str(p) for p in error.path) or "arguments"
        return None, f"Invalid arguments at {where}: {error.message}"


@functools.lru_cache(maxsize=_COMPILED)
def _compile(canonical: bytes) -> ArgumentSchema:
    schema = orjson.loads(canonical)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return ArgumentSchema(None)
    return ArgumentSchema(Draft202012Validator(schema))


def compiled_schema(parameters: Mapping[str, object]) -> ArgumentSchema:
    """The compiled checker for a tool's ``parameters`` (the same object for the same schema)."""
    try:
        canonical = orjson.dumps(dict(parameters), option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return ArgumentSchema(None)
    return _compile(canonical)


def error_output(message: str) -> str:
    """A tool output the model can read and speak about."""
    return json.dumps({"error": message})
