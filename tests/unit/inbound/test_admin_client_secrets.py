"""The client-secret endpoints on an app of their own: OpenAI's shapes, validation, auth and CORS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import fakeredis
import httpx
import pytest
from fastapi import FastAPI

from gateway.keys.client_secrets import ClientSecretStore
from gateway.keys.keyring import ApiKeys, GatewayVerifier, Keyring
from gateway.store.client_secrets import RedisSecretSlots
from gateway.store.keyring import RedisKeyRecords
from gateway.store.keyspace import KeySpace
from gateway.adapters import PolicyRouter
from gateway.core.catalog import Catalog
from gateway.core.ratelimit import LocalFailureLimiter
from gateway.inbound.cors import ScopedCORS
from gateway.inbound.client_secrets import ClientSecretServices, client_secrets_router
from gateway.keys.static import StaticKeys
from gateway.policy.catalog import compile_catalog, read_catalog
from gateway.policy.holder import PolicyHolder
from tests.support.services import gateway_services

REPO = Path(__file__).resolve().parents[3]
KEY = "vg_unit_test_key_0123456789"
ORIGIN = "https://app.example.com"


@dataclass
class _Services:
    """The InboundServices fields the client-secret routes use."""

    catalog: Catalog
    router: PolicyRouter
    api_keys: ApiKeys


@dataclass
class Env:
    http: httpx.AsyncClient
    verifier: GatewayVerifier
    wall: list[float]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    catalog = compile_catalog(read_catalog(REPO / "config" / "models.yaml"), emulator_url="ws://127.0.0.1:9")
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    keys = KeySpace(f"t{uuid.uuid4().hex[:8]}")
    keyring = Keyring(RedisKeyRecords(redis, keys))
    store = ClientSecretStore(RedisSecretSlots(redis, keys), key_active=keyring.is_active)
    verifier = GatewayVerifier(ApiKeys(StaticKeys([KEY]), keyring), store)
    wall = [1_800_000_000.0]
    app = FastAPI()
    app.include_router(client_secrets_router())
    inbound = _Services(catalog, PolicyRouter(PolicyHolder([REPO / "policies" / "default.yaml"], catalog)), verifier.api_keys)
    app.state.services = gateway_services(
        inbound,
        limiter=LocalFailureLimiter(max_failures=5, window_s=60),
        client_secrets=ClientSecretServices(minter=store, wall=lambda: wall[0]),
    )
    app.add_middleware(ScopedCORS, paths=["/v1/realtime/client_secrets", "/v1/realtime/translations/client_secrets", "/v1/realtime/sessions"], allow_origins=[ORIGIN])
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield Env(client, verifier, wall)
    await redis.aclose()


def _auth(key: str = KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_realtime_secret_has_openai_ga_shape_and_opens_one_session(env: Env) -> None:
    """The response validates as the SDK's ClientSecretCreateResponse; the secret verifies once with the session bound."""
    from openai.types.realtime import ClientSecretCreateResponse

    body = {"expires_after": {"anchor": "created_at", "seconds": 120},
            "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}}
    response = await env.http.post("/v1/realtime/client_secrets", json=body, headers=_auth())
    assert response.status_code == 200, response.text
    parsed = ClientSecretCreateResponse.model_validate(response.json())
    assert parsed.value.startswith("ek_") and parsed.expires_at == int(env.wall[0]) + 120
    session = response.json()["session"]
    assert session["type"] == "realtime" and session["object"] == "realtime.session" and session["id"].startswith("sess_")
    assert session["instructions"] == "Be brief." and session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["model"]  # the routed model
    record = await env.verifier.verify(parsed.value)
    assert record is not None and record.browser and record.tenant == "default"
    assert dict(record.bound_session or {}) == body["session"]
    assert await env.verifier.verify(parsed.value) is None


async def test_default_request_is_a_realtime_session_expiring_in_ten_minutes(env: Env) -> None:
    """An empty body gets a realtime session and a 600 s expiry, as OpenAI documents."""
    response = await env.http.post("/v1/realtime/client_secrets", headers=_auth())
    assert response.status_code == 200, response.text
    assert response.json()["expires_at"] == int(env.wall[0]) + 600
    assert response.json()["session"]["type"] == "realtime"


async def test_transcription_secret_has_the_transcription_session_shape(env: Env) -> None:
    """A transcription session config returns a realtime.transcription_session object."""
    from openai.types.realtime import ClientSecretCreateResponse

    body = {"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}}}}
    response = await env.http.post("/v1/realtime/client_secrets", json=body, headers=_auth())
    assert response.status_code == 200, response.text
    parsed = ClientSecretCreateResponse.model_validate(response.json())
    assert parsed.session.type == "transcription"
    assert response.json()["session"]["audio"]["input"]["transcription"] == {"model": "gpt-realtime-whisper"}


async def test_translation_secret_has_the_translation_shape(env: Env) -> None:
    """The translations endpoint answers RealtimeTranslationClientSecretCreateResponse."""
    from openai.types.realtime import RealtimeTranslationClientSecretCreateResponse

    body = {"session": {"model": "gpt-realtime-translate", "audio": {"output": {"language": "es"}}}}
    response = await env.http.post("/v1/realtime/translations/client_secrets", json=body, headers=_auth())
    assert response.status_code == 200, response.text
    parsed = RealtimeTranslationClientSecretCreateResponse.model_validate(response.json())
    assert parsed.session.type == "translation" and parsed.session.audio.output and parsed.session.audio.output.language == "es"
    assert parsed.session.model == "gpt-realtime-translate"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"session": {"type": "realtime", "audio": {"output": {"voice": 7}}}}, "invalid_value", "session.audio.output.voice"),
        ({"session": {"type": "realtime", "temperature": 0.8}}, "unknown_parameter", "session.temperature"),
        ({"session": {"type": "video"}}, "invalid_value", "session"),
        ({"expires_after": {"anchor": "created_at", "seconds": 5}}, "invalid_value", "expires_after.seconds"),
        ({"expires_after": {"anchor": "created_at", "seconds": 7201}}, "invalid_value", "expires_after.seconds"),
        ({"session": {"type": "realtime", "tools": [{"type": "function"}]}}, "missing_required_parameter", "session.tools[0].name"),
    ],
)
async def test_invalid_session_configuration_is_a_400_in_openai_shape(env: Env, body: dict[str, object], code: str, param: str) -> None:
    """Each invalid configuration gets 400 with error.type invalid_request_error, a code and the param path."""
    response = await env.http.post("/v1/realtime/client_secrets", json=body, headers=_auth())
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)


async def test_translation_without_session_is_a_400(env: Env) -> None:
    """The translations endpoint requires a session with a model."""
    response = await env.http.post("/v1/realtime/translations/client_secrets", json={}, headers=_auth())
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "session"


async def test_malformed_json_and_an_unknown_model_are_400s(env: Env) -> None:
    """A body that is not JSON, and a model the gateway does not serve, are refused with 400."""
    bad = await env.http.post("/v1/realtime/client_secrets", content=b"{nope", headers={**_auth(), "content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    unknown = await env.http.post("/v1/realtime/client_secrets", json={"session": {"type": "realtime", "model": "gpt-nope"}}, headers=_auth())
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_model"


async def test_missing_forged_and_client_secret_bearers_are_refused(env: Env) -> None:
    """No key or a forged key → 401; a client secret cannot mint another one (403) and is not used up."""
    assert (await env.http.post("/v1/realtime/client_secrets")).status_code == 401
    forged = await env.http.post("/v1/realtime/client_secrets", headers=_auth(KEY + "x"))
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_api_key"
    minted = (await env.http.post("/v1/realtime/client_secrets", headers=_auth())).json()["value"]
    refused = await env.http.post("/v1/realtime/client_secrets", headers=_auth(minted))
    assert refused.status_code == 403
    assert await env.verifier.verify(minted) is not None


async def test_beta_sessions_endpoint_nests_the_client_secret(env: Env) -> None:
    """POST /v1/realtime/sessions answers the beta shape: flat session plus client_secret {value, expires_at}."""
    body = {"model": "gpt-realtime-2", "voice": "verse", "modalities": ["audio", "text"], "instructions": "hi"}
    response = await env.http.post("/v1/realtime/sessions", json=body, headers=_auth())
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["object"] == "realtime.session" and data["voice"] == "verse" and data["instructions"] == "hi"
    assert data["client_secret"]["value"].startswith("ek_") and data["client_secret"]["expires_at"] == int(env.wall[0]) + 600
    record = await env.verifier.verify(data["client_secret"]["value"])
    assert record is not None and (record.bound_session or {}).get("audio") == {"output": {"voice": "verse"}}


async def test_cors_follows_the_allowed_origins(env: Env) -> None:
    """A preflight from an allowed Origin is answered; from another Origin it is not allowed."""
    headers = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}
    ok = await env.http.options("/v1/realtime/client_secrets", headers={**headers, "origin": ORIGIN})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    bad = await env.http.options("/v1/realtime/client_secrets", headers={**headers, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers
    post = await env.http.post("/v1/realtime/client_secrets", headers={**_auth(), "origin": ORIGIN})
    assert post.headers["access-control-allow-origin"] == ORIGIN


async def test_repeated_failures_from_one_address_get_429(env: Env) -> None:
    """After 5 failed authentications the address gets 429, even with a valid key, until the window ends."""
    for _ in range(5):
        assert (await env.http.post("/v1/realtime/client_secrets", headers=_auth("vg_wrong"))).status_code == 401
    blocked = await env.http.post("/v1/realtime/client_secrets", headers=_auth())
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limit_exceeded"
