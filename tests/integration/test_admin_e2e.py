"""The admin API across two real gateway replicas sharing a real Redis: list, detail, end, policies, records."""

from __future__ import annotations

import asyncio
from typing import Iterator

import httpx
import pytest

from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.keys_support import ADMIN_TOKEN, cleanup, close_code, new_prefix, next_event, session, start

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = new_prefix()
    yield name
    cleanup(redis_url, name)


def _admin(gw: GatewayProcess, token: str = ADMIN_TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.http_url, headers={"authorization": f"Bearer {token}"}, timeout=10)


async def _listed(admin: httpx.AsyncClient, session_id: str, timeout: float = 6.0) -> dict[str, object]:
    """Poll /admin/sessions until the session appears (replicas publish every ~2 s)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for entry in (await admin.get("/admin/sessions")).json()["sessions"]:
            if entry["session_id"] == session_id:
                return entry  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"session {session_id} never listed")


async def test_a_session_on_one_replica_is_listed_and_ended_from_the_other(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """Replica A lists B's live session (tenant, route, model, caps) and ends it: B's client closes with 4105."""
    a = start(gateway_factory, redis_url, prefix, VOICE_GATEWAY_MAX_SESSION_USD="2")
    b = start(gateway_factory, redis_url, prefix, VOICE_GATEWAY_MAX_SESSION_USD="2")
    async with session(b, b.key) as ws, _admin(a) as admin:
        session_id = ws.response.headers["x-voice-gateway-session-id"]
        await next_event(ws, "session.created")
        entry = await _listed(admin, session_id)
        assert entry["tenant"] == "default" and entry["model"] == "gpt-realtime-2" and entry["kind"] == "realtime"
        assert entry["caps"]["max_cost_micros"] == 2_000_000  # type: ignore[index]
        assert entry["duration_s"] >= 0 and entry["spend_micros"] is not None  # type: ignore[operator]
        replicas = (await admin.get("/admin/sessions")).json()["replicas"]
        assert len(replicas) == 2 and entry["replica"] in replicas
        detail = await admin.get(f"/admin/sessions/{session_id}")
        assert detail.status_code == 200 and detail.json()["replica"] == entry["replica"]
        ended = await admin.post(f"/admin/sessions/{session_id}/end")
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        assert await close_code(ws) == 4105
        again = await admin.post(f"/admin/sessions/{session_id}/end")
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
        records = (await admin.get("/admin/records", params={"count": 10})).json()["records"]
        assert any(r.get("session_id") == session_id for r in records)


async def test_ending_an_unknown_session_is_404_and_a_client_key_is_401(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """Unknown session ids are 404; a gateway API key on /admin is 401; policy status and reload answer."""
    gw = start(gateway_factory, redis_url, prefix)
    async with _admin(gw) as admin, _admin(gw, gw.key) as client_key:
        assert (await admin.post("/admin/sessions/vgs_does_not_exist/end")).status_code == 404
        assert (await client_key.get("/admin/sessions")).status_code == 401
        status = (await admin.get("/admin/policies")).json()
        assert status["version"] and status["last_error"] is None
        reloaded = await admin.post("/admin/policies/reload")
        assert reloaded.status_code == 200 and reloaded.json()["version"] == status["version"]
        schema = (await admin.get("/openapi.json")).json()
        assert "/admin/sessions/{session_id}/end" in schema["paths"] and "/v1/realtime/client_secrets" in schema["paths"]


async def test_without_an_admin_token_the_admin_api_is_off(gateway_factory: GatewayFactory) -> None:
    """A gateway without VOICE_GATEWAY_ADMIN_TOKEN answers 404 on /admin, even to its own keys."""
    gw = gateway_factory()
    async with _admin(gw, gw.key) as client:
        assert (await client.get("/admin/sessions")).status_code == 404
        assert (await client.get("/admin/ui")).status_code == 404
