"""Frames per second through one session, and the cost of tracing: the same relay with telemetry on and off.

``python -m bench.throughput``: starts the picows echo upstream and the gateway (tracing on, exporting
OTLP/HTTP to a sink in this process; then tracing off), pushes frames through one session with a
bounded window in flight, and prints round trips per second and the gateway's CPU per round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

from bench import procstat, targets
from bench.otlp_sink import exporting_env, otlp_sink
from bench.procs import LOADGEN_CORE, Proc, pin_self

FRAME = orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01\x02" * 480).decode()}).decode()


async def pump(url: str, key: str, frames: int, window: int) -> float:
    """Send ``frames`` appends through one session with at most ``window`` unanswered; seconds taken."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None) as ws:
        while '"session.created"' not in str(await ws.recv()):
            pass
        sent = received = 0
        started = time.perf_counter()
        while received < frames:
            while sent < frames and sent - received < window:
                await ws.send(FRAME)
                sent += 1
            message = await ws.recv()
            if '"response.output_audio.delta"' in str(message)[:80]:
                received += 1
        return time.perf_counter() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()
    pin_self(LOADGEN_CORE)
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
