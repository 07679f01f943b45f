"""The WebSocket session endpoints: authenticate → request → route → admit → connect → relay."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from typing import Mapping, MutableMapping, Sequence
from urllib.parse import parse_qsl

from starlette.types import Receive, Send

from gateway.core import dialect as beta
from gateway.core.errors import (
    AuthenticationFailed,
    Draining,
    Forbidden,
    GatewayError,
    PolicyDenied,
    UnknownModel,
)
from gateway.core.frames import parse_event
from gateway.core.keys import KeyRecord
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionInfo
from gateway.core.ports import Closed, Frame
from gateway.core.routing import RouteDecision, SessionRequest
from gateway.core.session import SessionCore, error_frame
from gateway.inbound.asgi_socket import AsgiClientSocket, accept, deny
from gateway.inbound.credentials import choose_subprotocol, read_credential, routing_headers
from gateway.inbound.services import InboundServices, Lease
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.session import RelaySession

log = logging.getLogger("voice_gateway.inbound")
Scope = MutableMapping[str, object]

SESSION_ID_HEADER = "x-voice-gateway-session-id"


def new_session_id() -> str:
    return f"vgs_{secrets.token_urlsafe(15)}"


def _headers(scope: Scope) -> dict[str, str]:
    raw = scope.get("headers") or []
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}  # type: ignore[union-attr]


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string") or b""
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))  # type: ignore[union-attr]


def _origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    return not allowed or origin in allowed or "*" in allowed


async def authenticate(
    svc: InboundServices, headers: Mapping[str, str], subprotocols: Sequence[str]
) -> KeyRecord:
    """Resolve the presented credential to a key record, or refuse."""
    credential = read_credential(headers, subprotocols)
    if credential is None:
        raise AuthenticationFailed("Missing gateway API key: send 'Authorization: Bearer <key>'.")
    key = await svc.keys.verify(credential.secret)
    if key is None:
        raise AuthenticationFailed()
    if (credential.from_browser or key.browser) and not _origin_allowed(headers.get("origin"), svc.allowed_origins):
        raise Forbidden("This Origin may not open sessions with a browser credential.")
    return key


def build_request(
    endpoint: EndpointKind, path: str, headers: Mapping[str, str], query: Mapping[str, str], key: KeyRecord, dialect: Dialect
) -> SessionRequest:
    intent = query.get("intent") or headers.get("x-voice-intent")
    if endpoint is EndpointKind.TRANSLATIONS:
        intent = intent or SessionKind.TRANSLATION.value
    return SessionRequest(
        endpoint=endpoint,
        path=path,
        requested_model=query.get("model") or None,
        declared_intent=intent,
        headers=routing_headers(headers),
        query=dict(query),
        tenant=key.tenant,
        key_id=key.key_id,
        key_labels=dict(key.labels),
        key_allowed_routes=key.allowed_routes,
        dialect=dialect,
    )


def check_decision(svc: InboundServices, request: SessionRequest, decision: RouteDecision, key: KeyRecord) -> None:
    """Refuse denied routes, unknown models and routes the key may not use."""
    route = decision.route
    if route is None:
        raise PolicyDenied(decision.deny_reason or f"Refused by policy rule '{decision.rule_id}'.")
    requested = request.requested_model
    if requested and svc.catalog.resolve(requested) is None and "model" not in decision.matched:
        raise UnknownModel(f"The model '{requested}' is not served by this gateway.", param="model")
    if svc.catalog.resolve(route.model) is None and svc.catalog.fallback_pricing is None:
        raise UnknownModel(f"The routed model '{route.model}' has no known price.", param="model")
    if key.allowed_routes and not ({route.name, route.model} & key.allowed_routes):
        raise Forbidden(f"This key may not use route '{route.name or route.model}'.")
    if request.endpoint is EndpointKind.TRANSLATIONS and route.kind is not SessionKind.TRANSLATION:
        raise Forbidden("The translations endpoint only serves translation sessions.")
    if request.endpoint is EndpointKind.REALTIME and route.kind is SessionKind.TRANSLATION:
        raise Forbidden("Translation sessions use /v1/realtime/translations.")


async def hold_first_events(
    client: AsgiClientSocket, hold_ms: int, max_bytes: int, dialect: Dialect, kind_hint: SessionKind
) -> tuple[dict[str, object] | None, list[Frame], Closed | None]:
    """Read the client's first events until a ``session.update`` (bounded in time and bytes)."""
    held: list[Frame] = []
    size = 0
    deadline = asyncio.get_running_loop().time() + hold_ms / 1000
    while size <= max_bytes:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            frame = await asyncio.wait_for(client.receive(), remaining)
        except asyncio.TimeoutError:
            break
        if isinstance(frame, Closed):
            return None, held, frame
        held.append(frame)
        size += len(frame)
        session = _session_of(frame, dialect, kind_hint)
        if session is not None:
            return session, held, None
    return None, held, None


def _session_of(frame: Frame, dialect: Dialect, kind_hint: SessionKind) -> dict[str, object] | None:
    if not isinstance(frame, str) or len(frame) > 256 * 1024:
        return None
    try:
        event = parse_event(frame)
        if dialect is Dialect.BETA:
            event = beta.beta_client_event_to_ga(event, kind_hint) or {}
    except GatewayError:
        return None
    session = event.get("session")
    return session if event.get("type") == "session.update" and isinstance(session, dict) else None


class SessionEndpoint:
    """ASGI app for one WebSocket session path (``/v1/realtime`` or ``/v1/realtime/translations``)."""

    def __init__(self, endpoint: EndpointKind) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc: InboundServices = scope["app"].state.services  # type: ignore[index,union-attr]
        await _SessionSetup(svc, self.endpoint, scope, receive, send).run()


class _SessionSetup:
    """One handshake's way from authentication to a running relay."""

    def __init__(self, svc: InboundServices, endpoint: EndpointKind, scope: Scope, receive: Receive, send: Send) -> None:
        self.svc, self.endpoint, self.scope, self.receive, self.send = svc, endpoint, scope, receive, send
        self.headers = _headers(scope)
        self.subprotocols: list[str] = list(scope.get("subprotocols") or [])  # type: ignore[arg-type]
        self.session_id = new_session_id()
        self.lease: Lease | None = None
        dialect_beta = endpoint is EndpointKind.REALTIME and beta.is_beta_handshake(self.headers, self.subprotocols)
        self.dialect = Dialect.BETA if dialect_beta else Dialect.GA

    async def run(self) -> None:
        svc = self.svc
        try:
            if svc.sessions.draining:
                raise Draining()
            key = await authenticate(svc, self.headers, self.subprotocols)
            request = build_request(self.endpoint, str(self.scope.get("path", "")), self.headers, _query(self.scope), key, self.dialect)
            ratio = await svc.admission.budget_used_ratio(key, svc.clock())
            request = dataclasses.replace(request, budget_used_ratio=ratio)
            hold = svc.router.wants_session_update(request)
            decision = None if hold else await self._decide_and_admit(request, key)
        except GatewayError as exc:
            log.info("handshake refused", extra={"code": exc.code, "status": exc.http_status, "path": self.scope.get("path")})
            await deny(self.scope, self.receive, self.send, exc)
            return
        if not await accept(self.receive, self.send, choose_subprotocol(self.subprotocols), {SESSION_ID_HEADER: self.session_id}):
            await self._release()
            return
        client = AsgiClientSocket(self.receive, self.send)
        try:
            await self._open(client, request, key, decision)
        finally:
            await self._release()

    async def _decide_and_admit(self, request: SessionRequest, key: KeyRecord) -> RouteDecision:
        decision = self.svc.router.decide(request)
        check_decision(self.svc, request, decision, key)
        assert decision.route is not None
        self.lease = await self.svc.admission.admit(self.session_id, key, decision.route, self.svc.clock())
        return decision

    async def _release(self) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            try:
                await self.svc.admission.release(lease)
            except Exception:  # noqa: BLE001 - a lease also expires on its own
                log.exception("lease release failed", extra={"session_id": self.session_id})

    async def _open(self, client: AsgiClientSocket, request: SessionRequest, key: KeyRecord, decision: RouteDecision | None) -> None:
        svc = self.svc
        held: list[Frame] = []
        try:
            if decision is None:
                hint = SessionKind.TRANSCRIPTION if request.declared_intent == "transcription" else SessionKind.REALTIME
                session, held, closed = await hold_first_events(client, svc.classify_hold_ms, svc.classify_hold_bytes, self.dialect, hint)
                if closed is not None:
                    return
                request = dataclasses.replace(request, first_session_update=session)
                decision = await self._decide_and_admit(request, key)
            route = decision.route
            assert route is not None
            upstream, endpoint_name = await svc.upstreams.connect(
                endpoints=route.upstreams, kind=route.kind, model=route.model, client_headers=request.headers
            )
        except GatewayError as exc:
            await client.send(error_frame(exc, f"gw_evt_{self.session_id}"))
            await client.close(exc.close_code, exc.close_reason)
            return
        await self._relay(client, upstream, request, key, decision, endpoint_name, held)

    async def _relay(self, client: AsgiClientSocket, upstream: object, request: SessionRequest, key: KeyRecord, decision: RouteDecision, endpoint_name: str, held: list[Frame]) -> None:
        svc = self.svc
        route = decision.route
        assert route is not None
        now = svc.clock()
        info = SessionInfo(
            session_id=self.session_id,
            endpoint=self.endpoint,
            kind=route.kind,
            dialect=self.dialect,
            requested_model=request.requested_model,
            decision=decision,
            route=route,
            tenant=key.tenant,
            key_id=key.key_id,
            upstream=endpoint_name,
            client_address=_client_address(self.scope),
            traceparent=self.headers.get("traceparent"),
            labels=dict(key.labels),
        )
        core = SessionCore(
            kind=route.kind,
            dialect=self.dialect,
            now=now,
            requested_model=request.requested_model,
            served_model=route.model,
            overrides=route.overrides,
            max_message_bytes=svc.max_message_bytes,
            max_frames_per_second=svc.max_frames_per_second,
        )
        observers = [FailsafeObserver(f.create(info, now), f.name) for f in svc.observer_factories]
        relay = RelaySession(
            info=info, core=core, client=client, upstream=upstream,  # type: ignore[arg-type]
            observers=observers, clock=svc.clock, limits=svc.relay_limits, held_frames=held,
        )
        svc.sessions.add(relay)
        try:
            await relay.run()
        finally:
            svc.sessions.remove(relay)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    if isinstance(client, (tuple, list)) and client:
        return str(client[0])
    return ""
