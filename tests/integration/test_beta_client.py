"""Legacy beta Realtime clients work unchanged through a real gateway process (GA upstream)."""

from __future__ import annotations

import asyncio
import base64
from typing import Literal, Optional

import orjson
import websockets
from openai import AsyncOpenAI
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.beta.realtime import SessionCreatedEvent, SessionUpdatedEvent, TranscriptionSessionUpdatedEvent
from openai.types.beta.realtime.session import Session
from openai.types.beta.realtime.transcription_session import ClientSecret, InputAudioTranscription, TranscriptionSession
from pydantic import TypeAdapter

from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.support.audio import chunks, silence, speech

#: GA names a beta client must never see
GA_ONLY_NAMES = frozenset({
    "response.output_audio.delta", "response.output_audio.done", "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done", "response.output_text.delta", "response.output_text.done",
    "conversation.item.added", "conversation.item.done",
})


class _Session(Session):
    """Beta session as the gateway reports it: the served model's name is newer than the beta SDK's list."""

    model: Optional[str] = None  # type: ignore[assignment]


class _SessionCreated(SessionCreatedEvent):
    session: _Session  # type: ignore[assignment]


class _SessionUpdated(SessionUpdatedEvent):
    session: _Session  # type: ignore[assignment]


class _Transcription(InputAudioTranscription):
    model: Optional[str] = None  # type: ignore[assignment]


class _TranscriptionSession(TranscriptionSession):
    """Beta transcription session over WebSocket: no ephemeral secret, any ASR model name."""

    client_secret: Optional[ClientSecret] = None  # type: ignore[assignment]
    input_audio_transcription: Optional[_Transcription] = None  # type: ignore[assignment]


class _TranscriptionSessionEvent(TranscriptionSessionUpdatedEvent):
    """The beta server sent ``transcription_session.created`` first; the beta SDK union omits it."""

    session: _TranscriptionSession  # type: ignore[assignment]
    type: Literal["transcription_session.created", "transcription_session.updated"]  # type: ignore[assignment]


_STRICT = TypeAdapter(BetaServerEvent)
_RELAXED = {
    "session.created": TypeAdapter(_SessionCreated),
    "session.updated": TypeAdapter(_SessionUpdated),
    "transcription_session.created": TypeAdapter(_TranscriptionSessionEvent),
    "transcription_session.updated": TypeAdapter(_TranscriptionSessionEvent),
}


class BetaReceiver:
    """Reads raw frames, validates each against the beta SDK's types, and keeps them in order."""

    def __init__(self, recv: object) -> None:
        self.recv = recv
        self.events: list[dict] = []

    async def next(self, timeout: float = 10.0) -> dict:
        raw = await asyncio.wait_for(self.recv(), timeout)  # type: ignore[operator]
        event = orjson.loads(raw)
        assert event["type"] not in GA_ONLY_NAMES, event["type"]
        _RELAXED.get(event["type"], _STRICT).validate_python(event)
        self.events.append(event)
        return event

    async def until(self, event_type: str, timeout: float = 10.0) -> dict:
        while True:
            event = await self.next(timeout)
            assert event["type"] != "error", event
            if event["type"] == event_type:
                return event

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


def _beta_client(gw: GatewayProcess) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=gw.key, base_url=f"{gw.http_url}/v1", websocket_base_url=gw.ws_base)


async def test_beta_sdk_holds_a_voice_agent_turn(gateway_factory: GatewayFactory, emulator: object) -> None:
    """The deprecated beta SDK client configures, speaks, commits and hears a reply in beta events only."""
    gw = gateway_factory(env=emulator_env(emulator))
    async with _beta_client(gw).beta.realtime.connect(model="gpt-realtime-2") as conn:
        rec = BetaReceiver(conn.recv_bytes)
        created = await rec.until("session.created")
        assert created["session"]["object"] == "realtime.session" and "audio" not in created["session"]
        await conn.session.update(session={
            "modalities": ["text", "audio"], "instructions": "Be brief.", "voice": "alloy",
            "input_audio_format": "pcm16", "output_audio_format": "pcm16", "turn_detection": None,
            "input_audio_transcription": {"model": "whisper-1"}, "temperature": 0.8,
            "max_response_output_tokens": 400,
        })
        updated = (await rec.until("session.updated"))["session"]
        assert updated["voice"] == "alloy" and updated["turn_detection"] is None
        assert updated["input_audio_format"] == "pcm16" and updated["output_audio_format"] == "pcm16"
        assert updated["input_audio_transcription"]["model"] == "whisper-1"
        assert set(updated["modalities"]) == {"text", "audio"} and updated["max_response_output_tokens"] == 400
        for chunk in chunks(speech(800)):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        committed = await rec.until("input_audio_buffer.committed")
        user_item = await rec.until("conversation.item.created")
        assert user_item["item"]["id"] == committed["item_id"] and user_item["item"]["role"] == "user"
        await conn.response.create(response={"modalities": ["text", "audio"], "voice": "alloy"})
        audio = await rec.until("response.audio.delta")
        assert base64.b64decode(audio["delta"])
        await rec.until("response.audio_transcript.delta")
        done = await rec.until("response.done")
    response = done["response"]
    assert response["status"] == "completed" and set(response["modalities"]) == {"text", "audio"}
    assert response["voice"] == "alloy" and response["output_audio_format"] == "pcm16"
    assert response["usage"]["output_token_details"]["audio_tokens"] > 0
    assert response["output"][0]["content"][0]["type"] == "audio"
    types = rec.types()
    for expected in ("response.created", "response.output_item.added", "response.content_part.added",
                     "response.audio.done", "response.audio_transcript.done", "response.content_part.done",
                     "response.output_item.done"):
        assert expected in types, expected
    parts = [e for e in rec.events if e["type"] == "response.content_part.added"]
    assert parts and all(p["part"]["type"] == "audio" for p in parts)
    # upstream only ever saw GA: the emulator enforces GA shapes and rejects beta ones
    assert "error" not in types


async def test_beta_client_gets_text_deltas_and_server_vad_turns(gateway_factory: GatewayFactory, emulator: object) -> None:
    """With server VAD and text-only output a beta client gets ``response.text.*`` after a spoken turn."""
    gw = gateway_factory(env=emulator_env(emulator))
    async with _beta_client(gw).beta.realtime.connect(model="gpt-realtime-2") as conn:
        rec = BetaReceiver(conn.recv_bytes)
        await rec.until("session.created")
        await conn.session.update(session={
            "modalities": ["text"], "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}})
        updated = (await rec.until("session.updated"))["session"]
        assert updated["modalities"] == ["text"] and updated["turn_detection"]["silence_duration_ms"] == 300
        for chunk in chunks(speech(800) + silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("input_audio_buffer.speech_started")
        await rec.until("input_audio_buffer.speech_stopped")
        text = await rec.until("response.text.delta")
        assert text["delta"]
        final = await rec.until("response.text.done")
        done = await rec.until("response.done")
    assert done["response"]["modalities"] == ["text"]
    assert done["response"]["output"][0]["content"] == [{"type": "text", "text": final["text"]}]


async def test_beta_subprotocol_transcription_session(gateway_factory: GatewayFactory, emulator: object) -> None:
    """A raw beta client (subprotocol only) runs a transcription session with ``transcription_session.*``."""
    gw = gateway_factory(env=emulator_env(emulator))
    url = f"{gw.ws_base}/realtime?intent=transcription"
    async with websockets.connect(url, subprotocols=["openai-beta.realtime-v1"],  # type: ignore[list-item]
                                  additional_headers={"Authorization": f"Bearer {gw.key}"}, max_size=None) as ws:
        assert ws.subprotocol == "openai-beta.realtime-v1"
        rec = BetaReceiver(ws.recv)
        created = await rec.next()
        assert created["type"] == "transcription_session.created"
        assert created["session"]["object"] == "realtime.transcription_session"
        await ws.send(orjson.dumps({"type": "transcription_session.update", "session": {
            "input_audio_format": "pcm16", "turn_detection": None,
            "input_audio_transcription": {"model": "gpt-realtime-whisper", "language": "en"}}}).decode())
        updated = (await rec.until("transcription_session.updated"))["session"]
        assert updated["input_audio_format"] == "pcm16" and updated["turn_detection"] is None
        assert updated["input_audio_transcription"]["model"] == "gpt-realtime-whisper"
        for chunk in chunks(speech(1000)):
            await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode())
        await ws.send(orjson.dumps({"type": "input_audio_buffer.commit"}).decode())
        committed = await rec.until("input_audio_buffer.committed")
        completed = await rec.until("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == committed["item_id"] and completed["transcript"]
    assert completed["usage"]["type"] == "duration"
    assert "conversation.created" not in rec.types()
    assert emulator.sessions[-1].kind == "transcription"  # type: ignore[attr-defined]


async def test_beta_tools_and_assistant_items(gateway_factory: GatewayFactory, emulator: object) -> None:
    """Beta tools, a forced tool by bare name, a tool result and an assistant ``text`` item all work."""
    gw = gateway_factory(env=emulator_env(emulator))
    tool = {"type": "function", "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    async with _beta_client(gw).beta.realtime.connect(model="gpt-realtime-2") as conn:
        rec = BetaReceiver(conn.recv_bytes)
        await rec.until("session.created")
        await conn.session.update(session={"tools": [tool], "turn_detection": None})
        assert (await rec.until("session.updated"))["session"]["tools"][0]["name"] == "get_weather"
        await conn.conversation.item.create(item={
            "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Ask me about weather."}]})
        assistant = await rec.until("conversation.item.created")
        assert assistant["item"]["content"][0]["type"] == "text"
        await conn.response.create(response={"tool_choice": "get_weather", "modalities": ["text"]})
        call = await rec.until("response.function_call_arguments.done")
        assert call["name"] == "get_weather" and "city" in orjson.loads(call["arguments"])
        await rec.until("response.done")
        await conn.conversation.item.create(item={
            "type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c": 21}'})
        await conn.response.create()
        final = await rec.until("response.done")
    assert final["response"]["status"] == "completed"


async def test_seed_guide_voice_agent_gets_a_tool_call_for_a_spoken_question(gateway: GatewayProcess) -> None:
    """The seed guide's Node agent (beta header, lookup_order with tool_choice auto): a spoken question calls
    the tool with no marker; after the output the answer is spoken and the tool is not called again."""
    from tests.support.audio import said

    url = f"{gateway.ws_base}/realtime?model=gpt-realtime-2"
    headers = {"Authorization": f"Bearer {gateway.key}", "OpenAI-Beta": "realtime=v1"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        rec = BetaReceiver(ws.recv)
        await rec.until("session.created")
        await ws.send(orjson.dumps({"type": "session.update", "session": {
            "voice": "alloy", "instructions": "You are a customer support agent for Andrew.ooo.",
            "modalities": ["text", "audio"], "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "tools": [{"type": "function", "name": "lookup_order", "description": "Look up an order by ID",
                       "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                      "required": ["order_id"]}}],
            "tool_choice": "auto"}}).decode())
        await rec.until("session.updated")
        for chunk in chunks(silence(200) + said("Can you look up my order 4417?") + silence(800)):
            await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode())
        call = await rec.until("response.function_call_arguments.done", timeout=20)
        assert call["name"] == "lookup_order"
        await ws.send(orjson.dumps({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"], "output": '{"status": "shipped"}'}}).decode())
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await rec.until("response.audio.delta", timeout=20)
        done = await rec.until("response.done", timeout=20)
    assert done["response"]["output"][0]["type"] == "message"
    assert rec.types().count("response.function_call_arguments.done") == 1
