"""Build the gateway's one services object for route-level tests: the parts a test needs, the rest refusing use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, cast

from gateway.core.api_keys import KeyRecord
from gateway.core.errors import GatewayError
from gateway.core.kinds import EndpointKind
from gateway.core.ratelimit import FailureLimiter, LocalFailureLimiter
from gateway.inbound.admin import AdminServices
from gateway.inbound.client_secrets import ClientSecretServices
from gateway.inbound.gateway_services import GatewayServices
from gateway.inbound.handshake import AuthFailureGuard, HandshakeService
from gateway.core.routing import RouteDecision
from gateway.inbound.services import InboundServices
from gateway.keys.static import StaticKeys

KEY = "vg_unit_key_0123456789"


class Unused:
    """Stands in for a part a test does not exercise; any use fails the test loudly."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the test touched {self._name}.{attribute}, which it did not provide")


def gateway_services(
    inbound: object | None = None,
    *,
    limiter: FailureLimiter | None = None,
    on_refused: Callable[[GatewayError, EndpointKind], None] | None = None,
    admin: AdminServices | None = None,
    client_secrets: ClientSecretServices | None = None,
    wall: Callable[[], float] = time.time,
) -> GatewayServices:
    """A ``GatewayServices`` around ``inbound`` (an ``InboundServices`` or a stub with the fields the test uses)."""
    inbound_services = cast(InboundServices, inbound if inbound is not None else Unused("inbound"))
    handshakes = HandshakeService(inbound_services, AuthFailureGuard(limiter or LocalFailureLimiter(), wall), on_refused)
    return GatewayServices(
        inbound=inbound_services,
        handshakes=handshakes,
        client_secrets=client_secrets or cast(ClientSecretServices, Unused("client_secrets")),
        admin=admin or cast(AdminServices, Unused("admin")),
        readiness=lambda: (True, {}),
        drain=_no_drain,
        render_metrics=lambda: (b"", "text/plain"),
    )


async def _no_drain() -> None:
    return None


@dataclass
class StubInbound:
    """Just enough of InboundServices for a handshake's refusal paths (a static key; ``deny``: every route denied)."""

    keys: StaticKeys = field(default_factory=lambda: StaticKeys([KEY]))
    draining: bool = False
    deny: bool = False
    allowed_origins: list[str] = field(default_factory=list)
    handshake_limits: None = None

    def __post_init__(self) -> None:
        self.api_keys = self.keys
        self.sessions = SimpleNamespace(draining=self.draining)
        self.clock = lambda: 0.0
        deny = self.deny

        class Router:
            def wants_session_update(self, request: object) -> bool:
                return False

            def decide(self, request: object) -> RouteDecision:
                assert deny
                return RouteDecision(rule_id="no-webrtc", reason="test", route=None, deny_reason="Not here.")

        class Admission:
            async def budget_used_ratio(self, key: KeyRecord, now: float) -> None:
                return None

        self.router, self.admission = Router(), Admission()
