"""The MCP connection's tool listing (a real MCP server over streamable HTTP): kept, refreshed in the background when
the server says its list changed or the listing is older than its TTL; sessions never wait for a refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from mcp.server.mcpserver import Context, MCPServer

from gateway.core.gateway_tools import McpServerSpec
from gateway.tools.mcp_client import McpConnection
from tests.support.tool_servers import _serve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _extra() -> str:
    return "extra"


@pytest.fixture
async def server() -> AsyncIterator[tuple[MCPServer, str]]:
    mcp = MCPServer("catalog")

    @mcp.tool(description="The first tool")
    def first() -> str:
        return "first"

    @mcp.tool(description="Offer one more tool and tell the clients")
    async def unlock(ctx: Context) -> str:
        mcp.add_tool(_extra, name="extra", description="Unlocked later")
        await ctx.notify_tools_changed()
        return "unlocked"

    async with _serve(mcp.streamable_http_app()) as url:
        yield mcp, f"{url}/mcp"


async def _names(conn: McpConnection) -> list[str]:
    return sorted(t.name for t in await conn.list_tools())


async def _eventually(conn: McpConnection, names: list[str]) -> None:
    for _ in range(200):
        if sorted(t.name for t in conn.gateway_tools()) == names:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"listing is {[t.name for t in conn.gateway_tools()]}, not {names}")


async def test_the_servers_list_changed_notification_refreshes_the_listing(server: tuple[MCPServer, str]) -> None:
    """A tool call makes the server add a tool and send tools/list_changed: the kept listing is listed again, without
    waiting for its TTL (0 here: only the server's word refreshes it)."""
    _, url = server
    conn = McpConnection(McpServerSpec("catalog", url, tools_ttl_s=0))
    try:
        assert await _names(conn) == ["first", "unlock"]
        assert "unlocked" in await conn.call("unlock", {})
        await _eventually(conn, ["extra", "first", "unlock"])
    finally:
        await conn.close()


async def test_a_listing_older_than_its_ttl_is_refreshed_in_the_background(server: tuple[MCPServer, str]) -> None:
    """Before the TTL the kept listing is served as is; after it, the caller gets the kept listing at once and the new
    one arrives in the background."""
    mcp, url = server
    clock = Clock()
    conn = McpConnection(McpServerSpec("catalog", url, tools_ttl_s=60), clock=clock)
    try:
        assert await _names(conn) == ["first", "unlock"]
        mcp.add_tool(_extra, name="extra", description="Added quietly")
        clock.now += 59
        assert await _names(conn) == ["first", "unlock"]
        await asyncio.sleep(0.2)
        assert sorted(t.name for t in conn.gateway_tools()) == ["first", "unlock"]  # not stale yet: not listed
        clock.now += 1
        assert await _names(conn) == ["first", "unlock"]  # served the kept one, refresh started
        await _eventually(conn, ["extra", "first", "unlock"])
    finally:
        await conn.close()


async def test_a_failed_refresh_keeps_the_listing_and_waits_before_trying_again(
    server: tuple[MCPServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The server gone at refresh time: sessions keep the tools listed before, and no new listing is tried for 10 s."""
    _, url = server
    clock = Clock()
    conn = McpConnection(McpServerSpec("catalog", url, tools_ttl_s=60, list_timeout_s=0.5), clock=clock)

    async def failures(n: int) -> None:
        for _ in range(300):
            if len([r for r in caplog.records if r.getMessage() == "MCP tools could not be listed again"]) == n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not {n} failed refreshes")

    try:
        assert await _names(conn) == ["first", "unlock"]
        await conn.close()
        conn.spec = McpServerSpec("catalog", "http://127.0.0.1:9/mcp", tools_ttl_s=60, list_timeout_s=0.5)  # gone
        clock.now += 61
        assert await _names(conn) == ["first", "unlock"]
        await failures(1)
        clock.now += 9
        assert await _names(conn) == ["first", "unlock"]
        await asyncio.sleep(0.3)
        await failures(1)  # not tried again yet
        clock.now += 1
        assert await _names(conn) == ["first", "unlock"]
        await failures(2)
    finally:
        await conn.close()
