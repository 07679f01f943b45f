"""The compiled routing policy: immutable, precompiled data the router evaluates (no YAML, no pydantic)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Mapping, Union

from gateway.core.catalog import Catalog, ModelSpec
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.routing import Route

if TYPE_CHECKING:
    from routers.facts import Facts

#: a matched attribute and the value that made it match (for ``RouteDecision.matched``)
Hit = tuple[str, str]


class Attribute(StrEnum):
    """What a match condition looks at."""

    INTENT = "intent"
    DECLARED_INTENT = "declared_intent"
    MODEL = "model"
    ENDPOINT = "endpoint"
    PATH = "path"
    TENANT = "tenant"
    KEY = "key"
    LABEL = "label"
    HEADER = "header"
    QUERY = "query"
    TRANSCRIPTION_LANGUAGE = "transcription_language"
    TRANSLATION_LANGUAGE = "translation_language"
    DECLARES_TOOLS = "declares_tools"
    BUDGET_USED = "budget_used"


#: attributes compared case-insensitively (facts are lower-cased, patterns compiled to match)
CASELESS_ATTRIBUTES = frozenset(
    {
        Attribute.INTENT,
        Attribute.DECLARED_INTENT,
        Attribute.ENDPOINT,
        Attribute.TRANSCRIPTION_LANGUAGE,
        Attribute.TRANSLATION_LANGUAGE,
    }
)

ABSENT = "<absent>"


@dataclass(frozen=True, slots=True)
class TextTest:
    """One string test: exact, one-of, glob/regex (precompiled, whole value) or presence."""

    description: str
    exact: str | None = None
    one_of: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    present: bool | None = None

    def first_match(self, values: tuple[str, ...]) -> str | None:
        """The first value that passes (``ABSENT`` for a passing ``present: false``), else ``None``."""
        if self.present is not None:
            if self.present:
                return values[0] if values else None
            return None if values else ABSENT
        for value in values:
            if self.exact is not None:
                if value == self.exact:
                    return value
            elif self.one_of is not None:
                if value in self.one_of:
                    return value
            elif self.pattern is not None and self.pattern.fullmatch(value) is not None:
                return value
        return None


@dataclass(frozen=True, slots=True)
class TextCondition:
    """A string attribute (``label``: ``model``, ``header:x-team``, ``declares_tools`` …) passes a text test."""

    label: str
    test_: TextTest

    def test(self, facts: "Facts", hits: list[Hit]) -> bool | None:
        """Kleene truth: ``None`` when the attribute is not known yet."""
        values = facts.values.get(self.label, ())
        if values is None:
            return None
        hit = self.test_.first_match(values)
        if hit is None:
            return False
        hits.append((self.label, hit))
        return True


@dataclass(frozen=True, slots=True)
class RangeCondition:
    """The budget share lies within bounds; an absent number (no budget) never passes."""

    label: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def test(self, facts: "Facts", hits: list[Hit]) -> bool | None:
        value = facts.budget_used
        if value is None:
            return False
        if self.gt is not None and not value > self.gt:
            return False
        if self.gte is not None and not value >= self.gte:
            return False
        if self.lt is not None and not value < self.lt:
            return False
        if self.lte is not None and not value <= self.lte:
            return False
        hits.append((self.label, f"{value:g}"))
        return True


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every child passes (an empty ``AllOf`` matches every session)."""

    children: tuple["Condition", ...] = ()

    def test(self, facts: "Facts", hits: list[Hit]) -> bool | None:
        result: bool | None = True
        for child in self.children:
            outcome = child.test(facts, hits)
            if outcome is False:
                return False
            if outcome is None:
                result = None
        return result


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one child passes; only the passing child's hits are kept."""

    children: tuple["Condition", ...]

    def test(self, facts: "Facts", hits: list[Hit]) -> bool | None:
        result: bool | None = False
        for child in self.children:
            scratch: list[Hit] = []
            outcome = child.test(facts, scratch)
            if outcome is True:
                hits.extend(scratch)
                return True
            if outcome is None:
                result = None
        return result


@dataclass(frozen=True, slots=True)
class NotOf:
    """The child does not pass."""

    child: "Condition"

    def test(self, facts: "Facts", hits: list[Hit]) -> bool | None:
        outcome = self.child.test(facts, [])
        return None if outcome is None else not outcome


Condition = Union[TextCondition, RangeCondition, AllOf, AnyOf, NotOf]
MATCH_ALL = AllOf(())


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A route, plus (``prefer_requested``) the variant serving each same-kind model a client may ask for."""

    route: Route
    #: canonical model name → route serving that model instead; empty unless ``prefer_requested``
    alternatives: Mapping[str, Route] = field(default_factory=dict)

    def for_model(self, requested: ModelSpec | None, asked: str | None = None) -> Route:
        """The route to serve, given the catalog model (and the exact name) the client asked for."""
        if requested is None or not self.alternatives:
            return self.route
        route = self.alternatives.get(requested.name)
        if route is None:
            return self.route
        if asked and asked != requested.name and asked not in requested.aliases:
            return replace(route, model=asked)  # a dated snapshot: serve exactly that one
        return route


@dataclass(frozen=True, slots=True)
class Denial:
    """Refuse the session with a client-facing reason."""

    reason: str
    #: SIP calls: the status to reject with (``None`` → 603 Decline), or a URI to refer the call to instead
    sip_status: int | None = None
    refer_to: str | None = None


Outcome = Union[RouteTarget, Denial]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One ordered rule: first match wins."""

    id: str
    condition: Condition
    outcome: Outcome
    #: ``file:line`` where the rule is defined (for explanations)
    source: str = ""


DEFAULT_DENY_REASON = "No routing rule matched this session."


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """Everything ``routers.decide`` needs; swapped whole on reload, never mutated."""

    version: str
    rules: tuple[CompiledRule, ...]
    catalog: Catalog
    #: default route per session kind, used when no rule matched
    by_kind: Mapping[SessionKind, RouteTarget] = field(default_factory=dict)
    #: default route per endpoint kind; applies only when its model's kind is the session's kind
    by_endpoint: Mapping[EndpointKind, RouteTarget] = field(default_factory=dict)
    otherwise: Outcome = field(default_factory=lambda: Denial(DEFAULT_DENY_REASON))
    #: model name or alias → catalog model (fast path before snapshot globs)
    model_index: Mapping[str, ModelSpec] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    #: requested model name → catalog model served instead (a retired model → its successor)
    model_map: Mapping[str, str] = field(default_factory=dict)
    #: route name → route (what handoff targets name)
    routes: Mapping[str, Route] = field(default_factory=dict)

    def mapped_name(self, name: str | None) -> str | None:
        """The model name to serve for a requested one, after the policy's ``model_map``."""
        return self.model_map.get(name, name) if name else name

    def lookup_model(self, name: str | None) -> ModelSpec | None:
        """The catalog model a client-requested name refers to (after ``model_map``; name, alias or snapshot)."""
        name = self.mapped_name(name)
        if not name:
            return None
        spec = self.model_index.get(name)
        return spec if spec is not None else self.catalog.resolve(name)


def index_models(catalog: Catalog) -> dict[str, ModelSpec]:
    """Name and alias → model, for constant-time lookups of what clients ask for."""
    index: dict[str, ModelSpec] = {}
    for spec in catalog.models.values():
        for alias in spec.aliases:
            index.setdefault(alias, spec)
    for spec in catalog.models.values():
        index[spec.name] = spec
    return index
