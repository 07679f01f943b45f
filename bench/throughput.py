"""Frames per second through one session, and the cost of tracing: the same relay with telemetry on and off.

``python -m bench.throughput``: starts the picows echo upstream and the gateway (tracing on, exporting
OTLP/HTTP to a sink in this process; then tracing off), pushes frames through one session with a
bounded window in flight, and prints round trips per second and the gateway's CPU per round trip.

``--callgrind`` instead runs the gateway (tracing on, as deployed) under callgrind with collection off,
warms the session up, and counts the **instructions of the whole gateway process per relayed round
trip** (an append in and out, its delta in and out) over ``--frames`` round trips with ``--window``
in flight (1: each frame alone, as paced sessions send them). User space only: the kernel's share
of each ``send``/``recv`` is not in it. Repeatable on a busy host, unlike the CPU figures above.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench import procstat, targets
from bench.otlp_sink import exporting_env, otlp_sink
from bench.procs import LOADGEN_CORE, Proc, pin_self

FRAME = orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01\x02" * 480).decode()}).decode()


async def pump(url: str, key: str, frames: int, window: int) -> float:
    """Send ``frames`` appends through one session with at most ``window`` unanswered; seconds taken."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None) as ws:
        while '"session.created"' not in str(await ws.recv()):
            pass
        started = time.perf_counter()
        await _round_trips(ws, frames, window)
        return time.perf_counter() - started


async def _round_trips(ws: ClientConnection, frames: int, window: int) -> None:
    """``frames`` appends sent with at most ``window`` unanswered, until each delta came back."""
    sent = received = 0
    while received < frames:
        while sent < frames and sent - received < window:
            await ws.send(FRAME)
            sent += 1
        message = await ws.recv()
        if '"response.output_audio.delta"' in str(message)[:80]:
            received += 1


def run_one(label: str, extra_env: dict[str, str], frames: int, window: int, root: Path, up_port: int, up: Proc) -> None:
    """One gateway with ``extra_env``: round trips per second through one session, and its CPU per round trip."""
    key = "vg_bench_throughput"
    unthrottled = {"VOICE_GATEWAY_MAX_FRAMES_PER_SECOND": "1000000"}  # one session far above real time
    target = targets.start_gateway(1, up, up_port, root, key, None, extra_env=extra_env | unthrottled)
    try:
        before = procstat.sample_tree(target.proc.pid).cpu_ticks
        seconds = asyncio.run(pump(target.url, key, frames, window))
        cpu_s = (procstat.sample_tree(target.proc.pid).cpu_ticks - before) / procstat.CLOCK_TICKS
    finally:
        target.proc.stop()
    print(f"{label:>12}: {frames / seconds:8.0f} round trips/s through one session, "
          f"gateway CPU {cpu_s / frames * 1e6:.1f} µs per round trip")


def run_callgrind(frames: int, window: int, root: Path, up_port: int, up: Proc) -> None:
    """Instructions of the gateway process per relayed round trip, counted by callgrind."""
    from bench.procs import TARGET_CORE, free_port, start, wait_port
    from bench.setup_cost import _collected, _toggle

    key = "vg_bench_throughput"
    sink = otlp_sink()
    port = free_port()
    code = f"import sys; from gateway.server import serve; sys.exit(serve(host='127.0.0.1', port={port}, workers=1))"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={root}/callgrind.out.%p",
            sys.executable, "-c", code]
    env = targets.gateway_env(key, up_port, None) | exporting_env(sink) | {
        "PYTHONPATH": str(Path.cwd()), "PYTHONHASHSEED": "0", "VOICE_GATEWAY_MAX_FRAMES_PER_SECOND": "1000000"}
    proc = start("gateway-callgrind", argv, TARGET_CORE, root, env=env)
    try:
        wait_port(proc, port, timeout_s=600)
        url = f"ws://127.0.0.1:{port}{targets.MODEL_PATH}"
        asyncio.run(pump(url, key, 200, window))  # warm every path
        _toggle(proc.pid, "on")
        _collected(proc.pid, zero_only=True)
        asyncio.run(_pump_warm(url, key, frames, window, proc.pid))
        busy, idle = _counted
        _toggle(proc.pid, "off")
    finally:
        proc.stop()
    print(f"gateway: {busy / frames:,.0f} instructions per relayed round trip, {(busy - idle) / frames:,.0f} net of the "
          f"same time idle (callgrind, user space, {frames} round trips, window {window})")


_counted = [0, 0]


async def _pump_warm(url: str, key: str, frames: int, window: int, pid: int) -> None:
    """One session: set up and warmed outside the count, then ``frames`` round trips counted."""
    from bench.setup_cost import _collected

    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None) as ws:
        while '"session.created"' not in str(await ws.recv()):
            pass
        for _ in range(50):
            await ws.send(FRAME)
            while '"response.output_audio.delta"' not in str(await ws.recv())[:80]:
                pass
        await asyncio.sleep(0.5)
        _collected(pid, zero_only=True)
        started = time.perf_counter()
        await _round_trips(ws, frames, window)
        busy = _collected(pid)
        took = time.perf_counter() - started
        # the same session open and idle as long: the shared tick, telemetry's threads, the directory (per second,
        # not per frame; under callgrind a round trip takes ~100x its real time, so this share is inflated)
        await asyncio.sleep(took)
        _counted[:] = [busy, _collected(pid)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--callgrind", action="store_true", help="instructions per relayed round trip instead (callgrind)")
    args = parser.parse_args()
    pin_self(LOADGEN_CORE)
    if args.callgrind:
        with tempfile.TemporaryDirectory(prefix="vg-throughput-cg-") as tmp:
            root = Path(tmp)
            upstream, up_port, _ = targets.start_upstream("picows", root, "vg_bench_throughput")
            try:
                run_callgrind(args.frames, args.window, root, up_port, upstream)
            finally:
                upstream.stop()
        return
    with tempfile.TemporaryDirectory(prefix="vg-throughput-") as tmp:
        root = Path(tmp)
        upstream, up_port, _ = targets.start_upstream("picows", root, "vg_bench_throughput")
        try:
            on = exporting_env(otlp_sink())
            off = {"VOICE_GATEWAY_TRACING": "false", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
            run_one("tracing on", on, args.frames, args.window, root, up_port, upstream)
            run_one("tracing off", off, args.frames, args.window, root, up_port, upstream)
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
