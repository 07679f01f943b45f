"""Browser scenarios, run INSIDE a test-made network namespace: real Chromium ⇄ gateway (WebRTC) ⇄ emulator.

``python -m tests.integration.webrtc.browser_run OUT.json WORKDIR`` starts the emulators, an OTLP
receiver, gateways and headless Chromium (fake microphone from a generated WAV), drives the /demo
page through each route, and writes what it observed as JSON for the pytest side to assert on.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import statistics
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway.emulator import EmulatorHandle, start_emulator
from tests.integration.conftest import UPSTREAM_TEST_KEY, GatewayProcess, free_port
from tests.integration.telemetry.conftest import Received, _handler
from tests.integration.webrtc.cdp import Browser, chromium_path
from tests.support.audio import silence, speech

KEY = "vg_webrtc_browser_test_key_0123456789"
SESSION_ID_ATTR = "voice_gateway.session.id"
#: the page's agent route has heard a whole turn: audio, a transcript, the spend and the end of playback
AGENT_TURN_DONE = (
    "demo.output.activeMs >= 400 && demo.transcript.length > 0 && demo.spend && demo.spend.spend_micros > 0"
    " && demo.events.includes('output_audio_buffer.stopped')"
)


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(pcm)
    return path


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on a free port (its URL and what it received); shut down on exit."""
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()


@asynccontextmanager
async def paced_emulator() -> AsyncIterator[EmulatorHandle]:
    """The in-process emulator paced like the real service, with short replies; closed on exit."""
    emulator = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=1200, chunk_ms=100, pace=True, asr_ms=50)
    try:
        yield emulator
    finally:
        await emulator.close()


def start_gateway(workdir: Path, name: str, upstream_url: str, otlp_url: str | None = None, **extra: str) -> GatewayProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_"))}
    env.update(
        {
            "VOICE_GATEWAY_API_KEYS": KEY,
            "VOICE_GATEWAY_DEMO": "1",
            "VOICE_GATEWAY_UPSTREAM_URL": upstream_url,
            "OPENAI_API_KEY": UPSTREAM_TEST_KEY,
            "VOICE_GATEWAY_LOG_LEVEL": "INFO",
            # these scenarios exercise the terminating bridge; direct media has its own browser test
            "VOICE_GATEWAY_WEBRTC_MEDIA": "terminate",
            "OTEL_METRICS_EXPORTER": "none",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if otlp_url:
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "vg-webrtc-test"})
    else:
        env["OTEL_TRACES_EXPORTER"] = "none"
    env.update(extra)
    gateway = GatewayProcess(port=free_port(), key=KEY, log_path=workdir / f"gateway-{name}.log", env=env)
    return gateway.start()


@contextmanager
def running_gateway(
    workdir: Path,
    name: str,
    upstream_url: str,
    otlp_url: str | None = None,
    *,
    on_stopped: Callable[[GatewayProcess], None] | None = None,
    **extra: str,
) -> Iterator[GatewayProcess]:
    """:func:`start_gateway`, stopped on exit (then ``on_stopped``, e.g. to keep its log's tail)."""
    gateway = start_gateway(workdir, name, upstream_url, otlp_url, **extra)
    try:
        yield gateway
    finally:
        gateway.stop()
        if on_stopped is not None:
            on_stopped(gateway)


@asynccontextmanager
async def demo_page(chromium: str, workdir: Path, gateway: GatewayProcess, name: str, wav: Path) -> AsyncIterator[Browser]:
    """Headless Chromium (profile ``browser-<name>``, microphone playing ``wav``) on the gateway's /demo page."""
    browser: Browser | None = None
    try:
        browser = await Browser.launch(chromium, wav, workdir / f"browser-{name}")
        await browser.goto(f"{gateway.http_url}/demo")
        yield browser
    finally:
        if browser is not None:
            await browser.close()


async def run_route(browser: Browser, route: str, until_js: str, timeout: float) -> dict[str, Any]:
    """Start a call on the page, wait for the condition, stop; return the page's state."""
    await browser.evaluate(f"window.demoStart({json.dumps(route)})", timeout=30)
    reached = await browser.wait_for(until_js, timeout)
    state = await browser.evaluate("window.demo")
    await browser.evaluate("window.demoStop()")
    state["reached"] = reached
    return state


def spans_of(received: Received) -> list[dict[str, Any]]:
    out = []
    for _, span in received.spans():
        attrs = {a.key: a.value.string_value for a in span.attributes if a.value.HasField("string_value")}
        out.append({"name": span.name, "session_id": attrs.get(SESSION_ID_ATTR)})
    return out


def wait_for_turn_span(received: Received, session_id: object) -> None:
    """Until the receiver holds a ``realtime.turn`` span of the session (15 s at most)."""
    received.wait_for(lambda r: any(s["name"] == "realtime.turn" and s["session_id"] == session_id for s in spans_of(r)), 15)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pair_onsets(inputs: list[float], outputs: list[float], window_ms: float = 900) -> list[float]:
    """For each input onset, the delay to the first output onset within the window."""
    delays = []
    for at in inputs:
        later = [o - at for o in outputs if 0 < o - at < window_ms]
        if later:
            delays.append(min(later))
    return delays


async def scenario_routes(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """Agent, transcription and translation calls through one gateway, traced to an OTLP receiver."""

    def keep_log(gateway: GatewayProcess) -> None:
        results["gateway_log_tail"] = gateway.log_text()[-3000:]

    with otlp_receiver() as (otlp_url, received):
        async with paced_emulator() as emulator:
            with running_gateway(workdir, "routes", emulator.url, otlp_url, on_stopped=keep_log) as gateway:
                wav = write_wav(workdir / "speech.wav", silence(800) + speech(1400) + silence(2300))
                async with demo_page(chromium, workdir, gateway, "routes", wav) as browser:
                    results["agent"] = await run_route(browser, "agent", AGENT_TURN_DONE, 40)
                    results["transcription"] = await run_route(browser, "transcription", "demo.userTranscript.length > 0", 30)
                    results["translation"] = await run_route(
                        browser, "translation", "demo.transcript.length > 0 && demo.output.activeMs >= 200", 30
                    )
                    wait_for_turn_span(received, results["agent"].get("sessionId"))
                    results["spans"] = spans_of(received)


def direct_media(emulator: Any) -> dict[str, str]:
    """Gateway settings for direct media: the browser's peer connection goes to the emulator's calls API."""
    return {"VOICE_GATEWAY_WEBRTC_MEDIA": "direct", "VOICE_GATEWAY_UPSTREAM_CALLS_URL": emulator.calls_url}


async def scenario_direct(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """Direct media: a voice-agent turn heard from the emulator's peer connection, traced and metered by the gateway."""

    def keep_log(gateway: GatewayProcess) -> None:
        results["direct_gateway_log_tail"] = gateway.log_text()[-3000:]

    with otlp_receiver() as (otlp_url, received):
        async with paced_emulator() as emulator:
            with running_gateway(workdir, "direct", emulator.url, otlp_url, on_stopped=keep_log, **direct_media(emulator)) as gateway:
                wav = write_wav(workdir / "speech-direct.wav", silence(800) + speech(1400) + silence(2300))
                async with demo_page(chromium, workdir, gateway, "direct", wav) as browser:
                    state = await run_route(browser, "agent", AGENT_TURN_DONE, 40)
                    calls = list(emulator.calls.calls.values())
                    state["upstream_calls"] = [{"transport": c.transport, "sidebands_seen": c.sidebands_seen, "ended_by": c.ended_by} for c in calls]
                    session_id = state.get("sessionId")
                    wait_for_turn_span(received, session_id)
                    state["spans"] = [s for s in spans_of(received) if s["session_id"] == session_id]
                    results["direct"] = state


async def scenario_direct_cap(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """Direct media with a tiny cost cap: the gateway hangs the call up through the calls API."""
    async with paced_emulator() as emulator:
        with running_gateway(workdir, "direct-cap", emulator.url, VOICE_GATEWAY_MAX_SESSION_USD="0.0005", **direct_media(emulator)) as gateway:
            wav = write_wav(workdir / "speech-direct-cap.wav", silence(300) + speech(2500) + silence(1000))
            async with demo_page(chromium, workdir, gateway, "direct-cap", wav) as browser:
                state = await run_route(
                    browser, "agent",
                    "demo.dataChannel === 'closed' || ['closed', 'failed', 'disconnected'].includes(demo.connection)", 40
                )
                state["gateway_live_sessions_after"] = await live_sessions(gateway)
                state["upstream_calls"] = [{"status": c.status.value, "ended_by": c.ended_by} for c in emulator.calls.calls.values()]
                state["ended_by_cap"] = '"reason": "session_cost_cap_reached"' in gateway.log_text()
                results["direct_cap"] = state


async def scenario_cap(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """A WebRTC session with a tiny cost cap is cut off like a WebSocket one."""
    async with paced_emulator() as emulator:
        with running_gateway(workdir, "cap", emulator.url, VOICE_GATEWAY_MAX_SESSION_USD="0.0005") as gateway:
            wav = write_wav(workdir / "speech-cap.wav", silence(300) + speech(2500) + silence(1000))
            async with demo_page(chromium, workdir, gateway, "cap", wav) as browser:
                state = await run_route(
                    browser, "agent",
                    "demo.errors.some(e => e.code === 'session_cost_cap_reached') && demo.dataChannel === 'closed'"
                    " && (demo.dtls === 'closed' || ['closed', 'failed', 'disconnected'].includes(demo.connection))", 40
                )
                state["gateway_live_sessions_after"] = await live_sessions(gateway)
                results["cap"] = state


async def live_sessions(gateway: GatewayProcess) -> int:
    import urllib.request

    for _ in range(50):
        with urllib.request.urlopen(f"{gateway.http_url}/readyz", timeout=2) as reply:
            count = int(json.loads(reply.read())["live_sessions"])
        if count == 0:
            return 0
        await asyncio.sleep(0.1)
    return count


#: the same measurement with no gateway: the fake microphone through two peer connections inside Chromium
BROWSER_LOOPBACK_JS = """
(async () => {
  const ctx = new AudioContext(); await ctx.resume();
  const mic = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const remote = new Promise((resolve) => { b.ontrack = (e) => resolve(new MediaStream([e.track])); });
  a.addTrack(mic.getAudioTracks()[0], mic);
  await a.setLocalDescription(await a.createOffer()); await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer()); await a.setRemoteDescription(b.localDescription);
  const stream = await remote;
  const el = new Audio(); el.srcObject = stream; el.play();
  const watch = (s) => {
    const an = ctx.createAnalyser(); an.fftSize = 512; ctx.createMediaStreamSource(s).connect(an);
    const buf = new Float32Array(512), onsets = []; let loud = false, quietSince = 0;
    const t = setInterval(() => {
      an.getFloatTimeDomainData(buf); let sum = 0; for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length), now = performance.now();
      if (rms > 0.02) { if (!loud && now - quietSince > 150) onsets.push(now); loud = true; }
      else { if (loud) quietSince = now; loud = false; }
    }, 10);
    return {onsets, stop: () => clearInterval(t)};
  };
  const input = watch(mic), output = watch(stream);
  await new Promise((r) => setTimeout(r, 8000));
  input.stop(); output.stop(); a.close(); b.close();
  return {input: input.onsets, output: output.onsets};
})()
"""


@dataclass
class EmulatorProcess:
    """The emulator in its own process (uvloop), as a deployment runs it: its media work is not the test driver's."""

    proc: subprocess.Popen[str]
    url: str
    calls_url: str

    @classmethod
    def start(cls, *knobs: str) -> "EmulatorProcess":
        args = [sys.executable, "-m", "gateway.cli", "emulator", "--port", "0", *(f"--knob={k}" for k in knobs)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on (\S+) \(calls API on (\S+)\)", line)
        if found is None:
            proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        return cls(proc, found.group(1), found.group(2))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def scenario_latency(chromium: str, workdir: Path, results: dict[str, Any]) -> None:
    """Echo emulator (own process): mouth-to-ear and gateway CPU per call, terminating then direct media, in one run."""
    emulator = EmulatorProcess.start("mode=echo")
    try:
        results["latency"] = await measure_latency(chromium, workdir, emulator, "terminate", {})
        results["latency_direct"] = await measure_latency(chromium, workdir, emulator, "direct", direct_media(emulator))
    finally:
        emulator.stop()


async def measure_latency(chromium: str, workdir: Path, emulator: Any, name: str, extra: dict[str, str]) -> dict[str, Any]:
    """One gateway in the given media mode: beeps through the echo emulator, delays and CPU."""
    with running_gateway(workdir, f"echo-{name}", emulator.url, **extra) as gateway:
        wav = write_wav(workdir / "beeps.wav", b"".join(speech(300) + silence(700) for _ in range(10)))
        async with demo_page(chromium, workdir, gateway, f"echo-{name}", wav) as browser:
            assert gateway.proc is not None
            idle_start, idle_cpu = time.monotonic(), cpu_seconds(gateway.proc.pid)
            await asyncio.sleep(3)
            idle = (cpu_seconds(gateway.proc.pid) - idle_cpu) / (time.monotonic() - idle_start)
            await browser.evaluate("window.demoStart('agent')", timeout=30)
            await browser.wait_for("demo.output.onsets.length >= 1", 20)
            busy_start, busy_cpu = time.monotonic(), cpu_seconds(gateway.proc.pid)
            await asyncio.sleep(10)
            busy = (cpu_seconds(gateway.proc.pid) - busy_cpu) / (time.monotonic() - busy_start)
            state = await browser.evaluate("window.demo")
            await browser.evaluate("window.demoStop()")
            delays = pair_onsets(state["input"]["onsets"], state["output"]["onsets"])
            loopback = await browser.evaluate(BROWSER_LOOPBACK_JS, timeout=30)
            baseline = pair_onsets(loopback["input"], loopback["output"])
            return {
                "mode": name,
                "browser_only_delays_ms": baseline,
                "browser_only_median_ms": statistics.median(baseline) if baseline else None,
                "delays_ms": delays,
                "median_ms": statistics.median(delays) if delays else None,
                "input_onsets": len(state["input"]["onsets"]),
                "output_onsets": len(state["output"]["onsets"]),
                "cpu_idle_fraction": idle,
                "cpu_session_fraction": busy - idle,
                "errors": state["errors"],
            }


async def main(out: Path, workdir: Path, scenarios: list[str]) -> None:
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("chromium is not installed")
    results: dict[str, Any] = {}
    from tests.integration.webrtc.barge_in_scenario import scenario_barge_in

    runners = {"routes": scenario_routes, "cap": scenario_cap, "latency": scenario_latency,
               "direct": scenario_direct, "direct_cap": scenario_direct_cap, "barge_in": scenario_barge_in}
    for name in scenarios:
        try:
            await runners[name](chromium, workdir, results)
        except Exception as exc:  # noqa: BLE001 - reported to the pytest side, which fails on it
            results.setdefault("failures", {})[name] = repr(exc)
    out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or ["routes", "cap", "latency", "direct", "direct_cap"]))
