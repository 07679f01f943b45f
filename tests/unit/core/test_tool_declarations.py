"""The gateway's tool definitions merged into a client's tool list and hidden from the sessions it is shown."""

from __future__ import annotations

import pytest

from gateway.core.errors import InvalidRequest
from gateway.core.tool_declarations import declare_on_call, hide, merged, restored

OURS = {"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}
THEIRS = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def test_merged_appends_ours_and_refuses_a_clash_or_a_non_list() -> None:
    """Client tools first, then ours; a same-named client tool or a non-array is an invalid_request_error."""
    assert merged([THEIRS], [OURS], {"lookup_order"}, "session.tools") == [THEIRS, OURS]
    with pytest.raises(InvalidRequest) as info:
        merged([{**THEIRS, "name": "lookup_order"}], [OURS], {"lookup_order"}, "response.tools")
    assert info.value.param == "response.tools" and "lookup_order" in str(info.value)
    with pytest.raises(InvalidRequest):
        merged("all", [OURS], {"lookup_order"}, "session.tools")


def test_hide_removes_only_ours_and_says_whether_it_changed_anything() -> None:
    """A reported session loses the gateway's definitions; one without them is left untouched."""
    session = {"tools": [THEIRS, OURS]}
    assert hide(session, {"lookup_order"}) and session["tools"] == [THEIRS]
    assert not hide(session, {"lookup_order"}) and session["tools"] == [THEIRS]
    assert not hide({"tools": None}, {"lookup_order"})


def test_a_call_session_declares_ours_after_the_callers_and_refuses_a_clash() -> None:
    """Direct-media calls: the forced session lists the caller's tools then ours; a same-named caller tool is refused."""
    session = {"tools": [THEIRS]}
    declare_on_call(session, [OURS])
    assert session["tools"] == [THEIRS, OURS]
    empty: dict = {}
    declare_on_call(empty, [OURS])
    assert empty == {"tools": [OURS]}
    untouched: dict = {}
    declare_on_call(untouched, [])
    assert untouched == {}
    with pytest.raises(InvalidRequest):
        declare_on_call({"tools": [{**THEIRS, "name": "lookup_order"}]}, [OURS])


def test_restored_puts_back_only_what_is_missing() -> None:
    """Missing gateway tools are appended; a list that has them (by name) needs nothing."""
    assert restored([THEIRS], [OURS]) == [THEIRS, OURS]
    assert restored([THEIRS, OURS], [OURS]) is None
