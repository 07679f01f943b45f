"""Validated policy models → the router's compiled types, cross-checked against the model catalog."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Sequence

from gateway.core.barge_in import BargeInMode, BargeInPolicy
from gateway.core.catalog import Catalog, ModelSpec
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.money import usd_to_micros
from gateway.core.routing import Caps, McpServerRule, Route, SessionOverrides, ToolAllowlist
from gateway.policy.models import (
    BargeInModel,
    CapsModel,
    DefaultsModel,
    MatchModel,
    OverridesModel,
    ToolsAllowModel,
    PolicyFile,
    RouteModel,
    TextMatch,
    TextMatchSpec,
)
from gateway.policy.handoff import NamedRoute, compile_handoff
from gateway.policy.tools import compile_gateway_tools
from routers.classify import INTENT_VOCABULARY, intent_kind
from routers.compiled import (
    CASELESS_ATTRIBUTES,
    MATCH_ALL,
    AllOf,
    AnyOf,
    Attribute,
    CompiledRule,
    Condition,
    Denial,
    NotOf,
    Outcome,
    RangeCondition,
    RouteTarget,
    TextCondition,
    TextTest,
)

Loc = tuple[int | str, ...]

_ENDPOINTS = frozenset(kind.value for kind in EndpointKind)
_KEYED = {"labels": Attribute.LABEL, "headers": Attribute.HEADER, "query": Attribute.QUERY}
_PLAIN = (
    Attribute.INTENT,
    Attribute.DECLARED_INTENT,
    Attribute.MODEL,
    Attribute.ENDPOINT,
    Attribute.PATH,
    Attribute.TENANT,
    Attribute.KEY,
    Attribute.TRANSCRIPTION_LANGUAGE,
    Attribute.TRANSLATION_LANGUAGE,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """A cross-check failure at a location in one file's document."""

    loc: Loc
    message: str


@dataclass
class CompiledFile:
    """One file's contribution: rules (with their locations) and defaults."""

    rules: list[tuple[CompiledRule, Loc]] = field(default_factory=list)
    by_kind: dict[SessionKind, tuple[RouteTarget, Loc]] = field(default_factory=dict)
    by_endpoint: dict[EndpointKind, tuple[RouteTarget, Loc]] = field(default_factory=dict)
    otherwise: tuple[Outcome, Loc] | None = None
    #: requested model name → served catalog model name, with where each entry is written
    model_map: dict[str, tuple[str, Loc]] = field(default_factory=dict)
    #: every route written in the file, by name (handoff targets refer to these)
    routes: list[NamedRoute] = field(default_factory=list)


def is_catch_all(condition: Condition) -> bool:
    """Whether a condition matches every session whatever its attributes."""
    if isinstance(condition, AllOf):
        return all(is_catch_all(child) for child in condition.children)
    if isinstance(condition, AnyOf):
        return any(is_catch_all(child) for child in condition.children)
    return False


class FileCompiler:
    """Compiles one validated file; collects every problem instead of stopping at the first."""

    def __init__(self, catalog: Catalog, source: str) -> None:
        self.catalog = catalog
        self.source = source
        self.routes: list[NamedRoute] = []
        self.problems: list[Problem] = []

    def _problem(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    # --- text tests ---------------------------------------------------------------------------

    def _values(self, attribute: Attribute, values: Sequence[str], loc: Loc) -> list[str]:
        caseless = attribute in CASELESS_ATTRIBUTES
        out = [v.lower() if caseless else v for v in values]
        if attribute is Attribute.INTENT:
            kinds = [intent_kind(v) for v in out]
            for value, kind in zip(values, kinds):
                if kind is None:
                    self._problem(loc, f"unknown intent '{value}'; use one of: {', '.join(INTENT_VOCABULARY)}")
            out = [kind.value for kind in kinds if kind is not None]
        elif attribute is Attribute.ENDPOINT:
            for value in out:
                if value not in _ENDPOINTS:
                    self._problem(loc, f"unknown endpoint '{value}'; use one of: {', '.join(sorted(_ENDPOINTS))}")
        return out

    def text_test(self, attribute: Attribute, match: TextMatch, loc: Loc) -> TextTest:
        flags = re.IGNORECASE if attribute in CASELESS_ATTRIBUTES else 0
        if isinstance(match, str):
            match = TextMatchSpec(exact=match)
        elif isinstance(match, list):
            match = TextMatchSpec(one_of=match)
        if match.exact is not None:
            values = self._values(attribute, [match.exact], loc)
            return TextTest(f"'{match.exact}'", exact=values[0] if values else match.exact)
        if match.one_of is not None:
            return TextTest(f"one of {match.one_of}", one_of=frozenset(self._values(attribute, match.one_of, loc)))
        if match.glob is not None:
            return TextTest(f"glob '{match.glob}'", pattern=re.compile(fnmatch.translate(match.glob), flags))
        if match.regex is not None:
            return TextTest(f"regex '{match.regex}'", pattern=re.compile(match.regex, flags))
        return TextTest("present" if match.present else "absent", present=match.present)

    # --- conditions ---------------------------------------------------------------------------

    def condition(self, match: MatchModel, loc: Loc) -> Condition:
        parts: list[Condition] = []
        for attribute in _PLAIN:
            value = getattr(match, attribute.value)
            if value is not None:
                test = self.text_test(attribute, value, (*loc, attribute.value))
                parts.append(TextCondition(attribute.value, test))
        for field_name, attribute in _KEYED.items():
            for key, value in getattr(match, field_name).items():
                name = key.lower() if attribute is Attribute.HEADER else key
                test = self.text_test(attribute, value, (*loc, field_name, key))
                parts.append(TextCondition(f"{attribute.value}:{name}", test))
        if match.declares_tools is not None:
            flag = "true" if match.declares_tools else "false"
            parts.append(TextCondition(Attribute.DECLARES_TOOLS.value, TextTest(flag, exact=flag)))
        if match.budget_used is not None:
            b = match.budget_used
            parts.append(RangeCondition(Attribute.BUDGET_USED.value, gt=b.gt, gte=b.gte, lt=b.lt, lte=b.lte))
        if match.all_ is not None:
            parts.append(AllOf(tuple(self.condition(m, (*loc, "all", i)) for i, m in enumerate(match.all_))))
        if match.any_ is not None:
            parts.append(AnyOf(tuple(self.condition(m, (*loc, "any", i)) for i, m in enumerate(match.any_))))
        if match.not_ is not None:
            parts.append(NotOf(self.condition(match.not_, (*loc, "not"))))
        if not parts:
            return MATCH_ALL
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    # --- routes -------------------------------------------------------------------------------

    def _known_model(self, name: str, loc: Loc) -> ModelSpec | None:
        spec = self.catalog.resolve(name)
        if spec is None:
            known = ", ".join(self.catalog.models)
            self._problem(loc, f"unknown model '{name}' (the catalog serves: {known})")
        return spec

    def route(self, model: RouteModel, default_name: str, loc: Loc) -> RouteTarget | None:
        spec = self._known_model(model.model, (*loc, "model"))
        for index, upstream in enumerate(model.upstreams or ()):
            if upstream not in self.catalog.endpoints:
                known = ", ".join(self.catalog.endpoints)
                self._problem((*loc, "upstreams", index), f"unknown upstream endpoint '{upstream}' (known: {known})")
        if spec is None:
            return None
        overrides, caps = _overrides(model.overrides), _caps(model.caps)
        tools = compile_gateway_tools(model.gateway_tools, (*loc, "gateway_tools"), self._problem)
        if tools is not None and spec.kind is not SessionKind.REALTIME:
            self._problem((*loc, "gateway_tools"), f"gateway tools need a realtime model; '{model.model}' is {spec.kind.value}")
        if model.translate_to is not None and spec.kind is not SessionKind.TRANSLATION:
            self._problem((*loc, "translate_to"), f"translate_to needs a translation model; '{model.model}' is {spec.kind.value}")
        name = model.name or default_name

        def build(served: ModelSpec, model_name: str) -> Route:
            upstreams = tuple(model.upstreams) if model.upstreams else served.upstreams
            return Route(
                kind=served.kind, model=model_name, upstreams=upstreams, overrides=overrides, caps=caps, name=name,
                gateway_tools=tools, media=model.media, barge_in=_barge_in(model.barge_in),
                handoff=compile_handoff(model.handoff), gateway_events=model.gateway_events,
                translate_to=model.translate_to,
            )

        alternatives: dict[str, Route] = {}
        if model.prefer_requested:
            for other in self.catalog.models.values():
                if other.kind is spec.kind:
                    alternatives[other.name] = build(other, other.name)
        main = build(spec, model.model)
        self.routes.append((name, main, loc))
        return RouteTarget(main, MappingProxyType(alternatives))

    # --- the file -----------------------------------------------------------------------------

    def compile(self, parsed: PolicyFile, lines: dict[Loc, int]) -> CompiledFile:
        """Compile rules and defaults; ``lines`` maps a rule's location to its line for explanations."""
        out = CompiledFile()
        for asked, served in parsed.model_map.items():
            loc_map: Loc = ("model_map", asked)
            if self._known_model(served, loc_map) is not None:
                out.model_map[asked] = (served, loc_map)
        for index, rule in enumerate(parsed.rules):
            loc: Loc = ("rules", index)
            condition = self.condition(rule.match, (*loc, "match"))
            outcome: Outcome | None
            if rule.deny is not None:
                outcome = Denial(rule.deny.reason, rule.deny.sip_status, rule.deny.refer_to)
            else:
                assert rule.route is not None
                outcome = self.route(rule.route, rule.id, (*loc, "route"))
            if outcome is not None:
                source = f"{self.source}:{lines.get(loc, 0)}"
                out.rules.append((CompiledRule(rule.id, condition, outcome, source), loc))
        self._defaults(parsed.defaults, out)
        out.routes = self.routes
        return out

    def _defaults(self, defaults: DefaultsModel, out: CompiledFile) -> None:
        for kind, model in defaults.by_kind.items():
            loc: Loc = ("defaults", "by_kind", kind.value)
            target = self.route(model, f"default:{kind.value}", loc)
            if target is not None and target.route.kind is not kind:
                self._problem((*loc, "model"), f"model '{model.model}' is a {target.route.kind.value} model, not {kind.value}")
            elif target is not None:
                out.by_kind[kind] = (target, loc)
        for endpoint, model in defaults.by_endpoint.items():
            loc = ("defaults", "by_endpoint", endpoint.value)
            target = self.route(model, f"default:endpoint:{endpoint.value}", loc)
            translation = target is not None and target.route.kind is SessionKind.TRANSLATION
            if target is not None and translation != (endpoint is EndpointKind.TRANSLATIONS):
                self._problem((*loc, "model"), f"model '{model.model}' cannot serve the {endpoint.value} endpoint")
            elif target is not None:
                out.by_endpoint[endpoint] = (target, loc)
        otherwise = defaults.otherwise
        if otherwise is not None:
            loc = ("defaults", "otherwise")
            if otherwise.deny is not None:
                out.otherwise = (Denial(otherwise.deny.reason, otherwise.deny.sip_status, otherwise.deny.refer_to), loc)
            elif otherwise.route is not None:
                target = self.route(otherwise.route, "default:otherwise", (*loc, "route"))
                if target is not None:
                    out.otherwise = (target, loc)


def _overrides(model: OverridesModel | None) -> SessionOverrides:
    if model is None:
        return SessionOverrides()
    extra = {"turn_detection": model.turn_detection} if "turn_detection" in model.model_fields_set else {}
    return SessionOverrides(
        instructions_prefix=model.instructions_prefix,
        voice=model.voice,
        max_output_tokens=model.max_output_tokens,
        tool_allowlist=_tool_allowlist(model.tools),
        max_instructions_chars=model.max_instructions_chars,
        **extra,
    )


def _tool_allowlist(model: list[str] | ToolsAllowModel | None) -> ToolAllowlist | None:
    if model is None:
        return None
    if isinstance(model, list):
        return ToolAllowlist(functions=frozenset(model))
    servers = tuple(McpServerRule(server_url=s.server_url, server_label=s.server_label) for s in model.mcp_servers)
    return ToolAllowlist(functions=frozenset(model.functions), mcp_servers=servers)


def _caps(model: CapsModel | None) -> Caps:
    if model is None:
        return Caps()
    return Caps(
        max_cost_micros=usd_to_micros(model.max_cost_usd) if model.max_cost_usd is not None else None,
        max_duration_s=model.max_duration_s,
        idle_timeout_s=model.idle_timeout_s,
        warn_ratio=model.warn_ratio,
    )


def _barge_in(model: BargeInModel | None) -> BargeInPolicy:
    if model is None:
        return BargeInPolicy()
    return BargeInPolicy(BargeInMode(model.mode), model.grace_ms)
