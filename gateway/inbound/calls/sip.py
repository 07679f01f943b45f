"""The SIP front door: OpenAI's ``realtime.call.incoming`` webhook → accept, reject or refer by policy.

``POST /webhooks/openai``: the signature is verified with the configured secret (standard-webhooks:
``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), a timestamp outside the tolerance is a
replay and refused, and a ``webhook-id`` already handled (a retry) is acknowledged without acting
twice (claimed in the store, so on any replica). The call's SIP headers (untrusted) are routing facts
for the policy (``endpoint: sip``, ``headers:``): a route accepts the call with that route's forced
session and the gateway follows it on the sideband like a direct WebRTC call (caps, budgets,
traces); a deny rejects it with the rule's ``sip_status`` (603 by default) or refers it to the
rule's ``refer_to`` URI.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Callable, Final, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.core.api_keys import KeyRecord
from gateway.core.calls import forced_session
from gateway.core.errors import (
    BudgetExhausted,
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
)
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.routing import RouteDecision, SessionRequest
from gateway.core.sip import IncomingCall, parse_incoming, timestamp_fresh
from gateway.core.tool_declarations import declare_on_call
from gateway.inbound.calls.kinds import SIP
from gateway.inbound.calls.service import CallServices
from gateway.inbound.services import InboundServices
from gateway.inbound.setup import Handshake, SessionSetup
from gateway.core.catalog import UpstreamEndpoint

log = logging.getLogger("voice_gateway.inbound.sip")

WEBHOOK_PATH: Final = "/webhooks/openai"
MAX_BODY_BYTES: Final = 64 * 1024
DECLINE: Final = 603
BUSY: Final = 486
UNAVAILABLE: Final = 480
FORBIDDEN: Final = 403


class WebhookIds(Protocol):
    """Where handled webhook ids are claimed (the store)."""

    async def first_delivery(self, webhook_id: str, ttl_s: int) -> bool: ...

    async def forget(self, webhook_id: str) -> None: ...


class InvalidSignature(GatewayError):
    code = "invalid_webhook_signature"
    error_type = "invalid_request_error"
    http_status = 400
    default_message = "The webhook signature is missing, invalid or too old."


@dataclass
class SipFrontDoor:
    """The SIP front door (on the services object when the composition root configures it)."""

    secret: str
    tolerance_s: int
    ids: WebhookIds
    calls: CallServices
    tenant: str = "sip"
    daily_budget_micros: int | None = None
    wall: Callable[[], float] = time.time

    def key(self) -> KeyRecord:
        return KeyRecord(key_id="sip", tenant=self.tenant, daily_budget_micros=self.daily_budget_micros)

    def verify(self, body: bytes, headers: dict[str, str]) -> object:
        """The event, if signed with our secret and fresh; raise ``InvalidSignature`` otherwise."""
        if not timestamp_fresh(headers.get("webhook-timestamp"), self.wall(), self.tolerance_s):
            raise InvalidSignature("The webhook timestamp is missing or outside the tolerance (a replay?).")
        try:
            return Webhook(self.secret).verify(body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            raise InvalidSignature() from exc

    async def handle(self, svc: InboundServices, call: IncomingCall, client_address: str) -> str:
        """Decide and act on one incoming call; the outcome (``accepted``, ``rejected``, ``referred``)."""
        handshake = Handshake(endpoint=EndpointKind.SIP, path="/sip", headers=call.routing_headers(), query={},
                              client_address=client_address)
        setup = SessionSetup(svc, handshake)
        setup.transport = SIP
        key = self.key()
        request = SessionRequest(
            endpoint=EndpointKind.SIP, path="/sip", declared_intent=SessionKind.REALTIME.value,
            headers=handshake.headers, tenant=key.tenant, key_id=key.key_id, dialect=Dialect.GA,
        )
        request = dataclasses.replace(request, budget_used_ratio=await svc.admission.budget_used_ratio(key, svc.clock()))
        decision = svc.router.decide(request)
        route = decision.route
        if route is None:
            return await self._refuse(svc, call, decision)
        endpoints = [svc.catalog.endpoints[n] for n in route.upstreams if n in svc.catalog.endpoints and svc.catalog.endpoints[n].webrtc]
        if route.kind is not SessionKind.REALTIME or not endpoints:
            log.warning("SIP call routed to a route that cannot take calls", extra={"route": route.name})
            await self.calls.client.reject(endpoints[0] if endpoints else self._any_endpoint(svc), call.call_id, UNAVAILABLE)
            return "rejected"
        try:
            await setup.admit_decided(key, request, decision)
        except GatewayError as exc:
            status = BUSY if isinstance(exc, RateLimited) else FORBIDDEN if isinstance(exc, BudgetExhausted) else UNAVAILABLE
            log.info("SIP call refused at admission", extra={"code": exc.code, "sip_status": status})
            await self.calls.client.reject(endpoints[0], call.call_id, status)
            return "rejected"
        endpoint = endpoints[0]
        session = forced_session(None, None, route.overrides, kind=route.kind, model=endpoint.deployments.get(route.model, route.model))
        try:
            declare_on_call(session, await setup.prepare_call_tools(route))
            await self.calls.client.accept(endpoint, call.call_id, session)
        except BaseException:
            await setup.release()
            raise
        self.calls.follow(svc, setup, endpoint, call.call_id, SIP)
        return "accepted"

    async def _refuse(self, svc: InboundServices, call: IncomingCall, decision: RouteDecision) -> str:
        endpoint = self._any_endpoint(svc)
        if decision.refer_to:
            await self.calls.client.refer(endpoint, call.call_id, decision.refer_to)
            log.info("SIP call referred by policy", extra={"rule_id": decision.rule_id})
            return "referred"
        await self.calls.client.reject(endpoint, call.call_id, decision.sip_status or DECLINE)
        log.info("SIP call rejected by policy", extra={"rule_id": decision.rule_id, "sip_status": decision.sip_status or DECLINE})
        return "rejected"

    @staticmethod
    def _any_endpoint(svc: InboundServices) -> UpstreamEndpoint:
        """A denied call has no route: answer it on the first endpoint that serves calls."""
        for endpoint in svc.catalog.endpoints.values():
            if endpoint.webrtc:
                return endpoint
        raise NotFound("No upstream endpoint serves calls.")


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.http_body(), status_code=exc.http_status)


def sip_router() -> APIRouter:
    router = APIRouter(tags=["sip"])

    @router.post(WEBHOOK_PATH, summary="OpenAI webhooks: incoming SIP calls (realtime.call.incoming)")
    async def webhook(request: Request) -> JSONResponse:
        services = getattr(request.app.state, "services", None)
        door: SipFrontDoor | None = getattr(services, "sip", None)
        if door is None:
            return _error(NotFound("The SIP front door is not configured (set VOICE_GATEWAY_WEBHOOK_SECRET)."))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(InvalidRequest("The webhook body is too large."))
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = door.verify(body, headers)
            call = parse_incoming(event)
        except GatewayError as exc:
            log.warning("webhook refused", extra={"code": exc.code})
            return _error(exc)
        webhook_id = headers["webhook-id"][:200]
        if call is None:
            return JSONResponse({"status": "ignored"})
        if not await door.ids.first_delivery(webhook_id, door.tolerance_s * 2 + 60):
            log.info("webhook retry ignored (already handled)", extra={"call_id": call.call_id})
            return JSONResponse({"status": "duplicate"})
        svc: InboundServices = request.app.state.services.inbound
        try:
            outcome = await door.handle(svc, call, request.client.host if request.client else "")
        except GatewayError as exc:
            await door.ids.forget(webhook_id)  # let the sender's retry try again
            log.error("SIP call could not be handled", extra={"code": exc.code, "call_id": call.call_id})
            return JSONResponse({"error": {"message": "The call could not be handled; retry.", "code": exc.code}}, status_code=503)
        return JSONResponse({"status": outcome, "call_id": call.call_id})

    return router


