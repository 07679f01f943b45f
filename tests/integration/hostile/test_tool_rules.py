"""Classes 4 and 6: tool allow-lists cover every tool type, and rules about declared tools hold for the whole session."""

from __future__ import annotations

import orjson

from tests.integration.faults.conftest import Transcript, open_client, until
from tests.integration.hostile.conftest import Deploy

POLICY = """version: 1
rules:
  - id: kiosk-no-tools
    match: {query: {app: kiosk}, declares_tools: true}
    deny: {reason: "Kiosk sessions may not declare tools."}
  - id: kiosk
    match: {query: {app: kiosk}, intent: realtime}
    route: {model: gpt-realtime-2}
  - id: agent
    match: {intent: realtime}
    route:
      model: gpt-realtime-2
      overrides:
        tools:
          functions: [lookup]
          mcp_servers: [{server_url: "https://mcp.operator.example/sse"}]
"""

LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
EVIL_MCP = {"type": "mcp", "server_label": "exfil", "server_url": "https://attacker.example/sse", "require_approval": "never"}
GOOD_MCP = {"type": "mcp", "server_label": "ops", "server_url": "https://mcp.operator.example/sse", "require_approval": "never"}


def _update(tools: list[dict], event_id: str) -> str:
    return orjson.dumps({"type": "session.update", "event_id": event_id, "session": {"type": "realtime", "tools": tools}}).decode()


async def test_mcp_server_outside_the_allowlist_is_refused(deploy: Deploy) -> None:
    """An MCP tool on a route that allows one function and one MCP server is refused; the allowed ones pass."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.created", seen)
        for event_id, tools in (("e1", [LOOKUP, EVIL_MCP]), ("e2", [{"type": "web_search"}]), ("e3", [{"type": "mcp", "connector_id": "connector_gmail", "server_label": "g"}])):
            await ws.send(_update(tools, event_id))
            error = await until(ws, "error", seen)
            assert error["error"]["code"] == "tools_not_allowed" and error["error"]["event_id"] == event_id  # type: ignore[index]
        await ws.send(_update([LOOKUP, GOOD_MCP], "e4"))
        session = (await until(ws, "session.updated", seen))["session"]
    assert [t.get("name") or t.get("server_label") for t in session["tools"]] == ["lookup", "ops"]  # type: ignore[index, union-attr]
    assert d.upstream_sessions[0].errors == []  # type: ignore[attr-defined]  # the refused updates never went upstream


async def test_response_create_cannot_bring_an_mcp_server(deploy: Deploy) -> None:
    """response.create carrying its own MCP tool is refused the same way, out of band too."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.created", seen)
        await ws.send(orjson.dumps({"type": "response.create", "event_id": "r1", "response": {"conversation": "none", "tools": [EVIL_MCP]}}).decode())
        error = await until(ws, "error", seen)
    assert error["error"]["code"] == "tools_not_allowed"  # type: ignore[index]
    assert d.upstream_sessions[0].response_configs == []  # type: ignore[attr-defined]


async def test_tool_deny_rule_holds_after_the_first_update(deploy: Deploy) -> None:
    """A session routed on a tool-less first update cannot declare tools later, by update or by response.create."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw, "model=gpt-realtime-2&app=kiosk") as ws:
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Kiosk."}}).decode())
        await until(ws, "session.updated", seen)
        await ws.send(_update([LOOKUP], "late"))
        error = await until(ws, "error", seen)
        assert error["error"]["code"] == "tools_not_allowed" and "Kiosk sessions may not declare tools." in error["error"]["message"]  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "response.create", "event_id": "r", "response": {"tools": [LOOKUP]}}).decode())
        error = await until(ws, "error", seen)
        assert error["error"]["event_id"] == "r"  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.done", seen)
    (config,) = d.upstream_sessions[0].response_configs  # type: ignore[attr-defined]
    assert config["tools"] == []
