"""One long-lived MCP client per configured server (streamable HTTP, the official ``mcp`` SDK).

The SDK's client must be entered and left in one task, so a holder task owns it; calls from
sessions go through the connected client. A dropped connection is re-opened on the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.shared.exceptions import MCPError
from mcp_types import ListToolsResult, ToolListChangedNotification

from gateway.core.gateway_tools import GatewayTool, McpServerSpec
from gateway.core.tool_arguments import compiled_schema
from gateway.tools.errors import ToolFailed
from gateway.tools.headers import redact, resolve_headers, secret_values
from gateway.waiting import within

log = logging.getLogger("voice_gateway.tools")

#: after a failed listing, sessions do not wait on that server again for this long
RETRY_LISTING_AFTER_S = 10.0


@dataclass(frozen=True, slots=True)
class ListedTool:
    name: str
    description: str
    input_schema: Mapping[str, object]


def result_text(content: list[object], structured: object) -> str:
    """What the model gets from a tool result: the structured value as JSON, else the text blocks."""
    if structured is not None:
        return json.dumps(structured, ensure_ascii=False)
    texts = [str(getattr(block, "text")) for block in content if getattr(block, "type", None) == "text"]
    return "\n".join(texts)


class McpConnection:
    """The connection to one MCP server; ``list_tools()`` lists (and caches), ``call()`` runs one tool.

    The listing is kept until the server says its list changed (``notifications/tools/list_changed``) or it is
    ``tools_ttl_s`` old; then it is listed again in the background while sessions go on with the one they have.
    """

    def __init__(self, spec: McpServerSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.clock = clock
        self._client: Client | None = None
        self._holder: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._connecting: asyncio.Lock | None = None
        self._listed: list[ListedTool] | None = None
        self._listed_at = 0.0
        #: the server said its tool list changed since the last listing
        self._changed = False
        self._refreshing: asyncio.Task[None] | None = None
        self._retry_listing_at = 0.0

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            headers = resolve_headers(self.spec.headers)
            async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
                transport = streamable_http_client(self.spec.url, http_client=http)
                async with Client(transport, message_handler=self._on_message) as client:
                    self._client = client
                    ready.set_result(None)
                    await self._listen_until_stopped(client)
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits for the connection
            if not ready.done():
                ready.set_exception(ToolFailed(f"cannot connect ({type(exc).__name__})"))
            elif not isinstance(exc, asyncio.CancelledError):
                log.warning("MCP server connection lost", extra={"mcp_server": self.spec.name, "error": type(exc).__name__})
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None

    async def _listen_until_stopped(self, client: Client) -> None:
        """Hold the connection until closed, listening for the server's tool-list changes: a ``subscriptions/listen``
        stream on 2026-07-28 servers; older servers send ``notifications/tools/list_changed`` to the message handler."""
        stopped = asyncio.ensure_future(self._stop.wait())
        listening = asyncio.ensure_future(self._listen(client))  # ends before a close only by failing
        try:
            await asyncio.wait({stopped, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopped, listening):
                task.cancel()
            await asyncio.gather(stopped, listening, return_exceptions=True)
        if not self._stop.is_set():
            listening.result()  # the connection failed: raised here, the holder reports it and the next use reconnects

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._tools_changed()
        except ListenNotSupportedError:
            return  # a handshake-era server: its notifications come to _on_message
        except (SubscriptionLost, MCPError) as exc:  # the kept listing still ages out by its TTL
            log.info("MCP tool-change stream ended", extra={"mcp_server": self.spec.name, "error": type(exc).__name__})
        await self._stop.wait()

    def _tools_changed(self) -> None:
        self._changed = True
        if self._listed is not None:
            self._refresh_in_background()

    async def _connected(self, timeout_s: float) -> Client:
        if self._client is not None and self._holder is not None and not self._holder.done():
            return self._client
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is not None and self._holder is not None and not self._holder.done():
                return self._client
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            self._holder = asyncio.create_task(self._hold(ready), name=f"mcp:{self.spec.name}")
            try:
                await within(asyncio.shield(ready), timeout_s)
            except asyncio.TimeoutError:
                await self.close()
                raise ToolFailed("connect timed out", "timeout") from None
            except ToolFailed:
                await self.close()
                raise
            assert self._client is not None
            return self._client

    async def list_tools(self, *, refresh: bool = False) -> list[ListedTool]:
        """The server's tools, filtered by the allow-list: the kept listing (refreshed in the background once stale),
        else listed now; ``refresh`` lists now."""
        listed = self._listed
        if listed is not None and not refresh:
            if self._stale():
                self._refresh_in_background()
            return listed
        now = self.clock()
        if now < self._retry_listing_at and not refresh:
            raise ToolFailed("not reachable (listing failed moments ago)")
        self._changed = False  # a change announced while this listing runs marks it stale again
        try:
            result = await self._list()
        except ToolFailed:
            self._retry_listing_at = now + RETRY_LISTING_AFTER_S
            raise
        allow = self.spec.allow
        fresh = [
            ListedTool(t.name, t.description or "", dict(t.input_schema))
            for t in result.tools
            if allow is None or t.name in allow
        ]
        for tool in fresh:
            compiled_schema(tool.input_schema)  # compiled once per listing, not per session
        self._listed, self._listed_at = fresh, now
        return fresh

    def _stale(self) -> bool:
        """Whether the kept listing should be listed again (the server changed it, or it is older than the TTL)."""
        now = self.clock()
        if now < self._retry_listing_at:
            return False
        ttl = self.spec.tools_ttl_s
        return self._changed or (ttl > 0 and now - self._listed_at >= ttl)

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(), name=f"mcp-list:{self.spec.name}")

    async def _refresh(self) -> None:
        try:
            await self.list_tools(refresh=True)
        except ToolFailed as exc:  # the kept listing goes on serving; tried again after RETRY_LISTING_AFTER_S
            log.warning("MCP tools could not be listed again", extra={"mcp_server": self.spec.name, "reason": exc.reason})

    async def _on_message(self, message: object) -> None:
        """The SDK's message handler: the server's ``tools/list_changed`` refreshes the listing in the background."""
        if isinstance(message, ToolListChangedNotification):
            self._tools_changed()
        await asyncio.sleep(0)

    async def _list(self) -> ListToolsResult:
        client = await self._connected(self.spec.list_timeout_s)
        try:
            return await within(client.list_tools(), self.spec.list_timeout_s)
        except asyncio.TimeoutError:
            raise ToolFailed("listing tools timed out", "timeout") from None
        except Exception as exc:  # noqa: BLE001 - any SDK failure is "cannot list"
            raise ToolFailed(f"cannot list tools ({type(exc).__name__})") from None

    def gateway_tools(self) -> list[GatewayTool]:
        """The listed tools as session tool definitions (empty until listed)."""
        return [
            GatewayTool(t.name, t.description, t.input_schema, self.spec.name, self.spec.limits) for t in self._listed or ()
        ]

    async def call(self, name: str, arguments: Mapping[str, object]) -> str:
        client = await self._connected(self.spec.limits.timeout_s)
        try:
            result = await client.call_tool(name, dict(arguments))
        except Exception as exc:  # noqa: BLE001 - protocol errors become a spoken error, not a broken session
            raise ToolFailed(f"call failed ({type(exc).__name__})") from None
        text = result_text(list(result.content), result.structured_content)
        if result.is_error:
            raise ToolFailed("the tool reported an error")
        return redact(text, secret_values(self.spec.headers))

    async def close(self) -> None:
        """Leave the MCP session politely (the SDK ends it with a DELETE), cancelling after a grace period."""
        refreshing = self._refreshing
        if refreshing is not None and refreshing is not asyncio.current_task() and not refreshing.done():
            self._refreshing = None
            refreshing.cancel()
            with contextlib.suppress(BaseException):
                await refreshing
        self._stop.set()
        holder, self._holder = self._holder, None
        if holder is not None:
            with contextlib.suppress(BaseException):
                await within(asyncio.shield(holder), 2.0)
            if not holder.done():
                holder.cancel()
                with contextlib.suppress(BaseException):
                    await holder
        self._client = None
