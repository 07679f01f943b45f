"""Direct-media calls as a service of the inbound layer: which calls go direct, and starting them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

from gateway.core.calls import forced_session
from gateway.core.catalog import Catalog, UpstreamEndpoint
from gateway.core.errors import GatewayError, UpstreamUnavailable
from gateway.core.routing import Route
from gateway.core.tool_declarations import declare_on_call
from gateway.inbound.calls.kinds import WEBRTC_DIRECT
from gateway.inbound.calls.direct import CallRunner, CallSettings, DirectCall
from gateway.inbound.services import CallsApi, InboundServices
from gateway.inbound.setup import SessionSetup

log = logging.getLogger("voice_gateway.inbound.calls")

from gateway.core.jsontypes import JsonObject


@dataclass
class CallServices:
    """Direct-media calls (on the services object the composition root builds)."""

    client: CallsApi
    settings: CallSettings = field(default_factory=CallSettings)
    runner: CallRunner = field(default_factory=CallRunner)

    def wants_direct(self) -> bool:
        """Whether a WebRTC offer may go direct at all (then it is routed before the answer)."""
        return self.settings.media != "terminate"

    def media_of(self, route: Route) -> str:
        """``direct``, ``terminate`` or ``auto`` (direct where possible) for calls on this route."""
        return route.media if route.media != "auto" else self.settings.media

    def direct_endpoints(self, route: Route, catalog: Catalog) -> list[UpstreamEndpoint]:
        """The route's endpoints that can take the call directly, in failover order (empty → terminate)."""
        media = self.media_of(route)
        if media == "terminate":
            return []
        found = [catalog.endpoints[name] for name in route.upstreams if name in catalog.endpoints]
        direct = [endpoint for endpoint in found if endpoint.webrtc]
        if media == "direct" and not direct:
            log.warning("route asks for direct media but none of its upstreams serves WebRTC; terminating", extra={"route": route.name})
        return direct

    async def answer_webrtc(
        self, svc: InboundServices, setup: SessionSetup, endpoints: list[UpstreamEndpoint], sdp: str,
        client_session: Mapping[str, object] | None,
    ) -> str:
        """Create the call upstream with the forced session; start following it; the SDP answer."""
        assert setup.decision is not None and setup.decision.route is not None and setup.key is not None
        route = setup.decision.route
        last: GatewayError = UpstreamUnavailable()
        gateway_tools = await setup.prepare_call_tools(route)
        for endpoint in endpoints:
            model = endpoint.deployments.get(route.model, route.model)
            session = forced_session(client_session, setup.key.bound_session, route.overrides, kind=route.kind, model=model)
            declare_on_call(session, gateway_tools)
            try:
                created = await self.client.create(
                    endpoint, kind=route.kind, sdp=sdp, session=session, client_headers=setup.request.headers if setup.request else None
                )
            except UpstreamUnavailable as exc:  # the next endpoint of the pool may take it
                last = exc
                continue
            self.follow(svc, setup, endpoint, created.call_id, WEBRTC_DIRECT)
            return created.answer_sdp
        raise last

    def follow(self, svc: InboundServices, setup: SessionSetup, endpoint: UpstreamEndpoint, call_id: str, transport: str) -> DirectCall:
        """Attach the sideband of an upstream call and relay it until the call ends."""
        call = DirectCall(svc, self.client, setup, endpoint, call_id, transport, self.settings)
        self.runner.start(call)
        return call
