"""Enforce a route's session overrides on the client's ``session.update`` and ``response.create``."""

from __future__ import annotations

from gateway.core.errors import InvalidRequest
from gateway.core.routing import SessionOverrides

JsonObject = dict[str, object]


def _child(parent: JsonObject, key: str) -> JsonObject:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _filter_tools(tools: object, allow: frozenset[str]) -> list[object]:
    """Refuse tools outside the allow-list (silently dropping them would confuse the app)."""
    if not isinstance(tools, list):
        return []
    refused = [
        str(t.get("name"))
        for t in tools
        if isinstance(t, dict) and t.get("type", "function") == "function" and t.get("name") not in allow
    ]
    if refused:
        raise InvalidRequest(
            f"Tool(s) not allowed on this route: {', '.join(sorted(refused))}.", param="session.tools"
        )
    return tools


def _instructions(value: object, overrides: SessionOverrides) -> str:
    text = value if isinstance(value, str) else ""
    if overrides.max_instructions_chars is not None and len(text) > overrides.max_instructions_chars:
        raise InvalidRequest(
            f"Instructions exceed {overrides.max_instructions_chars} characters on this route.",
            param="session.instructions",
        )
    if overrides.instructions_prefix:
        return f"{overrides.instructions_prefix}\n\n{text}" if text else overrides.instructions_prefix
    return text


def apply_to_session(session: JsonObject, overrides: SessionOverrides, *, first: bool) -> JsonObject:
    """Rewrite a GA ``session`` object in place; ``first`` = the session's first update (prefix applies even if absent)."""
    if overrides.empty:
        return session
    if "instructions" in session or (first and overrides.instructions_prefix):
        session["instructions"] = _instructions(session.get("instructions"), overrides)
    if overrides.voice is not None:
        _child(_child(session, "audio"), "output")["voice"] = overrides.voice
    if overrides.max_output_tokens is not None:
        asked = session.get("max_output_tokens")
        if not isinstance(asked, int) or asked > overrides.max_output_tokens:
            session["max_output_tokens"] = overrides.max_output_tokens
    if overrides.sets_turn_detection:
        _child(_child(session, "audio"), "input")["turn_detection"] = overrides.turn_detection
    if overrides.tool_allowlist is not None and "tools" in session:
        session["tools"] = _filter_tools(session["tools"], overrides.tool_allowlist)
    return session


def apply_to_response(response: JsonObject, overrides: SessionOverrides) -> JsonObject:
    """Rewrite a ``response.create``'s ``response`` object in place."""
    if overrides.empty:
        return response
    if "instructions" in response:
        response["instructions"] = _instructions(response.get("instructions"), overrides)
    if overrides.max_output_tokens is not None:
        asked = response.get("max_output_tokens")
        if not isinstance(asked, int) or asked > overrides.max_output_tokens:
            response["max_output_tokens"] = overrides.max_output_tokens
    if overrides.tool_allowlist is not None and "tools" in response:
        response["tools"] = _filter_tools(response["tools"], overrides.tool_allowlist)
    if overrides.voice is not None and isinstance(response.get("audio"), dict):
        _child(_child(response, "audio"), "output")["voice"] = overrides.voice
    return response
