"""Real tool servers for tests: an HTTP tool server (Starlette) and an MCP server (the ``mcp`` SDK's
MCPServer over streamable HTTP), each served by uvicorn on a free port in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ORDERS_TOKEN = "orders-secret-token-5f1e9a"


@dataclass
class HttpToolServer:
    url: str = ""
    #: (path, authorization header, JSON body) per request
    hits: list[tuple[str, str | None, object]] = field(default_factory=list)
    slow_s: float = 1.5
    #: paths whose request the client dropped before the answer was ready
    abandoned: list[str] = field(default_factory=list)

    def count(self, path: str) -> int:
        return sum(1 for p, _, _ in self.hits if p == path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(app: object) -> AsyncIterator[str]:
    port = _free_port()
    # an MCP client holds a subscriptions/listen stream open: shutdown cuts open streams after 1 s
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def http_tool_server() -> AsyncIterator[HttpToolServer]:
    """``/orders`` answers with the order's status (needs the bearer token), ``/slow`` takes ``slow_s``,
    ``/fail`` answers 500 with a body that must never reach the model."""
    state = HttpToolServer()

    async def orders(request: Request) -> Response:
        body = await request.json()
        state.hits.append(("/orders", request.headers.get("authorization"), body))
        if request.headers.get("authorization") != f"Bearer {ORDERS_TOKEN}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        return JSONResponse({"order_id": body.get("order_id"), "status": "shipped"})

    async def slow(request: Request) -> Response:
        body = await request.json()
        state.hits.append(("/slow", request.headers.get("authorization"), body))
        deadline = asyncio.get_running_loop().time() + state.slow_s
        while asyncio.get_running_loop().time() < deadline:
            if await request.is_disconnected():  # the gateway gave the request up (a cancelled call)
                state.abandoned.append("/slow")
                return Response(status_code=499)
            await asyncio.sleep(0.02)
        return JSONResponse({"status": "delivered"})

    async def fail(request: Request) -> Response:
        state.hits.append(("/fail", request.headers.get("authorization"), await request.body()))
        return JSONResponse({"trace": "internal stack trace with db password"}, status_code=500)

    app = Starlette(routes=[
        Route("/orders", orders, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
        Route("/fail", fail, methods=["POST"]),
    ])
    async with _serve(app) as url:
        state.url = url
        yield state


@dataclass
class McpToolServer:
    url: str = ""
    calls: list[tuple[str, dict[str, object]]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def mcp_tool_server() -> AsyncIterator[McpToolServer]:
    """An MCP server with ``customer_tier`` (offered) and ``delete_customer`` (kept out by the allow-list)."""
    state = McpToolServer()
    server = MCPServer("crm")

    @server.tool(description="The loyalty tier of a customer")
    def customer_tier(customer_id: str) -> dict[str, str]:
        state.calls.append(("customer_tier", {"customer_id": customer_id}))
        return {"customer_id": customer_id, "tier": "gold"}

    @server.tool(description="Delete a customer")
    def delete_customer(customer_id: str) -> str:
        state.calls.append(("delete_customer", {"customer_id": customer_id}))
        return "deleted"

    async with _serve(server.streamable_http_app()) as url:
        state.url = f"{url}/mcp"
        yield state
