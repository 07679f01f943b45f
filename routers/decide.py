"""The routing decision: classify, then ordered rules (first match wins), then defaults. Pure and deterministic."""

from __future__ import annotations

from gateway.core.catalog import ModelSpec
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.routing import RouteDecision, SessionRequest
from routers.classify import Classification, classify, fallback_kind
from routers.compiled import CompiledPolicy, CompiledRule, Denial, Hit, Outcome, RouteTarget
from routers.facts import Facts

CLASSIFY_RULE_ID = "classify"
#: ``RouteDecision.matched`` key recording that the policy's ``model_map`` renamed the requested model
MODEL_MAP_HIT = "model_map"


def _hits_text(hits: list[Hit]) -> str:
    return ", ".join(f"{name}={value}" for name, value in hits) if hits else "matches every session"


def _outcome(
    policy: CompiledPolicy,
    rule_id: str, outcome: Outcome, reason: str, hits: list[Hit], request: SessionRequest, requested: ModelSpec | None
) -> RouteDecision:
    matched = dict(hits)
    if isinstance(outcome, Denial):
        return RouteDecision(
            rule_id=rule_id, reason=reason, matched=matched, deny_reason=outcome.reason,
            sip_status=outcome.sip_status, refer_to=outcome.refer_to,
        )
    asked = policy.mapped_name(request.requested_model)
    if asked != request.requested_model:
        matched[MODEL_MAP_HIT] = f"{request.requested_model}->{asked}"
    route = outcome.for_model(requested, asked)
    return RouteDecision(rule_id=rule_id, reason=reason, route=route, matched=matched)


def _default_target(policy: CompiledPolicy, request: SessionRequest, kind: SessionKind) -> tuple[str, RouteTarget] | None:
    by_endpoint = policy.by_endpoint.get(request.endpoint)
    if by_endpoint is not None and by_endpoint.route.kind is kind:
        return f"default:endpoint:{request.endpoint.value}", by_endpoint
    by_kind = policy.by_kind.get(kind)
    if by_kind is not None:
        return f"default:{kind.value}", by_kind
    return None


def _first_match(policy: CompiledPolicy, facts: Facts) -> tuple[CompiledRule, list[Hit]] | None:
    for rule in policy.rules:
        hits: list[Hit] = []
        if rule.condition.test(facts, hits):
            return rule, hits
    return None


def decide(policy: CompiledPolicy, request: SessionRequest) -> RouteDecision:
    """Route (or refuse) one session, naming the rule that fired and why."""
    requested = policy.lookup_model(request.requested_model)
    found = classify(request, requested)
    if found.error is not None:
        return RouteDecision(rule_id=CLASSIFY_RULE_ID, reason=found.error, deny_reason=found.error)
    kind = found.kind if found.kind is not None else fallback_kind(request.endpoint)
    source = found.source if found.kind is not None else f"default for endpoint {request.endpoint.value}"
    why = f"kind {kind.value} from {source}"
    first = _first_match(policy, Facts(request, kind, partial=False))
    if first is not None:
        rule, hits = first
        reason = f"rule '{rule.id}' matched: {_hits_text(hits)}; {why}"
        return _outcome(policy, rule.id, rule.outcome, reason, hits, request, requested)
    default = _default_target(policy, request, kind)
    if default is not None:
        rule_id, target = default
        return _outcome(policy, rule_id, target, f"no rule matched; {rule_id} route; {why}", [], request, requested)
    reason = f"no rule or default route matched; {why}"
    return _outcome(policy, "default:otherwise", policy.otherwise, reason, [], request, requested)


def wants_session_update(policy: CompiledPolicy, request: SessionRequest) -> bool:
    """Whether to hold the client's first events: the kind or the model is unknown, or a still-possible rule needs them.

    A voice-agent session whose URL names no model may name it in its first ``session.update``
    (openai-agents does), so it is held for that too.
    """
    if request.first_session_update is not None:
        return False
    requested = policy.lookup_model(request.requested_model)
    found: Classification = classify(request, requested)
    if found.error is not None:
        return False
    if found.kind is None:
        return True
    if found.kind is SessionKind.REALTIME and not request.requested_model and request.endpoint is EndpointKind.REALTIME:
        return True
    facts = Facts(request, found.kind, partial=True)
    for rule in policy.rules:
        outcome = rule.condition.test(facts, [])
        if outcome is None:
            return True
        if outcome:
            return False
    return False
