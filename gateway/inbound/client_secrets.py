"""OpenAI-compatible client secrets: an app backend trades its gateway key for a one-session browser credential.

``POST /v1/realtime/client_secrets`` and ``POST /v1/realtime/translations/client_secrets`` answer in
OpenAI's GA shape (``value``, ``expires_at``, ``session``); ``POST /v1/realtime/sessions`` in the beta
shape (the session with ``client_secret: {value, expires_at}``). The secret is bound to the minting
key, its tenant and the validated session configuration; it opens exactly one session.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from gateway.core import dialect as beta
from gateway.core.errors import AuthenticationFailed, Forbidden, GatewayError, InvalidJson, InvalidRequest
from gateway.core.api_keys import KeyRecord, SecretBinding
from gateway.core.overrides import apply_to_session
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.inbound import session_config as sc
from gateway.keys.static import KeyVerifier
from gateway.inbound.setup import build_request, check_decision
from gateway.inbound.services import InboundServices

CLIENT_SECRET_PREFIX = "ek_"
JsonObject = dict[str, object]


class SecretMinter(Protocol):
    async def mint(self, record: KeyRecord, session: Mapping[str, object], ttl_s: int, binding: SecretBinding) -> str: ...


@dataclass(frozen=True, slots=True)
class ClientSecretServices:
    """Put on ``app.state.client_secrets``: long-lived keys only (never ``ek_``), and the secret store."""

    api_keys: KeyVerifier
    minter: SecretMinter
    wall: Callable[[], float] = time.time


# --- response models (documented in the OpenAPI schema) ---------------------------------------------


class ClientSecretResponse(BaseModel):
    """OpenAI's ``ClientSecretCreateResponse``."""

    value: str
    expires_at: int
    session: JsonObject


class TranslationClientSecretResponse(BaseModel):
    """OpenAI's ``RealtimeTranslationClientSecretCreateResponse``."""

    value: str
    expires_at: int
    session: JsonObject


class ErrorResponse(BaseModel):
    error: JsonObject


_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Invalid request or session configuration"},
    401: {"model": ErrorResponse, "description": "Missing or invalid gateway API key"},
    403: {"model": ErrorResponse, "description": "A client secret or a key not allowed this route"},
    429: {"model": ErrorResponse, "description": "Too many failed authentications from this address"},
}


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.http_body(), status_code=exc.http_status)


async def _minting_key(request: Request, cs: ClientSecretServices) -> KeyRecord:
    """The gateway key in ``Authorization: Bearer``; client secrets are refused here."""
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not secret:
        raise AuthenticationFailed("Missing gateway API key: send 'Authorization: Bearer <key>'.")
    if secret.startswith(CLIENT_SECRET_PREFIX):
        raise Forbidden("A client secret cannot be used to create client secrets.")
    key = await cs.api_keys.verify(secret)
    if key is None:
        raise AuthenticationFailed()
    if key.browser:
        raise Forbidden("A client secret cannot be used to create client secrets.")
    return key


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson("The request body is not valid JSON.") from exc


def _validate(model: type[BaseModel], body: object) -> BaseModel:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise sc.request_error(exc, body) from None


def bind_session(svc: InboundServices, key: KeyRecord, endpoint: EndpointKind, session: JsonObject) -> SecretBinding:
    """Route the bound session now: a secret for a route the key may not use, or a configuration the route
    forbids, is refused at once; the secret will open only the routed kind of session on the routed model."""
    model = session.get("model")
    query = {"model": model} if isinstance(model, str) else {}
    path = "/v1/realtime/translations" if endpoint is EndpointKind.TRANSLATIONS else "/v1/realtime"
    request = build_request(endpoint, path, {}, query, key, Dialect.GA)
    if session.get("type") == "transcription":
        request = dataclasses.replace(request, declared_intent=SessionKind.TRANSCRIPTION.value)
    request = dataclasses.replace(request, first_session_update=dict(session))
    decision = svc.router.decide(request)
    check_decision(svc, request, decision, key)
    route = decision.route
    assert route is not None
    apply_to_session(copy.deepcopy(session), route.overrides, route.kind)  # refuses tools or instructions the route forbids
    return SecretBinding(
        endpoint=endpoint, kind=route.kind, model=route.model, requested_model=model if isinstance(model, str) else None
    )


def _session_id() -> str:
    return "sess_" + secrets.token_urlsafe(15).replace("-", "A").replace("_", "B")


async def _mint(request: Request, key: KeyRecord, endpoint: EndpointKind, parsed: BaseModel) -> tuple[str, int, JsonObject, str]:
    """Route, bind and store: (secret, expires_at, requested session, routed model)."""
    cs: ClientSecretServices = request.app.state.client_secrets
    svc: InboundServices = request.app.state.services
    session = sc.dump(parsed.session)  # type: ignore[attr-defined]
    ttl = int(parsed.expires_after.seconds)  # type: ignore[attr-defined]
    binding = bind_session(svc, key, endpoint, session)
    value = await cs.minter.mint(key, session, ttl, binding)
    return value, int(cs.wall()) + ttl, session, binding.model


def client_secrets_router() -> APIRouter:
    """The client-secret endpoints; services are read from ``app.state`` at request time."""
    router = APIRouter(tags=["client secrets"])

    @router.post(
        "/v1/realtime/client_secrets",
        response_model=ClientSecretResponse,
        responses=_ERRORS,
        summary="Create a one-session client secret (OpenAI GA shape) for a realtime or transcription session",
    )
    async def create_client_secret(request: Request) -> JSONResponse:
        try:
            key = await _minting_key(request, request.app.state.client_secrets)
            parsed = _validate(sc.ClientSecretRequest, await _body(request))
            value, expires_at, session, model = await _mint(request, key, EndpointKind.REALTIME, parsed)
        except GatewayError as exc:
            return _error(exc)
        sid = _session_id()
        if session.get("type") == "transcription":
            effective = sc.effective_transcription(session, sid)
        else:
            effective = sc.effective_realtime(session, sid, model)
        return JSONResponse({"value": value, "expires_at": expires_at, "session": effective})

    @router.post(
        "/v1/realtime/translations/client_secrets",
        response_model=TranslationClientSecretResponse,
        responses=_ERRORS,
        summary="Create a one-session client secret for a translation session",
    )
    async def create_translation_client_secret(request: Request) -> JSONResponse:
        try:
            key = await _minting_key(request, request.app.state.client_secrets)
            parsed = _validate(sc.TranslationClientSecretRequest, await _body(request))
            value, expires_at, session, model = await _mint(request, key, EndpointKind.TRANSLATIONS, parsed)
        except GatewayError as exc:
            return _error(exc)
        effective = sc.effective_translation(session, _session_id(), model, expires_at)
        return JSONResponse({"value": value, "expires_at": expires_at, "session": effective})

    @router.post(
        "/v1/realtime/sessions",
        responses=_ERRORS,
        summary="Beta: create a realtime session object with a nested client_secret",
    )
    async def create_beta_session(request: Request) -> JSONResponse:
        try:
            key = await _minting_key(request, request.app.state.client_secrets)
            parsed = _validate(sc.ClientSecretRequest, _beta_to_ga(await _body(request)))
            value, expires_at, session, model = await _mint(request, key, EndpointKind.REALTIME, parsed)
        except GatewayError as exc:
            return _error(exc)
        effective = sc.effective_realtime(session, _session_id(), model)
        created = beta.ga_server_event_to_beta({"type": "session.created", "session": effective}, SessionKind.REALTIME)
        body = dict(created["session"]) if created and isinstance(created.get("session"), dict) else {}  # type: ignore[call-overload]
        body["client_secret"] = {"value": value, "expires_at": expires_at}
        return JSONResponse(body)

    return router


def _beta_to_ga(body: object) -> object:
    """A beta session-create body (flat session, ``client_secret.expires_after``) → the GA request shape."""
    if not isinstance(body, dict):
        return body
    rest = dict(body)
    client_secret = rest.pop("client_secret", None)
    model = rest.pop("model", None)
    event = beta.beta_client_event_to_ga({"type": "session.update", "session": rest}, SessionKind.REALTIME)
    session = dict(event["session"]) if event and isinstance(event.get("session"), dict) else {}  # type: ignore[call-overload]
    if model is not None:
        session["model"] = model
    ga: JsonObject = {"session": session}
    if isinstance(client_secret, dict) and client_secret.get("expires_after") is not None:
        expires_after = client_secret["expires_after"]
        ga["expires_after"] = {"anchor": "created_at", **expires_after} if isinstance(expires_after, dict) else expires_after
    return ga
