"""Route overrides are enforced on session.update and response.create."""

import pytest

from gateway.core.errors import InvalidRequest
from gateway.core.overrides import apply_to_response, apply_to_session
from gateway.core.routing import SessionOverrides


def test_prefix_applies_to_first_update_without_instructions() -> None:
    """The instructions prefix is set even when the first update has none."""
    s = apply_to_session({"type": "realtime"}, SessionOverrides(instructions_prefix="Policy."), first=True)
    assert s["instructions"] == "Policy."


def test_later_update_without_instructions_is_left_alone() -> None:
    """A later update that does not touch instructions keeps the earlier effective value."""
    s = apply_to_session({"type": "realtime"}, SessionOverrides(instructions_prefix="Policy."), first=False)
    assert "instructions" not in s


def test_instruction_length_limit() -> None:
    """Over-long instructions are refused with a param pointing at them."""
    with pytest.raises(InvalidRequest) as info:
        apply_to_session({"instructions": "x" * 11}, SessionOverrides(max_instructions_chars=10), first=True)
    assert info.value.param == "session.instructions"


def test_turn_detection_forced_off() -> None:
    """A route can force turn detection off (null)."""
    s = apply_to_session({}, SessionOverrides(turn_detection=None), first=True)
    assert s["audio"]["input"]["turn_detection"] is None


def test_turn_detection_untouched_by_default() -> None:
    """Default overrides leave turn detection to the client."""
    s = apply_to_session({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}, SessionOverrides(voice="cedar"), first=True)
    assert s["audio"]["input"]["turn_detection"] == {"type": "server_vad"}


def test_response_tokens_capped_and_tools_checked() -> None:
    """response.create cannot exceed the route's output tokens or bring unlisted tools."""
    o = SessionOverrides(max_output_tokens=50, tool_allowlist=frozenset({"ok"}))
    assert apply_to_response({"max_output_tokens": "inf"}, o)["max_output_tokens"] == 50
    with pytest.raises(InvalidRequest):
        apply_to_response({"tools": [{"type": "function", "name": "bad"}]}, o)
