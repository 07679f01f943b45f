"""What the inbound adapter needs from the rest of the gateway, as narrow protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from gateway.core.catalog import Catalog, UpstreamEndpoint
from gateway.core.api_keys import KeyRecord, KeyVerifier
from gateway.core.kinds import SessionKind
from gateway.core.observers import ObserverFactory
from gateway.core.ports import FrameSocket
from gateway.core.ratelimit import HandshakeLimits
from gateway.core.routing import Caps, Route, RouteDecision, SessionRequest
from gateway.relay.live_sessions import LiveSessions
from gateway.relay.session import RelayLimits
from gateway.tools.servers import ToolServers


class Router(Protocol):
    def wants_session_update(self, request: SessionRequest) -> bool: ...

    def decide(self, request: SessionRequest) -> RouteDecision: ...

    def route_named(self, name: str) -> Route | None:
        """The route of that name in the current policy (a handoff target)."""
        ...


class Upstreams(Protocol):
    """Connects a session to the first healthy endpoint of its route (``gateway.upstream.pool.UpstreamPool``)."""

    async def connect(
        self,
        *,
        endpoints: tuple[str, ...],
        kind: SessionKind,
        model: str,
        client_headers: Mapping[str, str],
        call_id: str | None = None,
    ) -> tuple[FrameSocket, str]: ...


class CreatedCall(Protocol):
    @property
    def call_id(self) -> str: ...

    @property
    def answer_sdp(self) -> str: ...


class CallsApi(Protocol):
    """The upstream's calls API (``gateway.upstream.calls.CallsClient``; the composition root supplies it)."""

    async def create(
        self,
        endpoint: UpstreamEndpoint,
        *,
        kind: SessionKind,
        sdp: str,
        session: dict[str, object],
        client_headers: Mapping[str, str] | None = None,
    ) -> CreatedCall: ...

    async def accept(self, endpoint: UpstreamEndpoint, call_id: str, session: dict[str, object]) -> None: ...

    async def reject(self, endpoint: UpstreamEndpoint, call_id: str, status_code: int | None) -> None: ...

    async def refer(self, endpoint: UpstreamEndpoint, call_id: str, target_uri: str) -> None: ...

    async def hangup(self, endpoint: UpstreamEndpoint, call_id: str) -> bool: ...

    async def close(self) -> None: ...


class Lease(Protocol):
    @property
    def session_id(self) -> str: ...


class Admission(Protocol):
    """Budgets and limits at the handshake (raises a GatewayError subclass to refuse)."""

    async def admit(self, session_id: str, key: KeyRecord, route: Route, now: float) -> Lease | None: ...

    async def release(self, lease: Lease) -> None: ...

    async def budget_used_ratio(self, key: KeyRecord, now: float) -> float | None: ...


@dataclass(frozen=True, slots=True)
class InboundServices:
    """What a session's set-up needs; built complete by the composition root and never changed."""

    catalog: Catalog
    #: every credential a session handshake may present: gateway keys and client secrets
    keys: KeyVerifier
    #: long-lived gateway keys only (never ``ek_`` client secrets): what may mint client secrets
    api_keys: KeyVerifier
    router: Router
    admission: Admission
    upstreams: Upstreams
    sessions: LiveSessions
    observer_factories: tuple[ObserverFactory, ...]
    clock: Callable[[], float]
    relay_limits: RelayLimits
    max_message_bytes: int
    max_frames_per_second: int
    classify_hold_ms: int
    classify_hold_bytes: int
    allowed_origins: tuple[str, ...] = ()
    #: the gateway-wide per-session caps from settings (built once in the composition root)
    default_caps: Caps = field(default_factory=Caps)
    #: per-address and per-key handshake rate limits (None: unlimited)
    handshake_limits: HandshakeLimits | None = None
    #: HTTP and MCP tool servers for routes that declare gateway tools (None: gateway tools off)
    tool_servers: ToolServers | None = None
