"""Opening a handoff target for a running session: the route by name, the same checks and pool as a new session."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core.api_keys import KeyRecord
from gateway.core.errors import BudgetExhausted, Forbidden, NotFound, UnknownModel
from gateway.core.handoff import transfer_tool
from gateway.core.kinds import SessionKind
from gateway.core.money import Pricing
from gateway.core.overrides import with_bound_session
from gateway.core.ports import FrameSocket
from gateway.core.routing import Route, SessionRequest
from gateway.core.kind_handoff import check_servable
from gateway.core.catalog import Catalog
from gateway.core.session import HandoffTarget, SessionCore
from gateway.core.tool_calls import ToolCallInterceptor
from gateway.inbound.secret_binding import check_bound_route
from gateway.inbound.services import InboundServices
from gateway.relay.handoff import OpenedTarget
from gateway.tools.runner import SessionToolRunner, upstream_sender
from gateway.tools.servers import SessionTools


async def route_tools(svc: InboundServices, route: Route) -> tuple[ToolCallInterceptor, SessionTools | None] | None:
    """A realtime route's gateway-owned tools: its HTTP/MCP tools and the ``transfer`` tool (None: none)."""
    if route.kind is not SessionKind.REALTIME:
        return None
    servers, toolset = svc.tool_servers, route.gateway_tools
    session_tools = await servers.session_tools(toolset) if servers is not None and toolset is not None else None
    transfer = [transfer_tool(route.handoff)] if route.handoff is not None and route.handoff.transfer_tool else []
    if session_tools is None and not transfer:
        return None
    tools = [*(session_tools.tools if session_tools is not None else []), *transfer]
    if toolset is None:
        return ToolCallInterceptor(tools, overrides=route.overrides), session_tools
    interceptor = ToolCallInterceptor(
        tools, overrides=route.overrides, max_result_bytes=toolset.max_result_bytes, filler_instructions=toolset.filler_instructions
    )
    return interceptor, session_tools


def start_tool_runner(
    tools: tuple[ToolCallInterceptor, SessionTools | None], svc: InboundServices, upstream: FrameSocket, session_id: str
) -> SessionToolRunner | None:
    """Run the route's HTTP/MCP tool calls on ``upstream`` (None: the route has only the transfer tool, or none)."""
    interceptor, session_tools = tools
    if session_tools is None or svc.tool_servers is None:
        return None
    return SessionToolRunner(interceptor, session_tools, svc.tool_servers.cache, upstream_sender(upstream), svc.clock, session_id)


class SessionTargets:
    """Opens handoff targets for one session (a :class:`gateway.relay.handoff.TargetOpener`).

    The target is checked like a new session's route (the key's allowed routes, a client secret's
    bound route, a known price, not retired, the tenant's budget not exhausted) and connected
    through the same upstream pool and failover. The session keeps its admission lease: it is the
    same session, still counted once against the tenant's concurrency. An open session holds one: slotted, and
    its checks are module functions given what they read, not closures made per session.
    """

    __slots__ = ("svc", "key", "request", "session_id", "check_route", "home")

    def __init__(
        self, svc: InboundServices, key: KeyRecord, request: SessionRequest, session_id: str,
        check_route: Callable[[Catalog, Route], None], home: SessionCore | None = None,
    ) -> None:
        self.svc = svc
        #: the handshake's own checks of a routed model (retired models), given the catalog
        self.check_route = check_route
        #: the session's core: whether it can be served by a model of a kind (a kind bridge serves it) is asked of it
        #: before any upstream is opened (``None``: not asked)
        self.home = home
        self.key = key
        self.request = request
        self.session_id = session_id

    def _route(self, to: str) -> Route:
        svc, key = self.svc, self.key
        route = svc.router.route_named(to)
        if route is None:
            raise NotFound(f"No route named '{to}' in the current policy.")
        if key.allowed_routes and not ({route.name, route.model} & key.allowed_routes):
            raise Forbidden(f"This key may not use route '{to}'.")
        if key.is_client_secret:
            check_bound_route(key.binding, route, svc.catalog)
        if svc.catalog.resolve(route.model) is None and svc.catalog.fallback_pricing is None:
            raise UnknownModel(f"The routed model '{route.model}' has no known price.", param="model")
        return route

    def _pricing(self, route: Route) -> Pricing | None:
        catalog = self.svc.catalog
        spec = catalog.resolve(route.model)
        return spec.pricing if spec is not None else catalog.fallback_pricing

    async def open(self, to: str) -> OpenedTarget:
        svc = self.svc
        route = self._route(to)
        self.check_route(svc.catalog, route)
        if self.home is not None:
            check_servable(self.home, route.kind)
        ratio = await svc.admission.budget_used_ratio(self.key, svc.clock())
        if ratio is not None and ratio >= 1.0:
            raise BudgetExhausted("The tenant's budget is used up; the session stays where it is.")
        upstream, endpoint = await svc.upstreams.connect(
            endpoints=route.upstreams, kind=route.kind, model=route.model, client_headers=self.request.headers
        )
        try:
            tools = await route_tools(svc, route)
        except Exception:
            await upstream.close(1000, "handoff abandoned")
            raise
        runner = start_tool_runner(tools, svc, upstream, self.session_id) if tools is not None else None
        target = HandoffTarget(
            model=route.model,
            overrides=with_bound_session(route.overrides, self.key.bound_session, route.kind),
            rules=route.handoff,
            tools=tools[0] if tools is not None else None,
            kind=route.kind,
            language=route.translate_to,
            pricing=self._pricing(route),
        )
        return OpenedTarget(upstream=upstream, endpoint=endpoint, target=target, runner=runner)
