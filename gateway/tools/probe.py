"""``policy check``'s look at the tool servers a policy names: unreachable ones are warnings, not errors.

HTTP tools are probed with a TCP connection to their host (no request is sent: calling a tool may
have side effects); MCP servers are asked for their tool list, and allow-listed names the server
does not offer are reported too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import urlsplit

from gateway.core.gateway_tools import GatewayToolSet, HttpToolSpec, McpServerSpec
from gateway.tools.errors import ToolFailed
from gateway.tools.mcp_client import McpConnection
from gateway.waiting import within


async def _http_reachable(spec: HttpToolSpec, timeout_s: float) -> str | None:
    parts = urlsplit(spec.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await within(asyncio.open_connection(parts.hostname, port), timeout_s)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"HTTP tool '{spec.name}' at {parts.scheme}://{parts.hostname}:{port} is not reachable ({type(exc).__name__})"
    writer.close()
    return None


async def _mcp_reachable(spec: McpServerSpec) -> list[str]:
    conn = McpConnection(spec)
    try:
        listed = await conn.list_tools()
    except ToolFailed as exc:
        return [f"MCP server '{spec.name}' is not reachable ({exc.reason})"]
    finally:
        await conn.close()
    missing = sorted((spec.allow or frozenset()) - {t.name for t in listed})
    if missing:
        return [f"MCP server '{spec.name}' does not offer allow-listed tool(s): {', '.join(missing)}"]
    return []


async def tool_server_warnings(toolsets: Iterable[GatewayToolSet], timeout_s: float = 3.0) -> list[str]:
    """One line per tool server that cannot be reached (each server probed once)."""
    http = {(s.name, s.url): s for ts in toolsets for s in ts.http}
    mcp = {(s.name, s.url): s for ts in toolsets for s in ts.mcp}
    http_results = await asyncio.gather(*(_http_reachable(s, timeout_s) for s in http.values()))
    mcp_results = await asyncio.gather(*(_mcp_reachable(s) for s in mcp.values()))
    return [w for w in http_results if w] + [w for ws in mcp_results for w in ws]
