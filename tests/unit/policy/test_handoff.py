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
    """An unknown target, a trigger outside targets, a self target, a transcription target, a bad language code, an unknown field."""
    unknown = HANDOFF.replace("targets: [agent-mini, agent-15]", "targets: [agent-mini, agent-15, nowhere]")
    assert any("handoff target 'nowhere' is not a route name" in p for p in problems_of(unknown))
    outside = HANDOFF.replace("on_language: {es: agent-15}", "on_language: {es: agent}")
    assert any("trigger target(s) not in targets: agent" in p for p in problems_of(outside))
    to_self = HANDOFF.replace("targets: [agent-mini, agent-15]", "targets: [agent-mini, agent-15, agent]")
    assert any("cannot hand off to itself" in p for p in problems_of(to_self))
    kinds = HANDOFF.replace("route: {model: gpt-realtime-2.1-mini}", "route: {model: gpt-transcribe}")
    assert any("from a realtime route to a transcription route is not served" in p for p in problems_of(kinds))
    assert problems_of(HANDOFF.replace("on_language: {es: agent-15}", "on_language: {Spanish: agent-15}"))
    assert any("transfer_tools" in p for p in problems_of(HANDOFF.replace("transfer_tool:", "transfer_tools:")))
    assert any("less than or equal to 1" in p for p in problems_of(HANDOFF.replace("share: 0.8", "share: 1.5")))


CROSS_KIND = """
version: 1
rules:
  - id: agent
    match: {intent: voice_agent}
    route:
      model: gpt-realtime-2
      handoff: {targets: [translate-es], transfer_tool: true, on_language: {es: translate-es}}
  - id: translate-es
    match: {query: {tier: translate}}
    route:
      model: gpt-realtime-translate
      translate_to: es
      handoff: {targets: [agent]}
"""


def test_a_voice_agent_route_may_hand_off_to_a_translation_route_and_back(compile_policy: Callable[[str], CompiledPolicy]) -> None:
    """Voice agent → translation (by transfer or language) and translation → voice agent load; translate_to is kept."""
    policy = compile_policy(CROSS_KIND)
    assert policy.routes["agent"].handoff.targets == ("translate-es",)  # type: ignore[union-attr]
    assert policy.routes["translate-es"].translate_to == "es"
    assert policy.routes["translate-es"].handoff.targets == ("agent",)  # type: ignore[union-attr]


def test_cross_kind_mistakes_are_reported_where_they_are_written(problems_of: Callable[[str], list[str]]) -> None:
    """A transcription route either side, a transfer tool or language trigger on a translation route, translate_to on a
    voice-agent route: each refused with its line."""
    to_asr = CROSS_KIND.replace("model: gpt-realtime-translate", "model: gpt-transcribe")
    assert any("p.yaml:8" in p and "to a transcription route is not served" in p for p in problems_of(to_asr))
    tool = CROSS_KIND.replace("handoff: {targets: [agent]}", "handoff: {targets: [agent], transfer_tool: true}")
    assert any("p.yaml:14" in p and "transfer_tool needs a realtime route" in p for p in problems_of(tool))
    language = CROSS_KIND.replace("handoff: {targets: [agent]}", "handoff: {targets: [agent], on_language: {en: agent}}")
    assert any("on_language needs a realtime route" in p for p in problems_of(language))
    misplaced = CROSS_KIND.replace("      model: gpt-realtime-2\n", "      model: gpt-realtime-2\n      translate_to: fr\n")
    assert any("translate_to needs a translation model" in p for p in problems_of(misplaced))
