"""Bad policy input is rejected with file:line:column messages; good input compiles."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from gateway.core.catalog import Catalog
from gateway.policy.loader import PolicyError, PolicySource, compile_sources, load_policy_files

Problems = Callable[[str], list[str]]


def test_malformed_yaml(problems_of: Problems) -> None:
    """An unclosed flow sequence is reported where the parser gave up."""
    assert problems_of("version: 1\nrules: [\n") == [
        "p.yaml:3:1: invalid YAML: while parsing a flow node expected the node content, but found '<stream end>'"
    ]


def test_duplicate_yaml_key(problems_of: Problems) -> None:
    """A key given twice in one mapping is an error at the second one."""
    (problem,) = problems_of("version: 1\nrules: []\nrules: []\n")
    assert problem == "p.yaml:3:1: duplicate key 'rules' (first defined on line 2)"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(problems_of: Problems, text: str) -> None:
    """An empty document is rejected, not treated as a policy that denies everything."""
    assert problems_of(text) == ["p.yaml:1:1: the policy file is empty"]


def test_unknown_field_points_at_the_key(problems_of: Problems) -> None:
    """A misspelt key is reported at the key itself."""
    text = "version: 1\nrules:\n  - id: a\n    match: {tennant: acme}\n    route: {model: gpt-realtime-2}\n"
    assert problems_of(text) == ["p.yaml:4:13: rules[0].match.tennant: unknown field 'tennant'"]


def test_wrong_type(problems_of: Problems) -> None:
    """A number where a string test is expected names the value's position."""
    text = "version: 1\nrules:\n  - id: a\n    match:\n      tenant: 42\n    route: {model: gpt-realtime-2}\n"
    assert problems_of(text) == ["p.yaml:5:15: rules[0].match.tenant: Input should be a valid string"]


def test_wrong_version_and_missing_field(problems_of: Problems) -> None:
    """Version 2 is refused; a rule without an id reports the mapping that lacks it."""
    text = "version: 2\nrules:\n  - match: {}\n    route: {model: gpt-realtime-2}\n"
    assert problems_of(text) == [
        "p.yaml:1:10: version: Input should be 1",
        "p.yaml:3:5: rules[0].id: missing required field 'id'",
    ]


def test_route_and_deny_together(problems_of: Problems) -> None:
    """A rule must have exactly one of route and deny."""
    text = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2}\n    deny: {reason: x}\n"
    assert problems_of(text) == ["p.yaml:3:5: rules[0]: set exactly one of route, deny"]


def test_regex_that_does_not_compile(problems_of: Problems) -> None:
    """A broken regex is reported at the regex, with the compiler's complaint."""
    text = "version: 1\nrules:\n  - id: a\n    match:\n      model: {regex: 'gpt-(realtime'}\n    deny: {reason: x}\n"
    (problem,) = problems_of(text)
    assert problem.startswith("p.yaml:5:22: rules[0].match.model.regex: regex does not compile: missing ), unterminated")


def test_text_match_needs_exactly_one_test(problems_of: Problems) -> None:
    """`{exact: a, glob: b}` is ambiguous and refused."""
    text = "version: 1\nrules:\n  - id: a\n    match: {tenant: {exact: a, glob: 'b*'}}\n    deny: {reason: x}\n"
    assert problems_of(text) == ["p.yaml:4:21: rules[0].match.tenant: set exactly one of exact, one_of, glob, regex, present (got exact, glob)"]


def test_unknown_model_and_upstream(problems_of: Problems) -> None:
    """Routes to models or endpoints the catalog lacks are reported at the value."""
    text = (
        "version: 1\nrules:\n  - id: a\n    route:\n      model: gpt-9\n"
        "  - id: b\n    route:\n      model: gpt-realtime-2\n      upstreams: [openai, azure-west]\n"
    )
    problems = problems_of(text)
    assert problems[0].startswith("p.yaml:5:14: rules[0].route.model: unknown model 'gpt-9' (the catalog serves: gpt-realtime-2,")
    assert problems[1].startswith("p.yaml:9:27: rules[1].route.upstreams[1]: unknown upstream endpoint 'azure-west' (known: openai")


def test_unknown_intent_and_endpoint_words(problems_of: Problems) -> None:
    """Intent and endpoint values are checked against their vocabularies."""
    text = "version: 1\nrules:\n  - id: a\n    match: {intent: dictation, endpoint: webrtc}\n    deny: {reason: x}\n"
    problems = problems_of(text)
    assert problems[0].startswith("p.yaml:4:21: rules[0].match.intent: unknown intent 'dictation'; use one of: realtime, agent")
    assert problems[1] == "p.yaml:4:42: rules[0].match.endpoint: unknown endpoint 'webrtc'; use one of: calls, realtime, sip, translations"


def test_duplicate_rule_id(problems_of: Problems) -> None:
    """A second rule with the same id names where the first is."""
    text = "version: 1\nrules:\n  - id: a\n    match: {tenant: x}\n    deny: {reason: x}\n  - id: a\n    match: {tenant: y}\n    deny: {reason: y}\n"
    assert problems_of(text) == ["p.yaml:6:9: rules[1].id: duplicate rule id 'a' (first defined at p.yaml:3)"]


def test_unreachable_rule_after_catch_all(problems_of: Problems) -> None:
    """Any rule after one that matches every session is unreachable."""
    text = "version: 1\nrules:\n  - id: all\n    route: {model: gpt-realtime-2}\n  - id: later\n    match: {tenant: x}\n    deny: {reason: x}\n"
    assert problems_of(text) == [
        "p.yaml:5:5: rules[1]: rule 'later' is unreachable: rule 'all' (p.yaml:3) matches every session"
    ]


def test_default_of_the_wrong_kind(problems_of: Problems) -> None:
    """A transcription default must name a transcription model."""
    text = "version: 1\ndefaults:\n  by_kind:\n    transcription: {model: gpt-realtime-2}\n"
    assert problems_of(text) == [
        "p.yaml:4:28: defaults.by_kind.transcription.model: model 'gpt-realtime-2' is a realtime model, not transcription"
    ]


def test_bad_caps(problems_of: Problems) -> None:
    """Costs are decimal USD text with at most six decimals; durations are positive."""
    text = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2, caps: {max_cost_usd: '1.2345678', max_duration_s: 0}}\n"
    problems = problems_of(text)
    assert problems[0].startswith("p.yaml:4:57: rules[0].route.caps.max_cost_usd: String should match pattern")
    assert problems[1] == "p.yaml:4:86: rules[0].route.caps.max_duration_s: Input should be greater than 0"


def test_every_problem_is_reported_at_once(problems_of: Problems) -> None:
    """Several independent problems come back together, in line order."""
    text = "version: 1\nrules:\n  - id: a\n    route: {model: nope}\n  - id: b\n    route: {model: nada}\n"
    assert [p.split(": ")[0] for p in problems_of(text)] == ["p.yaml:4:20", "p.yaml:6:20"]


def test_files_merge_in_order_and_check_across_files(catalog: Catalog) -> None:
    """Rules concatenate across files; a duplicate id or default across files is an error in the later file."""
    first = PolicySource("a.yaml", "version: 1\nrules: [{id: x, match: {tenant: t}, deny: {reason: r}}]\ndefaults: {otherwise: {deny: {reason: r}}}\n")
    second = PolicySource("b.yaml", "version: 1\nrules: [{id: y, match: {tenant: u}, deny: {reason: r}}]\n")
    policy = compile_sources([first, second], catalog)
    assert [r.id for r in policy.rules] == ["x", "y"] and policy.files == ("a.yaml", "b.yaml")
    clash = PolicySource("c.yaml", "version: 1\nrules: [{id: x, match: {tenant: v}, deny: {reason: r}}]\ndefaults: {otherwise: {deny: {reason: q}}}\n")
    with pytest.raises(PolicyError) as info:
        compile_sources([first, clash], catalog)
    assert info.value.problems == [
        "c.yaml:2:14: rules[0].id: duplicate rule id 'x' (first defined at a.yaml:2)",
        "c.yaml:3:12: defaults.otherwise: defaults.otherwise is already set by another file",
    ]


def test_missing_file(catalog: Catalog, tmp_path: Path) -> None:
    """A policy file that does not exist is named in the error."""
    missing = tmp_path / "gone.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy_files([missing], catalog)
    assert info.value.problems == [f"{missing}:1:1: cannot read policy file: No such file or directory"]


def test_version_is_a_content_hash(catalog: Catalog) -> None:
    """Equal texts give equal versions; any edit changes it."""
    text = "version: 1\ndefaults: {otherwise: {deny: {reason: r}}}\n"
    a = compile_sources([PolicySource("p.yaml", text)], catalog).version
    b = compile_sources([PolicySource("p.yaml", text)], catalog).version
    c = compile_sources([PolicySource("p.yaml", text + "# edit\n")], catalog).version
    assert a == b != c


def test_yaml_anchors_share_route_settings(catalog: Catalog) -> None:
    """YAML anchors and merge keys work for sharing caps between rules."""
    text = """
version: 1
rules:
  - id: a
    match: {tenant: a}
    route: {model: gpt-realtime-2, caps: &caps {max_cost_usd: "2.00"}}
  - id: b
    match: {tenant: b}
    route: {model: gpt-realtime-2.1, caps: {<<: *caps, max_duration_s: 60}}
"""
    policy = compile_sources([PolicySource("p.yaml", text)], catalog)
    target = policy.rules[1].outcome
    assert getattr(target, "route").caps.max_cost_micros == 2_000_000


def test_barge_in_per_route_compiles_and_defaults_to_protect(catalog: Catalog) -> None:
    """barge_in mode and grace compile onto the route; a route without it protects with the default grace."""
    from gateway.core.barge_in import BargeInMode, BargeInPolicy

    text = (
        "version: 1\nrules:\n"
        "  - id: a\n    match: {tenant: t}\n    route: {model: gpt-realtime-2, barge_in: {mode: observe, grace_ms: 80}}\n"
        "  - id: b\n    match: {tenant: u}\n    route: {model: gpt-realtime-2}\n"
    )
    policy = compile_sources([PolicySource("p.yaml", text)], catalog)
    a, b = (rule.outcome.route for rule in policy.rules)  # type: ignore[union-attr]
    assert a.barge_in == BargeInPolicy(BargeInMode.OBSERVE, 80)
    assert b.barge_in == BargeInPolicy()


def test_barge_in_bad_mode_and_grace_are_rejected(problems_of: Problems) -> None:
    """An unknown mode or a negative grace is reported at its value."""
    text = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2, barge_in: {mode: loud, grace_ms: -1}}\n"
    problems = problems_of(text)
    assert len(problems) == 2
    assert "barge_in.mode" in problems[0] and "barge_in.grace_ms" in problems[1]


def test_barge_in_bare_yaml_off_means_off(catalog: Catalog) -> None:
    """`mode: off` unquoted (a YAML boolean) turns barge-in handling off rather than failing."""
    from gateway.core.barge_in import BargeInMode

    text = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2, barge_in: {mode: off}}\n"
    [rule] = compile_sources([PolicySource("p.yaml", text)], catalog).rules
    assert rule.outcome.route.barge_in.mode is BargeInMode.OFF  # type: ignore[union-attr]


def test_gateway_events_per_route_compiles_defaults_on_and_must_be_a_boolean(catalog: Catalog, problems_of: Problems) -> None:
    """gateway_events: false compiles onto the route, a route without it sends notices, a non-boolean is refused."""
    text = (
        "version: 1\nrules:\n"
        "  - id: a\n    match: {tenant: t}\n    route: {model: gpt-realtime-2, gateway_events: false}\n"
        "  - id: b\n    match: {tenant: u}\n    route: {model: gpt-realtime-2}\n"
    )
    a, b = (rule.outcome.route for rule in compile_sources([PolicySource("p.yaml", text)], catalog).rules)  # type: ignore[union-attr]
    assert a.gateway_events is False and b.gateway_events is True
    bad = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2, gateway_events: sometimes}\n"
    assert any("gateway_events" in p for p in problems_of(bad))
