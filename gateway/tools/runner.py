"""The per-session tool shell: runs the calls the interceptor queues, with limits, cache and timers.

Everything it decides about the conversation is the interceptor's; this loop only executes
tools (timeout, per-tool and per-session concurrency, result cache), reports results back and
fires the filler timers, sending the interceptor's frames upstream in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from gateway.core.gateway_tools import GatewayTool
from gateway.core.ports import Frame, FrameSocket, PushSocket
from gateway.core.tool_calls import StartCall, ToolCallInterceptor, error_output
from gateway.tools.cache import ResultCache, cache_key
from gateway.tools.errors import ToolFailed
from gateway.tools.servers import SessionTools

log = logging.getLogger("voice_gateway.tools")

Send = Callable[[Frame], Awaitable[None]]


def upstream_sender(sock: FrameSocket) -> Send:
    """Send in order with the relay: a push socket's ``send_now`` is what the relay uses too."""
    if isinstance(sock, PushSocket):
        push = sock

        async def send_now(frame: Frame) -> None:
            push.send_now(frame)

        return send_now
    return sock.send


class SessionToolRunner:
    """Executes one session's gateway tool calls; :meth:`close` cancels whatever still runs."""

    def __init__(
        self,
        interceptor: ToolCallInterceptor,
        tools: SessionTools,
        cache: ResultCache,
        send: Send,
        clock: Callable[[], float],
        session_id: str = "",
    ) -> None:
        self.interceptor = interceptor
        self.tools = tools
        self.cache = cache
        self.send = send
        self.clock = clock
        self.session_id = session_id
        self._by_name: dict[str, GatewayTool] = {t.name: t for t in tools.tools}
        self._running: dict[str, int] = {}
        self._session_running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: the running call of each call id (cancelled when the interceptor cancels the call)
        self._calls: dict[str, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._send_lock = asyncio.Lock()
        self._scheduled = False
        self._closed = False
        interceptor.wake = self.wake

    # --- the interceptor's wake-up -------------------------------------------------------------

    def wake(self) -> None:
        """Calls were queued (called from inside the relay's frame handling): start them right after."""
        if not self._scheduled and not self._closed:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_queued)

    def _start_queued(self) -> None:
        self._scheduled = False
        for start in self.interceptor.take_starts():
            task = asyncio.create_task(self._run(start), name=f"tool:{start.name}")
            self._tasks.add(task)
            self._calls[start.call_id] = task
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(self._forget, start.call_id))
        for call_id in self.interceptor.take_cancelled():
            running = self._calls.pop(call_id, None)
            if running is not None:
                running.cancel()  # the HTTP request / MCP call is abandoned; nothing is reported or cached
        self._arm()

    def _forget(self, call_id: str, _task: asyncio.Task[None]) -> None:
        self._calls.pop(call_id, None)

    # --- one call ------------------------------------------------------------------------------

    async def _run(self, start: StartCall) -> None:
        tool = self._by_name[start.name]
        key = cache_key(tool.server, tool.name, start.arguments)
        cached = self.cache.get(key, self.clock()) if tool.limits.cache_ttl_s > 0 else None
        if cached is not None:
            await self._report(start, cached, "ok", cache_hit=True)
            return
        busy = self._session_running >= self.tools.toolset.max_concurrent_calls or self._running.get(tool.name, 0) >= tool.limits.max_concurrency
        if busy:
            await self._report(start, error_output("Too many lookups at once; try again in a moment."), "busy")
            return
        self._session_running += 1
        self._running[tool.name] = self._running.get(tool.name, 0) + 1
        try:
            output, outcome = await self._execute(tool, start)
        finally:
            self._session_running -= 1
            self._running[tool.name] -= 1
        if outcome == "ok":
            self.cache.put(key, output, tool.limits.cache_ttl_s, self.clock())
        await self._report(start, output, outcome)

    async def _execute(self, tool: GatewayTool, start: StartCall) -> tuple[str, str]:
        execute = self.tools.executors[tool.name]
        try:
            async with asyncio.timeout(tool.limits.timeout_s):  # no extra task per call, unlike wait_for
                return await execute(start.arguments), "ok"
        except asyncio.TimeoutError:
            return error_output(tool.limits.error_message), "timeout"
        except ToolFailed as exc:
            log.info("gateway tool failed", extra={"session_id": self.session_id, "tool": tool.name, "reason": exc.reason})
            return error_output(tool.limits.error_message), exc.outcome
        except Exception as exc:  # noqa: BLE001 - a tool can never break the session
            log.warning("gateway tool crashed", extra={"session_id": self.session_id, "tool": tool.name, "error": type(exc).__name__})
            return error_output(tool.limits.error_message), "error"

    async def _report(self, start: StartCall, output: str, outcome: str, *, cache_hit: bool = False) -> None:
        if self._closed:
            return
        frames = self.interceptor.finished(start.call_id, output, self.clock(), outcome=outcome, cache_hit=cache_hit)
        await self._send_all(frames)
        self._arm()

    async def _send_all(self, frames: list[str]) -> None:
        if not frames:
            return
        async with self._send_lock:
            for frame in frames:
                await self.send(frame)

    # --- filler timers ---------------------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.interceptor.next_deadline()
        if deadline is None or self._closed:
            return
        delay = max(0.0, deadline - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        frames = self.interceptor.due(self.clock())
        if frames:
            task = asyncio.create_task(self._send_all(frames), name="tool:filler")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._arm()

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
