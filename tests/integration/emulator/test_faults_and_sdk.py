"""HTTP-level refusals, scripted faults, echo bench mode, and the official SDK talking to the emulator."""

from __future__ import annotations

import asyncio
import time

import openai
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.emulator import EmulatorHandle

from .helpers import AUTH, REALTIME, open_client, speech_b64


@pytest.mark.parametrize(("query", "headers", "status"), [
    ("model=gpt-realtime-2", {}, 401),
    ("model=gpt-realtime-2&emu_fault=refuse", AUTH, 503),
    ("model=gpt-realtime-2&emu_fault=refuse429", AUTH, 429),
    ("model=gpt-realtime-2&emu_bogus=1", AUTH, 400),
])
async def test_http_refusals_carry_json_bodies(emu: EmulatorHandle, query: str, headers: dict[str, str],
                                               status: int) -> None:
    """Missing auth, refuse faults and bad knobs are answered before the upgrade with a JSON error body."""
    with pytest.raises(InvalidStatus) as raised:
        await connect(f"{emu.url}/realtime?{query}", additional_headers=headers)
    response = raised.value.response
    assert response.status_code == status
    assert "message" in orjson.loads(response.body)["error"]


async def test_unknown_path_is_404(emu: EmulatorHandle) -> None:
    """Paths other than the two OpenAI realtime endpoints are not found."""
    with pytest.raises(InvalidStatus) as raised:
        await connect(f"{emu.url}/chat?model=gpt-realtime-2", additional_headers=AUTH)
    assert raised.value.response.status_code == 404


@pytest.mark.parametrize(("fault", "code"), [("drop", 1006), ("drop1011", 1011)])
async def test_drop_faults_cut_the_stream_mid_response(emu: EmulatorHandle, fault: str, code: int) -> None:
    """After N frames the emulator drops TCP (no close frame → 1006) or closes with 1011."""
    c = await open_client(emu, f"model=gpt-realtime-2&emu_fault={fault}&emu_fault_after=5")
    await c.send({"type": "response.create"})
    received = 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await c.recv()
            received += 1
    assert received == 5
    assert (closed.value.rcvd.code if closed.value.rcvd else 1006) == code


async def test_malformed_and_stall_faults(emu: EmulatorHandle) -> None:
    """One invalid-JSON frame is injected mid-stream; a stall keeps the socket open but silent."""
    c = await open_client(emu, "model=gpt-realtime-2&emu_fault=malformed&emu_fault_after=3")
    await c.send({"type": "response.create"})
    frames = [str(await c.ws.recv())]
    while '"response.done"' not in frames[-1]:
        frames.append(str(await c.ws.recv()))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(frames[3])
    for frame in frames[:3] + frames[4:]:
        REALTIME.validate_python(orjson.loads(frame))
    await c.ws.close()
    s = await open_client(emu, "model=gpt-realtime-2&emu_fault=stall&emu_fault_after=4")
    await s.send({"type": "response.create"})
    for _ in range(4):
        await s.recv()
    with pytest.raises(TimeoutError):
        await s.recv(timeout=0.3)
    await s.ws.ping()
    await s.ws.close()


async def test_slow_accept_delays_the_handshake(emu: EmulatorHandle) -> None:
    """slow_accept holds the upgrade for emu_delay_ms."""
    started = time.monotonic()
    c = await open_client(emu, "model=gpt-realtime-2&emu_fault=slow_accept&emu_delay_ms=300")
    assert time.monotonic() - started >= 0.3
    await c.recv()
    await c.ws.close()


async def test_echo_mode_answers_each_append_with_the_same_audio(emu: EmulatorHandle) -> None:
    """In echo mode every append is answered at once by one audio delta with the identical payload."""
    c = await open_client(emu, "model=gpt-realtime-2", REALTIME)
    await c.ws.close()
    ws = await connect(f"{emu.url}/realtime?model=gpt-realtime-2", additional_headers={
        **AUTH, "X-Emulator-Mode": "echo"})
    await ws.recv()
    await ws.recv()
    for i in range(5):
        payload = speech_b64(20, offset=i * 20)
        await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": payload}).decode())
        event = orjson.loads(await ws.recv())
        REALTIME.validate_python(event)
        assert event["type"] == "response.output_audio.delta" and event["delta"] == payload
    await ws.close()
    assert emu.sessions[-1].audio_in_bytes == emu.sessions[-1].audio_out_bytes == 5 * 960


async def test_official_sdk_voice_agent_and_translation(emu: EmulatorHandle) -> None:
    """openai.AsyncOpenAI connects to the emulator for both a voice-agent and a translation session."""
    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=emu.url)
    async with client.realtime.connect(model="gpt-realtime-2") as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.response.create()
        kinds = []
        async for event in conn:
            kinds.append(event.type)
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
        assert "response.output_text.done" in kinds
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as tconn:
        assert (await tconn.recv()).type == "session.created"
        await tconn.session.update(session={"audio": {"output": {"language": "fr"}}})
        assert (await tconn.recv()).type == "session.updated"
        for i in range(3):
            await tconn.session.input_audio_buffer.append(audio=speech_b64(200, offset=i * 200))
        await tconn.session.close()
        seen = []
        async for event in tconn:
            seen.append(event.type)
            if event.type == "session.closed":
                break
        assert seen.count("session.output_audio.delta") == 3
    await asyncio.sleep(0)
