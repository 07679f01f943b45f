"""The emulator's calls API: WebRTC calls with a sideband, simulated SIP calls with signed webhooks, call control."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from openai import OpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.emulator import EmulatorHandle
from gateway.emulator.calls.http import _EmbeddedServer
from tests.support.rtc import RtcCaller

AUTH = {"Authorization": "Bearer sk-test"}
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ=="


async def _sideband_events(ws: websockets.ClientConnection, until: str, timeout: float = 10.0) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(timeout):
        while True:
            event = json.loads(await ws.recv())
            seen.append(event)
            if event["type"] == until:
                return seen


async def test_webrtc_call_answers_streams_a_turn_and_mirrors_events_to_the_sideband(emu: EmulatorHandle) -> None:
    """A multipart offer is answered (201, Location); the caller hears a turn; the sideband sees it without audio deltas."""
    caller = RtcCaller()
    session = {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Be brief."}
    async with httpx.AsyncClient(base_url=emu.calls_url, headers=AUTH) as http:
        reply = await http.post("/realtime/calls", files={"sdp": (None, await caller.offer()), "session": (None, json.dumps(session))})
        assert reply.status_code == 201, reply.text
        assert reply.headers["content-type"].startswith("application/sdp")
        call_id = reply.headers["location"].rsplit("/", 1)[1]
        await caller.answer(reply.text)
        await asyncio.wait_for(caller.channel_open.wait(), 10)
        async with websockets.connect(f"{emu.url}/realtime?call_id={call_id}", additional_headers=AUTH) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "session.created" and first["session"]["instructions"] == "Be brief."
            caller.mic.say(900)
            events = await _sideband_events(ws, "response.done")
            types = [e["type"] for e in events]
            assert "input_audio_buffer.speech_started" in types and "response.output_audio.delta" not in types
            assert events[-1]["response"]["usage"]["output_tokens"] > 0  # type: ignore[index]
            await caller.wait_for("response.done")
            await caller.wait_heard()
            assert (await http.post(f"/realtime/calls/{call_id}/hangup")).status_code == 200
            await asyncio.wait_for(caller.closed.wait(), 10)
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
        again = await http.post(f"/realtime/calls/{call_id}/hangup")
        assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_call_state"
    await caller.close()


async def test_call_api_refuses_bad_requests_with_openai_errors(emu: EmulatorHandle) -> None:
    """No key → 401; unknown call → 404; a body that is not SDP → 400; a sideband to an unknown call → 404."""
    async with httpx.AsyncClient(base_url=emu.calls_url) as http:
        assert (await http.post("/realtime/calls", content="v=0\r\n")).status_code == 401
        missing = await http.post("/realtime/calls/rtc_nope/hangup", headers=AUTH)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "call_not_found"
        bad = await http.post("/realtime/calls?model=gpt-realtime", content="hello", headers={**AUTH, "content-type": "application/sdp"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "sdp"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{emu.url}/realtime?call_id=rtc_nope", additional_headers=AUTH):
            pass
    assert refused.value.response.status_code == 404


class _Receiver:
    """A webhook endpoint that records deliveries and answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []

    async def hook(self, request: Request) -> Response:
        self.deliveries.append(({k: v for k, v in request.headers.items()}, await request.body()))
        return Response(status_code=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[_Receiver, str]]:
    import socket

    import uvicorn

    rec = _Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _EmbeddedServer(uvicorn.Config(Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])]), lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield rec, f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    server.should_exit = True
    await task


async def _ring(emu: EmulatorHandle, url: str, **extra: object) -> dict[str, object]:
    body = {"webhook_url": url, "webhook_secret": SECRET, "sip_headers": [{"name": "From", "value": "<sip:+15551230000@trunk>"}], **extra}
    async with httpx.AsyncClient(base_url=emu.calls_url) as http:
        reply = await http.post("/_emulator/sip/calls", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def test_sip_call_posts_a_webhook_the_openai_sdk_verifies_then_accept_runs_a_turn(emu: EmulatorHandle, receiver: tuple[_Receiver, str]) -> None:
    """Ringing posts a signed realtime.call.incoming (same webhook-id on a retry); accept starts a call the sideband follows."""
    rec, url = receiver
    rung = await _ring(emu, url, deliveries=2)
    assert rung["delivery_statuses"] == [200, 200]
    (h1, body), (h2, _) = rec.deliveries
    assert h1["webhook-id"] == h2["webhook-id"]
    event = OpenAI(api_key="sk-test", webhook_secret=SECRET).webhooks.unwrap(body, h1)
    assert event.type == "realtime.call.incoming" and event.data.call_id == rung["call_id"]
    assert event.data.sip_headers[0].name == "From"
    call_id = str(rung["call_id"])
    async with httpx.AsyncClient(base_url=emu.calls_url, headers=AUTH) as http:
        accepted = await http.post(f"/realtime/calls/{call_id}/accept", json={"type": "realtime", "model": "gpt-realtime-2",
                                                                                 "audio": {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}})
        assert accepted.status_code == 200, accepted.text
        async with websockets.connect(f"{emu.url}/realtime?call_id={call_id}", additional_headers=AUTH) as ws:
            await _sideband_events(ws, "response.done")
            state = (await http.get(f"/_emulator/calls/{call_id}")).json()
            assert state["status"] == "active" and state["heard_audio_ms"] > 0
            assert (await http.post(f"/realtime/calls/{call_id}/refer", json={"target_uri": "tel:+15550001111"})).status_code == 200
        state = (await http.get(f"/_emulator/calls/{call_id}")).json()
        assert state["status"] == "referred" and state["refer_target"] == "tel:+15550001111"


async def test_sip_reject_defaults_to_603_and_refuses_a_second_decision(emu: EmulatorHandle, receiver: tuple[_Receiver, str]) -> None:
    """reject without a status is SIP 603; accepting a rejected call is a 400 invalid_call_state."""
    _rec, url = receiver
    call_id = str((await _ring(emu, url))["call_id"])
    async with httpx.AsyncClient(base_url=emu.calls_url, headers=AUTH) as http:
        assert (await http.post(f"/realtime/calls/{call_id}/reject")).status_code == 200
        state = (await http.get(f"/_emulator/calls/{call_id}")).json()
        assert state["status"] == "rejected" and state["reject_status"] == 603
        late = await http.post(f"/realtime/calls/{call_id}/accept", json={"type": "realtime"})
        assert late.status_code == 400 and late.json()["error"]["code"] == "invalid_call_state"
        bad = await http.post(f"/realtime/calls/{call_id}/refer", json={"target_uri": "http://evil"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "target_uri"
