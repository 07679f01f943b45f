"""Each match attribute and each text test, one rule at a time."""

from __future__ import annotations

from typing import Callable

import pytest

from gateway.core.kinds import EndpointKind
from routers import decide
from routers.compiled import CompiledPolicy
from tests.unit.routers.conftest import request

Compile = Callable[[str], CompiledPolicy]


def one_rule(match: str) -> str:
    return f"""
version: 1
rules:
  - id: hit
    match: {match}
    route: {{model: gpt-realtime-2.1-mini}}
defaults:
  otherwise: {{deny: {{reason: nothing matched}}}}
"""


def fires(compile_policy: Compile, match: str, **fields: object) -> bool:
    return decide(compile_policy(one_rule(match)), request(**fields)).rule_id == "hit"


@pytest.mark.parametrize(
    ("match", "value", "expected"),
    [
        ("acme", "acme", True),
        ("acme", "acme-eu", False),
        ("[acme, globex]", "globex", True),
        ("{one_of: [acme, globex]}", "initech", False),
        ("{exact: acme}", "acme", True),
        ("{glob: 'acme-*'}", "acme-eu", True),
        ("{glob: 'acme-*'}", "xacme-eu", False),
        ("{regex: 'acme-(eu|us)'}", "acme-us", True),
        ("{regex: 'acme'}", "acme-us", False),
        ("{present: true}", "anyone", True),
    ],
)
def test_text_tests_on_tenant(compile_policy: Compile, match: str, value: str, expected: bool) -> None:
    """Exact, one-of, glob and regex match the whole tenant value; present matches any value."""
    assert fires(compile_policy, f"{{tenant: {match}}}", tenant=value) is expected


def test_present_false_matches_only_absent_values(compile_policy: Compile) -> None:
    """`present: false` matches a request without the attribute and not one with it."""
    match = "{tenant: {present: false}}"
    assert fires(compile_policy, match) is True
    assert fires(compile_policy, match, tenant="acme") is False


def test_absent_attribute_never_matches_a_value_test(compile_policy: Compile) -> None:
    """A request without a tenant does not match a tenant glob that would match anything."""
    assert fires(compile_policy, "{tenant: {glob: '*'}}") is False


def test_header_names_are_case_insensitive(compile_policy: Compile) -> None:
    """A rule naming `X-Team` matches the adapter's lower-cased `x-team` header."""
    assert fires(compile_policy, "{headers: {X-Team: blue}}", headers={"x-team": "blue"})
    assert not fires(compile_policy, "{headers: {X-Team: blue}}", headers={"x-team": "Blue"})


def test_query_and_label_match(compile_policy: Compile) -> None:
    """Query parameters and key labels match by name and value."""
    assert fires(compile_policy, "{query: {app: demo}}", query={"app": "demo"})
    assert not fires(compile_policy, "{query: {app: demo}}", query={"App": "demo"})
    assert fires(compile_policy, "{labels: {tier: [gold, silver]}}", key_labels={"tier": "silver"})
    assert not fires(compile_policy, "{labels: {tier: gold}}", key_labels={"plan": "gold"})


def test_key_path_and_endpoint_match(compile_policy: Compile) -> None:
    """The key id, path and endpoint kind are matchable."""
    assert fires(compile_policy, "{key: k-1}", key_id="k-1")
    assert fires(compile_policy, "{path: {glob: '/v1/*'}}")
    assert fires(compile_policy, "{endpoint: calls}", endpoint=EndpointKind.CALLS)
    assert not fires(compile_policy, "{endpoint: calls}")


def test_model_matches_what_the_client_asked_for(compile_policy: Compile) -> None:
    """`model` compares the requested model name, including names the catalog does not know."""
    assert fires(compile_policy, "{model: my-alias}", requested_model="my-alias")
    assert not fires(compile_policy, "{model: gpt-realtime-2}", requested_model="gpt-realtime-2.1")


def test_intent_matches_the_classified_kind_with_vocabulary(compile_policy: Compile) -> None:
    """`intent: agent` means realtime, and matches a session classified realtime from its model."""
    assert fires(compile_policy, "{intent: agent}", requested_model="gpt-realtime-2")
    assert fires(compile_policy, "{intent: captions}", declared_intent="transcription")
    assert not fires(compile_policy, "{intent: translation}", declared_intent="Voice-Agent")


def test_declared_intent_matches_the_raw_declaration(compile_policy: Compile) -> None:
    """`declared_intent` sees the normalized declared word, not the classified kind."""
    assert fires(compile_policy, "{declared_intent: captions}", declared_intent="Captions")
    assert not fires(compile_policy, "{declared_intent: captions}", declared_intent="transcription")


def test_languages_come_from_the_first_session_update(compile_policy: Compile) -> None:
    """Transcription language(s) and translation output language are read from the session object."""
    captions = {"type": "transcription", "audio": {"input": {"transcription": {"model": "x", "languages": ["EN", "ko"]}}}}
    assert fires(compile_policy, "{transcription_language: ko}", first_session_update=captions)
    assert not fires(compile_policy, "{transcription_language: fr}", first_session_update=captions)
    translate = {"audio": {"output": {"language": "es"}}}
    assert fires(compile_policy, "{translation_language: [es, pt]}", first_session_update=translate)
    assert not fires(compile_policy, "{translation_language: es}")


def test_declares_tools(compile_policy: Compile) -> None:
    """`declares_tools` is true only for a session.update with a non-empty tools list."""
    tools = {"type": "realtime", "tools": [{"type": "function", "name": "lookup"}]}
    assert fires(compile_policy, "{declares_tools: true}", first_session_update=tools)
    assert fires(compile_policy, "{declares_tools: false}", first_session_update={"type": "realtime", "tools": []})
    assert not fires(compile_policy, "{declares_tools: true}")


@pytest.mark.parametrize(
    ("bounds", "ratio", "expected"),
    [("{gte: 0.8}", 0.8, True), ("{gt: 0.8}", 0.8, False), ("{lt: 0.5}", 0.2, True), ("{gte: 0.5, lte: 0.9}", 0.95, False)],
)
def test_budget_used_bounds(compile_policy: Compile, bounds: str, ratio: float, expected: bool) -> None:
    """Budget bounds are inclusive or exclusive as written."""
    assert fires(compile_policy, f"{{budget_used: {bounds}}}", budget_used_ratio=ratio) is expected


def test_budget_condition_never_matches_without_a_budget(compile_policy: Compile) -> None:
    """A key with no budget (ratio None) does not match even `lt` bounds."""
    assert not fires(compile_policy, "{budget_used: {lt: 1.0}}")
