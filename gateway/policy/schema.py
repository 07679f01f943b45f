"""The JSON Schema of policy files, generated from the pydantic models (committed as ``policies/policy.schema.json``)."""

from __future__ import annotations

import json

from gateway.policy.models import PolicyFile

SCHEMA_FILE_NAME = "policy.schema.json"


def render_schema() -> str:
    """The schema text exactly as committed (a test fails when the committed copy is stale)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **PolicyFile.model_json_schema(by_alias=True)}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
