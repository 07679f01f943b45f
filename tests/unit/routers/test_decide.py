"""First match wins, defaults, denials, routes and model aliasing."""

from __future__ import annotations

from typing import Callable

from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.routing import ToolAllowlist
from routers import decide
from routers.compiled import CompiledPolicy
from tests.unit.routers.conftest import request

Compile = Callable[[str], CompiledPolicy]

ORDERED = """
version: 1
rules:
  - id: first
    match: {tenant: acme}
    route: {model: gpt-realtime-2.1-mini}
  - id: second
    match: {tenant: {glob: 'ac*'}}
    route: {model: gpt-realtime-2.1, name: premium}
  - id: blocked
    match: {tenant: evil}
    deny: {reason: "Tenant suspended."}
defaults:
  by_kind:
    realtime: {model: gpt-realtime-2, prefer_requested: true, caps: {max_cost_usd: "1.25", max_duration_s: 60}}
    transcription: {model: gpt-realtime-whisper}
  by_endpoint:
    calls: {model: gpt-realtime-1.5}
  otherwise: {deny: {reason: "No route for this."}}
"""


def test_first_matching_rule_wins(compile_policy: Compile) -> None:
    """Both rules match tenant acme; the earlier one decides."""
    decision = decide(compile_policy(ORDERED), request(tenant="acme"))
    assert decision.rule_id == "first"
    assert decision.route is not None and decision.route.model == "gpt-realtime-2.1-mini"


def test_route_name_is_rule_id_unless_set(compile_policy: Compile) -> None:
    """Route names default to the rule id; `name` overrides it."""
    policy = compile_policy(ORDERED)
    first = decide(policy, request(tenant="acme")).route
    second = decide(policy, request(tenant="acorn")).route
    assert first is not None and first.name == "first"
    assert second is not None and second.name == "premium"


def test_deny_rule_gives_client_reason(compile_policy: Compile) -> None:
    """A deny rule returns no route, the rule id and the client-facing reason."""
    decision = decide(compile_policy(ORDERED), request(tenant="evil"))
    assert decision.denied and decision.route is None
    assert decision.rule_id == "blocked" and decision.deny_reason == "Tenant suspended."


def test_default_route_per_kind_with_caps(compile_policy: Compile) -> None:
    """No rule matches: the kind's default route applies, caps converted to micro-dollars."""
    decision = decide(compile_policy(ORDERED), request(tenant="other"))
    assert decision.rule_id == "default:realtime"
    assert decision.route is not None
    assert decision.route.model == "gpt-realtime-2" and decision.route.name == "default:realtime"
    assert decision.route.caps.max_cost_micros == 1_250_000 and decision.route.caps.max_duration_s == 60


def test_default_route_per_endpoint_when_kind_matches(compile_policy: Compile) -> None:
    """The calls endpoint default serves realtime sessions; transcription over calls uses the kind default."""
    policy = compile_policy(ORDERED)
    realtime = decide(policy, request(endpoint=EndpointKind.CALLS, path="/v1/realtime/calls"))
    captions = decide(policy, request(endpoint=EndpointKind.CALLS, path="/v1/realtime/calls", declared_intent="captions"))
    assert realtime.rule_id == "default:endpoint:calls" and realtime.route is not None
    assert realtime.route.model == "gpt-realtime-1.5"
    assert captions.rule_id == "default:transcription"


def test_otherwise_denies_when_no_default_for_kind(compile_policy: Compile) -> None:
    """A translation session with no rule and no default gets the `otherwise` refusal."""
    decision = decide(
        compile_policy(ORDERED), request(endpoint=EndpointKind.TRANSLATIONS, path="/v1/realtime/translations")
    )
    assert decision.rule_id == "default:otherwise"
    assert decision.denied and decision.deny_reason == "No route for this."


def test_missing_otherwise_denies_with_standard_reason(compile_policy: Compile) -> None:
    """A policy without defaults refuses unmatched sessions with a clear default reason."""
    policy = compile_policy("version: 1\nrules: [{id: a, match: {tenant: x}, route: {model: gpt-realtime-2}}]\n")
    decision = decide(policy, request())
    assert decision.denied and decision.deny_reason == "No routing rule matched this session."


def test_otherwise_can_route(compile_policy: Compile) -> None:
    """`otherwise: {route: …}` serves everything unmatched."""
    policy = compile_policy("version: 1\ndefaults: {otherwise: {route: {model: gpt-realtime-2.1-mini}}}\n")
    decision = decide(policy, request(declared_intent="captions"))
    assert decision.route is not None and decision.route.model == "gpt-realtime-2.1-mini"


def test_alias_rule_serves_a_different_model(compile_policy: Compile) -> None:
    """A client asking for gpt-realtime-2 is served gpt-realtime-2.1; `matched` names the model."""
    policy = compile_policy(
        "version: 1\nrules: [{id: upgrade, match: {model: gpt-realtime-2}, route: {model: gpt-realtime-2.1}}]\n"
    )
    decision = decide(policy, request(requested_model="gpt-realtime-2"))
    assert decision.route is not None and decision.route.model == "gpt-realtime-2.1"
    assert decision.matched["model"] == "gpt-realtime-2"


def test_prefer_requested_serves_the_requested_catalog_model(compile_policy: Compile) -> None:
    """`prefer_requested` serves the asked-for model of the same kind, with that model's upstreams."""
    policy = compile_policy(ORDERED)
    asked = decide(policy, request(requested_model="gpt-realtime-2.1-mini", tenant="x"))
    snapshot = decide(policy, request(requested_model="gpt-realtime-2-2026-01-15", tenant="x"))
    assert asked.route is not None and asked.route.model == "gpt-realtime-2.1-mini"
    assert snapshot.route is not None and snapshot.route.model == "gpt-realtime-2-2026-01-15"


def test_prefer_requested_ignores_models_of_another_kind(compile_policy: Compile) -> None:
    """Asking for a transcription model with intent=realtime keeps the route's own model."""
    decision = decide(compile_policy(ORDERED), request(requested_model="gpt-realtime-whisper", declared_intent="agent"))
    assert decision.route is not None and decision.route.model == "gpt-realtime-2"


def test_route_upstreams_default_to_catalog_and_can_be_set(compile_policy: Compile) -> None:
    """Upstreams come from the catalog unless the route lists its own failover order."""
    policy = compile_policy(
        "version: 1\nrules: [{id: a, match: {}, route: {model: gpt-realtime-2, upstreams: [openai, openai]}}]\n"
    )
    route = decide(policy, request()).route
    assert route is not None and route.upstreams == ("openai", "openai") and route.kind is SessionKind.REALTIME


def test_overrides_compile_to_session_overrides(compile_policy: Compile) -> None:
    """Route overrides become SessionOverrides; `turn_detection: null` forces it off, absence leaves it."""
    policy = compile_policy(
        """
version: 1
rules:
  - id: strict
    match: {tenant: a}
    route:
      model: gpt-realtime-2
      overrides: {instructions_prefix: Be brief., voice: marin, max_output_tokens: 300, turn_detection: null,
                  tools: [lookup], max_instructions_chars: 100}
  - id: loose
    match: {}
    route: {model: gpt-realtime-2, overrides: {voice: cedar}}
"""
    )
    strict = decide(policy, request(tenant="a")).route
    loose = decide(policy, request(tenant="b")).route
    assert strict is not None and loose is not None
    o = strict.overrides
    assert (o.instructions_prefix, o.voice, o.max_output_tokens, o.max_instructions_chars) == ("Be brief.", "marin", 300, 100)
    assert o.tool_allowlist == ToolAllowlist(functions=frozenset({"lookup"})) and o.sets_turn_detection and o.turn_detection is None
    assert not loose.overrides.sets_turn_detection and loose.overrides.voice == "cedar"


def test_tool_allowlist_by_type_compiles(compile_policy: Compile) -> None:
    """`tools: {functions, mcp_servers}` compiles to a typed allow-list that refuses other MCP servers and types."""
    policy = compile_policy(
        """
version: 1
rules:
  - id: mcp
    match: {}
    route:
      model: gpt-realtime-2
      overrides:
        tools:
          functions: [lookup]
          mcp_servers: [{server_url: "https://mcp.example.com/sse", server_label: docs}]
"""
    )
    route = decide(policy, request(tenant="a")).route
    assert route is not None and route.overrides.tool_allowlist is not None
    allow = route.overrides.tool_allowlist
    assert allow.refusal({"type": "mcp", "server_url": "https://mcp.example.com/sse", "server_label": "docs"}) is None
    assert allow.refusal({"type": "mcp", "server_url": "https://mcp.example.com/sse", "server_label": "other"})
    assert allow.refusal({"type": "web_search"}) and allow.refusal({"type": "function", "name": "x"})


def test_budget_downgrade_to_cheaper_route(compile_policy: Compile) -> None:
    """Above 80% of today's budget the cheaper route applies; below it the default does."""
    policy = compile_policy(
        """
version: 1
rules:
  - id: budget-low
    match: {budget_used: {gte: 0.8}, intent: realtime}
    route: {model: gpt-realtime-2.1-mini, caps: {max_cost_usd: "0.50"}}
defaults:
  by_kind: {realtime: {model: gpt-realtime-2}}
"""
    )
    low = decide(policy, request(requested_model="gpt-realtime-2", budget_used_ratio=0.85))
    fine = decide(policy, request(requested_model="gpt-realtime-2", budget_used_ratio=0.5))
    assert low.rule_id == "budget-low" and low.route is not None and low.route.model == "gpt-realtime-2.1-mini"
    assert low.route.caps.max_cost_micros == 500_000
    assert fine.rule_id == "default:realtime"


def test_unknown_declared_intent_is_refused(compile_policy: Compile) -> None:
    """`intent=foo` is refused before rules, naming the accepted vocabulary."""
    decision = decide(compile_policy(ORDERED), request(declared_intent="foo", tenant="acme"))
    assert decision.denied and decision.rule_id == "classify"
    assert decision.deny_reason is not None and "captions" in decision.deny_reason


def test_decide_is_deterministic(compile_policy: Compile) -> None:
    """The same request gets an equal decision every time."""
    policy = compile_policy(ORDERED)
    req = request(tenant="acorn", budget_used_ratio=0.4)
    assert decide(policy, req) == decide(policy, req)


def test_reason_names_rule_and_classification(compile_policy: Compile) -> None:
    """The reason says which rule fired, on what, and where the kind came from."""
    decision = decide(compile_policy(ORDERED), request(tenant="acme", requested_model="gpt-realtime-2"))
    assert decision.reason == "rule 'first' matched: tenant=acme; kind realtime from model 'gpt-realtime-2'"
