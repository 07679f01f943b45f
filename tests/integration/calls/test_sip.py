"""The SIP front door through a real gateway: signed webhooks from the emulator's simulated SIP calls.

Accepted, rejected and referred by policy on the SIP headers; an accepted call followed on its
sideband and cut by its route's duration cap; forged, replayed and retried webhooks; an admin refer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from gateway.emulator import EmulatorHandle
from gateway.emulator.calls.call import CallStatus, EmulatedCall
from tests.integration.calls.conftest import calls_env
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.test_caps_e2e import session_records

pytestmark = pytest.mark.redis

SECRET = "whsec_" + "dGVzdC1zaXAtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="
ADMIN = "admin-token-for-sip-tests-0123456789"
POLICY = """version: 1
rules:
  - id: blocked
    match: {endpoint: sip, headers: {from: {glob: "*+1666*"}}}
    deny: {reason: blocked caller, sip_status: 486}
  - id: sales
    match: {endpoint: sip, headers: {x-dept: sales}}
    deny: {reason: the sales desk takes these, refer_to: "tel:+15550001111"}
  - id: phone
    match: {endpoint: sip}
    route:
      model: gpt-realtime-2
      overrides: {instructions_prefix: "PHONE AGENT."}
      caps: {max_duration_s: %s}
defaults:
  by_kind:
    realtime: {model: gpt-realtime-2}
"""


def _gateway(factory: GatewayFactory, emulator: EmulatorHandle, redis_url: str, prefix: str, tmp_path: Path,
             max_duration: str = "30") -> GatewayProcess:
    policy = tmp_path / "sip.yaml"
    policy.write_text(POLICY % max_duration)
    env = calls_env(emulator, redis_url, prefix, VOICE_GATEWAY_WEBHOOK_SECRET=SECRET,
                    VOICE_GATEWAY_POLICY_FILES=str(policy), VOICE_GATEWAY_ADMIN_TOKEN=ADMIN)
    return factory(env=env)


async def ring(emulator: EmulatorHandle, gw: GatewayProcess, headers: dict[str, str], **extra: object) -> tuple[EmulatedCall, list[int]]:
    body = {"webhook_url": f"{gw.http_url}/webhooks/openai", "webhook_secret": SECRET,
            "sip_headers": [{"name": k, "value": v} for k, v in headers.items()], **extra}
    async with httpx.AsyncClient(base_url=emulator.calls_url, timeout=20) as http:
        reply = await http.post("/_emulator/sip/calls", json=body)
    assert reply.status_code == 200, reply.text
    rung = reply.json()
    call = emulator.calls.get(rung["call_id"])
    assert call is not None
    return call, rung["delivery_statuses"]


async def until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


async def test_policy_accepts_rejects_and_refers_sip_calls_by_their_headers(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Blocked caller → 486; X-Dept: sales → referred to tel:; anyone else → accepted with the route's forced session."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path)
    blocked, statuses = await ring(calls_emulator, gw, {"From": "<sip:+16665550000@trunk>", "To": "<sip:+15550009999@x>"})
    assert statuses == [200] and blocked.status is CallStatus.REJECTED and blocked.reject_status == 486
    sales, _ = await ring(calls_emulator, gw, {"From": "<sip:+15551112222@trunk>", "X-Dept": "sales"})
    assert sales.status is CallStatus.REFERRED and sales.refer_target == "tel:+15550001111"
    taken, _ = await ring(calls_emulator, gw, {"From": "<sip:+15553334444@trunk>"})
    assert taken.status is CallStatus.ACTIVE
    assert taken.machine.session["instructions"] == "PHONE AGENT."  # type: ignore[union-attr]
    assert await until(lambda: taken.sidebands), "the gateway did not attach the sideband"
    assert await until(lambda: "response.done" in taken.sideband_events, 15), taken.sideband_events
    async with httpx.AsyncClient(base_url=calls_emulator.calls_url) as http:
        assert (await http.post(f"/_emulator/sip/calls/{taken.call_id}/caller_hangup")).status_code == 200
    [record] = await asyncio.to_thread(session_records, redis_url, redis_prefix, timeout_s=10)
    assert record["transport"] == "sip" and record["call_id"] == taken.call_id and record["tenant"] == "sip"
    assert record["route"] == "phone" and int(record["cost_micros"]) > 0


async def test_a_sip_call_is_hung_up_at_its_duration_cap(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """A 2 s route cap: the gateway hangs the call up through the calls API, within a second of the cap."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path, max_duration="2")
    call, _ = await ring(calls_emulator, gw, {"From": "<sip:+15557778888@trunk>"}, speak_ms=0)
    assert call.status is CallStatus.ACTIVE
    assert await until(lambda: call.status is CallStatus.ENDED, 6)
    assert call.ended_by == "api"
    lasted = call.ended_at - call.created_at  # type: ignore[operator]
    print(f"\nSIP duration cap 2 s: call ended {lasted:.2f} s after it rang")
    assert 2.0 <= lasted < 3.5
    [record] = await asyncio.to_thread(session_records, redis_url, redis_prefix, timeout_s=10)
    assert record["end_reason"] == "session_duration_cap_reached"


async def test_forged_replayed_and_retried_webhooks(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Wrong secret → 400, call untouched; 10-minute-old timestamp → 400; a retry (same webhook-id) acts once."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path)
    forged, statuses = await ring(calls_emulator, gw, {"From": "<sip:+15550000001@x>"},
                                  webhook_secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1ub3QtdGhlLXJlYWwtb25lISE=")
    assert statuses == [400] and forged.status is CallStatus.INCOMING
    replayed, statuses = await ring(calls_emulator, gw, {"From": "<sip:+15550000002@x>"}, timestamp=time.time() - 600)
    assert statuses == [400] and replayed.status is CallStatus.INCOMING
    retried, statuses = await ring(calls_emulator, gw, {"From": "<sip:+15550000003@x>"}, deliveries=3, speak_ms=0)
    assert statuses == [200, 200, 200] and retried.status is CallStatus.ACTIVE
    await asyncio.sleep(0.5)
    assert retried.sidebands_seen == 1  # accepted and followed once
    assert "webhook retry ignored" in gw.log_text()
    async with httpx.AsyncClient(base_url=gw.http_url) as http:
        bad = await http.post("/webhooks/openai", content=b"{}", headers={"webhook-id": "x", "webhook-timestamp": str(int(time.time())),
                                                                          "webhook-signature": "v1,AAAA"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_webhook_signature"


async def test_admin_refers_a_live_sip_call(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The admin API lists the call (transport sip) and transfers it; the upstream call is referred."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path)
    call, _ = await ring(calls_emulator, gw, {"From": "<sip:+15559990000@x>"}, speak_ms=0)
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
        sessions: list[dict[str, object]] = []
        deadline = time.monotonic() + 5
        while not sessions and time.monotonic() < deadline:
            sessions = [s for s in (await admin.get("/admin/sessions")).json()["sessions"] if s.get("call_id") == call.call_id]
            await asyncio.sleep(0.1)
        assert sessions and sessions[0]["transport"] == "sip"
        bad = await admin.post(f"/admin/sessions/{sessions[0]['session_id']}/refer", json={"target_uri": "http://x"})
        assert bad.status_code == 422 or bad.status_code == 400
        reply = await admin.post(f"/admin/sessions/{sessions[0]['session_id']}/refer", json={"target_uri": "sip:desk@pbx.example"})
        assert reply.status_code == 200, reply.text
    assert call.status is CallStatus.REFERRED and call.refer_target == "sip:desk@pbx.example"


async def test_admin_ends_a_live_sip_call_by_hanging_it_up(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Ending a call from the admin API hangs it up through the calls API and records the operator."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path)
    call, _ = await ring(calls_emulator, gw, {"From": "<sip:+15551230001@x>"}, speak_ms=0)
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 5
        while not found and time.monotonic() < deadline:
            found = [s for s in (await admin.get("/admin/sessions")).json()["sessions"] if s.get("call_id") == call.call_id]
            await asyncio.sleep(0.1)
        assert found
        reply = await admin.post(f"/admin/sessions/{found[0]['session_id']}/end")
        assert reply.status_code == 200, reply.text
    assert await until(lambda: call.status is CallStatus.ENDED)
    assert call.ended_by == "api"
    [record] = await asyncio.to_thread(session_records, redis_url, redis_prefix, timeout_s=10)
    assert record["end_reason"] == "session_ended_by_operator" and record["transport"] == "sip"
