"""The process's tool servers: one HTTP client and one MCP connection per server, shared by sessions.

Resolved once per session from the route's :class:`GatewayToolSet`: HTTP tools as declared, MCP
tools as listed (at start-up by :meth:`ToolServers.warm`, or at the first session that needs
them). A server that cannot be listed contributes no tools to that session (logged, never fatal).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx2

from gateway.core.gateway_tools import GatewayTool, GatewayToolSet, HttpToolSpec, McpServerSpec
from gateway.tools.cache import ResultCache
from gateway.tools.errors import ToolFailed
from gateway.tools.http_tool import call_http_tool

if TYPE_CHECKING:
    from gateway.tools.mcp_client import McpConnection

log = logging.getLogger("voice_gateway.tools")
#: the HTTP client logs every request URL at INFO; tool traffic is reported by spans and metrics instead
logging.getLogger("httpx2").setLevel(logging.WARNING)

#: what the Realtime API accepts as a function tool's name
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

Execute = Callable[[Mapping[str, object]], Awaitable[str]]


#: the server name built-in (gateway-owned) tools report in spans and metrics
BUILTIN_SERVER = "gateway"


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A gateway-owned tool (not an HTTP tool or an MCP server's): its definition and how it runs.

    The extension point for tools the gateway itself implements (e.g. a call transfer): give the
    tool ``server=BUILTIN_SERVER`` and add it with :meth:`SessionTools.with_builtins` where the
    session's tools are resolved (``SessionSetup._gateway_tools``). It is then injected, hidden,
    validated against its ``parameters``, limited, traced and answered exactly like a policy tool.
    """

    tool: GatewayTool
    execute: Execute


@dataclass(frozen=True, slots=True)
class SessionTools:
    """The tools one session gets and how each is executed."""

    tools: tuple[GatewayTool, ...]
    executors: Mapping[str, Execute] = field(default_factory=dict)
    toolset: GatewayToolSet = field(default_factory=GatewayToolSet)

    def with_builtins(self, builtins: Sequence[BuiltinTool]) -> SessionTools:
        """These tools plus the built-ins; a built-in's name wins over a policy tool of the same name."""
        if not builtins:
            return self
        names = {b.tool.name for b in builtins}
        tools = (*(b.tool for b in builtins), *(t for t in self.tools if t.name not in names))
        executors = {**{k: v for k, v in self.executors.items() if k not in names}, **{b.tool.name: b.execute for b in builtins}}
        return SessionTools(tools, executors, self.toolset)


class ToolServers:
    """Shared by every session of this process; closed at shutdown."""

    def __init__(self, cache: ResultCache | None = None) -> None:
        self.cache = cache or ResultCache()
        self._http: httpx2.AsyncClient | None = None
        self._mcp: dict[tuple[str, str], McpConnection] = {}
        self._background: set[asyncio.Task[None]] = set()

    def _http_client(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = httpx2.AsyncClient(follow_redirects=False, limits=httpx2.Limits(max_keepalive_connections=32))
        return self._http

    def connection(self, spec: McpServerSpec) -> McpConnection:
        key = (spec.name, spec.url)
        conn = self._mcp.get(key)
        if conn is not None and conn.spec != spec:  # a reloaded policy changed the server's settings
            self._spawn(conn.close())
            conn = None
        if conn is None:
            from gateway.tools.mcp_client import McpConnection  # the mcp SDK costs ~2 s of start-up: only when a policy uses it

            conn = self._mcp[key] = McpConnection(spec)
        return conn

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def start_warming(self, toolsets: Iterable[GatewayToolSet]) -> None:
        """List the MCP servers of a (re)loaded policy in the background."""
        self._spawn(self.warm(list(toolsets)))

    async def list_server(self, spec: McpServerSpec, *, refresh: bool = False) -> list[GatewayTool]:
        """List one MCP server's tools now (raises ``ToolFailed`` when it cannot be reached)."""
        conn = self.connection(spec)
        await conn.list_tools(refresh=refresh)
        return conn.gateway_tools()

    async def warm(self, toolsets: Iterable[GatewayToolSet]) -> None:
        """List every MCP server once at start-up (failures are logged; sessions retry)."""
        specs = {(s.name, s.url): s for ts in toolsets for s in ts.mcp}
        results = await asyncio.gather(*(self.list_server(s) for s in specs.values()), return_exceptions=True)
        for spec, result in zip(specs.values(), results):
            if isinstance(result, BaseException):
                log.warning("MCP server not reachable at start-up", extra={"mcp_server": spec.name, "reason": str(result)})

    def _http_executor(self, spec: HttpToolSpec, max_bytes: int) -> Execute:
        async def run(arguments: Mapping[str, object]) -> str:
            return await call_http_tool(self._http_client(), spec, arguments, max_bytes)

        return run

    def _mcp_executor(self, conn: McpConnection, name: str) -> Execute:
        async def run(arguments: Mapping[str, object]) -> str:
            return await conn.call(name, arguments)

        return run

    async def session_tools(self, toolset: GatewayToolSet) -> SessionTools:
        """The session's tools: HTTP tools plus whatever each MCP server lists (first name wins)."""
        tools: list[GatewayTool] = []
        executors: dict[str, Execute] = {}
        for spec in toolset.http:
            tools.append(GatewayTool(spec.name, spec.description, spec.parameters, "http", spec.limits))
            executors[spec.name] = self._http_executor(spec, toolset.max_result_bytes)
        for server in toolset.mcp:
            conn = self.connection(server)
            try:
                await conn.list_tools()
            except ToolFailed as exc:
                log.warning("MCP server tools unavailable for this session", extra={"mcp_server": server.name, "reason": exc.reason})
                continue
            for tool in conn.gateway_tools():
                if not _FUNCTION_NAME.fullmatch(tool.name):
                    log.warning("MCP tool name is not a valid function name; skipped", extra={"mcp_server": server.name})
                    continue
                if tool.name in executors:
                    log.warning("MCP tool name already taken; skipped", extra={"mcp_server": server.name, "tool": tool.name})
                    continue
                tools.append(tool)
                executors[tool.name] = self._mcp_executor(conn, tool.name)
        return SessionTools(tuple(tools), executors, toolset)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for conn in list(self._mcp.values()):
            await conn.close()
        self._mcp.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
