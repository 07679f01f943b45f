"""The /admin API on an app of its own: off without a token, admin-token auth, sessions, policies, records, page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import AsyncIterator

import fakeredis
import httpx
import pytest
from fastapi import FastAPI

from gateway.directory.service import DirectoryHooks, SessionDirectory
from gateway.store.accounting_store import AccountingStore
from gateway.store.directory import RedisDirectoryBoard
from gateway.store.keyspace import KeySpace
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionEnded, SessionInfo, SessionStats
from gateway.core.routing import Caps, Route, RouteDecision
from gateway.inbound.admin import AdminServices, admin_router
from tests.support.services import gateway_services

TOKEN = "admin-token-for-unit-tests"


@dataclasses.dataclass
class Status:
    version: str
    loaded_at: float
    last_error: str | None


def _info(session_id: str) -> SessionInfo:
    caps = Caps(max_cost_micros=1_000_000, max_duration_s=300.0)
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("emulator",), name="voice", caps=caps)
    return SessionInfo(session_id=session_id, endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="voice", reason="r", route=route), route=route,
                       tenant="acme", key_id="key_a", caps=caps)


@dataclass
class Env:
    http: httpx.AsyncClient
    directory: SessionDirectory
    ended: list[str]
    reloads: list[int]


#: an ended voice-agent session's record: two turns, the first with its turn span id
ENDED_RECORD = {
    "session_id": "vgs_ended", "kind": "realtime", "route": "voice", "model_served": "gpt-realtime-2",
    "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:05.000Z", "duration_s": "5.000",
    "cost_micros": "30", "end_reason": "client_closed", "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "turns": '[{"n":1,"kind":"response","trigger":"speech","start_ms":0,"end_ms":900,"status":"completed",'
             '"cost_micros":10,"total_micros":10,"span_id":"00f067aa0ba902b7"},'
             '{"n":2,"kind":"response","trigger":"speech","start_ms":1000,"end_ms":1900,"status":"completed",'
             '"cost_micros":20,"total_micros":30}]',
}


def _app(token: str | None, directory: SessionDirectory, reloads: list[int], store: AccountingStore) -> FastAPI:
    async def records(count: int, before: str | None = None) -> list[dict[str, str]]:
        return await store.recent_records(count, before)

    def reload() -> Status:
        reloads.append(1)
        return Status("v2", 20.0, None)

    app = FastAPI()
    app.include_router(admin_router(token))
    app.state.services = gateway_services(admin=AdminServices(
        directory=directory, recent_records=records, reload_policies=reload,
        policy_status=lambda: {"version": "v1", "loaded_at": 10.0, "last_error": "bad yaml at line 3"},
        jaeger_ui_url="http://jaeger.local:16686/", wall=lambda: 1_000_030.0,
    ))
    return app


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    ended: list[str] = []
    reloads: list[int] = []
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    directory: SessionDirectory

    def end_local(session_id: str) -> bool:
        if directory.find is None or session_id not in directory._local:  # noqa: SLF001
            return False
        ended.append(session_id)
        directory.forget(session_id)
        return True

    directory = SessionDirectory(RedisDirectoryBoard(redis, KeySpace("adm")), DirectoryHooks(end_local=end_local, live_spend=lambda s: 250_000,
                                 trace_id_of=lambda s: "0af7651916cd43dd8448eb211c80319c"), replica_id="r1", wall=lambda: 1_000_000.0)
    store = AccountingStore(redis, KeySpace("adm"), kind="memory")
    await redis.xadd(store.keys.records, ENDED_RECORD, id="999000-0")  # the oldest: behind 1,200 newer ones
    for i in range(1200):
        await redis.xadd(store.keys.records, {"session_id": f"vgs_old{i}", "cost_micros": "10"}, id=f"{1_000_000 + i}-0")
    transport = httpx.ASGITransport(app=_app(TOKEN, directory, reloads, store))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield Env(client, directory, ended, reloads)
    await redis.aclose()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_without_an_admin_token_every_admin_route_is_404() -> None:
    """No VOICE_GATEWAY_ADMIN_TOKEN: the admin API and page do not exist, whatever is presented."""
    redis = fakeredis.FakeAsyncRedis()
    directory = SessionDirectory(RedisDirectoryBoard(redis, KeySpace("off")), DirectoryHooks(end_local=lambda s: False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(None, directory, [], AccountingStore(redis, KeySpace("off"), kind="memory"))), base_url="http://gw") as client:
        for method, path in [("GET", "/admin/sessions"), ("GET", "/admin/ui"), ("POST", "/admin/policies/reload"),
                             ("GET", "/admin/records"), ("POST", "/admin/sessions/x/end")]:
            response = await client.request(method, path, headers=_auth())
            assert response.status_code == 404, path


async def test_a_client_key_or_no_token_is_401(env: Env) -> None:
    """A gateway API key, a wrong token or none at all is refused with 401 in OpenAI's error shape."""
    for headers in ({}, _auth("vg_a_client_key"), _auth(TOKEN + "x"), {"authorization": TOKEN}):
        response = await env.http.get("/admin/sessions", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


async def test_live_sessions_are_listed_with_spend_caps_and_trace_links(env: Env) -> None:
    """GET /admin/sessions lists published sessions with duration, spend, caps and a Jaeger link."""
    observer = env.directory.create(_info("vgs_1"), 0.0)
    await observer.on_tick(1.0, SessionStats(started_at=0.0, last_activity_at=0.0, responses=3))
    await env.directory.publish()
    response = await env.http.get("/admin/sessions", headers=_auth())
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 1 and data["replicas"] == ["r1"]
    session = data["sessions"][0]
    assert session["session_id"] == "vgs_1" and session["tenant"] == "acme" and session["route"] == "voice"
    assert session["duration_s"] == 30.0 and session["spend_micros"] == 250_000 and session["spend_usd"] == "0.250000"
    assert session["caps"]["max_cost_micros"] == 1_000_000 and session["responses"] == 3
    assert session["trace_url"] == "http://jaeger.local:16686/trace/0af7651916cd43dd8448eb211c80319c"
    one = await env.http.get("/admin/sessions/vgs_1", headers=_auth())
    assert one.status_code == 200 and one.json()["model"] == "gpt-realtime-2"


async def test_ending_a_session_and_an_unknown_one(env: Env) -> None:
    """Ending a live session answers ended; an unknown id (or the detail of one) is 404."""
    env.directory.create(_info("vgs_1"), 0.0)
    await env.directory.publish()
    response = await env.http.post("/admin/sessions/vgs_1/end", headers=_auth())
    assert response.status_code == 200
    assert response.json() == {"session_id": "vgs_1", "status": "ended", "replica": "r1"}
    assert env.ended == ["vgs_1"]
    missing = await env.http.post("/admin/sessions/vgs_nope/end", headers=_auth())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await env.http.get("/admin/sessions/vgs_nope", headers=_auth())).status_code == 404


async def test_policy_status_reload_and_records(env: Env) -> None:
    """Policy status and reload come from the injected callables; records from the accounting stream."""
    status = await env.http.get("/admin/policies", headers=_auth())
    assert status.json()["version"] == "v1" and status.json()["last_error"] == "bad yaml at line 3"
    reloaded = await env.http.post("/admin/policies/reload", headers=_auth())
    assert reloaded.status_code == 200 and reloaded.json()["version"] == "v2" and env.reloads == [1]
    records = await env.http.get("/admin/records?count=2", headers=_auth())
    assert [r["session_id"] for r in records.json()["records"]] == ["vgs_old1199", "vgs_old1198"]
    assert (await env.http.get("/admin/records?count=0", headers=_auth())).status_code == 422


async def test_the_page_is_served_without_the_token_and_fetches_sessions(env: Env) -> None:
    """/admin/ui is one static HTML page (it asks for the token itself) polling /admin/sessions."""
    page = await env.http.get("/admin/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/admin/sessions" in page.text and "sessionStorage" in page.text


async def test_admin_routes_are_in_the_openapi_schema_with_response_models(env: Env) -> None:
    """The admin routes appear in /openapi.json with their response schemas."""
    schema = (await env.http.get("/openapi.json")).json()
    assert "/admin/sessions" in schema["paths"] and "/admin/sessions/{session_id}/end" in schema["paths"]
    assert "LiveSessionView" in schema["components"]["schemas"]
    assert "/admin/ui" not in schema["paths"]


async def test_the_end_observer_path_clears_the_entry(env: Env) -> None:
    """A session that ends on its own leaves the listing after the next publish."""
    observer = env.directory.create(_info("vgs_2"), 0.0)
    await env.directory.publish()
    stats = SessionStats(started_at=0.0, last_activity_at=0.0)
    await observer.on_end(SessionEnded(at=1.0, reason="client_closed"), stats)
    await env.directory.publish()
    assert (await env.http.get("/admin/sessions", headers=_auth())).json()["count"] == 0


async def test_an_ended_timeline_links_each_turn_to_its_own_span(env: Env) -> None:
    """An ended session older than the newest 1,000 records is found; a turn whose record names its span links to
    it inside the session's trace; one without, to nothing."""
    timeline = (await env.http.get("/admin/sessions/vgs_ended/timeline", headers=_auth())).json()
    first, second = timeline["turns"]
    trace = "http://jaeger.local:16686/trace/0af7651916cd43dd8448eb211c80319c"
    assert first["trace_url"] == f"{trace}?uiFind=00f067aa0ba902b7" and second["trace_url"] is None
    assert timeline["trace_url"] == trace


async def test_ended_sessions_page_back_by_time_through_the_retention(env: Env) -> None:
    """/admin/records pages newest → oldest with next_before; the last page says there is nothing older."""
    first = (await env.http.get("/admin/records?count=1000", headers=_auth())).json()
    assert first["records"][0]["session_id"] == "vgs_old1199" and first["next_before"] == "1000200-0"
    second = (await env.http.get(f"/admin/records?count=1000&before={first['next_before']}", headers=_auth())).json()
    assert [r["session_id"] for r in second["records"]][-1] == "vgs_ended" and second["next_before"] is None
    assert len(first["records"]) + len(second["records"]) == 1201
    assert (await env.http.get("/admin/records?before=not-an-id", headers=_auth())).status_code == 422
