"""Gateway-side tools: what the gateway adds to a tool call, a cached call, and how late a filler starts.

A real gateway process sits between a client (reads and discards) and a scripted upstream that
plays the model: it sends a function call for a gateway tool and times the gateway's
``conversation.item.create`` (the tool output) and ``response.create`` frames. The HTTP tool
server and the MCP server run in this process and time their own handling, so

* overhead per call = (args.done sent → output received at the upstream) − the tool's own time;
* a cached call = args.done sent → output received (no tool runs);
* filler delay = the filler's ``response.create`` received − (args.done sent + ``filler_after_ms``);
* filler audio = the filler's first ``response.output_audio.delta`` received by the *client* −
  (args.done sent + ``filler_after_ms``). The scripted model answers the filler request with audio
  at once, so this is everything but the real model's own time to first audio.

Every hop is a real loopback socket; the figures include the gateway's I/O, not only its code.

Run: ``.venv/bin/python -m bench.tools [--calls 300] [--cpus 0,1]``; writes ``bench/results/tools.json``.
``--cpus B,G`` pins the bench (client, upstream, tool servers) to CPU ``B`` and the gateway to CPU
``G`` (``taskset``), so the two do not preempt each other; on a shared host the p99 still carries
other tenants' noise — compare code changes with ``bench/tools_callgrind.py`` (instruction counts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
import websockets
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
KEY = "vg-bench-tools-key-0123456789"
FILLER_AFTER_MS = 100
FILLER_PREFIX = "resp_filler_"
#: 20 ms of PCM16 24 kHz silence, base64
_AUDIO_DELTA = "A" * 1280


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ToolClock:
    """Time each tool server spent per request (seconds), by path."""

    spent: dict[str, list[float]] = field(default_factory=dict)
    slow_s: float = 0.3

    def add(self, key: str, seconds: float) -> None:
        self.spent.setdefault(key, []).append(seconds)


def _tool_app(clock: ToolClock) -> Starlette:
    async def fast(request: Request) -> JSONResponse:
        started = time.perf_counter()
        body = await request.json()
        response = JSONResponse({"order_id": body.get("order_id"), "status": "shipped"})
        clock.add("http", time.perf_counter() - started)
        return response

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(clock.slow_s)
        return JSONResponse({"status": "delivered"})

    return Starlette(routes=[Route("/fast", fast, methods=["POST"]), Route("/slow", slow, methods=["POST"])])


def _mcp_app(clock: ToolClock) -> Starlette:
    server = MCPServer("bench")

    @server.tool(description="Customer tier")
    def customer_tier(customer_id: str) -> dict[str, str]:
        started = time.perf_counter()
        result = {"customer_id": customer_id, "tier": "gold"}
        clock.add("mcp", time.perf_counter() - started)
        return result

    return server.streamable_http_app()


@contextlib.asynccontextmanager
async def _serve(app: Starlette) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _policy(tools_url: str, mcp_url: str) -> str:
    return f"""
version: 1
rules:
  - id: bench
    route:
      model: gpt-realtime-2
      gateway_tools:
        max_concurrent_calls: 8
        http:
          - name: lookup_order
            url: {tools_url}/fast
            parameters: {{type: object, properties: {{order_id: {{type: string}}}}, required: [order_id]}}
            cache_ttl_s: 600
          - name: track_parcel
            url: {tools_url}/slow
            filler_after_ms: {FILLER_AFTER_MS}
        mcp:
          - name: crm
            url: {mcp_url}
"""


class ScriptedModel:
    """The upstream: answers session updates and response.creates, plays function calls on demand."""

    def __init__(self) -> None:
        self.ws: websockets.ServerConnection | None = None
        self.connected = asyncio.Event()
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._n = 0

    def expect(self, kind: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[kind] = future
        return future

    def _hit(self, kind: str) -> None:
        future = self._waiters.pop(kind, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def handler(self, ws: websockets.ServerConnection) -> None:
        self.ws = ws
        await ws.send(json.dumps({"type": "session.created", "session": {"type": "realtime", "model": "gpt-realtime-2", "tools": []}}))
        self.connected.set()
        async for raw in ws:
            event = json.loads(raw)
            t = event.get("type")
            if t == "session.update":
                await ws.send(json.dumps({"type": "session.updated", "session": event["session"]}))
            elif t == "conversation.item.create":
                self._hit("output")
            elif t == "response.create":
                response = event.get("response") or {}
                oob = response.get("conversation") == "none"
                self._hit("filler" if oob else "follow_up")
                await self._respond(response, oob)

    async def _respond(self, request: dict[str, object], oob: bool) -> None:
        assert self.ws is not None
        self._n += 1
        rid = f"{FILLER_PREFIX if oob else 'resp_g'}{self._n}"
        body = {"id": rid, "conversation_id": None if oob else "conv_1", "metadata": request.get("metadata"), "output": []}
        await self.ws.send(json.dumps({"type": "response.created", "response": body}))
        if oob:  # the filler is spoken: its first audio goes to the client through the gateway
            await self.ws.send(json.dumps({"type": "response.output_audio.delta", "response_id": rid, "item_id": f"item_{rid}",
                                           "output_index": 0, "content_index": 0, "delta": _AUDIO_DELTA}))
        await self.ws.send(json.dumps({"type": "response.done", "response": {**body, "status": "completed"}}))

    async def call(self, name: str, arguments: dict[str, object]) -> float:
        """Play one function call; return when the args.done frame was handed to the socket."""
        assert self.ws is not None
        self._n += 1
        rid, item_id, call_id = f"resp_{self._n}", f"item_{self._n}", f"call_{self._n}"
        item = {"id": item_id, "type": "function_call", "name": name, "call_id": call_id, "arguments": ""}
        args = json.dumps(arguments)
        await self.ws.send(json.dumps({"type": "response.created", "response": {"id": rid, "conversation_id": "conv_1", "output": []}}))
        await self.ws.send(json.dumps({"type": "response.output_item.added", "response_id": rid, "item": item}))
        sent = time.perf_counter()
        await self.ws.send(json.dumps({"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item_id,
                                       "call_id": call_id, "name": name, "arguments": args}))
        await self.ws.send(json.dumps({"type": "response.done", "response": {"id": rid, "conversation_id": "conv_1", "status": "completed",
                                                                            "output": [{**item, "arguments": args}]}}))
        return sent


def _start_gateway(upstream_url: str, policy: Path, port: int, log: Path, cpu: int | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_"))}
    env.update({
        "VOICE_GATEWAY_API_KEYS": KEY, "VOICE_GATEWAY_UPSTREAM_URL": upstream_url, "OPENAI_API_KEY": "sk-bench-0123456789abcdef",
        "VOICE_GATEWAY_POLICY_FILES": str(policy), "VOICE_GATEWAY_LOG_LEVEL": "WARNING", "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    })
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90  # a loaded host imports slowly
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"gateway did not start:\n{log.read_text()[-3000:]}")


def _percentiles(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50_ms": round(q[49], 3), "p90_ms": round(q[89], 3), "p99_ms": round(q[98], 3), "max_ms": round(ms[-1], 3)}


class ClientEar:
    """The client: reads everything, and stamps the first audio of each filler response."""

    def __init__(self) -> None:
        self.filler_audio: dict[str, float] = {}
        self._waiter: asyncio.Future[float] | None = None

    def expect(self) -> asyncio.Future[float]:
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    async def drain(self, client: websockets.ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in client:
                if b"output_audio.delta" not in (raw if isinstance(raw, bytes) else raw.encode()):
                    continue
                at = time.perf_counter()
                rid = json.loads(raw).get("response_id", "")
                if rid.startswith(FILLER_PREFIX) and rid not in self.filler_audio:
                    self.filler_audio[rid] = at
                    if self._waiter is not None and not self._waiter.done():
                        self._waiter.set_result(at)


async def _round(model: ScriptedModel, name: str, arguments: dict[str, object]) -> tuple[float, float]:
    """(args.done → output, args.done → follow-up response.create), seconds."""
    output, follow_up = model.expect("output"), model.expect("follow_up")
    sent = await model.call(name, arguments)
    return await asyncio.wait_for(output, 10) - sent, await asyncio.wait_for(follow_up, 10) - sent


async def measure(calls: int, gateway_cpu: int | None = None, gap_s: float = 0.02) -> dict[str, object]:
    clock = ToolClock()
    model = ScriptedModel()
    async with _serve(_tool_app(clock)) as tools_url, _serve(_mcp_app(clock)) as mcp_url, \
            websockets.serve(model.handler, "127.0.0.1", 0) as upstream:
        up_port = next(iter(upstream.sockets)).getsockname()[1]
        with tempfile.TemporaryDirectory() as tmp:
            policy = Path(tmp) / "tools.yaml"
            policy.write_text(_policy(tools_url, f"{mcp_url}/mcp"))
            port = _free_port()
            gateway = await asyncio.to_thread(_start_gateway, f"ws://127.0.0.1:{up_port}/v1", policy, port, Path(tmp) / "gw.log", gateway_cpu)
            try:
                url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime-2"
                async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as client:
                    ear = ClientEar()
                    reader = asyncio.create_task(ear.drain(client))
                    await model.connected.wait()
                    await asyncio.sleep(0.3)
                    gc.collect()  # the bench's own collector pauses are not the gateway's (it settles its heap too)
                    gc.freeze()
                    try:
                        results = await _run_modes(model, clock, ear, calls, gap_s)
                    except asyncio.TimeoutError:
                        raise RuntimeError(f"the gateway did not answer:\n{(Path(tmp) / 'gw.log').read_text()[-3000:]}") from None
                    reader.cancel()
            finally:
                gateway.terminate()
                await asyncio.to_thread(gateway.wait, 10)
    return results


async def _paced(model: ScriptedModel, name: str, arguments: dict[str, object], gap_s: float) -> tuple[float, float]:
    """One round, then a pause: calls back to back (~750/s on one session) would measure the queue behind the
    previous calls' turn spans, which the relay hands its observers in one batch per 100 ms tick (~0.3 ms per
    call); a conversation calls a tool every few seconds at most."""
    result = await _round(model, name, arguments)
    await asyncio.sleep(gap_s)
    return result


async def _run_modes(model: ScriptedModel, clock: ToolClock, ear: ClientEar, calls: int, gap_s: float) -> dict[str, object]:
    for i in range(20):  # warm connections and code paths
        await _round(model, "lookup_order", {"order_id": f"warm-{i}"})
        await _round(model, "customer_tier", {"customer_id": f"warm-{i}"})
    clock.spent.clear()
    http_total = [(await _paced(model, "lookup_order", {"order_id": str(i)}, gap_s))[0] for i in range(calls)]
    http_overhead = [total - spent for total, spent in zip(http_total, clock.spent["http"])]
    cached = [(await _paced(model, "lookup_order", {"order_id": "0"}, gap_s))[0] for _ in range(calls)]
    mcp_total = [(await _paced(model, "customer_tier", {"customer_id": str(i)}, gap_s))[0] for i in range(calls)]
    mcp_overhead = [total - spent for total, spent in zip(mcp_total, clock.spent["mcp"])]
    fillers: list[float] = []
    filler_audio: list[float] = []
    for _ in range(max(10, calls // 15)):
        filler, output, follow_up, heard = model.expect("filler"), model.expect("output"), model.expect("follow_up"), ear.expect()
        sent = await model.call("track_parcel", {})
        due = sent + FILLER_AFTER_MS / 1000
        fillers.append(await asyncio.wait_for(filler, 10) - due)
        filler_audio.append(await asyncio.wait_for(heard, 10) - due)
        await asyncio.wait_for(asyncio.gather(output, follow_up), 10)
    return {
        "http_tool_overhead": _percentiles(http_overhead),
        "cached_call": _percentiles(cached),
        "mcp_tool_overhead_incl_mcp_server_framework": _percentiles(mcp_overhead),
        "filler_delay_after_filler_after_ms": _percentiles(fillers),
        "filler_first_audio_at_client_after_filler_after_ms": _percentiles(filler_audio),
        "targets": {"overhead_p99_ms": 5.0, "cached_ms": 1.0, "filler_delay_ms": 150.0, "filler_audio_ms": 150.0},
    }


def core_cost(calls: int) -> dict[str, float]:
    """The gateway's own code per call, without sockets: the session core and interceptor from the
    function call's first event to the follow-up ``response.create`` (parse, validate, rewrite, serialise)."""
    from gateway.core.gateway_tools import GatewayTool, ToolLimits
    from gateway.core.kinds import Dialect, SessionKind
    from gateway.core.session import SessionCore
    from gateway.core.tool_calls import ToolCallInterceptor

    schema = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    tool = GatewayTool("lookup_order", "", schema, "http", ToolLimits())
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=ToolCallInterceptor([tool]))
    assert core.tools is not None
    samples: list[float] = []
    for i in range(calls):
        rid, item_id, call_id = f"resp_{i}", f"item_{i}", f"call_{i}"
        item = {"id": item_id, "type": "function_call", "name": "lookup_order", "call_id": call_id, "arguments": ""}
        args = json.dumps({"order_id": str(i)})
        frames = [json.dumps(e) for e in (
            {"type": "response.created", "response": {"id": rid, "conversation_id": "c", "output": []}},
            {"type": "response.output_item.added", "response_id": rid, "item": item},
            {"type": "conversation.item.added", "item": item},
            {"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item_id, "delta": args},
            {"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item_id, "call_id": call_id,
             "name": "lookup_order", "arguments": args},
            {"type": "response.output_item.done", "response_id": rid, "item": {**item, "arguments": args}},
            {"type": "response.done", "response": {"id": rid, "conversation_id": "c", "output": [{**item, "arguments": args}]}},
        )]
        follow = json.dumps({"type": "response.created", "response": {"id": f"f_{i}", "conversation_id": "c", "metadata": {}}})
        follow_done = json.dumps({"type": "response.done", "response": {"id": f"f_{i}", "conversation_id": "c", "output": []}})
        started = time.perf_counter()
        for frame in frames:
            core.from_upstream(frame, 1.0)
        core.tools.take_starts()
        core.tools.finished(call_id, '{"status": "shipped"}', 1.1)
        samples.append(time.perf_counter() - started)
        core.from_upstream(follow, 1.2)
        core.from_upstream(follow_done, 1.3)
        core.take_events()
    return {k.replace("_ms", "_us"): round(v * 1000, 1) for k, v in _percentiles(samples).items() if k != "n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tools", description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between calls (default 20 ms: 50 calls/s on one session)")
    parser.add_argument("--cpus", default=None, help="B,G: pin the bench to CPU B and the gateway to CPU G (taskset)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tools.json")
    parser.add_argument("--nice", type=int, default=-10,
                        help="niceness of the bench and the gateway it starts (as root; shields a shared machine's noise; 0 to leave it)")
    args = parser.parse_args(argv)
    if args.nice and os.geteuid() == 0:
        os.nice(args.nice)
    gateway_cpu: int | None = None
    if args.cpus:
        bench_cpu, gateway_cpu = (int(c) for c in args.cpus.split(","))
        os.sched_setaffinity(0, {bench_cpu})
    results = asyncio.run(measure(args.calls, gateway_cpu, args.gap_ms / 1000))
    results["pinned"] = args.cpus or "no"
    results["core_code_per_call"] = core_cost(max(args.calls, 1000))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
