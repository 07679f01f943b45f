"""OpenAI-compatible client secrets: an app backend trades its gateway key for a one-session browser credential.

``POST /v1/realtime/client_secrets`` and ``POST /v1/realtime/translations/client_secrets`` answer in
OpenAI's GA shape (``value``, ``expires_at``, ``session``); ``POST /v1/realtime/sessions`` in the beta
shape (the session with ``client_secret: {value, expires_at}``). The secret is bound to the minting
key, its tenant and the validated session configuration; it opens exactly one session.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from gateway.core import dialect as beta
from gateway.core.errors import GatewayError, InvalidJson, InvalidRequest
from gateway.core.api_keys import KeyRecord, SecretBinding
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.inbound import session_config as sc

if TYPE_CHECKING:  # the services object holds this module's ClientSecretServices: no runtime import
    from gateway.inbound.gateway_services import GatewayServices

from gateway.core.jsontypes import JsonObject, as_object


class SecretMinter(Protocol):
    async def mint(self, record: KeyRecord, session: Mapping[str, object], ttl_s: int, binding: SecretBinding) -> str: ...


@dataclass(frozen=True, slots=True)
class ClientSecretServices:
    """What the client-secret endpoints need besides the handshake service: the secret store."""

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


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson("The request body is not valid JSON.") from exc


#: the two client-secret request bodies
SecretRequest = sc.ClientSecretRequest | sc.TranslationClientSecretRequest


def _validate(model: type[sc.ClientSecretRequest] | type[sc.TranslationClientSecretRequest], body: object) -> SecretRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise sc.request_error(exc, body) from None


def _session_id() -> str:
    return "sess_" + secrets.token_urlsafe(15).replace("-", "A").replace("_", "B")


async def _mint(
    services: GatewayServices, key: KeyRecord, endpoint: EndpointKind, parsed: sc.ClientSecretRequest | sc.TranslationClientSecretRequest
) -> tuple[str, int, JsonObject, str]:
    """Route, bind and store: (secret, expires_at, requested session, routed model)."""
    cs = services.client_secrets
    session = sc.dump(parsed.session)
    ttl = int(parsed.expires_after.seconds)
    binding = services.handshakes.route_bound_session(key, endpoint, session)
    value = await cs.minter.mint(key, session, ttl, binding)
    return value, int(cs.wall()) + ttl, session, binding.model


async def _secret_for(
    request: Request,
    endpoint: EndpointKind,
    model: type[sc.ClientSecretRequest] | type[sc.TranslationClientSecretRequest],
    adapt: Callable[[object], object] = lambda b: b,
) -> tuple[str, int, JsonObject, str] | JSONResponse:
    """Authenticate (the handshake service), validate, route and mint; a refusal is recorded and answered."""
    services: GatewayServices = request.app.state.services
    handshakes = services.handshakes
    address = request.client.host if request.client else ""
    try:
        key = await handshakes.minting_key(request.headers, address, endpoint)
        parsed = _validate(model, adapt(await _body(request)))
        return await _mint(services, key, endpoint, parsed)
    except GatewayError as exc:
        await handshakes.refused(exc, endpoint, address, request.url.path)
        return _error(exc)


def client_secrets_router() -> APIRouter:
    """The client-secret endpoints; services are read from ``app.state.services`` at request time."""
    router = APIRouter(tags=["client secrets"])

    @router.post(
        "/v1/realtime/client_secrets",
        response_model=ClientSecretResponse,
        responses=_ERRORS,
        summary="Create a one-session client secret (OpenAI GA shape) for a realtime or transcription session",
    )
    async def create_client_secret(request: Request) -> JSONResponse:
        minted = await _secret_for(request, EndpointKind.REALTIME, sc.ClientSecretRequest)
        if isinstance(minted, JSONResponse):
            return minted
        value, expires_at, session, model = minted
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
        minted = await _secret_for(request, EndpointKind.TRANSLATIONS, sc.TranslationClientSecretRequest)
        if isinstance(minted, JSONResponse):
            return minted
        value, expires_at, session, model = minted
        effective = sc.effective_translation(session, _session_id(), model, expires_at)
        return JSONResponse({"value": value, "expires_at": expires_at, "session": effective})

    @router.post(
        "/v1/realtime/sessions",
        responses=_ERRORS,
        summary="Beta: create a realtime session object with a nested client_secret",
    )
    async def create_beta_session(request: Request) -> JSONResponse:
        minted = await _secret_for(request, EndpointKind.REALTIME, sc.ClientSecretRequest, _beta_to_ga)
        if isinstance(minted, JSONResponse):
            return minted
        value, expires_at, session, model = minted
        effective = sc.effective_realtime(session, _session_id(), model)
        created = beta.ga_server_event_to_beta({"type": "session.created", "session": effective}, SessionKind.REALTIME)
        body: JsonObject = dict(as_object(created.get("session"))) if created else {}
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
    session: JsonObject = dict(as_object(event.get("session"))) if event else {}
    if model is not None:
        session["model"] = model
    ga: JsonObject = {"session": session}
    if isinstance(client_secret, dict) and client_secret.get("expires_after") is not None:
        expires_after = client_secret["expires_after"]
        ga["expires_after"] = {"anchor": "created_at", **expires_after} if isinstance(expires_after, dict) else expires_after
    return ga
