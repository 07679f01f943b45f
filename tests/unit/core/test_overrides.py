"""Route overrides: the gateway's opening update, and enforcement on session.update and response.create."""

import pytest

from gateway.core.errors import InvalidRequest
from gateway.core.kinds import SessionKind
from gateway.core.overrides import apply_to_response, apply_to_session, opening_session
from gateway.core.routing import McpServerRule, SessionOverrides, ToolAllowlist

RT = SessionKind.REALTIME
ALLOW = ToolAllowlist(
    functions=frozenset({"ok"}),
    mcp_servers=(McpServerRule(server_url="https://mcp.example.com/sse"), McpServerRule(server_label="docs")),
)


def test_opening_update_carries_every_override() -> None:
    """The gateway's own first update sets the prefix, voice, token ceiling and turn detection."""
    o = SessionOverrides(instructions_prefix="Policy.", voice="cedar", max_output_tokens=80, turn_detection=None)
    s = opening_session(RT, o)
    assert s == {
        "type": "realtime", "instructions": "Policy.", "max_output_tokens": 80,
        "audio": {"output": {"voice": "cedar"}, "input": {"turn_detection": None}},
    }


def test_no_opening_update_without_overrides() -> None:
    """A route without overrides adds nothing to the upstream conversation."""
    assert opening_session(RT, SessionOverrides()) is None


def test_opening_update_for_transcription_has_only_what_applies() -> None:
    """A transcription session gets turn detection but no response settings."""
    o = SessionOverrides(instructions_prefix="x", voice="cedar", turn_detection={"type": "server_vad"})
    assert opening_session(SessionKind.TRANSCRIPTION, o) == {
        "type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
    }
    assert opening_session(SessionKind.TRANSCRIPTION, SessionOverrides(voice="cedar")) is None


def test_later_update_without_instructions_is_left_alone() -> None:
    """An update that does not touch instructions keeps the prefixed value set by the opening update."""
    s = apply_to_session({"type": "realtime"}, SessionOverrides(instructions_prefix="Policy."), RT)
    assert "instructions" not in s


def test_instruction_length_limit() -> None:
    """Over-long instructions are refused with a param pointing at them."""
    with pytest.raises(InvalidRequest) as info:
        apply_to_session({"instructions": "x" * 11}, SessionOverrides(max_instructions_chars=10), RT)
    assert info.value.param == "session.instructions"


def test_non_string_instructions_refused() -> None:
    """Instructions that are not text cannot slip past the prefix."""
    with pytest.raises(InvalidRequest):
        apply_to_session({"instructions": ["x"]}, SessionOverrides(instructions_prefix="P"), RT)


def test_turn_detection_forced_off() -> None:
    """A route can force turn detection off (null)."""
    s = apply_to_session({}, SessionOverrides(turn_detection=None), RT)
    assert s["audio"]["input"]["turn_detection"] is None


def test_turn_detection_untouched_by_default() -> None:
    """Default overrides leave turn detection to the client."""
    s = apply_to_session({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}, SessionOverrides(voice="cedar"), RT)
    assert s["audio"]["input"]["turn_detection"] == {"type": "server_vad"}


def test_response_tokens_capped_and_tools_checked() -> None:
    """response.create cannot exceed the route's output tokens or bring unlisted tools."""
    o = SessionOverrides(max_output_tokens=50, tool_allowlist=ALLOW)
    assert apply_to_response({"max_output_tokens": "inf"}, o)["max_output_tokens"] == 50
    assert apply_to_response({}, o)["max_output_tokens"] == 50
    assert apply_to_response({"max_output_tokens": 10}, o)["max_output_tokens"] == 10
    with pytest.raises(InvalidRequest):
        apply_to_response({"tools": [{"type": "function", "name": "bad"}]}, o)


def test_out_of_band_response_gets_prefix_and_voice() -> None:
    """An out-of-band response's own instructions and voice obey the route."""
    o = SessionOverrides(instructions_prefix="Policy.", voice="cedar")
    r = apply_to_response({"conversation": "none", "instructions": "Do X", "audio": {"output": {"voice": "ash"}}}, o)
    assert r["instructions"] == "Policy.\n\nDo X"
    assert r["audio"]["output"]["voice"] == "cedar"


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "function", "name": "ok"},
        {"name": "ok"},
        {"type": "mcp", "server_label": "anything", "server_url": "https://mcp.example.com/sse"},
        {"type": "mcp", "server_label": "docs", "server_url": "https://docs.example.org"},
    ],
)
def test_allowed_tools_pass(tool: dict) -> None:
    """Function tools by name and MCP tools by server URL or label pass the allow-list."""
    assert ALLOW.refusal(tool) is None
    apply_to_session({"tools": [tool]}, SessionOverrides(tool_allowlist=ALLOW), RT)


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "function", "name": "other"},
        {"type": "mcp", "server_label": "evil", "server_url": "https://evil.example/sse"},
        {"type": "mcp", "connector_id": "connector_gmail", "server_label": "x"},
        {"type": "code_interpreter"},
        {"type": "web_search"},
        "function",
        {"type": "function"},
    ],
)
def test_other_tools_refused(tool: object) -> None:
    """Unlisted functions, unlisted MCP servers, connectors and unknown tool types are refused."""
    with pytest.raises(InvalidRequest) as info:
        apply_to_session({"tools": [tool]}, SessionOverrides(tool_allowlist=ALLOW), RT)
    assert info.value.param == "session.tools"


def test_function_only_allowlist_refuses_mcp() -> None:
    """A route that allows one function refuses any MCP server (the reported bypass)."""
    allow = ToolAllowlist(functions=frozenset({"lookup"}))
    with pytest.raises(InvalidRequest, match="MCP server"):
        apply_to_session({"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x"}]}, SessionOverrides(tool_allowlist=allow), RT)


def test_tools_must_be_a_list() -> None:
    """A tools value that is not an array is refused rather than passed through."""
    with pytest.raises(InvalidRequest):
        apply_to_session({"tools": {"type": "mcp"}}, SessionOverrides(tool_allowlist=ALLOW), RT)


def test_pinned_fields_replace_the_clients() -> None:
    """Pinned (bound) fields overwrite the client's on every update, objects merged key by key."""
    o = SessionOverrides(pinned={"audio": {"input": {"transcription": {"model": "cheap"}}}, "output_modalities": ["text"]})
    s = apply_to_session({"audio": {"input": {"transcription": {"model": "dear", "language": "de"}}}, "output_modalities": ["audio"]}, o, RT)
    assert s["audio"]["input"]["transcription"] == {"model": "cheap", "language": "de"}
    assert s["output_modalities"] == ["text"]
    assert apply_to_response({"output_modalities": ["audio"]}, o)["output_modalities"] == ["text"]


def test_bound_session_is_enforced_like_overrides() -> None:
    """A client secret's bound config: instructions lead, tools become the allow-list, tokens a ceiling, the rest pinned."""
    from gateway.core.overrides import with_bound_session

    bound = {"type": "realtime", "model": "m", "instructions": "Bound.", "max_output_tokens": 100,
             "tools": [{"type": "function", "name": "lookup"}], "audio": {"output": {"voice": "verse"}}}
    o = with_bound_session(SessionOverrides(instructions_prefix="Route.", max_output_tokens=50), bound, RT)
    assert o.instructions_prefix == "Route.\n\nBound." and o.max_output_tokens == 50
    assert o.tool_allowlist == ToolAllowlist(functions=frozenset({"lookup"}))
    assert o.pinned == {"audio": {"output": {"voice": "verse"}}}
    opening = opening_session(RT, o, bound)
    assert opening is not None and "model" not in opening
    assert opening["instructions"] == "Route.\n\nBound." and opening["tools"] == bound["tools"]
    s = apply_to_session({"instructions": "Mine.", "audio": {"output": {"voice": "ash"}}}, o, RT)
    assert s["instructions"] == "Route.\n\nBound.\n\nMine." and s["audio"]["output"]["voice"] == "verse"


def test_stored_prompt_refused_where_instructions_or_tools_are_ruled() -> None:
    """A stored prompt (its own instructions and tools) cannot replace a route's prefix or allow-list."""
    with pytest.raises(InvalidRequest) as info:
        apply_to_session({"prompt": {"id": "pmpt_1"}}, SessionOverrides(instructions_prefix="P"), RT)
    assert info.value.param == "session.prompt"
    with pytest.raises(InvalidRequest):
        apply_to_response({"prompt": {"id": "pmpt_1"}}, SessionOverrides(tool_allowlist=ALLOW))
    assert apply_to_session({"prompt": {"id": "pmpt_1"}}, SessionOverrides(voice="cedar"), RT)["prompt"] == {"id": "pmpt_1"}
