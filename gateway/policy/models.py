"""The policy file's shape (``version: 1``): strict pydantic models; the JSON Schema is generated from these."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, StringConstraints, Tag, field_validator, model_validator

from gateway.core.kinds import EndpointKind, SessionKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextMatchSpec(_Strict):
    """Exactly one test: ``exact``, ``one_of``, ``glob``, ``regex`` (whole value) or ``present``."""

    exact: str | None = None
    one_of: list[str] | None = Field(None, min_length=1)
    glob: str | None = Field(None, description="shell-style pattern (*, ?, [abc]) matched against the whole value")
    regex: str | None = Field(None, description="Python regular expression that must match the whole value")
    present: StrictBool | None = Field(None, description="true: the value is set; false: it is absent")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> "TextMatchSpec":
        chosen = [name for name in ("exact", "one_of", "glob", "regex", "present") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of exact, one_of, glob, regex, present (got {', '.join(chosen) or 'none'})")
        return self


def _text_match_tag(value: object) -> str:
    if isinstance(value, dict):
        return "spec"
    return "list" if isinstance(value, list) else "text"


#: a plain string (exact), a list (one of), or a ``TextMatchSpec`` object
TextMatch = Annotated[
    Union[
        Annotated[str, Tag("text")],
        Annotated[Annotated[list[str], Field(min_length=1)], Tag("list")],
        Annotated[TextMatchSpec, Tag("spec")],
    ],
    Discriminator(_text_match_tag),
]


class NumberRange(_Strict):
    """Numeric bounds; at least one is required."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> "NumberRange":
        if all(bound is None for bound in (self.gt, self.gte, self.lt, self.lte)):
            raise ValueError("set at least one of gt, gte, lt, lte")
        return self


class MatchModel(_Strict):
    """Conditions that must all hold (an empty block matches every session)."""

    intent: TextMatch | None = Field(
        None, description="the session's job: realtime (agent, voice_agent), transcription (captions), translation"
    )
    declared_intent: TextMatch | None = Field(None, description="the raw intent= query / X-Voice-Intent header")
    model: TextMatch | None = Field(None, description="the model (or alias) the client asked for")
    endpoint: TextMatch | None = Field(None, description="realtime, translations, calls or sip (an incoming SIP call; match its SIP headers with headers:)")
    path: TextMatch | None = None
    tenant: TextMatch | None = None
    key: TextMatch | None = Field(None, description="the gateway API key's id")
    labels: dict[str, TextMatch] = Field(default_factory=dict, description="the key's labels")
    headers: dict[str, TextMatch] = Field(default_factory=dict, description="request headers (names case-insensitive)")
    query: dict[str, TextMatch] = Field(default_factory=dict, description="query parameters")
    transcription_language: TextMatch | None = Field(
        None, description="any of the first session.update's audio.input.transcription language(s)"
    )
    translation_language: TextMatch | None = Field(
        None, description="the first session.update's audio.output.language (translation sessions)"
    )
    declares_tools: StrictBool | None = Field(None, description="the first session.update declares tools")
    budget_used: NumberRange | None = Field(None, description="share of the tenant's daily budget spent (0.8 = 80%)")
    all_: list["MatchModel"] | None = Field(None, alias="all", min_length=1)
    any_: list["MatchModel"] | None = Field(None, alias="any", min_length=1)
    not_: "MatchModel | None" = Field(None, alias="not")


_USD = re.compile(r"^\d+(\.\d{1,6})?$")


class CapsModel(_Strict):
    """Per-session limits."""

    max_cost_usd: str | None = Field(None, description='USD as text, e.g. "2.50"', pattern=_USD.pattern)
    max_duration_s: float | None = Field(None, gt=0)
    idle_timeout_s: float | None = Field(None, gt=0)
    warn_ratio: float = Field(0.8, gt=0, le=1)

    @field_validator("max_cost_usd")
    @classmethod
    def _decimal(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Decimal(value)
            except InvalidOperation:
                raise ValueError("not a decimal USD amount") from None
        return value


class BargeInModel(_Strict):
    """What the gateway does when the user speaks over the model's audio (voice-agent routes)."""

    mode: Literal["protect", "observe", "off"] = Field(
        "protect",
        description="protect: cancel and truncate for a client that does not within grace_ms; observe: only measure; off",
    )
    grace_ms: int = Field(150, ge=0, le=5000, description="how long the client has to cancel and truncate itself")

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML 1.1 reads a bare ``off`` as false: that is what the operator meant."""
        return "off" if value is False else value


class McpServerAllowModel(_Strict):
    """An MCP server clients may declare; every field given must equal the declared tool's."""

    server_url: str | None = Field(None, min_length=1, description="exact server_url of the MCP tool")
    server_label: str | None = Field(None, min_length=1, description="exact server_label of the MCP tool")

    @model_validator(mode="after")
    def _some_field(self) -> "McpServerAllowModel":
        if self.server_url is None and self.server_label is None:
            raise ValueError("set server_url, server_label or both")
        return self


class ToolsAllowModel(_Strict):
    """Tools clients may declare, by type; a tool of any other type is refused."""

    functions: list[str] = Field(default_factory=list, description="function tool names")
    mcp_servers: list[McpServerAllowModel] = Field(default_factory=list, description="MCP servers (type: mcp tools)")


class OverridesModel(_Strict):
    """Session settings the gateway sends first and enforces on every session.update and response.create."""

    instructions_prefix: str | None = None
    voice: str | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=4096)
    turn_detection: dict[str, object] | None = Field(
        None, description="forced turn detection; null forces it off; leave out to let the client choose"
    )
    tools: list[str] | ToolsAllowModel | None = Field(
        None,
        description="tool allow-list: a list of function names, or {functions, mcp_servers}; "
        "tools of any other type (and MCP servers not listed) are refused",
    )
    max_instructions_chars: int | None = Field(None, ge=0)


_TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"


def _empty_object_schema() -> dict[str, object]:
    return {"type": "object", "properties": {}}
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class HeaderModel(_Strict):
    """A header value: ``value`` (plain text) or ``env`` (a secret read from that environment variable)."""

    value: str | None = None
    env: str | None = Field(None, pattern=_ENV_NAME, description="environment variable holding a secret value")

    @model_validator(mode="after")
    def _one(self) -> "HeaderModel":
        if (self.value is None) == (self.env is None):
            raise ValueError("set exactly one of value, env")
        return self


class _ToolRunModel(_Strict):
    timeout_ms: int = Field(5000, ge=1, le=120_000, description="the call fails with a spoken error after this long")
    filler_after_ms: int | None = Field(
        None, ge=0, le=120_000, description="ask the model for a short spoken filler when the tool is this slow"
    )
    cache_ttl_s: float = Field(0, ge=0, le=86_400, description="cache results keyed on the arguments (0: off)")
    max_concurrency: int = Field(2, ge=1, le=64, description="calls of one tool running at once in one session")
    error_message: str | None = Field(
        None, max_length=500, description="what the model is told when the tool fails, e.g. 'the order system is not answering'"
    )
    headers: dict[str, str | HeaderModel] = Field(
        default_factory=dict, description="request headers; use {env: NAME} for secrets (never logged)"
    )


class HttpToolModel(_ToolRunModel):
    """A tool the gateway runs as one HTTP request to a fixed URL (arguments: JSON body, or query for GET)."""

    name: str = Field(pattern=_TOOL_NAME)
    description: str = Field("", max_length=1024)
    url: str = Field(pattern=r"^https?://[^\s]+$")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    parameters: dict[str, object] = Field(
        default_factory=_empty_object_schema,
        description="JSON Schema of the arguments (shown to the model; calls are validated against it)",
    )


class McpServerModel(_ToolRunModel):
    """An MCP server (streamable HTTP) whose tools are listed, filtered by ``allow`` and offered to the model."""

    name: str = Field(pattern=_TOOL_NAME, description="server name in spans and metrics")
    url: str = Field(pattern=r"^https?://[^\s]+$")
    allow: list[str] | None = Field(None, description="tool names to offer (default: every tool the server lists)")
    list_timeout_ms: int = Field(3000, ge=1, le=60_000)
    tools_ttl_s: int = Field(
        300, ge=0, le=86_400,
        description="age after which the listed tools are listed again in the background (0: only when the server says "
                    "its list changed); sessions never wait for a refresh",
    )


class GatewayToolsModel(_Strict):
    """Tools the gateway itself runs inside this route's realtime sessions; the client never sees the calls."""

    http: list[HttpToolModel] = Field(default_factory=list)
    mcp: list[McpServerModel] = Field(default_factory=list)
    max_concurrent_calls: int = Field(4, ge=1, le=64, description="gateway tool calls running at once in one session")
    max_result_bytes: int = Field(16_384, ge=64, le=1_048_576, description="a longer result becomes an error output")
    filler_instructions: str | None = Field(None, max_length=1000, description="instructions of the spoken filler")


class ShareTriggerModel(_Strict):
    """Hand off once this share of a money limit is used."""

    share: float = Field(gt=0, le=1, description="share of the limit used, e.g. 0.8")
    to: str = Field(min_length=1, description="route name to move to (one of targets)")


class HandoffModel(_Strict):
    """Where this route's sessions may move mid-conversation, and what moves them (docs/handoff.md)."""

    targets: list[str] = Field(min_length=1, description="route names a session may move to (every trigger's target is one)")
    transfer_tool: StrictBool = Field(False, description="offer the model the gateway-owned transfer(to, reason) tool")
    on_spend: ShareTriggerModel | None = Field(None, description="move once this share of the session's cost cap is spent")
    on_budget: ShareTriggerModel | None = Field(None, description="move once this share of the tenant's daily or monthly budget is used")
    on_language: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")], str] = Field(
        default_factory=dict, description="language of the user's transcribed input (ISO 639-1) -> route name"
    )

    @model_validator(mode="after")
    def _targets_listed(self) -> "HandoffModel":
        named = [t.to for t in (self.on_spend, self.on_budget) if t is not None] + list(self.on_language.values())
        missing = sorted({to for to in named if to not in self.targets})
        if missing:
            raise ValueError(f"trigger target(s) not in targets: {', '.join(missing)}")
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("targets are listed more than once")
        return self


class RouteModel(_Strict):
    """Where and how matched sessions are served."""

    model: str = Field(description="catalog model to serve (may differ from what the client asked for)")
    upstreams: list[str] | None = Field(
        None, min_length=1, description="endpoint names in failover order (default: the model's catalog upstreams)"
    )
    name: str | None = Field(None, min_length=1, description="route name for key allow-lists (default: the rule id)")
    prefer_requested: StrictBool = Field(
        False, description="serve the client's requested catalog model instead, when it is of the same kind"
    )
    overrides: OverridesModel | None = None
    caps: CapsModel | None = None
    gateway_tools: GatewayToolsModel | None = None
    barge_in: BargeInModel | None = Field(None, description="barge-in handling (default: protect, 150 ms grace)")
    handoff: HandoffModel | None = Field(None, description="mid-session handoff to other routes (docs/handoff.md)")
    translate_to: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] | None = Field(
        None, description="translation routes: the language a voice-agent session handed to this route is translated into "
        "(default: the language detected on the user's input)",
    )
    gateway_events: StrictBool = Field(
        True,
        description="send the gateway's own gateway.* notices (cap warning, barge-in, handoff) to clients; "
        "false keeps the protections but sends no notice (docs/barge-in.md)",
    )
    media: Literal["auto", "direct", "terminate"] = Field(
        "auto",
        description="WebRTC media path: direct (browser ↔ upstream, gateway on the sideband), terminate (through the gateway), auto",
    )


class DenyModel(_Strict):
    reason: str = Field(min_length=1, description="client-facing reason")
    sip_status: int | None = Field(None, ge=400, le=699, description="SIP calls: reject with this status (default 603 Decline)")
    refer_to: str | None = Field(
        None, pattern=r"^(sip:|sips:|tel:)[^\s]{1,2000}$",
        description="SIP calls: transfer the call to this sip:, sips: or tel: URI instead of rejecting it",
    )


class _OneOutcome(_Strict):
    route: RouteModel | None = None
    deny: DenyModel | None = None

    @model_validator(mode="after")
    def _route_or_deny(self) -> "_OneOutcome":
        if (self.route is None) == (self.deny is None):
            raise ValueError("set exactly one of route, deny")
        return self


class RuleModel(_OneOutcome):
    """One rule: first match wins."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=128)
    description: str | None = None
    match: MatchModel = Field(default_factory=MatchModel)


class OtherwiseModel(_OneOutcome):
    """What happens when no rule and no default route applies."""


class DefaultsModel(_Strict):
    by_kind: dict[SessionKind, RouteModel] = Field(default_factory=dict, description="default route per session kind")
    by_endpoint: dict[EndpointKind, RouteModel] = Field(
        default_factory=dict, description="default route per endpoint, used when its model's kind is the session's"
    )
    otherwise: OtherwiseModel | None = None


class PolicyFile(_Strict):
    """A routing policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="voice-gateway routing policy")

    version: Literal[1]
    description: str | None = None
    catalog: str | None = Field(
        None, description="model catalog path, relative to this file (used by the policy CLI; the server uses its own)"
    )
    model_map: dict[str, str] = Field(
        default_factory=dict,
        description="client-requested model name -> catalog model served instead (e.g. a retired model -> its successor)",
    )
    rules: list[RuleModel] = Field(default_factory=list)
    defaults: DefaultsModel = Field(default_factory=DefaultsModel)
