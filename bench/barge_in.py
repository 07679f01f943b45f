"""Barge-in: talk-over with protection off and on, and how close the gateway's truncation is to the listener.

A real gateway process sits between a forgetful client and the emulator on its bursty default
(4× real time, 500 ms bursts): the client plays the answer in real time from its first delta and
never cancels nor truncates; it stops playing only when the gateway tells it (``gateway.barge_in``).
Each round the user barges in 300–1500 ms into a 4 s answer. Per round:

* talk-over = from the client's receipt of ``input_audio_buffer.speech_started`` to the end of the
  agent's audio at the client's player (all it received with protection off; the notice with it on);
* truncation error = the gateway's ``audio_end_ms`` − what the real-time player had played when
  the notice arrived.

Both server-VAD variants run: ``interrupt_response`` true (the server cancels, but the burst the
client already holds keeps playing) and false (the answer keeps coming). Modes ``off``,
``observe`` and ``protect``; next to the client-side figures, the gateway's own measurement (its
``voice_gateway.barge_in.talk_over`` histogram, per ``stopped_by``) for each batch.

Run: ``.venv/bin/python -m bench.barge_in [--rounds 8]``; writes ``bench/results/barge_in.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import websockets

from bench.tools import KEY, _free_port, _start_gateway
from tests.support.audio import chunks, silence, speech
from tests.support.barge_in import TalkOver, talk_over

ROOT = Path(__file__).resolve().parents[1]
BYTES_PER_MS = 48
REPLY_MS = 4000
GRACE_MS = 150


def _policy(mode: str) -> str:
    return f"""
version: 1
catalog: {ROOT / "config" / "models.yaml"}
rules:
  - id: bench
    route:
      model: gpt-realtime-2
      barge_in: {{mode: {mode}, grace_ms: {GRACE_MS}}}
"""


async def _round(url: str, interrupt: bool, rng: random.Random) -> dict[str, float | None]:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        vad = {"type": "server_vad", "interrupt_response": interrupt}
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}}))
        first_at: float | None = None
        received_ms = 0
        speech_at: float | None = None

        async def until(*kinds: str, timeout: float = 10.0) -> tuple[dict, float]:
            nonlocal first_at, received_ms, speech_at
            deadline = time.monotonic() + timeout
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01)))
                at = time.monotonic()
                if event["type"] == "response.output_audio.delta":
                    first_at = first_at or at
                    received_ms += len(base64.b64decode(event["delta"])) // BYTES_PER_MS
                elif event["type"] == "input_audio_buffer.speech_started" and first_at is not None:
                    speech_at = at
                elif event["type"] == "error":
                    raise RuntimeError(f"error event: {event}")
                if event["type"] in kinds:
                    return event, at

        await until("session.updated")
        for chunk in chunks(speech(600) + silence(700)):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await until("response.output_audio.delta")
        assert first_at is not None
        await asyncio.sleep(max(0.0, first_at + rng.uniform(0.3, 1.5) - time.monotonic()))
        for chunk in chunks(speech(400)):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await until("input_audio_buffer.speech_started")
        assert speech_at is not None
        try:
            notice, at = await until("gateway.barge_in", timeout=REPLY_MS / 1000 + 1)
        except asyncio.TimeoutError:  # no protection: the player plays everything it received
            return {"talk_over_ms": (first_at + received_ms / 1000 - speech_at) * 1000, "truncation_error_ms": None}
        played = min(received_ms, int((at - first_at) * 1000))
        return {"talk_over_ms": (at - speech_at) * 1000, "truncation_error_ms": float(notice["audio_end_ms"] - played)}


def _measured(before: dict[str, TalkOver], after: dict[str, TalkOver]) -> dict[str, dict[str, float]]:
    """The gateway's own talk-over histogram over one batch: per ``stopped_by``, how many and their mean (ms)."""
    out: dict[str, dict[str, float]] = {}
    for who, now in after.items():
        was = before.get(who, TalkOver(0, 0.0))
        count = now.count - was.count
        if count:
            out[who] = {"n": count, "mean_ms": round(1000 * (now.sum_s - was.sum_s) / count, 1)}
    return out


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 1), "max": round(ordered[-1], 1),
            "mean": round(statistics.fmean(ordered), 1)}


async def measure(rounds: int) -> dict[str, object]:
    from gateway.emulator import start_emulator

    rng = random.Random(16)
    emulator = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=REPLY_MS, asr_ms=50)
    results: dict[str, object] = {"grace_ms": GRACE_MS, "reply_ms": REPLY_MS}
    try:
        for mode in ("off", "observe", "protect"):
            with tempfile.TemporaryDirectory() as tmp:
                policy = Path(tmp) / "barge_in.yaml"
                policy.write_text(_policy(mode))
                port = _free_port()
                gateway = await asyncio.to_thread(_start_gateway, emulator.url, policy, port, Path(tmp) / "gw.log")
                try:
                    url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime-2"
                    for interrupt in (True, False):
                        before = await asyncio.to_thread(talk_over, f"http://127.0.0.1:{port}")
                        runs = [await _round(url, interrupt, rng) for _ in range(rounds)]
                        await asyncio.sleep(0.5)  # the last session's measurement reaches the histogram
                        after = await asyncio.to_thread(talk_over, f"http://127.0.0.1:{port}")
                        key = f"{mode}/interrupt_response={str(interrupt).lower()}"
                        entry: dict[str, object] = {"talk_over_ms": _summary([r["talk_over_ms"] for r in runs if r["talk_over_ms"] is not None])}
                        entry["gateway_measured"] = _measured(before, after)
                        errors = [abs(r["truncation_error_ms"]) for r in runs if r["truncation_error_ms"] is not None]
                        if errors:
                            entry["abs_truncation_error_ms"] = _summary(errors)
                        results[key] = entry
                        print(key, json.dumps(entry), flush=True)
                finally:
                    gateway.terminate()
                    await asyncio.to_thread(gateway.wait, 10)
    finally:
        await emulator.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    results = asyncio.run(measure(args.rounds))
    out = ROOT / "bench" / "results" / "barge_in.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
