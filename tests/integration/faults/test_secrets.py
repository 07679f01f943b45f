"""No secret, audio or transcript leaks from a gateway through a scripted session with faults."""

from __future__ import annotations

import asyncio
import urllib.request

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import UPSTREAM_TEST_KEY, GatewayFactory
from tests.integration.faults.conftest import (
    EmulatorStarter,
    OwnRedis,
    Transcript,
    gateway_env,
    open_client,
    read_until_closed,
    start_turn,
    until,
    wait_records,
)
from tests.integration.telemetry.conftest import Receiver, otlp_receiver  # noqa: F401 - fixture
from tests.support.audio import b64, speech

WRONG_KEY = "vg_guessed_key_5f2c9a0e1d7b4c3a"


async def test_keys_audio_and_transcripts_never_leave_in_logs_spans_metrics_or_frames(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str,
    otlp_receiver: Receiver,  # noqa: F811
) -> None:
    """A turn, a bad key, an unknown model, garbage and an upstream drop: no key anywhere; no audio or transcript in telemetry."""
    emu = await emulators(fault="drop", fault_after=30)
    env = gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, log_level="DEBUG")  # type: ignore[attr-defined]
    env.update({
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_METRIC_EXPORT_INTERVAL": "200",
    })
    gw = gateway_factory(env=env)
    client_frames: list[str] = []
    with pytest.raises(InvalidStatus) as refused:
        await open_client(gw, key=WRONG_KEY)
    client_frames.append(refused.value.response.body.decode())
    with pytest.raises(InvalidStatus) as unknown:
        await open_client(gw, "model=gpt-nonexistent")
    client_frames.append(unknown.value.response.body.decode())
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        await ws.send("{ garbage " + gw.key)
        await start_turn(ws)
        done = await until(ws, "response.done", seen)
        await start_turn(ws)
        await read_until_closed(ws, 10.0, seen)
    assert seen.close_code == 1014
    client_frames += seen.raw + [seen.close_reason]
    wait_records(own_redis, prefix, 1)
    with urllib.request.urlopen(f"{gw.http_url}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert otlp_receiver.received.wait_for(lambda r: len(r.spans()) >= 2 and bool(r.metric_names()), 10.0)
    gw.stop()
    await asyncio.sleep(0.3)
    spans = b"".join(span.SerializeToString() for _service, span in otlp_receiver.received.spans())
    with otlp_receiver.received.lock:
        metric_bytes = b"".join(m.SerializeToString() for m in otlp_receiver.received.metrics)
    logs = gw.log_text()
    records = orjson.dumps(wait_records(own_redis, prefix, 1)).decode()

    transcript = next(e["transcript"] for e in seen.events if e["type"] == "response.output_audio_transcript.done")
    audio_out = next(e["delta"] for e in seen.events if e["type"] == "response.output_audio.delta")
    audio_in = b64(speech(300))
    samples = {
        "upstream key": UPSTREAM_TEST_KEY, "client key": gw.key, "guessed key": WRONG_KEY,
        "input audio": audio_in[1000:1060], "output audio": str(audio_out)[200:260], "transcript": str(transcript),
    }
    telemetry = {"logs": logs, "spans": spans.decode("latin-1"), "otlp metrics": metric_bytes.decode("latin-1"),
                 "/metrics": metrics, "session records": records}
    assert done["response"]["status"] == "completed"  # type: ignore[index]
    assert len(logs) > 1000 and spans and metrics
    for where, text in telemetry.items():
        for what, secret in samples.items():
            assert secret not in text, f"{what} found in {where}"
    visible = "\n".join(client_frames)
    for what in ("upstream key", "client key", "guessed key"):
        assert samples[what] not in visible, f"{what} shown to the client"
