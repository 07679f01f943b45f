"""WebRTC calls, one run: mouth-to-ear and gateway CPU per call for terminating and direct media, a WebSocket
session's CPU for comparison, and how fast a cost cap cuts a direct call.

Processes: the emulator in its own process, echo mode (every append answered at once with the same
audio; its own aiortc answerer serves direct calls), a gateway per stage, and this process as the
caller: an aiortc peer connection (or, for the WebSocket stage, a WebSocket client) that plays
300 ms beeps once a second, in real time, and times each beep's onset at the mouth (the frame handed
to its encoder) and at the ear (the first loud frame its receiver decoded).

* ``terminate``: the browser-side peer connection goes to the gateway's bridge, which relays to the
  emulator over WebSocket.
* ``direct``: the peer connection goes to the emulator's calls API; the gateway holds the sideband.
* ``websocket``: the same beeps as 20 ms appends over a gateway WebSocket session (ear = the delta's
  arrival: no playout buffer, so its mouth-to-ear is not comparable, only its CPU).
* ``cutoff``: direct media, normal-mode emulator, a tiny cost cap: from the caller's receipt of the
  ``response.done`` that crosses the cap to its peer connection closing (the upstream hung up).

Gateway CPU per call = the gateway process's CPU during the call minus its idle rate just before, as
% of one core (``/proc``; noisy on a shared host: repeat, or compare instruction counts with
``bench.webrtc_media`` under callgrind).

Run: ``.venv/bin/python -m bench.webrtc_calls [--seconds 10]``; writes ``bench/results/webrtc_calls.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fractions
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from av import AudioFrame

from bench.procstat import CLOCK_TICKS, sample_tree
from bench.tools import KEY, _free_port
from tests.support.audio import silence, speech

ROOT = Path(__file__).resolve().parents[1]
RATE = 24_000
FRAME_MS = 20
SAMPLES = RATE * FRAME_MS // 1000
LOUD = 1500
QUIET_GAP_S = 0.15
PAIR_WINDOW_S = 0.9


class BeepMic(AudioStreamTrack):
    """Real-time microphone: ``beeps`` × (300 ms speech, 700 ms silence), then silence; records beep onsets."""

    def __init__(self, beeps: int, lead_ms: int = 1000) -> None:
        super().__init__()
        self._pcm = bytearray(silence(lead_ms) + b"".join(speech(300) + silence(700) for _ in range(beeps)))
        self._beep_frames = {lead_ms // FRAME_MS + k * 1000 // FRAME_MS for k in range(beeps)}
        self._start: float | None = None
        self._sent = 0
        self.onsets: list[float] = []

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self._sent * FRAME_MS / 1000 - time.monotonic()))
        chunk = bytes(self._pcm[: SAMPLES * 2]).ljust(SAMPLES * 2, b"\x00")
        del self._pcm[: SAMPLES * 2]
        if self._sent in self._beep_frames:
            self.onsets.append(time.monotonic())
        frame = AudioFrame.from_ndarray(np.frombuffer(chunk, "<i2").reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._sent * SAMPLES, fractions.Fraction(1, RATE)
        self._sent += 1
        return frame


class Ear:
    """Onsets of loud audio after a quiet gap, from whatever delivers PCM (a track or deltas)."""

    def __init__(self) -> None:
        self.onsets: list[float] = []
        self._quiet_since = 0.0
        self._loud = False

    def hear(self, samples: np.ndarray) -> None:
        now = time.monotonic()
        loud = bool(samples.size) and int(np.abs(samples.astype(np.int32)).max()) > LOUD
        if loud and not self._loud and now - self._quiet_since > QUIET_GAP_S:
            self.onsets.append(now)
        if self._loud and not loud:
            self._quiet_since = now
        self._loud = loud

    async def listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                self.hear(frame.to_ndarray())  # type: ignore[union-attr]


def pair(mouth: list[float], ear: list[float]) -> list[float]:
    """Per mouth onset, ms to the first ear onset within the window."""
    delays = []
    for at in mouth:
        later = [e - at for e in ear if 0 < e - at < PAIR_WINDOW_S]
        if later:
            delays.append(round(min(later) * 1000, 1))
    return delays


class Caller:
    """One aiortc peer connection: the beeping mic, the ``oai-events`` channel, an ear on the remote track."""

    def __init__(self, beeps: int) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = BeepMic(beeps)
        self.ear = Ear()
        self.events: list[tuple[float, dict[str, object]]] = []
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()
        self.ended_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def call(self, url: str) -> None:
        self.pc.addTrack(self.mic)
        channel = self.pc.createDataChannel("oai-events")
        channel.on("open", self.opened.set)
        channel.on("message", lambda m: self.events.append((time.monotonic(), json.loads(m))))
        channel.on("close", self._end)
        self.pc.on("track", lambda track: self._tasks.append(asyncio.ensure_future(self.ear.listen(track))))
        self.pc.on("connectionstatechange", lambda: self.pc.connectionState in ("closed", "failed") and self._end())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with httpx.AsyncClient(timeout=30) as http:
            reply = await http.post(url, content=self.pc.localDescription.sdp,
                                    headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/sdp"})
        reply.raise_for_status()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply.text, type="answer"))
        await asyncio.wait_for(self.opened.wait(), 20)

    def _end(self) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        self.ended.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


class _Cpu:
    """The gateway's CPU (process tree, ticks) over a window, minus its idle rate."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.idle_rate = 0.0

    async def measure_idle(self, seconds: float) -> None:
        t0, c0 = time.monotonic(), sample_tree(self.pid).cpu_ticks
        await asyncio.sleep(seconds)
        self.idle_rate = (sample_tree(self.pid).cpu_ticks - c0) / CLOCK_TICKS / (time.monotonic() - t0)

    @contextlib.asynccontextmanager
    async def window(self, out: dict[str, object]) -> AsyncIterator[None]:
        t0, c0 = time.monotonic(), sample_tree(self.pid).cpu_ticks
        yield
        busy = (sample_tree(self.pid).cpu_ticks - c0) / CLOCK_TICKS / (time.monotonic() - t0)
        out.update(cpu_call_pct=round(100 * (busy - self.idle_rate), 2), cpu_idle_pct=round(100 * self.idle_rate, 2))


def _policy(tmp: Path, media: str) -> Path:
    path = tmp / f"policy-{media}.yaml"
    path.write_text(f"version: 1\ncatalog: {ROOT / 'config' / 'models.yaml'}\nrules:\n"
                    f"  - id: bench\n    route: {{model: gpt-realtime-2, media: {media}}}\n")
    return path


def _start_emulator(*knobs: str) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "emulator", "--port", "0", *(f"--knob={k}" for k in knobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"listening on (\S+) \(calls API on (\S+)\)", line)
    if found is None:
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    return proc, found.group(1), found.group(2)


class _Gateway:
    """A gateway process for one stage (its own policy: the route's media mode)."""

    def __init__(self, tmp: Path, name: str, upstream: str, calls_url: str, media: str, **extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_"))}
        env.update({
            "VOICE_GATEWAY_API_KEYS": KEY, "VOICE_GATEWAY_UPSTREAM_URL": upstream, "OPENAI_API_KEY": "sk-bench-0123456789abcdef",
            "VOICE_GATEWAY_UPSTREAM_CALLS_URL": calls_url, "VOICE_GATEWAY_WEBRTC_MEDIA": media,
            "VOICE_GATEWAY_POLICY_FILES": str(_policy(tmp, media)), "VOICE_GATEWAY_LOG_LEVEL": "WARNING",
            "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", **extra,
        })
        log = tmp / f"gateway-{name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port)], cwd=ROOT,
                                     env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=0.5):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


async def media_stage(tmp: Path, mode: str, upstream: str, calls_url: str, seconds: int, profile: Path | None = None) -> dict[str, object]:
    gateway = _Gateway(tmp, mode, upstream, calls_url, mode)
    out: dict[str, object] = {"mode": mode}
    cpu = _Cpu(gateway.proc.pid)
    caller = Caller(beeps=seconds)
    try:
        await cpu.measure_idle(3)
        await caller.call(f"{gateway.url}/v1/realtime/calls?model=gpt-realtime-2")
        spy = None
        if profile is not None:  # py-spy (the bench extra) samples the gateway during the call, native frames too
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(gateway.proc.pid), "-d", str(seconds),
                "-r", "200", "--nonblocking", "--threads", "--gil", "-f", "raw", "-o", str(profile / f"{mode}.txt"),
                stdout=asyncio.subprocess.DEVNULL, stderr=(profile / f"{mode}.log").open("wb"))
        async with cpu.window(out):
            await asyncio.sleep(seconds + 1)
        if spy is not None:
            await spy.wait()
        delays = pair(caller.mic.onsets, caller.ear.onsets)
        out.update(mouth_onsets=len(caller.mic.onsets), heard=len(delays), delays_ms=delays,
                   median_ms=statistics.median(delays) if delays else None)
    finally:
        await caller.close()
        gateway.stop()
    return out


async def websocket_stage(tmp: Path, upstream: str, calls_url: str, seconds: int) -> dict[str, object]:
    gateway = _Gateway(tmp, "websocket", upstream, calls_url, "terminate")
    out: dict[str, object] = {"mode": "websocket"}
    cpu = _Cpu(gateway.proc.pid)
    mic, ear = BeepMic(seconds), Ear()
    url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?model=gpt-realtime-2"
    try:
        await cpu.measure_idle(3)
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:

            async def receive() -> None:
                async for message in ws:
                    if '"response.output_audio.delta"' in str(message):
                        ear.hear(np.frombuffer(base64.b64decode(json.loads(message)["delta"]), "<i2"))

            reader = asyncio.ensure_future(receive())
            async with cpu.window(out):
                deadline = time.monotonic() + seconds + 1
                while time.monotonic() < deadline:
                    frame = await mic.recv()
                    pcm = frame.to_ndarray().tobytes()
                    await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}))
            reader.cancel()
        delays = pair(mic.onsets, ear.onsets)
        out.update(mouth_onsets=len(mic.onsets), heard=len(delays), median_delta_arrival_ms=statistics.median(delays) if delays else None)
    finally:
        gateway.stop()
    return out


async def cutoff_stage(tmp: Path) -> dict[str, object]:
    """A normal-mode emulator answers a spoken turn; the first response.done crosses a tiny cost cap."""
    emulator, upstream, calls_url = _start_emulator()
    gateway = _Gateway(tmp, "cutoff", upstream, calls_url, "direct", VOICE_GATEWAY_MAX_SESSION_USD="0.0005")
    caller = Caller(beeps=3)
    out: dict[str, object] = {"mode": "direct", "cap_usd": 0.0005}
    try:
        await caller.call(f"{gateway.url}/v1/realtime/calls?model=gpt-realtime-2")
        await asyncio.wait_for(caller.ended.wait(), 30)
        done = [at for at, event in caller.events if event.get("type") == "response.done"]
        if done and caller.ended_at is not None:
            out["cutoff_ms"] = round((caller.ended_at - done[0]) * 1000, 1)
        out["responses_done_before_cut"] = len(done)
    finally:
        await caller.close()
        gateway.stop()
        emulator.terminate()
        emulator.wait(10)
    return out


async def measure(seconds: int, stages: set[str], profile: Path | None = None) -> dict[str, object]:
    results: dict[str, object] = {"host_load_1m": os.getloadavg()[0], "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        emulator, upstream, calls_url = _start_emulator("mode=echo")
        try:
            for mode in ("terminate", "direct"):
                if mode in stages:
                    results[mode] = await media_stage(tmp, mode, upstream, calls_url, seconds, profile if mode == "terminate" else None)
            if "websocket" in stages:
                results["websocket"] = await websocket_stage(tmp, upstream, calls_url, seconds)
        finally:
            emulator.terminate()
            emulator.wait(10)
        if "cutoff" in stages:
            results["cutoff"] = await cutoff_stage(tmp)
    results["host_load_1m_after"] = os.getloadavg()[0]
    return results


STAGES = ("terminate", "direct", "websocket", "cutoff")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--profile", type=Path, help="write a py-spy profile of the terminating gateway (raw stacks) here")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ", ".join(STAGES))
    args = parser.parse_args()
    results = asyncio.run(measure(args.seconds, set(args.stages.split(",")), args.profile))
    out = ROOT / "bench" / "results" / "webrtc_calls.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for key in (k for k in STAGES if k in results):
        stage = dict(results[key])  # type: ignore[call-overload]
        stage.pop("delays_ms", None)
        print(key, json.dumps(stage))


if __name__ == "__main__":
    main()
