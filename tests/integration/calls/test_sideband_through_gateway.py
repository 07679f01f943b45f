"""An owner's server on a call's sideband through the gateway (``/v1/realtime?call_id=…``), as on OpenAI.

The official SDK's ``realtime.connect(call_id=…)`` at the gateway attaches to the gateway's session of a direct
call: it hears the call's server events, and its client events go through the route's enforcement before they
reach the call. Only a gateway key of the call's tenant may attach.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from gateway.emulator import EmulatorHandle
from gateway.emulator.calls.call import CallStatus
from tests.integration.calls.conftest import calls_env, policy_file
from tests.integration.calls.test_direct_webrtc import place_call, upstream_call, wait_status
from tests.integration.calls.test_sip import POLICY, SECRET, ring
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.keys_support import create_key
from tests.support.rtc import RtcCaller

pytestmark = pytest.mark.redis


def _sdk(gw: GatewayProcess, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=f"{gw.http_url}/v1", max_retries=0)


async def _call(gw: GatewayProcess, emulator: EmulatorHandle) -> tuple[RtcCaller, str, str]:
    caller = RtcCaller()
    reply = await place_call(gw, caller, {"type": "realtime", "model": "gpt-realtime-2"})
    assert reply.status_code == 201, reply.text
    call = await upstream_call(emulator)
    return caller, reply.headers["location"].rsplit("/", 1)[1], call.call_id


async def test_the_sdk_watches_and_steers_a_direct_call_through_the_gateway_within_the_route(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """connect(call_id=<Location id>): its session.update reaches the call under the route's prefix, it hears the
    caller's turn, and a hang-up closes it."""
    env = calls_env(calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller, session_id, upstream_id = await _call(gw, calls_emulator)
    call = calls_emulator.calls.calls[upstream_id]
    async with _sdk(gw, gw.key).realtime.connect(call_id=session_id) as conn:
        await conn.session.update(session={"type": "realtime", "instructions": "Speak like a pirate."})
        seen: list[str] = []

        async def read_until(kind: str, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            async for event in conn:
                seen.append(event.type)
                if event.type == kind or time.monotonic() > deadline:
                    return

        await asyncio.wait_for(read_until("session.updated", 10), 12)
        instructions = str(call.machine.session.get("instructions"))  # type: ignore[union-attr]
        assert instructions.startswith("GATEWAY RULES.") and "pirate" in instructions
        await asyncio.wait_for(caller.channel_open.wait(), 10)
        caller.mic.say(900)
        await asyncio.wait_for(read_until("response.done", 20), 22)
        assert "input_audio_buffer.speech_started" in seen and "response.done" in seen
        async with httpx.AsyncClient(base_url=gw.http_url) as http:
            hung = await http.post(f"/v1/realtime/calls/{upstream_id}/hangup", headers={"Authorization": f"Bearer {gw.key}"})
        assert hung.status_code == 200
        await wait_status(call, CallStatus.ENDED, timeout=5)
        async for _ in conn:  # the gateway closes the watcher when the call ends
            pass
    await caller.close()


async def test_a_sideband_is_refused_to_other_tenants_client_secrets_and_unknown_calls(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Another tenant's key and an unknown id get HTTP 404, a client secret 403 (an unknown one 401); the call is
    untouched and no upstream call or session is opened for any of them."""
    env = calls_env(calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller, session_id, upstream_id = await _call(gw, calls_emulator)
    other = str((await asyncio.to_thread(create_key, redis_url, redis_prefix))["secret"])  # tenant "acme"
    async with httpx.AsyncClient(base_url=gw.http_url) as http:
        minted = await http.post("/v1/realtime/client_secrets", headers={"Authorization": f"Bearer {gw.key}"},
                                 json={"session": {"type": "realtime", "model": "gpt-realtime-2"}})
    assert minted.status_code == 200, minted.text
    cases = [(other, session_id, 404), (other, upstream_id, 404), (gw.key, "rtc_nothing", 404),
             (minted.json()["value"], session_id, 403), ("ek_not_a_secret", session_id, 401)]
    for key, call_id, status in cases:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{gw.ws_base}/realtime?call_id={call_id}",
                                          additional_headers={"Authorization": f"Bearer {key}"}):
                pass
        assert refused.value.response.status_code == status, (key[:6], call_id)
        assert b'"error"' in refused.value.response.body
    assert calls_emulator.calls.calls[upstream_id].status is CallStatus.ACTIVE
    assert len([c for c in calls_emulator.calls.calls.values()]) == 1
    await caller.close()


async def test_the_sip_tenants_server_hears_a_sip_call_on_its_sideband_and_refers_it(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """A SIP call accepted by policy: the SIP tenant's key attaches by the upstream call id and hears the caller's
    turn; POST /v1/realtime/calls/{id}/refer transfers the call; the watcher is closed."""
    policy = tmp_path / "sip.yaml"
    policy.write_text(POLICY % "30")
    env = calls_env(calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_WEBHOOK_SECRET=SECRET,
                    VOICE_GATEWAY_POLICY_FILES=str(policy), VOICE_GATEWAY_SIP_TENANT="default")
    gw = gateway_factory(env=env)
    call, _ = await ring(calls_emulator, gw, {"From": "<sip:+15553334444@trunk>"}, speak_ms=0)
    assert call.status is CallStatus.ACTIVE
    seen: list[str] = []
    async with websockets.connect(f"{gw.ws_base}/realtime?call_id={call.call_id}",
                                  additional_headers={"Authorization": f"Bearer {gw.key}"}) as ws:
        async with httpx.AsyncClient(base_url=calls_emulator.calls_url) as http:
            spoke = await http.post(f"/_emulator/sip/calls/{call.call_id}/speak", json={"ms": 900})
            assert spoke.status_code == 200, spoke.text
        while "response.done" not in seen:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), 20))["type"])
        async with httpx.AsyncClient(base_url=gw.http_url) as http:
            referred = await http.post(f"/v1/realtime/calls/{call.call_id}/refer", json={"target_uri": "tel:+15550002222"},
                                       headers={"Authorization": f"Bearer {gw.key}"})
        assert referred.status_code == 200, referred.text
        await wait_status(call, CallStatus.REFERRED, timeout=5)
        assert call.refer_target == "tel:+15550002222"
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert "input_audio_buffer.speech_started" in seen
