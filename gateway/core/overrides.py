"""Enforce a route's session overrides on every path a client can configure the model by.

The gateway sends the route's own ``session.update`` before any client event (:func:`opening_session`),
re-applies the overrides to every client ``session.update`` (:func:`apply_to_session`) and to every
``response.create``, in-band or out-of-band (:func:`apply_to_response`): a client that never sends
``session.update`` and only asks for responses gets exactly the same enforcement.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Final, Mapping

from gateway.core.errors import InvalidRequest, ToolsNotAllowed
from gateway.core.kinds import SessionKind
from gateway.core.routing import McpServerRule, SessionOverrides, ToolAllowlist

from gateway.core.jsontypes import JsonObject

#: ``response.create`` fields a pinned session configuration also governs
_PINNED_RESPONSE_FIELDS: Final = ("output_modalities", "tool_choice")


def _child(parent: JsonObject, key: str) -> JsonObject:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def check_tools(tools: object, allow: ToolAllowlist, param: str) -> None:
    """Refuse any declared tool outside the allow-list (silently dropping it would confuse the app)."""
    if not isinstance(tools, list):
        raise InvalidRequest(f"'{param}' must be an array of tools.", param=param)
    refused = sorted({reason for reason in map(allow.refusal, tools) if reason is not None})
    if refused:
        raise ToolsNotAllowed(f"Tool(s) not allowed on this route: {', '.join(refused)}.", param=param)


def _instructions(value: object, overrides: SessionOverrides, param: str) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)
    text = value or ""
    if overrides.max_instructions_chars is not None and len(text) > overrides.max_instructions_chars:
        raise InvalidRequest(
            f"Instructions exceed {overrides.max_instructions_chars} characters on this route.", param=param
        )
    if overrides.instructions_prefix:
        return f"{overrides.instructions_prefix}\n\n{text}" if text else overrides.instructions_prefix
    return text


def _refuse_stored_prompt(target: JsonObject, overrides: SessionOverrides, param: str) -> None:
    """A stored prompt brings its own instructions and tools: not on a route that rules either."""
    rules_content = overrides.instructions_prefix or overrides.max_instructions_chars is not None
    if target.get("prompt") is not None and (rules_content or overrides.tool_allowlist is not None):
        raise InvalidRequest(
            "Stored prompts are not allowed on this route: the gateway enforces its instructions and tools.", param=param
        )


def _clamp_tokens(target: JsonObject, ceiling: int | None) -> None:
    if ceiling is None:
        return
    asked = target.get("max_output_tokens")
    if isinstance(asked, bool) or not isinstance(asked, int) or asked > ceiling:
        target["max_output_tokens"] = ceiling


def _pin(target: JsonObject, pinned: JsonObject) -> None:
    """Deep-merge ``pinned`` over ``target``: objects key by key, every other value replaced."""
    for key, value in pinned.items():
        current = target.get(key)
        if isinstance(value, dict) and value and isinstance(current, dict):
            _pin(current, value)
        else:
            target[key] = copy.deepcopy(value)


def apply_to_session(session: JsonObject, overrides: SessionOverrides, kind: SessionKind) -> JsonObject:
    """Rewrite a GA ``session`` object in place with what the route (and a bound client secret) enforce."""
    if overrides.empty:
        return session
    if overrides.pinned:
        _pin(session, overrides.pinned)
    if kind is SessionKind.TRANSLATION:
        return session
    if overrides.sets_turn_detection:
        _child(_child(session, "audio"), "input")["turn_detection"] = copy.deepcopy(overrides.turn_detection)
    if kind is not SessionKind.REALTIME:
        return session
    _refuse_stored_prompt(session, overrides, "session.prompt")
    if "instructions" in session:
        session["instructions"] = _instructions(session.get("instructions"), overrides, "session.instructions")
    if overrides.voice is not None:
        _child(_child(session, "audio"), "output")["voice"] = overrides.voice
    _clamp_tokens(session, overrides.max_output_tokens)
    if overrides.tool_allowlist is not None and "tools" in session:
        check_tools(session["tools"], overrides.tool_allowlist, "session.tools")
    return session


def opening_session(
    kind: SessionKind, overrides: SessionOverrides, initial: Mapping[str, object] | None = None
) -> JsonObject | None:
    """The ``session`` of the update the gateway sends first, or ``None`` when nothing is enforced.

    ``initial`` is a client secret's bound configuration: its tools are declared here (its instructions
    are already part of ``overrides``' prefix, see :func:`with_bound_session`).
    """
    if overrides.empty and not initial:
        return None
    session: JsonObject = {k: copy.deepcopy(v) for k, v in (initial or {}).items() if k not in ("instructions", "model")}
    if kind is not SessionKind.TRANSLATION:
        session["type"] = kind.value
    if kind is SessionKind.REALTIME and overrides.instructions_prefix:
        session["instructions"] = ""
    apply_to_session(session, overrides, kind)
    session.pop("model", None)  # the model is the handshake's; an update may not change it
    return session if set(session) - {"type"} else None


def apply_to_response(response: JsonObject, overrides: SessionOverrides) -> JsonObject:
    """Rewrite a ``response.create``'s ``response`` object in place (in-band and ``conversation: "none"``)."""
    if overrides.empty:
        return response
    _refuse_stored_prompt(response, overrides, "response.prompt")
    if "instructions" in response:
        response["instructions"] = _instructions(response.get("instructions"), overrides, "response.instructions")
    _clamp_tokens(response, overrides.max_output_tokens)
    if overrides.tool_allowlist is not None and "tools" in response:
        check_tools(response["tools"], overrides.tool_allowlist, "response.tools")
    pinned = overrides.pinned or {}
    for name in _PINNED_RESPONSE_FIELDS:
        if name in response and name in pinned:
            response[name] = copy.deepcopy(pinned[name])
    pinned_audio = pinned.get("audio")
    pinned_out = pinned_audio.get("output") if isinstance(pinned_audio, dict) else None
    if isinstance(response.get("audio"), dict) and isinstance(pinned_out, dict):
        _pin(_child(_child(response, "audio"), "output"), pinned_out)
    if overrides.voice is not None and isinstance(response.get("audio"), dict):
        _child(_child(response, "audio"), "output")["voice"] = overrides.voice
    return response


def _allowlist_of(tools: list[object]) -> ToolAllowlist:
    """Exactly the declared tools: functions by name, MCP tools by their server URL and label."""
    functions = frozenset(str(t["name"]) for t in tools if isinstance(t, dict) and t.get("type", "function") == "function" and "name" in t)
    servers = tuple(
        McpServerRule(
            server_url=t.get("server_url") if isinstance(t.get("server_url"), str) else None,
            server_label=t.get("server_label") if isinstance(t.get("server_label"), str) else None,
        )
        for t in tools
        if isinstance(t, dict) and t.get("type") == "mcp"
    )
    return ToolAllowlist(functions=functions, mcp_servers=servers)


def with_bound_session(
    overrides: SessionOverrides, bound: Mapping[str, object] | None, kind: SessionKind
) -> SessionOverrides:
    """A client secret's bound configuration enforced like the route's overrides, for the whole session.

    Its instructions follow the route's prefix and lead every instruction the client sends; its tools
    become the session's tool allow-list; its ``max_output_tokens`` a ceiling; every other field is pinned.
    (The bound configuration was checked against the route's overrides when the secret was minted.)
    """
    if not bound:
        return overrides
    pinned: JsonObject = {k: copy.deepcopy(v) for k, v in bound.items() if k not in ("type", "model", "instructions", "tools", "max_output_tokens")}
    prefix = overrides.instructions_prefix
    tools, ceiling = overrides.tool_allowlist, overrides.max_output_tokens
    if kind is SessionKind.REALTIME:
        instructions = bound.get("instructions")
        if isinstance(instructions, str) and instructions:
            prefix = f"{prefix}\n\n{instructions}" if prefix else instructions
        if isinstance(bound.get("tools"), list):
            tools = _allowlist_of(bound["tools"])  # type: ignore[arg-type]
        asked = bound.get("max_output_tokens")
        if isinstance(asked, int) and not isinstance(asked, bool):
            ceiling = asked if ceiling is None else min(ceiling, asked)
    if overrides.pinned:
        merged = copy.deepcopy(overrides.pinned)
        _pin(merged, pinned)
        pinned = merged
    return dataclasses.replace(
        overrides, instructions_prefix=prefix, tool_allowlist=tools, max_output_tokens=ceiling, pinned=pinned or None
    )
