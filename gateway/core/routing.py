"""What the inbound adapter knows about a session request, and what the router decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, TypeVar

from gateway.core.barge_in import BargeInPolicy
from gateway.core.gateway_tools import GatewayToolSet
from gateway.core.handoff import HandoffRules
from gateway.core.kinds import Dialect, EndpointKind, SessionKind

from gateway.core.jsontypes import JsonObject


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """Everything a routing decision may look at. Secrets are never in here."""

    endpoint: EndpointKind
    path: str
    requested_model: str | None = None
    #: explicit declaration: ``intent`` query, ``X-Voice-Intent`` header, or implied by the path
    declared_intent: str | None = None
    #: lower-cased header names; credentials removed
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    tenant: str | None = None
    key_id: str | None = None
    key_labels: Mapping[str, str] = field(default_factory=dict)
    #: routes or models the key may use (empty = all)
    key_allowed_routes: frozenset[str] = frozenset()
    dialect: Dialect = Dialect.GA
    #: the ``session`` object of the client's first ``session.update``, when routing waited for it
    first_session_update: JsonObject | None = None
    #: share of the tenant's daily budget already spent, 0.0..1.0+ (``None`` = no budget)
    budget_used_ratio: float | None = None


_Limit = TypeVar("_Limit", int, float)


def _lower(a: _Limit | None, b: _Limit | None) -> _Limit | None:
    """The stricter of two optional limits (``None`` is no limit)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True, slots=True)
class Caps:
    """Per-session limits a route carries; ``None`` means no limit of that kind."""

    max_cost_micros: int | None = None
    max_duration_s: float | None = None
    idle_timeout_s: float | None = None
    #: share of a cap at which the client gets a warning event
    warn_ratio: float = 0.8

    def tightened(self, other: "Caps") -> "Caps":
        """The stricter of two cap sets, limit by limit."""

        return Caps(
            max_cost_micros=_lower(self.max_cost_micros, other.max_cost_micros),
            max_duration_s=_lower(self.max_duration_s, other.max_duration_s),
            idle_timeout_s=_lower(self.idle_timeout_s, other.idle_timeout_s),
            warn_ratio=min(self.warn_ratio, other.warn_ratio),
        )


_UNSET_TURN_DETECTION: JsonObject = {"__unset__": True}


@dataclass(frozen=True, slots=True)
class McpServerRule:
    """One MCP server a client may declare: every field set here must equal the tool's."""

    server_url: str | None = None
    server_label: str | None = None

    def allows(self, tool: JsonObject) -> bool:
        if self.server_url is None and self.server_label is None:
            return False
        return all(
            expected is None or tool.get(name) == expected
            for name, expected in (("server_url", self.server_url), ("server_label", self.server_label))
        )


@dataclass(frozen=True, slots=True)
class ToolAllowlist:
    """Tools a client may declare: function tools by name, MCP tools by server; every other type is denied."""

    functions: frozenset[str] = frozenset()
    mcp_servers: tuple[McpServerRule, ...] = ()

    def refusal(self, tool: object) -> str | None:
        """Why ``tool`` is not allowed (a short, client-safe label), or ``None`` when it is."""
        if not isinstance(tool, dict):
            return "a tool that is not an object"
        kind = tool.get("type", "function")
        if kind == "function":
            name = tool.get("name")
            return None if isinstance(name, str) and name in self.functions else f"function {name!r}"
        if kind == "mcp":
            if any(rule.allows(tool) for rule in self.mcp_servers):
                return None
            return f"MCP server {tool.get('server_label')!r} ({tool.get('server_url') or tool.get('connector_id') or 'no server_url'})"
        return f"tool type {kind!r}"


@dataclass(frozen=True, slots=True)
class SessionOverrides:
    """Session settings the gateway enforces on every client ``session.update``."""

    instructions_prefix: str | None = None
    voice: str | None = None
    max_output_tokens: int | None = None
    #: ``None`` forces turn detection off; the sentinel (default) leaves it to the client
    turn_detection: JsonObject | None = field(default_factory=lambda: _UNSET_TURN_DETECTION)
    #: tools the client may declare (``None`` = any)
    tool_allowlist: ToolAllowlist | None = None
    max_instructions_chars: int | None = None
    #: session fields forced on every client update (a client secret's bound configuration)
    pinned: JsonObject | None = None

    @property
    def sets_turn_detection(self) -> bool:
        return self.turn_detection is not _UNSET_TURN_DETECTION and self.turn_detection != _UNSET_TURN_DETECTION

    @property
    def empty(self) -> bool:
        return (
            self.instructions_prefix is None
            and self.voice is None
            and self.max_output_tokens is None
            and not self.sets_turn_detection
            and self.tool_allowlist is None
            and self.max_instructions_chars is None
            and not self.pinned
        )


@dataclass(frozen=True, slots=True)
class Route:
    """Where and how a session is served."""

    kind: SessionKind
    #: the model actually requested upstream (may differ from what the client asked for)
    model: str
    #: upstream endpoint names, in failover order
    upstreams: tuple[str, ...]
    overrides: SessionOverrides = field(default_factory=SessionOverrides)
    caps: Caps = field(default_factory=Caps)
    #: a name operators and key allow-lists refer to (defaults to the rule id)
    name: str = ""
    #: tools the gateway runs itself inside this route's realtime sessions (None: none)
    gateway_tools: GatewayToolSet | None = None
    #: WebRTC media path: ``direct`` (peer ↔ upstream, gateway on the sideband), ``terminate`` (through the
    #: gateway), ``auto`` (the gateway-wide setting; direct where the upstream serves WebRTC)
    media: str = "auto"
    #: barge-in handling of the route's voice-agent sessions (protect by default)
    barge_in: BargeInPolicy = field(default_factory=BargeInPolicy)
    #: where the route's sessions may move mid-conversation, and what moves them (None: nowhere)
    handoff: HandoffRules | None = None
    #: whether the route's clients get the gateway's own ``gateway.*`` notices (gateway/core/notices.py)
    gateway_events: bool = True
    #: a translation route's output language for sessions handed to it from a voice agent (None: the language
    #: detected on the user's input, else the translation default)
    translate_to: str | None = None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The router's answer, explainable: which rule fired, on what, and why."""

    rule_id: str
    reason: str
    route: Route | None = None
    #: attribute → value that made the rule match (for logs and spans)
    matched: Mapping[str, str] = field(default_factory=dict)
    #: client-facing reason when a rule denies the session
    deny_reason: str | None = None
    #: a denied SIP call: reject with this status (``None`` → 603), or refer it to this URI instead
    sip_status: int | None = None
    refer_to: str | None = None

    @property
    def denied(self) -> bool:
        return self.route is None
