"""The one typed services object the endpoints read: built completely by the composition root, never mutated.

``gateway.app`` builds it in the lifespan and puts it on ``app.state.services`` once; every HTTP
route, WebSocket endpoint and transport reads what it needs from it with :func:`services_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from gateway.inbound.admin import AdminServices
from gateway.inbound.calls.service import CallServices
from gateway.inbound.calls.sip import SipFrontDoor
from gateway.inbound.client_secrets import ClientSecretServices
from gateway.inbound.demo import DemoConfig
from gateway.inbound.handshake import HandshakeService
from gateway.inbound.http import ReadinessCheck
from gateway.inbound.services import InboundServices
from gateway.webrtc.ice import IceOptions


@dataclass(frozen=True, slots=True)
class GatewayServices:
    """Everything the endpoints need, for one running gateway."""

    #: what a session needs once admitted (catalog, router, admission, upstreams, live sessions, …)
    inbound: InboundServices
    #: the one way into a session or a key-authenticated call
    handshakes: HandshakeService
    client_secrets: ClientSecretServices
    admin: AdminServices
    readiness: ReadinessCheck
    drain: Callable[[], Awaitable[None]]
    #: the Prometheus exposition: (body, content type)
    render_metrics: Callable[[], tuple[bytes, str]]
    #: set when the demo page is enabled
    demo: DemoConfig | None = None
    #: direct-media WebRTC calls through the upstream's calls API
    calls: CallServices | None = None
    #: the SIP webhook front door (set when a webhook secret is configured)
    sip: SipFrontDoor | None = None
    #: where the terminating WebRTC bridge's peer connections can be reached
    webrtc_ice: IceOptions | None = None


def services_of(app: object) -> GatewayServices:
    """The services of a running app (raises when the lifespan has not built them yet)."""
    services = getattr(getattr(app, "state", None), "services", None)
    if not isinstance(services, GatewayServices):
        raise RuntimeError("the gateway's services are not built (the app's lifespan has not run)")
    return services
