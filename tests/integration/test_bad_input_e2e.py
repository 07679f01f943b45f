"""Bad input through a real gateway: a clear error each time, and everyone else keeps being served."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.support.audio import b64, speech


def _url(gw: GatewayProcess, path: str = "/v1/realtime?model=gpt-realtime-2") -> str:
    return f"ws://127.0.0.1:{gw.port}{path}"


async def _refusal(gw: GatewayProcess, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(_url(gw, path), additional_headers=headers or {}):
            pass
    response = info.value.response
    return response.status_code, orjson.loads(response.body)


async def _open(gw: GatewayProcess, **kwargs: object) -> websockets.ClientConnection:
    ws = await websockets.connect(_url(gw), additional_headers={"Authorization": f"Bearer {gw.key}"}, max_size=None, **kwargs)
    first = orjson.loads(await ws.recv())
    assert first["type"] == "session.created"
    return ws


async def _next_error(ws: websockets.ClientConnection) -> dict:
    while True:
        event = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if event["type"] == "error":
            return event


async def test_handshake_refusals_have_status_and_json_body(gateway: GatewayProcess) -> None:
    """Missing key 401, wrong key 401, unknown model 400, unknown path 404: all with an OpenAI-shaped body."""
    auth = {"Authorization": f"Bearer {gateway.key}"}
    status, body = await _refusal(gateway, "/v1/realtime?model=gpt-realtime-2")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = await _refusal(gateway, "/v1/realtime?model=gpt-realtime-2", {"Authorization": "Bearer wrong"})
    assert status == 401 and "wrong" not in str(body)
    status, body = await _refusal(gateway, "/v1/realtime?model=gpt-nonexistent-9", auth)
    assert status == 400 and body["error"]["code"] == "invalid_model"
    status, body = await _refusal(gateway, "/v1/nowhere", auth)
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_bad_frames_get_error_events_and_the_session_survives(gateway: GatewayProcess) -> None:
    """Non-JSON, no type, unknown type and binary frames each get an error event; the session still works."""
    ws = await _open(gateway)
    cases = [("not json", "invalid_json"), ('{"audio": "AAAA"}', "invalid_event"),
             ('{"type": "nope.nope", "event_id": "c_7"}', "invalid_event"), (b"\x00\x01binary", "invalid_event")]
    for frame, code in cases:
        await ws.send(frame)
        error = await _next_error(ws)
        assert error["error"]["code"] == code
    await ws.send('{"type":"nope.nope","event_id":"c_9"}')
    assert (await _next_error(ws))["error"]["event_id"] == "c_9"
    await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime"}}).decode())
    while orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "session.updated":
        pass
    await ws.close()


async def test_oversized_frame_gets_error_and_1009(gateway_factory: GatewayFactory) -> None:
    """A frame over the configured limit gets a message_too_large error event and close 1009."""
    gw = gateway_factory(env={"VOICE_GATEWAY_MAX_MESSAGE_BYTES": "65536"})
    ws = await _open(gw)
    await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(speech(2000))}).decode())
    assert (await _next_error(ws))["error"]["code"] == "message_too_large"
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_client_disconnect_closes_upstream_within_a_second(gateway_factory: GatewayFactory, emulator: object) -> None:
    """When the client goes away, the upstream socket is closed within a second."""
    gw = gateway_factory(env=emulator_env(emulator))
    ws = await _open(gw)
    record = emulator.sessions[-1]  # type: ignore[attr-defined]
    assert not record.closed
    started = time.monotonic()
    await ws.close()
    while not record.closed and time.monotonic() - started < 3:
        await asyncio.sleep(0.02)
    assert record.closed and time.monotonic() - started < 1.0
    # no leak: the gateway reports no live session
    import urllib.request

    with urllib.request.urlopen(f"{gw.http_url}/readyz", timeout=2) as response:
        assert orjson.loads(response.read())["live_sessions"] == 0


async def test_upstream_refusal_reaches_the_client_as_an_error_event(gateway_factory: GatewayFactory) -> None:
    """An upstream that refuses the connection yields an error event and a 1013/1014 close, not a hang."""
    from gateway.emulator import start_emulator

    emu = await start_emulator("127.0.0.1", 0, fault="refuse")
    try:
        gw = gateway_factory(env=emulator_env(emu))
        async with websockets.connect(_url(gw), additional_headers={"Authorization": f"Bearer {gw.key}"}) as ws:
            error = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error["type"] == "error" and error["error"]["code"] in ("upstream_unavailable", "upstream_refused")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code in (1013, 1014)
    finally:
        await emu.close()
