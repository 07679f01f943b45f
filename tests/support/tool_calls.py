"""What the model sends upstream when it calls a function, for core tests that drive gateway tool calls."""

from __future__ import annotations

from gateway.core.gateway_tools import GatewayTool, ToolLimits
from gateway.core.jsontypes import JsonObject

#: a gateway HTTP tool taking no arguments
LOOKUP = GatewayTool("lookup_order", "", {"type": "object", "properties": {}}, "http", ToolLimits())


def function_call_events(name: str, call_id: str, arguments: str, response_id: str) -> list[JsonObject]:
    """A response calling ``name``: created, the call item added, its arguments done."""
    item_id = f"item_{call_id}"
    item = {"id": item_id, "type": "function_call", "name": name, "call_id": call_id, "arguments": ""}
    return [
        {"type": "response.created", "response": {"id": response_id}},
        {"type": "response.output_item.added", "response_id": response_id, "item": item},
        {"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id,
         "call_id": call_id, "name": name, "arguments": arguments},
    ]
