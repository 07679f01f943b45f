"""Gateway-side tools as compiled from policy: HTTP tools and MCP servers a route gives its sessions.

Pure data, no I/O. A route carries a :class:`GatewayToolSet`; at session start the tool shell
resolves it to :class:`GatewayTool` definitions (HTTP tools as declared, MCP tools as listed by
their server and filtered by the allow-list), which the session core injects and intercepts.
Secrets never live here: a secret header names the environment variable that holds its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Mapping

from gateway.core.jsontypes import JsonObject

#: the server name HTTP tools report in spans and metrics
HTTP_SERVER: Final = "http"

DEFAULT_FILLER_INSTRUCTIONS: Final = (
    "Tell the user you are checking; one short sentence. Do not answer the question yet."
)


@dataclass(frozen=True, slots=True)
class ToolLimits:
    """How one tool (or every tool of one MCP server) is run."""

    timeout_s: float = 5.0
    #: ask the model for a spoken filler when the tool has not answered after this long (None: never)
    filler_after_ms: int | None = None
    #: cache results keyed on the arguments for this long (0: no cache)
    cache_ttl_s: float = 0.0
    #: calls of this tool running at once in one session
    max_concurrency: int = 2
    #: what the model is told when the tool fails or times out (it can speak this)
    error_message: str = "The tool is not answering right now."


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """A request header; a secret one takes its value from ``env`` when the call is made."""

    name: str
    value: str | None = None
    env: str | None = None


@dataclass(frozen=True, slots=True)
class HttpToolSpec:
    """A tool the gateway executes as one HTTP request to a configured URL."""

    name: str
    description: str
    #: JSON Schema of the arguments (also sent to the model as the tool's ``parameters``)
    parameters: Mapping[str, object]
    url: str
    method: str = "POST"
    headers: tuple[HeaderSpec, ...] = ()
    limits: ToolLimits = field(default_factory=ToolLimits)


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """An MCP server reached over streamable HTTP; its tools are listed and filtered by ``allow``."""

    name: str
    url: str
    headers: tuple[HeaderSpec, ...] = ()
    #: tool names offered to the model (None: every tool the server lists)
    allow: frozenset[str] | None = None
    limits: ToolLimits = field(default_factory=ToolLimits)
    #: how long listing the tools may take at start-up or session start
    list_timeout_s: float = 3.0
    #: the listing's age after which it is refreshed in the background (0: only on the server's list_changed)
    tools_ttl_s: float = 300.0


@dataclass(frozen=True, slots=True)
class GatewayToolSet:
    """Everything a route declares about gateway-side tools."""

    http: tuple[HttpToolSpec, ...] = ()
    mcp: tuple[McpServerSpec, ...] = ()
    #: gateway tool calls running at once in one session
    max_concurrent_calls: int = 4
    #: a tool result longer than this (UTF-8 bytes) is replaced by an error output
    max_result_bytes: int = 16 * 1024
    filler_instructions: str = DEFAULT_FILLER_INSTRUCTIONS

    @property
    def empty(self) -> bool:
        return not self.http and not self.mcp


@dataclass(frozen=True, slots=True)
class GatewayTool:
    """One tool as a session sees it: the model-facing definition plus how it is run."""

    name: str
    description: str
    parameters: Mapping[str, object]
    #: ``http`` or the MCP server's name
    server: str
    limits: ToolLimits

    def definition(self) -> JsonObject:
        """The Realtime API ``function`` tool entry injected into the session."""
        return {"type": "function", "name": self.name, "description": self.description, "parameters": dict(self.parameters)}
