"""The WebSocket session endpoints on uvicorn's ASGI messages: a thin shell around the handshake service."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from gateway.core.errors import GatewayError, NotFound
from gateway.core.kinds import EndpointKind
from gateway.transports.asgi.socket import AsgiClientSocket, accept, deny
from gateway.inbound.credentials import choose_subprotocol
from gateway.inbound.gateway_services import services_of
from gateway.inbound.setup import Handshake

log = logging.getLogger("voice_gateway.inbound")

SESSION_ID_HEADER = "x-voice-gateway-session-id"


def _headers(scope: Scope) -> dict[str, str]:
    raw = scope.get("headers") or []
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string") or b""
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


class SessionEndpoint:
    """ASGI app for one WebSocket session path (``/v1/realtime`` or ``/v1/realtime/translations``)."""

    def __init__(self, endpoint: EndpointKind) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handshake = Handshake(
            endpoint=self.endpoint,
            path=str(scope.get("path", "")),
            headers=_headers(scope),
            query=_query(scope),
            subprotocols=tuple(scope.get("subprotocols") or ()),
            client_address=_client_address(scope),
        )
        try:
            setup = await services_of(scope["app"]).handshakes.open_connection(handshake)
        except GatewayError as exc:
            await deny(scope, receive, send, exc)
            return
        accepted = await accept(receive, send, choose_subprotocol(handshake.subprotocols), {SESSION_ID_HEADER: setup.session_id})
        if not accepted:
            await setup.release()
            return
        await setup.run(AsgiClientSocket(receive, send))


class UnknownPathEndpoint:
    """Any other WebSocket path: an HTTP 404 with a JSON body, not a bare close."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await deny(scope, receive, send, NotFound(f"No WebSocket endpoint at {scope.get('path', '')!s:.200}."))


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    if isinstance(client, (tuple, list)) and client:
        return str(client[0])
    return ""
