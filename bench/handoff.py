"""Mid-session handoff: the switch gap a listener hears.

A real gateway process relays one client session to the emulator (answering at once: no time to
first audio, replies paced in real time). Each round the client asks for a reply; at the reply's
first audio delta it asks the admin API to hand the session off to the other route (two routes
with each other as targets, on different models) and asks for the next reply at once (held by the
gateway during the switch, replayed to the new upstream). The gap is

    first audio delta from the new model − last audio delta from the old one

both as the client receives them, so it covers the old reply finishing, opening the target
through the upstream pool, the replay of the conversation, the held ``response.create`` and the
new model's first audio. Every hop is a real loopback socket.

Run: ``.venv/bin/python -m bench.handoff [--switches 60]`` (``make bench-handoff``); writes
``bench/results/handoff.json``.

``--cross-kind`` switches between a voice-agent route and a translation route instead (the kind
bridge, docs/handoff.md): the client streams loud audio at real-time pace the whole time; at the
agent reply's first delta it hands the session to translation, at the first translated delta it
hands it back and asks the agent for a reply (held). The gap is measured the same way, per
direction; writes ``bench/results/handoff_cross_kind.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
import websockets

from gateway.emulator import start_emulator

ROOT = Path(__file__).resolve().parents[1]
KEY = "vg-bench-handoff-key-0123456789"
ADMIN = "vg-bench-handoff-admin-token"
POLICY = """version: 1
rules:
  - id: mini
    match: {query: {tier: mini}}
    route:
      model: gpt-realtime-2.1-mini
      handoff: {targets: [agent]}
defaults:
  by_kind:
    realtime:
      model: gpt-realtime-2
      name: agent
      handoff: {targets: [mini]}
"""


CROSS_KIND_POLICY = """version: 1
rules:
  - id: translate
    match: {query: {tier: translate}}
    route:
      model: gpt-realtime-translate
      translate_to: es
      handoff: {targets: [agent]}
defaults:
  by_kind:
    realtime:
      model: gpt-realtime-2
      name: agent
      handoff: {targets: [translate]}
"""
#: 20 ms of loud PCM16 24 kHz (the emulator's translation hears speech)
_VOICED = base64.b64encode(struct.pack("<480h", *([8000, -8000] * 240))).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_gateway(port: int, emulator_url: str, policy: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_"))}
    env.update({
        "VOICE_GATEWAY_API_KEYS": KEY, "VOICE_GATEWAY_ADMIN_TOKEN": ADMIN, "VOICE_GATEWAY_UPSTREAM_URL": emulator_url,
        "OPENAI_API_KEY": "sk-bench-upstream-0123456789", "VOICE_GATEWAY_POLICY_FILES": str(policy),
        "VOICE_GATEWAY_LOG_LEVEL": "WARNING", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
    })
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


async def _next(ws: websockets.ClientConnection) -> dict[str, object]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


async def _open_session(ws: websockets.ClientConnection, admin: httpx.AsyncClient) -> str:
    """Configure the session (no VAD) and find its id in the admin API."""
    while (await _next(ws))["type"] != "session.created":
        pass
    session = {"type": "realtime", "instructions": "Answer briefly.", "audio": {"input": {"turn_detection": None}}}
    await ws.send(json.dumps({"type": "session.update", "session": session}))
    while (await _next(ws))["type"] != "session.updated":
        pass
    for _ in range(100):
        listed = (await admin.get("/admin/sessions")).json()["sessions"]
        if listed:
            return str(listed[0]["session_id"])
        await asyncio.sleep(0.05)
    raise RuntimeError("the session never showed up in the admin API")


async def _stream_audio(ws: websockets.ClientConnection) -> None:
    """Loud audio at real-time pace until cancelled."""
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": _VOICED})
    next_at = time.perf_counter()
    while True:
        await ws.send(frame)
        next_at += 0.02
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def _run_cross_kind(port: int, switches: int) -> dict[str, list[float]]:
    """agent → translate at the agent reply's first delta; translate → agent (and a held reply) at the first
    translated delta; gaps per direction."""
    base = f"http://127.0.0.1:{port}"
    gaps: dict[str, list[float]] = {"agent_to_translation": [], "translation_to_agent": []}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}) as admin, websockets.connect(
        f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime-2", additional_headers={"Authorization": f"Bearer {KEY}"},
        max_size=None,
    ) as ws:
        session_id = await _open_session(ws, admin)
        streamer = asyncio.create_task(_stream_audio(ws))
        try:
            route = "translate"
            await ws.send(json.dumps({"type": "response.create"}))
            for _ in range(switches):
                last_old = first_new = 0.0
                switched = False
                while True:
                    event = await _next(ws)
                    if event["type"] == "response.output_audio.delta":
                        if not switched:
                            switched = True
                            answer = await admin.post(f"/admin/sessions/{session_id}/handoff", json={"to": route, "reason": "bench"})
                            assert answer.status_code == 200, answer.text
                            if route == "agent":
                                await ws.send(json.dumps({"type": "response.create"}))  # held during the switch
                        last_old = time.perf_counter()
                    elif event["type"] == "gateway.handoff":
                        assert event["status"] == "completed", event
                        break
                while True:
                    event = await _next(ws)
                    if event["type"] == "response.output_audio.delta":
                        first_new = time.perf_counter()
                        break
                gaps["agent_to_translation" if route == "translate" else "translation_to_agent"].append((first_new - last_old) * 1000)
                route = "agent" if route == "translate" else "translate"
        finally:
            streamer.cancel()
    return gaps


async def _run(port: int, switches: int) -> list[float]:
    base = f"http://127.0.0.1:{port}"
    gaps: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}) as admin, websockets.connect(
        f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime-2", additional_headers={"Authorization": f"Bearer {KEY}"},
        max_size=None,
    ) as ws:
        session_id = await _open_session(ws, admin)
        route = "mini"
        await ws.send(json.dumps({"type": "response.create"}))
        for _ in range(switches):
            last_old = first_new = 0.0
            switched = False
            while True:  # the old model's reply: switch at its first delta, keep its last delta's time
                event = await _next(ws)
                if event["type"] == "response.output_audio.delta":
                    if not switched:
                        switched = True
                        answer = await admin.post(f"/admin/sessions/{session_id}/handoff", json={"to": route, "reason": "bench"})
                        assert answer.status_code == 200, answer.text
                        await ws.send(json.dumps({"type": "response.create"}))  # held during the switch
                    last_old = time.perf_counter()
                elif event["type"] == "gateway.handoff":
                    assert event["status"] == "completed", event
                    break
            while True:
                event = await _next(ws)
                if event["type"] == "response.output_audio.delta":
                    first_new = time.perf_counter()
                    break
            gaps.append((first_new - last_old) * 1000)
            route = "agent" if route == "mini" else "mini"
    return gaps


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(gaps: list[float]) -> dict[str, object]:
    return {
        "switches": len(gaps),
        "gap_ms_p50": round(statistics.median(gaps), 1),
        "gap_ms_p99": round(_pct(gaps, 0.99), 1),
        "gap_ms_max": round(max(gaps), 1),
        "gap_ms_min": round(min(gaps), 1),
    }


async def main_async(switches: int, *, cross_kind: bool = False) -> dict[str, object]:
    emulator = await start_emulator("127.0.0.1", 0, ttfa_ms=0, reply_ms=600, chunk_ms=100, pace=True, speed=1, burst_ms=0)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "handoff.yaml"
        policy.write_text(CROSS_KIND_POLICY if cross_kind else POLICY)
        proc = _start_gateway(port, emulator.url, policy, Path(tmp) / "gateway.log")
        try:
            if cross_kind:
                by_direction = await _run_cross_kind(port, switches)
                result: dict[str, object] = {
                    "all": _summary([g for gaps in by_direction.values() for g in gaps]),
                    **{direction: _summary(gaps) for direction, gaps in by_direction.items()},
                }
            else:
                result = _summary(await _run(port, switches))
        finally:
            proc.terminate()
            proc.wait(20)
            await emulator.close()
    result.update({"load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    return result


def _line(summary: object) -> str:
    assert isinstance(summary, dict)
    return (f"{summary['switches']} switches: p50 {summary['gap_ms_p50']} ms, p99 {summary['gap_ms_p99']} ms "
            f"(min {summary['gap_ms_min']}, max {summary['gap_ms_max']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=60)
    parser.add_argument("--cross-kind", action="store_true", help="switch between a voice-agent and a translation route")
    args = parser.parse_args()
    result = asyncio.run(main_async(args.switches, cross_kind=args.cross_kind))
    out = ROOT / "bench" / "results" / ("handoff_cross_kind.json" if args.cross_kind else "handoff.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    load = f"load average {result['load_avg_1m']} on {result['cpus']} CPUs"
    if args.cross_kind:
        print(f"cross-kind handoff switch gap, {load} -> {out.relative_to(ROOT)}")
        for key in ("all", "agent_to_translation", "translation_to_agent"):
            print(f"  {key}: {_line(result[key])}")
    else:
        print(f"handoff switch gap over {_line(result)}; {load} -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
