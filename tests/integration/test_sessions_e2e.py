"""End to end through a real gateway process: official SDK clients, all three session kinds."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent, RealtimeTranslationServerEvent
from pydantic import TypeAdapter

from tests.integration.conftest import GatewayFactory, emulator_env
from tests.support.audio import b64, chunks, silence, speech

SERVER_EVENTS = TypeAdapter(RealtimeServerEvent)
TRANSLATION_EVENTS = TypeAdapter(RealtimeTranslationServerEvent)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Recorder:
    """Receives raw frames from an SDK connection, validates each against the SDK's typed union."""

    def __init__(self, conn: object, adapter: TypeAdapter = SERVER_EVENTS) -> None:
        self.conn = conn
        self.adapter = adapter
        self.events: list[dict] = []

    async def next(self, timeout: float = 10.0) -> dict:
        raw = await asyncio.wait_for(self.conn.recv_bytes(), timeout)  # type: ignore[attr-defined]
        event = orjson.loads(raw)
        self.adapter.validate_python(event)
        self.events.append(event)
        return event

    async def until(self, event_type: str, timeout: float = 10.0) -> dict:
        while True:
            event = await self.next(timeout)
            if event["type"] == event_type:
                return event


def _client(gw: object) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=gw.key, base_url=f"{gw.http_url}/v1")  # type: ignore[attr-defined]


async def test_voice_agent_turn_barge_in_and_tool_call_with_the_official_sdk(gateway_factory: GatewayFactory, emulator: object) -> None:
    """The SDK holds a conversation through the gateway: a VAD turn, a barge-in with truncate, a tool call."""
    gw = gateway_factory(env=emulator_env(emulator))
    async with _client(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        created = await rec.until("session.created")
        assert created["session"]["model"] == "gpt-realtime-2"
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief.", "tools": [WEATHER_TOOL]})
        await rec.until("session.updated")
        for chunk in chunks(speech(800) + silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("input_audio_buffer.speech_started")
        response = await rec.until("response.created")
        delta = await rec.until("response.output_audio.delta")
        # barge in while the reply is still streaming
        for chunk in chunks(speech(500)):
            await conn.input_audio_buffer.append(audio=chunk)
        done = await rec.until("response.done")
        assert done["response"]["id"] == response["response"]["id"]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        await conn.conversation.item.truncate(item_id=delta["item_id"], content_index=0, audio_end_ms=100)
        truncated = await rec.until("conversation.item.truncated")
        assert truncated["item_id"] == delta["item_id"]
        for chunk in chunks(silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("response.done")  # the reply to the barge-in turn
        await conn.response.create(response={"tool_choice": {"type": "function", "name": "get_weather"}})
        call = await rec.until("response.function_call_arguments.done")
        assert call["name"] == "get_weather" and "city" in orjson.loads(call["arguments"])
        await rec.until("response.done")
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c": 21}'})
        await conn.response.create()
        final = await rec.until("response.done")
        assert final["response"]["status"] == "completed"
        assert final["response"]["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_transcription_session_with_the_official_sdk(gateway_factory: GatewayFactory, emulator: object) -> None:
    """A transcription session (intent=transcription, no model) yields deltas and a completed transcript with usage."""
    gw = gateway_factory(env=emulator_env(emulator))
    async with _client(gw).realtime.connect(extra_query={"intent": "transcription"}) as conn:
        rec = Recorder(conn)
        created = await rec.until("session.created")
        assert created["session"]["type"] == "transcription"
        await conn.session.update(session={"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": None}}})
        await rec.until("session.updated")
        for chunk in chunks(speech(1000)):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        await rec.until("input_audio_buffer.committed")
        completed = await rec.until("conversation.item.input_audio_transcription.completed")
        assert completed["transcript"]
        assert completed["usage"]["type"] == "duration"
    # the upstream connection used the transcription rule: intent, no model
    assert emulator.sessions[-1].kind == "transcription"  # type: ignore[attr-defined]


async def test_translation_session_with_the_sdk_translations_client(gateway_factory: GatewayFactory, emulator: object) -> None:
    """A translation session streams translated audio and transcript, then closes cleanly on session.close."""
    gw = gateway_factory(env=emulator_env(emulator))
    async with _client(gw).realtime.translations.connect(model="gpt-realtime-translate") as conn:
        rec = Recorder(conn, TRANSLATION_EVENTS)
        created = await rec.until("session.created")
        assert created["session"]["type"] == "translation"
        await conn.session.update(session={"audio": {"output": {"language": "es"}}})
        await rec.until("session.updated")
        for chunk in chunks(speech(1200), ms=200):
            await conn.session.input_audio_buffer.append(audio=chunk)
        await rec.until("session.output_audio.delta")
        await rec.until("session.output_transcript.delta")
        await conn.session.close()
        await rec.until("session.closed")


async def test_two_sessions_are_independent(gateway_factory: GatewayFactory, emulator: object) -> None:
    """Garbage on one session does not disturb another running at the same time."""
    gw = gateway_factory(env=emulator_env(emulator))
    client = _client(gw)
    async with client.realtime.connect(model="gpt-realtime-2") as bad, client.realtime.connect(model="gpt-realtime-2") as good:
        bad_rec, good_rec = Recorder(bad), Recorder(good)
        await bad_rec.until("session.created")
        await good_rec.until("session.created")
        await bad._connection.send("{ not json")  # raw frame: the SDK only sends valid events
        error = await bad_rec.until("error")
        assert error["error"]["code"] == "invalid_json"
        await good.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await good_rec.until("session.updated")
        await good.input_audio_buffer.append(audio=b64(speech(300)))
        await good.input_audio_buffer.commit()
        await good.response.create()
        assert (await good_rec.until("response.done"))["response"]["status"] == "completed"
