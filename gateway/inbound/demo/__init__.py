"""The ``/demo`` page (static HTML + JS, no build step) and its tiny backend.

The backend hands the page a credential for the gateway's own local key and reports a session's
spend against its cap. It is served only when the composition root enables it
(``VOICE_GATEWAY_DEMO=1``, or the gateway runs on its embedded defaults): it is a demo, not an API.
"""

from __future__ import annotations

import importlib.resources
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Mapping, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.core.errors import AuthenticationFailed, GatewayError, NotFound
from gateway.core.api_keys import KeyRecord, SecretBinding
from gateway.core.kinds import EndpointKind

if TYPE_CHECKING:  # the services object holds this module's DemoConfig: no runtime import
    from gateway.inbound.gateway_services import GatewayServices

_STATIC: Final = importlib.resources.files(__package__) / "static"
_ASSETS: Final = {"demo.js": "text/javascript", "demo.css": "text/css"}
#: how long a demo client secret lives: long enough to click "Start" after loading the page
SECRET_TTL_S: Final = 120
#: the session each demo route binds to its client secret (the first session.update)
ROUTE_SESSIONS: Final[Mapping[str, Mapping[str, object]]] = {
    "agent": {
        "type": "realtime",
        "instructions": "You are the voice-gateway demo agent. Answer in one short sentence.",
        "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}},
    },
    "transcription": {"type": "transcription"},
    "translation": {"audio": {"output": {"language": "es"}}},
}


class SecretMinter(Protocol):
    async def mint(self, record: KeyRecord, session: Mapping[str, object], ttl_s: int, binding: SecretBinding) -> str: ...


class KeyLookup(Protocol):
    async def verify(self, secret: str) -> KeyRecord | None: ...


class SpendSource(Protocol):
    def live_spend(self, session_id: str) -> int: ...


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What the demo needs (on the services object when the composition root enables the demo)."""

    #: the gateway key the demo acts for (the generated local key on the embedded defaults)
    local_key: str
    accounting: SpendSource | None = None


def demo_enabled(flag: bool, emulator_upstream: bool, api_keys_configured: bool) -> bool:
    """On when asked for, or on the embedded defaults (emulator upstream, generated local key)."""
    return flag or (emulator_upstream and not api_keys_configured)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _served_on_loopback(request: Request) -> bool:
    """The request arrived on a loopback socket (so did the page): handing it the key stays on this machine."""
    server = request.scope.get("server")
    client = request.client.host if request.client else ""
    return isinstance(server, (tuple, list)) and is_loopback(str(server[0])) and is_loopback(client)


def _config(request: Request) -> DemoConfig:
    services = getattr(request.app.state, "services", None)
    config = getattr(services, "demo", None)
    if not isinstance(config, DemoConfig):
        raise NotFound("The demo is not enabled on this gateway.")
    return config


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.http_body(), status_code=exc.http_status)


async def mint_for_page(request: Request, config: DemoConfig, route: str) -> dict[str, object]:
    """A one-session client secret for the local key, or (loopback only, no minting service) the key itself."""
    session = ROUTE_SESSIONS[route]
    services: GatewayServices = request.app.state.services
    client_secrets = services.client_secrets
    if client_secrets is not None:
        keys: KeyLookup = services.inbound.api_keys
        minter: SecretMinter = client_secrets.minter
        record = await keys.verify(config.local_key)
        if record is None:
            raise AuthenticationFailed("The demo's local key is not a valid gateway key.")
        endpoint = EndpointKind.TRANSLATIONS if route == "translation" else EndpointKind.REALTIME
        binding = services.handshakes.route_bound_session(record, endpoint, session)
        value = await minter.mint(record, session, SECRET_TTL_S, binding)
        return {"value": value, "kind": "client_secret", "expires_at": int(time.time()) + SECRET_TTL_S, "session": session}
    if not _served_on_loopback(request):
        raise NotFound("This gateway cannot mint client secrets, and the demo hands out its key only on loopback.")
    return {"value": config.local_key, "kind": "gateway_key", "session": session}


def spend_view(request: Request, config: DemoConfig, session_id: str) -> dict[str, object]:
    svc = request.app.state.services.inbound
    relay = svc.sessions.get(session_id)
    if relay is None:
        raise NotFound("No live session with this id on this gateway.")
    caps = relay.info.caps
    spend = config.accounting.live_spend(session_id) if config.accounting is not None else 0
    return {"session_id": session_id, "spend_micros": spend, "cap_micros": caps.max_cost_micros, "model": relay.info.route.model}


def demo_router() -> APIRouter:
    """``/demo`` and its backend; every route answers 404 unless the services object carries a ``demo``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/demo")
    async def page(request: Request) -> Response:
        try:
            _config(request)
        except GatewayError as exc:
            return _error(exc)
        return HTMLResponse((_STATIC / "index.html").read_text(encoding="utf-8"))

    @router.get("/demo/{asset}")
    async def asset(request: Request, asset: str) -> Response:
        if asset not in _ASSETS:
            return _error(NotFound("No such demo file."))
        try:
            _config(request)
        except GatewayError as exc:
            return _error(exc)
        return Response((_STATIC / asset).read_text(encoding="utf-8"), media_type=_ASSETS[asset])

    @router.post("/demo/api/secret")
    async def secret(request: Request) -> JSONResponse:
        route = request.query_params.get("route", "agent")
        try:
            config = _config(request)
            if route not in ROUTE_SESSIONS:
                raise NotFound(f"No demo route '{route}'.")
            body = await mint_for_page(request, config, route)
        except GatewayError as exc:
            return _error(exc)
        return JSONResponse(body, headers={"cache-control": "no-store"})

    @router.get("/demo/api/session/{session_id}")
    async def session(request: Request, session_id: str) -> JSONResponse:
        try:
            return JSONResponse(spend_view(request, _config(request), session_id))
        except GatewayError as exc:
            return _error(exc)

    return router
