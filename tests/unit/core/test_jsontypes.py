"""The JSON aliases' accessors: a member of the wrong shape reads as absent, never raises."""

from __future__ import annotations

from gateway.core.jsontypes import as_dict, as_int, as_list, as_number, as_object, member


def test_as_object_keeps_an_object_and_replaces_anything_else() -> None:
    """An object comes back as the same dict (mutations stick); other values read as empty."""
    obj: dict[str, object] = {"a": 1}
    assert as_object(obj) is obj
    assert as_object([1]) == {} and as_object(None) == {} and as_object("x") == {}
    assert as_dict({"b": 2}) == {"b": 2} and as_dict(3) == {}


def test_as_list_keeps_a_list_only() -> None:
    """A JSON array passes through; an object or scalar reads as an empty array."""
    assert as_list([1, "a"]) == [1, "a"]
    assert as_list({"a": 1}) == [] and as_list(None) == []


def test_member_walks_nested_objects_and_stops_at_a_wrong_shape() -> None:
    """``member`` returns the nested value, or None when any step is missing or not an object."""
    session = {"audio": {"input": {"turn_detection": {"silence_duration_ms": 500}}, "output": []}}
    assert member(session, "audio", "input", "turn_detection", "silence_duration_ms") == 500
    assert member(session, "audio", "output", "voice") is None
    assert member(session, "audio", "missing") is None
    assert member("not an object", "audio") is None


def test_numbers_refuse_booleans_and_text() -> None:
    """JSON numbers convert; booleans, strings and None give the default."""
    assert as_number(1) == 1.0 and as_number(0.5) == 0.5
    assert as_number(True, 9.0) == 9.0 and as_number("1", 2.0) == 2.0 and as_number(None) == 0.0
    assert as_int(2.9) == 2 and as_int(False, 7) == 7 and as_int("3") == 0
