"""A route's ``handoff`` block → :class:`~gateway.core.handoff.HandoffRules`, and the cross-check of its targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from gateway.core.handoff import HandoffRules, ShareTrigger
from gateway.core.kinds import SessionKind
from gateway.core.routing import Route
from gateway.policy.models import HandoffModel, ShareTriggerModel

Loc = tuple[int | str, ...]
#: (route name, route, where the route is written)
NamedRoute = tuple[str, Route, Loc]


def _share(model: ShareTriggerModel | None) -> ShareTrigger | None:
    return ShareTrigger(share=model.share, to=model.to) if model is not None else None


def compile_handoff(model: HandoffModel | None) -> HandoffRules | None:
    if model is None:
        return None
    return HandoffRules(
        targets=tuple(model.targets),
        transfer_tool=model.transfer_tool,
        on_spend=_share(model.on_spend),
        on_budget=_share(model.on_budget),
        on_language=MappingProxyType(dict(model.on_language)),
    )


def routes_by_name(routes: Sequence[NamedRoute]) -> dict[str, Route]:
    """Route name → route (the first one written under that name)."""
    named: dict[str, Route] = {}
    for name, route, _ in routes:
        named.setdefault(name, route)
    return named


def check_targets(routes: Sequence[NamedRoute], problem: Callable[[Loc, str], None], *, known: Sequence[NamedRoute]) -> None:
    """Every handoff target of ``routes`` names exactly one of the ``known`` routes, of a kind the kind bridge
    serves from the route's (the same kind, or voice agent ⇄ translation); triggers a kind cannot fire are refused."""
    counts: dict[str, int] = {}
    for name, _, _ in known:
        counts[name] = counts.get(name, 0) + 1
    named: Mapping[str, Route] = routes_by_name(known)
    for name, route, loc in routes:
        rules = route.handoff
        if rules is None:
            continue
        for index, to in enumerate(rules.targets):
            where = (*loc, "handoff", "targets", index)
            target = named.get(to)
            if target is None:
                problem(where, f"handoff target '{to}' is not a route name (known: {', '.join(sorted(named))})")
            elif counts[to] > 1:
                problem(where, f"handoff target '{to}' names more than one route; give the target route a unique name")
            elif to == name:
                problem(where, f"route '{name}' cannot hand off to itself")
            elif SessionKind.TRANSCRIPTION in (route.kind, target.kind):
                problem(where, f"handoff from a {route.kind.value} route to a {target.kind.value} route is not served: the kind "
                        "bridge maps voice agent and translation sessions only (a transcription session has no replies to map)")
        if route.kind is not SessionKind.REALTIME:
            # the transfer tool is called by a voice agent, the language trigger reads a voice agent's input transcription
            if rules.transfer_tool:
                problem((*loc, "handoff", "transfer_tool"), f"a {route.kind.value} model calls no tools: transfer_tool "
                        "needs a realtime route")
            if rules.on_language:
                problem((*loc, "handoff", "on_language"), f"a {route.kind.value} session reports no transcribed input "
                        "language: on_language needs a realtime route")
