"""The per-session tool runner: timeouts, failures, concurrency, cache and filler timers around the pure interceptor."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping

from gateway.core.gateway_tools import GatewayTool, GatewayToolSet, ToolLimits
from gateway.core.tool_calls import ToolCallInterceptor
from gateway.tools.cache import ResultCache, cache_key
from gateway.tools.errors import ToolFailed
from gateway.tools.runner import SessionToolRunner
from gateway.tools.servers import BUILTIN_SERVER, BuiltinTool, Execute, SessionTools

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


def _tool(name: str, **limits: object) -> GatewayTool:
    return GatewayTool(name, "", SCHEMA, "http", ToolLimits(**limits))  # type: ignore[arg-type]


def _call(interceptor: ToolCallInterceptor, name: str, call_id: str, response_id: str, now: float) -> None:
    item = {"id": f"item_{call_id}", "type": "function_call", "name": name, "call_id": call_id}
    interceptor.upstream({"type": "response.created", "response": {"id": response_id, "conversation_id": "c"}}, now)
    interceptor.upstream({"type": "response.output_item.added", "response_id": response_id, "item": item}, now)
    interceptor.upstream(
        {"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item["id"],
         "call_id": call_id, "name": name, "arguments": '{"q": "x"}'}, now)
    interceptor.upstream({"type": "response.done", "response": {"id": response_id, "conversation_id": "c", "output": []}}, now)


def _outputs(sent: list[str]) -> list[str]:
    return [json.loads(f)["item"]["output"] for f in sent if json.loads(f)["type"] == "conversation.item.create"]


async def _run(tools: list[GatewayTool], executors: Mapping[str, Execute], calls: list[str], cache: ResultCache | None = None,
               wait_s: float = 0.3, **toolset: object) -> tuple[list[str], ToolCallInterceptor]:
    interceptor = ToolCallInterceptor(tools)
    sent: list[str] = []

    async def send(frame: object) -> None:
        sent.append(str(frame))

    runner = SessionToolRunner(interceptor, SessionTools(tuple(tools), executors, GatewayToolSet(**toolset)),  # type: ignore[arg-type]
                               cache or ResultCache(), send, time.monotonic)
    for index, name in enumerate(calls):
        _call(interceptor, name, f"call_{index}", f"resp_{index}", time.monotonic())
    await asyncio.sleep(wait_s)
    await runner.close()
    return sent, interceptor


async def test_timeout_and_failure_become_the_configured_spoken_error() -> None:
    """A tool past its timeout or raising answers with its error_message; the outcome is recorded."""
    async def slow(_: Mapping[str, object]) -> str:
        await asyncio.sleep(5)
        return "late"

    async def broken(_: Mapping[str, object]) -> str:
        raise ToolFailed("HTTP 500")

    tools = [_tool("slow", timeout_s=0.05, error_message="orders are not answering"), _tool("broken", error_message="down")]
    sent, interceptor = await _run(tools, {"slow": slow, "broken": broken}, ["slow", "broken"])
    assert sorted(_outputs(sent)) == sorted([json.dumps({"error": "orders are not answering"}), json.dumps({"error": "down"})])
    outcomes = sorted(e.outcome for e in interceptor.take_events() if type(e).__name__ == "GatewayToolDone")
    assert outcomes == ["error", "timeout"]


async def test_cached_result_answers_without_calling_the_tool() -> None:
    """A cache hit for the same tool and arguments skips the executor."""
    calls: list[int] = []

    async def lookup(_: Mapping[str, object]) -> str:
        calls.append(1)
        return "fresh"

    cache = ResultCache()
    cache.put(cache_key("http", "lookup", {"q": "x"}), "cached", 60, time.monotonic())
    sent, interceptor = await _run([_tool("lookup", cache_ttl_s=60)], {"lookup": lookup}, ["lookup"], cache)
    assert _outputs(sent) == ["cached"] and calls == []
    assert [e.cache_hit for e in interceptor.take_events() if type(e).__name__ == "GatewayToolDone"] == [True]


async def test_calls_over_the_session_limit_are_answered_busy() -> None:
    """With max_concurrent_calls=1 a second call while the first runs is answered 'busy', not queued forever."""
    async def hold(_: Mapping[str, object]) -> str:
        await asyncio.sleep(0.1)
        return "ok"

    sent, _ = await _run([_tool("a", max_concurrency=4)], {"a": hold}, ["a", "a"], max_concurrent_calls=1)
    outputs = _outputs(sent)
    assert "ok" in outputs and any("Too many" in o for o in outputs)


async def test_filler_timer_fires_at_filler_after_ms() -> None:
    """A slow call's filler response.create is sent at its deadline (within a few milliseconds)."""
    async def slow(_: Mapping[str, object]) -> str:
        await asyncio.sleep(0.3)
        return "done"

    started = time.monotonic()
    sent, _ = await _run([_tool("slow", filler_after_ms=100)], {"slow": slow}, ["slow"], wait_s=0.2)
    fillers = [json.loads(f) for f in sent if json.loads(f)["type"] == "response.create"]
    assert len(fillers) == 1 and fillers[0]["response"]["conversation"] == "none"
    assert time.monotonic() - started >= 0.1


def test_cache_expires_and_evicts_the_least_recently_used() -> None:
    """Entries live for their TTL; past max_entries the oldest goes first; argument order does not matter."""
    cache = ResultCache(max_entries=2)
    a, b, c = (cache_key("s", n, {"x": 1, "y": 2}) for n in "abc")
    assert cache_key("s", "a", {"y": 2, "x": 1}) == a
    cache.put(a, "A", 10, 0.0)
    cache.put(b, "B", 10, 0.0)
    assert cache.get(a, 5.0) == "A"
    cache.put(c, "C", 10, 5.0)
    assert cache.get(b, 5.0) is None and cache.get(a, 9.0) == "A" and cache.get(a, 10.0) is None


async def test_a_cancelled_call_stops_its_request_and_reports_nothing() -> None:
    """When the interceptor cancels a call, the running executor is cancelled; no output, no cache entry."""
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow(_: Mapping[str, object]) -> str:
        started.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "late"

    tools = [_tool("slow", cache_ttl_s=60)]
    interceptor = ToolCallInterceptor(tools)
    sent: list[str] = []

    async def send(frame: object) -> None:
        sent.append(str(frame))

    cache = ResultCache()
    runner = SessionToolRunner(interceptor, SessionTools(tuple(tools), {"slow": slow}), cache, send, time.monotonic)
    _call(interceptor, "slow", "call_0", "resp_0", time.monotonic())
    await asyncio.wait_for(started.wait(), 2)
    assert interceptor.cancel_pending(time.monotonic())  # the core's frames (the cancelled output) go out with the relay's
    await asyncio.wait_for(stopped.wait(), 2)
    await asyncio.sleep(0.05)
    assert sent == [] and len(cache) == 0
    await runner.close()


async def test_a_builtin_tool_runs_like_a_policy_tool_and_takes_its_name() -> None:
    """SessionTools.with_builtins: the gateway-owned tool replaces a same-named policy tool and is executed by the runner."""
    async def policy_lookup(_: Mapping[str, object]) -> str:
        return "policy"

    async def transfer(arguments: Mapping[str, object]) -> str:
        return json.dumps({"transferred_to": arguments.get("q")})

    builtin = BuiltinTool(GatewayTool("transfer", "Transfer the call", SCHEMA, BUILTIN_SERVER, ToolLimits()), transfer)
    clash = BuiltinTool(GatewayTool("lookup", "", SCHEMA, BUILTIN_SERVER, ToolLimits()), transfer)
    base = SessionTools((_tool("lookup"),), {"lookup": policy_lookup})
    assert base.with_builtins([]) is base
    tools = base.with_builtins([builtin, clash])
    assert [t.name for t in tools.tools] == ["transfer", "lookup"] and tools.tools[1].server == BUILTIN_SERVER
    sent, _ = await _run(list(tools.tools), tools.executors, ["transfer", "lookup"])
    assert sorted(_outputs(sent)) == [json.dumps({"transferred_to": "x"})] * 2
