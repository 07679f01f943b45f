"""The calls API for a call's owner through the gateway: hang up and refer a live call; accept/reject refused.

A server that placed a call through the gateway (``Location: /v1/realtime/calls/<id>``) ends it with
``POST /v1/realtime/calls/<id>/hangup``, as it would on OpenAI; the gateway ends the session (recorded as
``call_hung_up``) and hangs the upstream call up through the calls API. Only a gateway key of the call's tenant may.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets

from gateway.emulator import EmulatorHandle
from gateway.emulator.calls.call import CallStatus
from tests.integration.calls.conftest import calls_env, policy_file
from tests.integration.calls.test_direct_webrtc import place_call, upstream_call, wait_status
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.keys_support import create_key
from tests.integration.test_caps_e2e import session_records
from tests.support.rtc import RtcCaller

pytestmark = pytest.mark.redis


async def _post(gw: GatewayProcess, path: str, key: str, body: object | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.http_url, timeout=10) as http:
        return await http.post(path, json=body, headers={"Authorization": f"Bearer {key}"})


async def _placed(gw: GatewayProcess, emulator: EmulatorHandle) -> tuple[RtcCaller, str, str]:
    """A direct call placed through the gateway: the caller, the gateway's call path, the upstream call id."""
    caller = RtcCaller()
    reply = await place_call(gw, caller, {"type": "realtime", "model": "gpt-realtime-2"})
    assert reply.status_code == 201, reply.text
    call = await upstream_call(emulator)
    return caller, reply.headers["location"], call.call_id


async def test_the_owner_hangs_up_a_direct_call_by_its_location(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """POST <Location>/hangup with the placing key: 200, the upstream call ends by the API, record ``call_hung_up``."""
    env = calls_env(calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller, location, upstream_id = await _placed(gw, calls_emulator)
    answer = await _post(gw, f"{location}/hangup", gw.key)
    assert answer.status_code == 200 and answer.content == b""
    call = calls_emulator.calls.calls[upstream_id]
    await wait_status(call, CallStatus.ENDED, timeout=5)
    assert call.ended_by == "api"
    [record] = await asyncio.to_thread(session_records, redis_url, redis_prefix, timeout_s=10)
    assert record["end_reason"] == "call_hung_up" and record["transport"] == "webrtc-direct"
    again = await _post(gw, f"{location}/hangup", gw.key)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    await caller.close()


async def test_a_call_is_found_by_its_upstream_id_and_refused_to_other_tenants_and_client_secrets(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Another tenant's key gets 404 (as for no call), an ``ek_`` 403, accept/reject 409; the upstream id works."""
    env = calls_env(calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller, location, upstream_id = await _placed(gw, calls_emulator)
    other = str((await asyncio.to_thread(create_key, redis_url, redis_prefix))["secret"])  # tenant "acme"
    foreign = await _post(gw, f"{location}/hangup", other)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    secret = await _post(gw, f"{location}/hangup", "ek_not_a_server_key")
    assert secret.status_code == 403
    for act in ("accept", "reject"):
        refused = await _post(gw, f"/v1/realtime/calls/{upstream_id}/{act}", gw.key, {})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "call_controlled_by_gateway"
    bad_refer = await _post(gw, f"/v1/realtime/calls/{upstream_id}/refer", gw.key, {"target_uri": "http://evil"})
    assert bad_refer.status_code == 400 and bad_refer.json()["error"]["param"] == "target_uri"
    call = calls_emulator.calls.calls[upstream_id]
    assert call.status is CallStatus.ACTIVE  # none of the refusals touched it
    assert (await _post(gw, f"/v1/realtime/calls/{upstream_id}/hangup", gw.key)).status_code == 200
    await wait_status(call, CallStatus.ENDED, timeout=5)
    await caller.close()


async def test_a_websocket_session_is_not_a_call(gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle,
                                                 redis_url: str, redis_prefix: str) -> None:
    """A hang-up naming a live WebSocket session's id is a 404: only calls are ended through the calls API."""
    gw = gateway_factory(env=calls_env(calls_emulator, redis_url, redis_prefix))
    async with websockets.connect(f"{gw.ws_base}/realtime?model=gpt-realtime-2",
                                  additional_headers={"Authorization": f"Bearer {gw.key}"}) as ws:
        session_id = ws.response.headers["x-voice-gateway-session-id"]
        await ws.recv()
        answer = await _post(gw, f"/v1/realtime/calls/{session_id}/hangup", gw.key)
        assert answer.status_code == 404
