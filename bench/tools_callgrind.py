"""Instructions per gateway tool call, counted by callgrind: a repeatable figure on a noisy, shared host.

Wall-clock percentiles on a loaded machine mostly measure the scheduler; instruction counts do not
move with the load, so code changes are compared with this. Two paths, each run at two call counts
under ``valgrind --tool=callgrind`` so that start-up and imports cancel out
(``(Ir(n2) − Ir(n1)) / (n2 − n1)``):

* ``core`` — the session core and the interceptor from the function call's first upstream event to
  the follow-up ``response.create`` (parse, validate, rewrite, serialise), no I/O;
* ``runner`` — the above plus the tool shell: the runner's task, the HTTP tool request over a real
  loopback socket to a tool server in *another* (untraced) process, reading the answer, the output
  frame; ``cached`` — the same call answered from the result cache.

Run: ``.venv/bin/python -m bench.tools_callgrind [--n1 50 --n2 250]``; needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}


def _call_frames(i: int) -> tuple[list[str], str, str]:
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
    follow = [
        json.dumps({"type": "response.created", "response": {"id": f"f_{i}", "conversation_id": "c", "metadata": {}}}),
        json.dumps({"type": "response.done", "response": {"id": f"f_{i}", "conversation_id": "c", "output": []}}),
    ]
    return frames, call_id, "\n".join(follow)


def core_workload(calls: int) -> None:
    from gateway.core.gateway_tools import GatewayTool, ToolLimits
    from gateway.core.kinds import Dialect, SessionKind
    from gateway.core.session import SessionCore
    from gateway.core.tool_calls import ToolCallInterceptor

    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0,
                       tools=ToolCallInterceptor([GatewayTool("lookup_order", "", SCHEMA, "http", ToolLimits())]))
    assert core.tools is not None
    for i in range(calls):
        frames, call_id, follow = _call_frames(i)
        for frame in frames:
            core.from_upstream(frame, 1.0)
        core.tools.take_starts()
        core.tools.finished(call_id, '{"status": "shipped"}', 1.1)
        for frame in follow.split("\n"):
            core.from_upstream(frame, 1.2)
        core.take_events()


async def _runner_workload(calls: int, url: str, cached: bool) -> None:
    from gateway.core.gateway_tools import GatewayToolSet, HttpToolSpec, ToolLimits
    from gateway.core.kinds import Dialect, SessionKind
    from gateway.core.session import SessionCore
    from gateway.core.tool_calls import ToolCallInterceptor
    from gateway.tools.runner import SessionToolRunner
    from gateway.tools.servers import ToolServers

    spec = HttpToolSpec("lookup_order", "", SCHEMA, url, limits=ToolLimits(cache_ttl_s=600 if cached else 0))
    servers = ToolServers()
    tools = await servers.session_tools(GatewayToolSet(http=(spec,)))
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=ToolCallInterceptor(tools.tools))
    interceptor = core.tools
    assert interceptor is not None
    answered = asyncio.Event()

    async def send(frame: object) -> None:
        if '"conversation.item.create"' in str(frame):
            answered.set()

    runner = SessionToolRunner(interceptor, tools, servers.cache, send, time.monotonic)
    for i in range(calls):
        frames, _call_id, follow = _call_frames(0 if cached else i)
        frames = [f.replace('"call_0"', f'"call_{i}"').replace('"item_0"', f'"item_{i}"').replace('"resp_0"', f'"resp_{i}"') for f in frames]
        answered.clear()
        for frame in frames:
            core.from_upstream(frame, time.monotonic())
        await answered.wait()
        for frame in follow.replace("f_0", f"f_{i}").split("\n"):
            core.from_upstream(frame, time.monotonic())
        core.take_events()
    await runner.close()
    await servers.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVER = """
import uvicorn, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def orders(request):
    body = await request.json()
    return JSONResponse({"order_id": body.get("order_id"), "status": "shipped"})
uvicorn.run(Starlette(routes=[Route("/orders", orders, methods=["POST"])]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _instructions(workload: str, calls: int, url: str, cwd: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", "bench.tools_callgrind",
               "--workload", workload, "--calls", str(calls), "--url", url]
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=3600)
        text = out.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    assert match, "no instruction total in the callgrind output"
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tools_callgrind", description=__doc__)
    parser.add_argument("--workload", choices=["core", "runner", "cached"], help="(internal) run one workload, untimed")
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--url", default="")
    parser.add_argument("--n1", type=int, default=50)
    parser.add_argument("--n2", type=int, default=250)
    parser.add_argument("--only", default="core,runner,cached")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to measure (another checkout: a before/after comparison)")
    args = parser.parse_args(argv)
    if args.workload == "core":
        core_workload(args.calls)
        return 0
    if args.workload in ("runner", "cached"):
        asyncio.run(_runner_workload(args.calls, args.url, args.workload == "cached"))
        return 0
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)])
    try:
        time.sleep(3)
        url = f"http://127.0.0.1:{port}/orders"
        results: dict[str, int] = {}
        for workload in args.only.split(","):
            low, high = (_instructions(workload, n, url, args.tree) for n in (args.n1, args.n2))
            results[f"{workload}_instructions_per_call"] = (high - low) // (args.n2 - args.n1)
    finally:
        server.terminate()
        server.wait(10)
    results["tree"] = str(args.tree)  # type: ignore[assignment]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
