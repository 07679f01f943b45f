"""What the inbound adapter needs from the rest of the gateway, as narrow protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from gateway.core.catalog import Catalog
from gateway.core.errors import GatewayError
from gateway.core.kinds import EndpointKind
from gateway.core.api_keys import KeyRecord
from gateway.core.observers import ObserverFactory
from gateway.core.ratelimit import HandshakeLimits
from gateway.core.routing import Route, RouteDecision, SessionRequest
from gateway.keys.static import KeyVerifier
from gateway.relay.live_sessions import LiveSessions
from gateway.relay.session import RelayLimits
from gateway.tools.servers import ToolServers
from gateway.upstream.pool import UpstreamPool


class Router(Protocol):
    def wants_session_update(self, request: SessionRequest) -> bool: ...

    def decide(self, request: SessionRequest) -> RouteDecision: ...


class Lease(Protocol):
    session_id: str


class Admission(Protocol):
    """Budgets and limits at the handshake (raises a GatewayError subclass to refuse)."""

    async def admit(self, session_id: str, key: KeyRecord, route: Route, now: float) -> Lease | None: ...

    async def release(self, lease: Lease) -> None: ...

    async def budget_used_ratio(self, key: KeyRecord, now: float) -> float | None: ...


@dataclass(slots=True)
class InboundServices:
    catalog: Catalog
    keys: KeyVerifier
    router: Router
    admission: Admission
    upstreams: UpstreamPool
    sessions: LiveSessions
    observer_factories: list[ObserverFactory]
    clock: Callable[[], float]
    relay_limits: RelayLimits
    max_message_bytes: int
    max_frames_per_second: int
    classify_hold_ms: int
    classify_hold_bytes: int
    allowed_origins: list[str] = field(default_factory=list)
    #: told about every refused handshake (for metrics); never sees secrets
    on_refused: Callable[[GatewayError, EndpointKind], None] | None = None
    #: per-address and per-key handshake rate limits (None: unlimited)
    handshake_limits: HandshakeLimits | None = None
    #: HTTP and MCP tool servers for routes that declare gateway tools (None: gateway tools off)
    tool_servers: ToolServers | None = None
