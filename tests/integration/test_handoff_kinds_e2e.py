"""Handoff between session kinds end to end: the official openai SDK talks realtime the whole time while the gateway
moves the conversation from a voice agent to a translation model (the model's transfer tool) and back (an operator),
against the emulator."""

from __future__ import annotations

import asyncio
import json
import math
import struct
from pathlib import Path

import pytest
import websockets

from gateway.policy.catalog import load_catalog
from tests.integration.conftest import REPO, UPSTREAM_TEST_KEY, GatewayFactory, GatewayProcess
from tests.integration.keys_support import ADMIN_TOKEN
from tests.integration.test_caps_e2e import Recorder, client_for, session_records, store_env, write_policy
from tests.integration.test_handoff_e2e import _admin_handoff, _catalog, _live_session_id, _setup
from tests.support.audio import b64, chunks, said, silence, speech

TRANSLATE = "gpt-realtime-translate"
POLICY = """version: 1
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
      handoff: {targets: [translate], transfer_tool: true}
    translation:
      model: gpt-realtime-translate
      name: interpreter
      handoff: {targets: [agent]}
"""
#: what a translation client may receive (its own protocol) plus the gateway's notice
TRANSLATION_EVENTS = frozenset({"session.created", "session.updated", "session.output_audio.delta", "session.output_transcript.delta",
                                "session.input_transcript.delta", "gateway.handoff"})
HAND_OVER = "Please hand the conversation over to another assistant."


def _start(factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, prefix: str, policy: str = POLICY) -> GatewayProcess:
    env = {
        "VOICE_GATEWAY_CATALOG_FILE": str(_catalog(tmp_path, emulator.url)),  # type: ignore[attr-defined]
        "OPENAI_API_KEY": UPSTREAM_TEST_KEY,
        "VOICE_GATEWAY_POLICY_FILES": str(write_policy(tmp_path / "kinds.yaml", policy)),
        "VOICE_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        **store_env(redis_url, prefix),
    }
    return factory(env=env)


def _voiced(index: int) -> bytes:
    """20 ms of loud PCM16 (the emulator's translation hears speech) whose samples carry the frame's index."""
    level = 8000 + index
    return struct.pack("<480h", *([level, -level] * 240))


async def _ask_transfer(conn: object) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": HAND_OVER}]}
    await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]


async def _stream(conn: object, sent: bytearray, frames: range) -> None:
    """Audio at real-time pace, 20 ms a frame."""
    for index in frames:
        chunk = _voiced(index)
        sent += chunk
        await conn.input_audio_buffer.append(audio=b64(chunk))  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)


def _translate_micros(audio_in_bytes: int) -> int:
    pricing = load_catalog(REPO / "config" / "models.yaml").resolve(TRANSLATE).pricing  # type: ignore[union-attr]
    return math.ceil((audio_in_bytes * 1000 // 48_000) * pricing.per_minute / 60_000)


async def test_agent_to_translation_by_transfer_and_back_keeps_the_realtime_protocol(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The model transfers to the translation route, the operator moves it back: the SDK gets gateway.handoff twice,
    translated speech as realtime responses in between, audio streamed across both switches arrives complete and in
    order, the agent is told the translation's transcripts, and the record bills each model at its own price."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    sent = bytearray()
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        session_id = await _live_session_id(gw)
        await _ask_transfer(conn)
        reader = asyncio.create_task(rec.until("gateway.handoff", timeout=30.0))
        await _stream(conn, sent, range(0, 100))  # 2 s: the switch happens while the audio flows
        first = await reader
        assert {k: first[k] for k in ("status", "from", "to", "trigger", "model")} == {
            "status": "completed", "from": "agent", "to": "translate", "trigger": "transfer", "model": TRANSLATE,
        }
        await _stream(conn, sent, range(100, 150))
        translated = await rec.until("response.done", timeout=15.0)  # the bridge closes its response after a pause
        since = rec.events[rec.events.index(first):]
        assert translated["response"]["status"] == "completed"
        assert [e["type"] for e in since].count("response.created") >= 1
        assert any(e["type"] == "response.output_audio.delta" for e in since)
        reader = asyncio.create_task(rec.until("gateway.handoff", timeout=30.0))
        streaming = asyncio.create_task(_stream(conn, sent, range(150, 250)))
        await asyncio.sleep(0.5)
        answer = await _admin_handoff(gw, session_id, "agent")
        assert answer.status_code == 200 and answer.json()["status"] == "started", answer.text
        second = await reader
        assert {k: second[k] for k in ("status", "from", "to", "trigger")} == {
            "status": "completed", "from": "translate", "to": "agent", "trigger": "admin",
        }
        await streaming
        await conn.session.update(session={"type": "realtime"})  # type: ignore[attr-defined]
        await rec.until("session.updated")  # every append before it has reached the agent
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Are you back?"}]}
        await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
        await conn.response.create()  # type: ignore[attr-defined]
        done = await rec.until("response.done", timeout=20.0)
        assert done["response"]["status"] == "completed"
    assert "error" not in rec.types()
    after = rec.types()[rec.types().index("gateway.handoff"):]
    assert "session.created" not in after and "conversation.created" not in after  # one session, one conversation
    agent, translate, back = emulator.sessions[-3:]  # type: ignore[attr-defined]
    assert (agent.kind, translate.kind, back.kind) == ("realtime", "translation", "realtime")
    assert agent.audio_in_bytes > 0 and translate.audio_in_bytes > 0 and back.audio_in_bytes > 0
    assert bytes(agent.input_audio) + bytes(translate.input_audio) + bytes(back.input_audio) == bytes(sent)
    context = back.response_configs[-1]["context"]
    assert context[0] == f"user: {HAND_OVER}"
    assert any(line.startswith("assistant: ") for line in context[1:-1])  # the translation's transcript
    [record] = session_records(redis_url, redis_prefix)
    models = json.loads(record["models"])
    print(f"\nper-model cost: {models}")
    assert [m["model"].split("-20")[0] for m in models] == ["gpt-realtime-2", TRANSLATE]
    assert models[1]["cost_micros"] == _translate_micros(translate.audio_in_bytes)  # input seconds at $0.034/min
    assert models[0]["cost_micros"] > 0 and sum(m["cost_micros"] for m in models) == int(record["cost_micros"])
    handoffs = json.loads(record["handoffs"])
    assert [(h["from_route"], h["to_route"], h["trigger"], h["ok"]) for h in handoffs] == [
        ("agent", "translate", "transfer", True), ("translate", "agent", "admin", True),
    ]


async def test_spanish_heard_on_the_agent_moves_the_session_to_translation(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The user speaks Spanish to the voice agent (server VAD, input transcription on): the language trigger moves the
    session to the translation route, and what the user says next comes back translated, as a realtime response."""
    # only this gateway loads the language model (a policy with on_language)
    policy = POLICY.replace("transfer_tool: true}", "transfer_tool: true, on_language: {es: translate}}")
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix, policy)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        audio_in = {"transcription": {"model": "gpt-transcribe"}, "turn_detection": {"type": "server_vad"}}
        await conn.session.update(session={"type": "realtime", "audio": {"input": audio_in}})  # type: ignore[attr-defined]
        await rec.until("session.updated")
        spanish = silence(200) + said("Hola, necesito ayuda con mi cuenta bancaria, por favor.") + silence(800)
        for chunk in chunks(spanish):
            await conn.input_audio_buffer.append(audio=chunk)  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
        event = await rec.until("gateway.handoff", timeout=30.0)
        assert (event["status"], event["to"], event["trigger"], event["reason"]) == ("completed", "translate", "language", "language es")
        await _stream(conn, bytearray(), range(0, 60))
        done = await rec.until("response.done", timeout=15.0)
        assert done["response"]["status"] == "completed"
        since = rec.types()[rec.types().index("gateway.handoff"):]
        assert "response.output_audio.delta" in since
    assert "error" not in rec.types()
    assert [s.kind for s in emulator.sessions] == ["realtime", "translation"]  # type: ignore[attr-defined]
    [record] = session_records(redis_url, redis_prefix)
    (handoff,) = json.loads(record["handoffs"])
    assert (handoff["to_route"], handoff["trigger"], handoff["ok"]) == ("translate", "language", True)


async def test_a_g711_session_cannot_move_to_translation_and_stays_on_its_agent(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """A G.711 voice-agent session asks for the translation route: gateway.handoff failed (translation takes PCM16
    only) before any translation upstream is opened, the transfer call is answered with the failure, and the same
    agent keeps answering."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        g711 = {"type": "audio/pcmu"}
        session = {"type": "realtime", "audio": {"input": {"format": g711, "turn_detection": None}, "output": {"format": g711}}}
        await conn.session.update(session=session)  # type: ignore[attr-defined]
        await rec.until("session.updated")
        await _ask_transfer(conn)
        event = await rec.until("gateway.handoff", timeout=20.0)
        assert (event["status"], event["to"], event["from"]) == ("failed", "translate", "agent")
        assert "PCM16" in event["message"]
        spoken = await rec.until("response.done", timeout=20.0)
        while not (spoken["response"].get("metadata") or {}).get("voice_gateway_event"):  # the transfer call's own reply
            spoken = await rec.until("response.done", timeout=20.0)
        assert spoken["response"]["status"] == "completed"  # the model was told the transfer failed, and spoke
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Are you still there?"}]}
        await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
        await conn.response.create()  # type: ignore[attr-defined]
        done = await rec.until("response.done", timeout=20.0)
        assert done["response"]["status"] == "completed"
    assert "error" not in rec.types(), [e for e in rec.events if e["type"] == "error"]
    assert [s.kind for s in emulator.sessions] == ["realtime"]  # type: ignore[attr-defined]  # no translation opened for nothing
    agent = emulator.sessions[0]  # type: ignore[attr-defined]
    assert agent.model == "gpt-realtime-2" and agent.responses >= 2
    [record] = session_records(redis_url, redis_prefix)
    assert [m["model"].split("-20")[0] for m in json.loads(record["models"])] == ["gpt-realtime-2"]
    (handoff,) = json.loads(record["handoffs"])
    assert (handoff["to_route"], handoff["ok"]) == ("translate", False)


async def test_a_translation_client_moved_to_a_voice_agent_keeps_its_protocol(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """A translation session handed to a voice agent by the operator: the agent is opened as an interpreter, the client
    keeps receiving translation events only (audio as session.output_audio.delta), and both models are billed."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    seen: list[dict] = []

    async def read(ws: websockets.ClientConnection, until: str, after: int = 0) -> dict:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 20))
            seen.append(event)
            if event["type"] == until and len(seen) > after:
                return event

    async def send(ws: websockets.ClientConnection, pcm: bytes) -> None:
        for start in range(0, len(pcm), 960):
            await ws.send(json.dumps({"type": "session.input_audio_buffer.append", "audio": b64(pcm[start:start + 960])}))
            await asyncio.sleep(0.02)

    async with websockets.connect(f"{gw.ws_base}/realtime/translations?model={TRANSLATE}",
                                  additional_headers={"Authorization": f"Bearer {gw.key}"}, max_size=None) as ws:
        await read(ws, "session.created")
        await send(ws, speech(600))
        session_id = await _live_session_id(gw)
        answer = await _admin_handoff(gw, session_id, "agent")
        assert answer.status_code == 200, answer.text
        handed = await read(ws, "gateway.handoff")
        assert (handed["status"], handed["from"], handed["to"], handed["model"]) == ("completed", "interpreter", "agent", "gpt-realtime-2")
        mark = len(seen)
        sender = asyncio.create_task(send(ws, speech(800) + silence(1200)))  # the agent's VAD hears an utterance end
        await read(ws, "session.output_audio.delta", after=mark)
        await sender
    assert {e["type"] for e in seen} <= TRANSLATION_EVENTS, sorted({e["type"] for e in seen} - TRANSLATION_EVENTS)
    translate, agent = emulator.sessions[-2:]  # type: ignore[attr-defined]
    assert (translate.kind, agent.kind, agent.model) == ("translation", "realtime", "gpt-realtime-2")
    assert "Translate everything the user says" in str(agent.response_configs[0]["instructions"])
    [record] = session_records(redis_url, redis_prefix)
    models = json.loads(record["models"])
    assert [m["model"].split("-20")[0] for m in models] == [TRANSLATE, "gpt-realtime-2"]
    assert all(m["cost_micros"] > 0 for m in models) and sum(m["cost_micros"] for m in models) == int(record["cost_micros"])


@pytest.fixture(autouse=True)
def _quiet_httpx(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every admin request at INFO; the assertions read the client's events, not logs."""
    caplog.set_level("WARNING", logger="httpx")
