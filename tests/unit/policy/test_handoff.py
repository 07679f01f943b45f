"""Compiling a route's handoff block: targets resolve to routes by name; every mistake is reported."""

from __future__ import annotations

from typing import Callable

from routers.compiled import CompiledPolicy, RouteTarget

HANDOFF = """
version: 1
rules:
  - id: agent
    match: {intent: voice_agent}
    route:
      model: gpt-realtime-2
      caps: {max_cost_usd: "1.00"}
      handoff:
        targets: [agent-mini, agent-15]
        transfer_tool: true
        on_spend: {share: 0.8, to: agent-mini}
        on_budget: {share: 0.9, to: agent-mini}
        on_language: {es: agent-15}
  - id: agent-mini
    match: {query: {tier: mini}}
    route: {model: gpt-realtime-2.1-mini}
defaults:
  by_kind:
    realtime: {model: gpt-realtime-1.5, name: agent-15}
"""


def test_a_handoff_block_compiles_and_targets_are_looked_up_by_name(compile_policy: Callable[[str], CompiledPolicy]) -> None:
    """Targets, transfer tool and every trigger land in the route's rules; the policy finds each target route by name."""
    policy = compile_policy(HANDOFF)
    outcome = policy.rules[0].outcome
    assert isinstance(outcome, RouteTarget)
    rules = outcome.route.handoff
    assert rules is not None
    assert rules.targets == ("agent-mini", "agent-15") and rules.transfer_tool
    assert (rules.on_spend.share, rules.on_spend.to) == (0.8, "agent-mini")  # type: ignore[union-attr]
    assert (rules.on_budget.share, rules.on_budget.to) == (0.9, "agent-mini")  # type: ignore[union-attr]
    assert dict(rules.on_language) == {"es": "agent-15"}
    assert policy.routes["agent-mini"].model == "gpt-realtime-2.1-mini"
    assert policy.routes["agent-15"].model == "gpt-realtime-1.5"
    assert policy.routes["agent"].handoff == rules


def test_handoff_mistakes_are_reported(problems_of: Callable[[str], list[str]]) -> None:
    """An unknown target, a trigger outside targets, a self target, a kind change, a bad language code, an unknown field."""
    unknown = HANDOFF.replace("targets: [agent-mini, agent-15]", "targets: [agent-mini, agent-15, nowhere]")
    assert any("handoff target 'nowhere' is not a route name" in p for p in problems_of(unknown))
    outside = HANDOFF.replace("on_language: {es: agent-15}", "on_language: {es: agent}")
    assert any("trigger target(s) not in targets: agent" in p for p in problems_of(outside))
    to_self = HANDOFF.replace("targets: [agent-mini, agent-15]", "targets: [agent-mini, agent-15, agent]")
    assert any("cannot hand off to itself" in p for p in problems_of(to_self))
    kinds = HANDOFF.replace("route: {model: gpt-realtime-2.1-mini}", "route: {model: gpt-realtime-translate}")
    assert any("to a translation route is not supported yet" in p for p in problems_of(kinds))
    assert problems_of(HANDOFF.replace("on_language: {es: agent-15}", "on_language: {Spanish: agent-15}"))
    assert any("transfer_tools" in p for p in problems_of(HANDOFF.replace("transfer_tool:", "transfer_tools:")))
    assert any("less than or equal to 1" in p for p in problems_of(HANDOFF.replace("share: 0.8", "share: 1.5")))
