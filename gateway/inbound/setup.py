"""Transport-independent session set-up: authenticate → request → route → admit → connect → relay."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from types import MappingProxyType
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Final, Mapping, Protocol, Sequence

from gateway.core import dialect as beta
from gateway.core.errors import (
    AuthenticationFailed,
    Draining,
    Forbidden,
    GatewayError,
    PolicyDenied,
    ToolsNotAllowed,
    UnknownModel,
)
from gateway.core.frames import dumps, parse_client_event
from gateway.core.api_keys import KeyRecord
from gateway.core.catalog import Catalog
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.jsontypes import JsonObject
from gateway.core.notices import client_choice
from gateway.core.observers import SessionInfo
from gateway.core.ports import Closed, Frame, FrameSocket, is_client_side_bridge
from gateway.core.routing import Route, RouteDecision, SessionRequest
from gateway.core.overrides import with_bound_session
from gateway.core.session import DeclaredToolsCheck, SessionCore, error_frame
from gateway.core.handoff import Handoff
from gateway.core.tool_calls import ToolCallInterceptor
from gateway.tools.servers import SessionTools
from gateway.inbound.credentials import read_credential, routing_headers
from gateway.inbound.secret_binding import bound_request, check_bound_route
from gateway.inbound.services import InboundServices, Lease
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.session import RelaySession
from gateway.inbound.handoff import SessionTargets, route_tools, start_tool_runner
from gateway.waiting import within
from routers.classify import intent_kind
from routers.decide import MODEL_MAP_HIT

log = logging.getLogger("voice_gateway.inbound")


def new_session_id() -> str:
    return f"vgs_{secrets.token_urlsafe(15)}"


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


def utc_today() -> date:
    """Today's date in UTC (model shutdown days are UTC dates)."""
    return datetime.now(timezone.utc).date()


def unknown_model(catalog: Catalog, requested: str) -> UnknownModel:
    """HTTP 400 ``invalid_model`` naming what the gateway serves."""
    served = ", ".join(name for spec in catalog.models.values() for name in (spec.name, *spec.aliases))
    return UnknownModel(
        f"The model '{requested[:100]}' is not served by this gateway. Served models: {served} "
        "(and their dated snapshots).",
        param="model",
    )


def _model_known(svc: InboundServices, requested: str, matched: Mapping[str, str]) -> bool:
    """A requested name is fine when the catalog knows it, or a rule / the model_map names it."""
    return svc.catalog.resolve(requested) is not None or "model" in matched or MODEL_MAP_HIT in matched


def check_retired(catalog: Catalog, model: str, today: date) -> None:
    """Refuse a model whose announced shutdown day has come (a policy ``model_map`` can serve its successor)."""
    spec = catalog.resolve(model)
    if spec is not None and spec.retired(today):
        instead = f" Use '{spec.successor}' instead" if spec.successor else ""
        raise UnknownModel(
            f"The model '{model[:100]}' was shut down on {spec.shutdown}.{instead} "
            "(an operator can route it to its successor with the policy's model_map).",
            param="model",
        )


def check_decision(
    svc: InboundServices, request: SessionRequest, decision: RouteDecision, key: KeyRecord, today: date | None = None
) -> None:
    """Refuse denied routes, unknown or retired models and routes the key may not use."""
    route = decision.route
    if route is None:
        raise PolicyDenied(decision.deny_reason or f"Refused by policy rule '{decision.rule_id}'.")
    requested = request.requested_model
    if requested and not _model_known(svc, requested, decision.matched):
        raise unknown_model(svc.catalog, requested)
    if svc.catalog.resolve(route.model) is None and svc.catalog.fallback_pricing is None:
        raise UnknownModel(f"The routed model '{route.model}' has no known price.", param="model")
    check_retired(svc.catalog, route.model, today or utc_today())
    if key.allowed_routes and not ({route.name, route.model} & key.allowed_routes):
        raise Forbidden(f"This key may not use route '{route.name or route.model}'.")
    if request.endpoint is EndpointKind.TRANSLATIONS and route.kind is not SessionKind.TRANSLATION:
        raise Forbidden("The translations endpoint only serves translation sessions.")
    if request.endpoint is EndpointKind.REALTIME and route.kind is SessionKind.TRANSLATION:
        raise Forbidden("Translation sessions use /v1/realtime/translations.")


async def hold_first_events(
    client: FrameSocket, hold_ms: int, max_bytes: int, dialect: Dialect, kind_hint: SessionKind
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
            frame = await within(client.receive(), remaining)
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
        event = parse_client_event(frame)  # read as the session core will read it (duplicates refused)
        if dialect is Dialect.BETA:
            event = beta.beta_client_event_to_ga(event, kind_hint) or {}
    except GatewayError:
        return None
    session = event.get("session")
    return session if event.get("type") == "session.update" and isinstance(session, dict) else None


#: what a running session's handshake keeps of its headers and query: nothing, one mapping for every session
_NOTHING: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a client presented when it asked for a session, whatever the transport."""

    endpoint: EndpointKind
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    subprotocols: tuple[str, ...] = ()
    client_address: str = ""


class SessionStart(Protocol):
    """What a transport does with an accepted handshake: a session set-up, or an owner's call sideband."""

    @property
    def session_id(self) -> str: ...

    async def run(self, client: FrameSocket) -> None: ...

    async def release(self) -> None: ...


class SessionSetup:
    """One session's way from authentication to a running relay, independent of the client transport."""

    def __init__(
        self, svc: InboundServices, handshake: Handshake, initial_session: Mapping[str, object] | None = None
    ) -> None:
        self.svc = svc
        self.handshake = handshake
        #: session config given with the handshake itself (WebRTC calls): replayed as a first session.update
        self.initial_session = dict(initial_session) if initial_session is not None else None
        self.session_id = new_session_id()
        self.lease: Lease | None = None
        self.key: KeyRecord | None = None
        self.request: SessionRequest | None = None
        self.decision: RouteDecision | None = None
        #: recorded on the session (``websocket``, ``webrtc``, ``webrtc-direct``, ``sip``)
        self.transport = "websocket"
        is_beta = handshake.endpoint is EndpointKind.REALTIME and beta.is_beta_handshake(handshake.headers, handshake.subprotocols)
        self.dialect = Dialect.BETA if is_beta else Dialect.GA
        #: a direct-media call's gateway tools, resolved before the call is created or accepted upstream
        self.call_tools: tuple[ToolCallInterceptor, SessionTools] | None = None
        #: the client's handshake choice on gateway notices (gateway/core/notices.py; the route may also say no)
        self.gateway_events = True
        #: the relay :meth:`start` started (until :meth:`close`)
        self.relay: RelaySession | None = None

    async def prepare(self) -> None:
        """Authenticate and, when the handshake says enough, route and admit; raise to refuse."""
        svc, hs = self.svc, self.handshake
        if svc.sessions.draining:
            raise Draining()
        limits = svc.handshake_limits
        if limits is not None:
            limits.check_address(hs.client_address, svc.clock())
        key = self.key = await authenticate(svc, hs.headers, hs.subprotocols)
        if limits is not None:
            limits.check_key(key.key_id, svc.clock())
        request = build_request(hs.endpoint, hs.path, hs.headers, hs.query, key, self.dialect)
        self.gateway_events = client_choice(hs.headers, hs.query)
        if key.is_client_secret:
            request = bound_request(key.binding, request, svc.catalog)
        ratio = await svc.admission.budget_used_ratio(key, svc.clock())
        first = _bound(key) or self.initial_session
        request = dataclasses.replace(request, budget_used_ratio=ratio, first_session_update=first)
        request = self.request = with_session_model(request)
        _refuse_unknown_model(svc, request)
        if not svc.router.wants_session_update(request):
            await self._decide_and_admit()

    async def decide_now(self) -> None:
        """Route and admit with what the handshake carried (a call cannot wait for a first ``session.update``)."""
        if self.decision is None:
            await self._decide_and_admit()

    async def admit_decided(self, key: KeyRecord, request: SessionRequest, decision: RouteDecision) -> None:
        """Admit a session decided outside a client handshake (an incoming SIP call)."""
        assert decision.route is not None
        self.key, self.request = key, request
        self.lease = await self.svc.admission.admit(self.session_id, key, decision.route, self.svc.clock())
        self.decision = decision

    async def relay_call(self, leg: FrameSocket, sideband: FrameSocket, endpoint_name: str, *, call_id: str, transport: str) -> None:
        """Relay a direct-media call: the caller's leg and the call's sideband, through the same core and observers."""
        try:
            await self._relay(leg, sideband, endpoint_name, [], call_id=call_id, transport=transport)
        finally:
            await self.release()

    async def _decide_and_admit(self) -> None:
        assert self.request is not None and self.key is not None
        decision = self.svc.router.decide(self.request)
        check_decision(self.svc, self.request, decision, self.key)
        assert decision.route is not None
        if self.key.is_client_secret:
            check_bound_route(self.key.binding, decision.route, self.svc.catalog)
        self.lease = await self.svc.admission.admit(self.session_id, self.key, decision.route, self.svc.clock())
        self.decision = decision

    async def release(self) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            try:
                await self.svc.admission.release(lease)
            except Exception:  # noqa: BLE001 - a lease also expires on its own
                log.exception("lease release failed", extra={"session_id": self.session_id})

    async def run(self, client: FrameSocket) -> None:
        """Route (holding first events if needed), connect upstream, relay; always release the lease."""
        if await self.start(client):
            assert self.relay is not None
            try:
                await self.relay.wait_ended()
            finally:
                await self.close()

    async def start(self, client: FrameSocket) -> bool:
        """``run`` up to the relay running: whether it runs (then :meth:`close` it once :meth:`when_ended` calls
        back); ``False`` when the session ended before (the lease released). Nothing waits meanwhile: an idle
        session keeps no task or coroutine frame."""
        try:
            connected = await self._connect(client)
            relay = await self._start_relay(client, *connected) if connected is not None else None
        except BaseException:
            await self.release()
            raise
        if relay is None:
            await self.release()
            return False
        self.relay = relay
        return True

    def when_ended(self, callback: Callable[[object], None]) -> None:
        """Call ``callback`` (from the event loop, with an argument to ignore) once the started session has a cause
        to end."""
        assert self.relay is not None
        self.relay.when_ended(callback)

    async def close(self) -> None:
        """The end of :meth:`start`'s session: close the relay, forget it, close its tools, release the lease."""
        relay, self.relay = self.relay, None
        try:
            if relay is not None:
                await self._close_relay(relay)
        finally:
            await self.release()

    async def _connect(self, client: FrameSocket) -> tuple[FrameSocket, str, list[Frame]] | None:
        svc = self.svc
        assert self.request is not None and self.key is not None
        held: list[Frame] = []
        if self.initial_session is not None:
            held.append(dumps({"type": "session.update", "session": self.initial_session}).decode())
        try:
            if self.decision is None:
                session, more, closed = await hold_first_events(
                    client, svc.classify_hold_ms, svc.classify_hold_bytes, self.dialect, _kind_hint(self.request)
                )
                if closed is not None:
                    return None
                held.extend(more)
                self.request = with_session_model(
                    dataclasses.replace(self.request, first_session_update=self.request.first_session_update or session)
                )
                _refuse_unknown_model(svc, self.request)
                await self._decide_and_admit()
            decision = self.decision
            route = decision.route if decision is not None else None
            assert route is not None
            upstream, endpoint_name = await svc.upstreams.connect(
                endpoints=route.upstreams, kind=route.kind, model=route.model, client_headers=self.request.headers
            )
        except GatewayError as exc:
            await client.send(error_frame(exc, f"gw_evt_{self.session_id}"))
            await client.close(exc.close_code, exc.close_reason)
            return None
        return upstream, endpoint_name, held

    async def prepare_call_tools(self, route: Route) -> list[JsonObject]:
        """A direct-media call's gateway tools, resolved now; their definitions go into the call's forced session."""
        self.call_tools = await self._call_tools(route)
        return self.call_tool_definitions()

    def call_tool_definitions(self) -> list[JsonObject]:
        return self.call_tools[0].definitions() if self.call_tools is not None else []

    async def _call_tools(self, route: Route) -> tuple[ToolCallInterceptor, SessionTools] | None:
        """A call's HTTP/MCP gateway tools (the handoff ``transfer`` tool is not offered on direct-media calls)."""
        servers, toolset = self.svc.tool_servers, route.gateway_tools
        if servers is None or toolset is None or route.kind is not SessionKind.REALTIME:
            return None
        session_tools = await servers.session_tools(toolset)
        interceptor = ToolCallInterceptor(
            session_tools.tools,
            overrides=route.overrides,
            max_result_bytes=toolset.max_result_bytes,
            filler_instructions=toolset.filler_instructions,
        )
        return interceptor, session_tools

    async def _relay(
        self,
        client: FrameSocket,
        upstream: FrameSocket,
        endpoint_name: str,
        held: list[Frame],
        *,
        call_id: str | None = None,
        transport: str | None = None,
    ) -> None:
        relay = await self._start_relay(client, upstream, endpoint_name, held, call_id=call_id, transport=transport)
        try:
            await relay.wait_ended()
        finally:
            await self._close_relay(relay)

    async def _start_relay(
        self,
        client: FrameSocket,
        upstream: FrameSocket,
        endpoint_name: str,
        held: list[Frame],
        *,
        call_id: str | None = None,
        transport: str | None = None,
    ) -> RelaySession:
        svc, request, key, decision = self.svc, self.request, self.key, self.decision
        assert request is not None and key is not None and decision is not None and decision.route is not None
        route = decision.route
        now = svc.clock()
        info = SessionInfo(
            session_id=self.session_id,
            endpoint=self.handshake.endpoint,
            kind=route.kind,
            dialect=self.dialect,
            requested_model=request.requested_model,
            decision=decision,
            route=route,
            tenant=key.tenant,
            key_id=key.key_id,
            upstream=endpoint_name,
            client_address=self.handshake.client_address,
            traceparent=self.handshake.headers.get("traceparent"),
            labels=dict(key.labels),
            transport=transport or self.transport,
            call_id=call_id,
            caps=route.caps.tightened(svc.default_caps),
        )
        # what the session needs of the handshake's headers and query is in ``info`` and ``request`` now
        self.handshake = dataclasses.replace(self.handshake, headers=_NOTHING, query=_NOTHING, subprotocols=())
        tools = await route_tools(svc, route) if call_id is None else self.call_tools
        core = SessionCore(
            kind=route.kind,
            dialect=self.dialect,
            now=now,
            requested_model=request.requested_model,
            served_model=route.model,
            overrides=with_bound_session(route.overrides, key.bound_session, route.kind),
            bound_session=key.bound_session,
            max_message_bytes=svc.max_message_bytes,
            max_frames_per_second=svc.max_frames_per_second,
            declared_tools_check=declared_tools_check(svc, request, decision),
            tools=tools[0] if tools is not None else None,
            direct_media=call_id is not None,
            barge_in=route.barge_in,
            handoff=Handoff(route.handoff, route.name, route.model) if route.handoff is not None and call_id is None else None,
            gateway_events=route.gateway_events and self.gateway_events,
        )
        if is_client_side_bridge(client):  # the WebRTC bridge's own truncates: the core knows them by id
            client.issue_event_ids_with(core.bridge_ids.issue)
        observers = [FailsafeObserver(f.create(info, now), f.name) for f in svc.observer_factories]
        relay = RelaySession(
            info=info, core=core, client=client, upstream=upstream,
            observers=observers, clock=svc.clock, limits=svc.relay_limits, held_frames=held,
            opener=self._targets(key, request, core) if core.handoff is not None else None,
        )
        relay.tool_runner = start_tool_runner(tools, svc, upstream, self.session_id) if tools is not None else None
        svc.sessions.add(relay)
        try:
            await relay.start()
        except BaseException:
            await self._forget_relay(relay)
            raise
        return relay

    async def _close_relay(self, relay: RelaySession) -> None:
        try:
            await relay.close()
        finally:
            await self._forget_relay(relay)

    async def _forget_relay(self, relay: RelaySession) -> None:
        self.svc.sessions.remove(relay)
        if relay.tool_runner is not None:
            await relay.tool_runner.close()

    def _targets(self, key: KeyRecord, request: SessionRequest, home: SessionCore) -> SessionTargets:
        return SessionTargets(self.svc, key, request, self.session_id, _check_target, home)


def _check_target(catalog: Catalog, route: Route) -> None:
    """A handoff target's model is checked as a handshake's is (not retired today)."""
    check_retired(catalog, route.model, utc_today())


def declared_tools_check(svc: InboundServices, request: SessionRequest, decision: RouteDecision) -> DeclaredToolsCheck:
    """Policy rules about declared tools, re-asked for every tool declaration of the session."""

    def check(tools: list[object]) -> GatewayError | None:
        session = {**(request.first_session_update or {}), "tools": tools}
        again = svc.router.decide(dataclasses.replace(request, first_session_update=session))
        if again.route is None:
            reason = again.deny_reason or f"refused by policy rule '{again.rule_id}'"
            return ToolsNotAllowed(f"Declaring these tools is not allowed: {reason}", param="tools")
        if again.route != decision.route:
            return ToolsNotAllowed(
                "Declaring these tools would put this session on another route; declare them before the session starts.",
                param="tools",
            )
        return None

    return check


def _refuse_unknown_model(svc: InboundServices, request: SessionRequest) -> None:
    """A model neither the catalog nor a rule names is refused at the handshake (HTTP 400), not after it."""
    requested = request.requested_model
    if requested and svc.catalog.resolve(requested) is None and not _model_known(svc, requested, svc.router.decide(request).matched):
        raise unknown_model(svc.catalog, requested)


def with_session_model(request: SessionRequest) -> SessionRequest:
    """Take the model a client names in its first ``session.update`` when the URL names none."""
    if request.requested_model or request.first_session_update is None:
        return request
    model = request.first_session_update.get("model")
    if not isinstance(model, str) or not model.strip():
        return request
    return dataclasses.replace(request, requested_model=model.strip())


def _bound(key: KeyRecord) -> dict[str, object] | None:
    return dict(key.bound_session) if key.bound_session is not None else None


def _kind_hint(request: SessionRequest) -> SessionKind:
    """The session kind the handshake suggests, for reading a beta client's first update."""
    kind = intent_kind(request.declared_intent) if request.declared_intent else None
    return kind if kind is SessionKind.TRANSCRIPTION else SessionKind.REALTIME


