"""The one handshake: authenticate → rate-limit → route → admit, and a refusal recorded the same way everywhere.

Every way into the gateway that presents a gateway credential goes through :class:`HandshakeService`:
the WebSocket session paths (picows and uvicorn transports), WebRTC calls and the client-secret
endpoints. A refusal is recorded once, here: a failed authentication counts against the client's
address (auth-failure limiting), and every refusal is logged and reported to the refusal hook
(the ``admission_refused`` metric). A blocked address is refused (429) before anything else runs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Callable, Mapping

from gateway.core.api_keys import KeyRecord, SecretBinding
from gateway.core.errors import AuthenticationFailed, Forbidden, GatewayError, RateLimited
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.overrides import apply_to_session
from gateway.core.ratelimit import FailureLimiter
from gateway.inbound.services import InboundServices
from gateway.inbound.setup import Handshake, SessionSetup, SessionStart, build_request, check_decision
from gateway.inbound.sideband_watch import FindEntry, LiveCalls, attach_to_call

log = logging.getLogger("voice_gateway.inbound")

CLIENT_SECRET_PREFIX = "ek_"
RefusalHook = Callable[[GatewayError, EndpointKind], None]


class AuthFailureGuard:
    """Auth-failure limiting per client address: refuse a blocked address, count each failed authentication."""

    def __init__(self, limiter: FailureLimiter, wall: Callable[[], float]) -> None:
        self.limiter = limiter
        self.wall = wall

    async def check(self, address: str) -> None:
        if address and await self.limiter.blocked(address, self.wall()):
            raise RateLimited("Too many failed authentication attempts from this address; try again later.")

    async def record(self, error: GatewayError, address: str) -> None:
        if address and isinstance(error, AuthenticationFailed):
            await self.limiter.failed(address, self.wall())


class HandshakeService:
    """Opens sessions and authenticates key-only calls for every transport; records every refusal."""

    def __init__(
        self, services: InboundServices, guard: AuthFailureGuard, on_refused: RefusalHook | None = None, *,
        calls: LiveCalls | None = None, find_entry: FindEntry | None = None,
    ) -> None:
        self.services = services
        self.guard = guard
        self.on_refused = on_refused
        #: direct-media calls followed here, which their owners' servers may watch (``?call_id=``)
        self.calls = calls
        #: a live session on any replica (tells "on another replica" from "no such call")
        self.find_entry = find_entry

    async def open_connection(self, handshake: Handshake) -> SessionStart:
        """A WebSocket handshake: a session (:meth:`open_session`), or with ``call_id`` in the query an owner's
        sideband of a call the gateway follows (:mod:`gateway.inbound.sideband_watch`), as on OpenAI."""
        if "call_id" not in handshake.query:
            return await self.open_session(handshake)
        try:
            await self.guard.check(handshake.client_address)
            return await attach_to_call(self.services, handshake, self.calls, self.find_entry)
        except GatewayError as exc:
            await self.refused(exc, handshake.endpoint, handshake.client_address, handshake.path)
            raise

    async def open_session(self, handshake: Handshake, initial_session: Mapping[str, object] | None = None) -> SessionSetup:
        """Authenticate, rate-limit, route and admit; the refusal (a ``GatewayError``) is recorded, then raised."""
        setup = SessionSetup(self.services, handshake, initial_session)
        try:
            await self.guard.check(handshake.client_address)
            await setup.prepare()
        except GatewayError as exc:
            await self.refused(exc, handshake.endpoint, handshake.client_address, handshake.path)
            raise
        return setup

    async def minting_key(self, headers: Mapping[str, str], address: str, endpoint: EndpointKind) -> KeyRecord:
        """The long-lived gateway key in ``Authorization: Bearer`` (client-secret endpoints; ``ek_`` refused)."""
        return await self.server_key(headers, address, "create client secrets")

    async def server_key(self, headers: Mapping[str, str], address: str, purpose: str) -> KeyRecord:
        """The long-lived gateway key in ``Authorization: Bearer`` for a server-side call (``ek_`` and browser keys
        refused: ``purpose`` says for what, in the refusal)."""
        await self.guard.check(address)
        auth = headers.get("authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not secret:
            raise AuthenticationFailed("Missing gateway API key: send 'Authorization: Bearer <key>'.")
        if secret.startswith(CLIENT_SECRET_PREFIX):
            raise Forbidden(f"A client secret cannot be used to {purpose}.")
        key = await self.services.api_keys.verify(secret)
        if key is None:
            raise AuthenticationFailed()
        if key.browser:
            raise Forbidden(f"A client secret cannot be used to {purpose}.")
        return key

    def route_bound_session(self, key: KeyRecord, endpoint: EndpointKind, session: Mapping[str, object]) -> SecretBinding:
        """Route a client secret's bound session now: a route the key may not use, or a configuration the route
        forbids, is refused at once; the secret will open only the routed kind of session on the routed model."""
        svc = self.services
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
        apply_to_session(copy.deepcopy(dict(session)), route.overrides, route.kind)  # refuses tools or instructions the route forbids
        return SecretBinding(
            endpoint=endpoint, kind=route.kind, model=route.model, requested_model=model if isinstance(model, str) else None
        )

    async def refused(self, error: GatewayError, endpoint: EndpointKind, address: str, path: str) -> None:
        """Record a refusal: auth-failure count, a log line, the refusal hook (never a secret)."""
        await self.guard.record(error, address)
        log.info("handshake refused", extra={"code": error.code, "status": error.http_status, "path": path})
        if self.on_refused is not None:
            try:
                self.on_refused(error, endpoint)
            except Exception:  # noqa: BLE001 - a failing metric must not change the answer
                log.exception("refusal hook failed")
