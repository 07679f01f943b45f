"""Composition root: settings read once, services wired into one typed object on ``app.state``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Response
from starlette.routing import WebSocketRoute

from gateway.accounting.caps import default_caps
from gateway.accounting.service import AccountingService, fallback_pricing
from gateway.adapters import AccountingAdmission, PolicyRouter
from gateway.core import language
from gateway.core.catalog import Catalog
from gateway.core.errors import CallHungUp, EndedByOperator
from gateway.core.kinds import EndpointKind
from gateway.core.observers import ObserverFactory
from gateway.core.ratelimit import FailureLimiter, HandshakeLimits, KeyedTokenBuckets, LocalFailureLimiter
from gateway.directory.service import DirectoryHooks, SessionDirectory
from gateway.inbound import http
from gateway.inbound.admin import AdminServices, admin_router
from gateway.inbound.calls.control import calls_control_router
from gateway.inbound.calls.direct import CallSettings
from gateway.inbound.calls.service import CallServices
from gateway.inbound.calls.sip import SipFrontDoor, sip_router
from gateway.inbound.client_secrets import ClientSecretServices, client_secrets_router
from gateway.inbound.body_limit import BodyLimit
from gateway.inbound.cors import ScopedCORS
from gateway.inbound.http_errors import install_http_errors
from gateway.webrtc.codecs import set_encoder_complexity
from gateway.webrtc.ice import IceOptions, parse_port_range, restrict_host_addresses, restrict_ports
from gateway.core.money import usd_to_micros
from gateway.upstream.calls import CallsClient
from gateway.inbound.demo import DemoConfig, demo_enabled, demo_router
from gateway.inbound.gateway_services import GatewayServices
from gateway.inbound.handshake import AuthFailureGuard, HandshakeService
from gateway.inbound.services import InboundServices
from gateway.inbound.webrtc import webrtc_router
from gateway.keys.auth_failures import SharedFailureLimiter
from gateway.keys.client_secrets import ClientSecretStore
from gateway.keys.keyring import GatewayVerifier, build_verifier
from gateway.keys.static import StaticKeys
from gateway.store.connect import StorePorts, create_store, store_ports
from gateway.store.keyspace import KeySpace
from gateway.transports.asgi.endpoint import SessionEndpoint, UnknownPathEndpoint
from gateway.transports.asgi.fastpath import RealtimeFastPath
from gateway.policy.catalog import EMULATOR_ENDPOINT, compile_catalog, read_catalog
from gateway.policy.holder import PolicyHolder
from gateway.relay.live_sessions import LiveSessions
from gateway.policy.tools import toolsets_of
from gateway.tools.servers import ToolServers
from gateway.relay.session import RelayLimits
from gateway.transports.head_limit import HeadLimits
from gateway.settings import Settings
from gateway.startup import announce, banner_facts, generate_local_key, supervised_worker, supervisor_key
from gateway.telemetry import Telemetry, register_secret, setup_telemetry
from gateway.upstream.pool import UpstreamPool
from gateway.upstream.connectors import ConnectorOptions, create_connector

log = logging.getLogger("voice_gateway")


def _credentials(catalog: Catalog, settings: Settings) -> dict[str, str]:
    """Upstream secrets by endpoint name, read from the environment variables the catalog names."""
    found: dict[str, str] = {}
    for name, endpoint in catalog.endpoints.items():
        if name == EMULATOR_ENDPOINT:
            found[name] = "emulator-local"  # the emulator checks a key is present, like OpenAI; not a secret
            continue
        if endpoint.auth_env is None:
            continue
        if endpoint.auth_env == "OPENAI_API_KEY" and settings.openai_api_key is not None:
            found[name] = settings.openai_api_key.get_secret_value()
        elif endpoint.auth_env in os.environ:
            found[name] = os.environ[endpoint.auth_env]
    return found


def _async(close: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        close()

    return run


def _local_keys(settings: Settings) -> list[str]:
    """The static keys; with none set, one generated key (the start-up banner hands it over)."""
    keys = [k.get_secret_value() for k in settings.api_keys]
    if not keys:
        generated = supervisor_key() or generate_local_key()  # one key for all of a supervisor's workers
        register_secret(generated)
        keys = [generated]
    return keys


#: browser-facing HTTP paths: CORS follows ``allowed_origins`` here only
CLIENT_SECRET_PATHS = ("/v1/realtime/client_secrets", "/v1/realtime/translations/client_secrets", "/v1/realtime/sessions")


@dataclass
class Runtime:
    """Everything started in the lifespan, so shutdown can stop it in reverse order."""

    settings: Settings
    services: InboundServices
    store: StorePorts
    verifier: GatewayVerifier
    directory: SessionDirectory
    policy: PolicyHolder
    accounting: AccountingService
    telemetry: Telemetry
    calls: CallServices | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    local_keys: list[str] = field(default_factory=list)
    emulator_url: str | None = None

    async def drain(self) -> None:
        log.info("draining", extra={"live_sessions": len(self.services.sessions)})
        await self.services.sessions.drain(self.settings.drain_seconds)

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Ready when a policy is loaded, the store answers (unless failing open), and not draining."""
        status = self.policy.status()
        draining = self.services.sessions.draining
        store_ok = self.accounting.healthy
        ready = not draining and (store_ok or self.settings.store_failure_mode == "open")
        return ready, {
            "draining": draining,
            "live_sessions": len(self.services.sessions),
            "store": {"kind": self.store.accounting.kind, "healthy": store_ok},
            "policy": {"version": status.version, "last_error": status.last_error},
            "upstream": "emulator" if self.settings.emulator_upstream else "configured",
        }


async def _start(settings: Settings) -> Runtime:
    clock = time.monotonic
    closers: list[Callable[[], Awaitable[None]]] = []
    emulator_url: str | None = None
    emulator_calls_url: str | None = None
    if settings.emulator_upstream:
        from gateway.emulator.server import start_emulator

        emulator = await start_emulator("127.0.0.1", 0)
        closers.append(emulator.close)
        emulator_url = emulator.url
        emulator_calls_url = emulator.calls_url
        log.info("no OPENAI_API_KEY set: every model is served by the embedded emulator at %s", emulator_url)
    catalog = compile_catalog(
        read_catalog(settings.resolved_catalog_file),
        upstream_url=settings.upstream_url,
        emulator_url=emulator_url,
        fallback_pricing=fallback_pricing(settings),
        connect_timeout_s=settings.upstream_connect_timeout_s,
        upstream_calls_url=settings.upstream_calls_url,
        emulator_calls_url=emulator_calls_url,
    )
    policy = PolicyHolder(settings.resolved_policy_files, catalog)
    credentials = _credentials(catalog, settings)
    pool = UpstreamPool(
        catalog=catalog,
        connector=create_connector(
            settings.upstream_connector,
            ConnectorOptions(
                max_message_bytes=settings.max_message_bytes + 4 * 1024 * 1024,
                ping_interval_s=settings.ping_interval_s,
                ping_timeout_s=settings.ping_timeout_s,
            ),
        ),
        credentials=credentials,
        clock=clock,
    )
    calls = CallServices(
        client=CallsClient(credentials),
        settings=CallSettings(
            media=settings.webrtc_media,
            sideband_loss=settings.sideband_loss,
            reattach_attempts=settings.sideband_reattach_attempts,
        ),
    )
    closers.append(calls.client.close)
    local_keys = _local_keys(settings)
    sessions = LiveSessions(clock=clock)
    sessions.start()
    closers.append(sessions.stop)
    store = store_ports(create_store(settings, KeySpace(settings.redis_key_prefix)))
    accounting = AccountingService(settings, catalog, store.accounting, lease_ttl_s=settings.lease_ttl_s)
    await accounting.start()
    closers.append(accounting.close)
    telemetry = setup_telemetry(settings, catalog=catalog, cost_of=accounting.live_spend)
    closers.append(_async(telemetry.shutdown))
    telemetry.metrics.watch_store(lambda: accounting.healthy)
    accounting.trace_id_of = telemetry.trace_id_of
    accounting.turn_spans_of = telemetry.turn_span_ids_of
    pool.on_failure = lambda endpoint, status: telemetry.record_upstream_connect_failure(
        endpoint, "refused" if status else "unreachable"
    )
    policy.add_listener(lambda event: telemetry.record_policy_reload(event.ok, version=event.version))
    tool_servers = ToolServers()
    closers.append(tool_servers.close)
    tool_servers.start_warming(toolsets_of(policy.current))
    def warm_language_model() -> None:
        if any(route.handoff is not None and route.handoff.on_language for route in policy.current.routes.values()):
            asyncio.get_running_loop().run_in_executor(None, language.warm)  # the language trigger's model, off the loop

    warm_language_model()
    policy.add_listener(lambda event: warm_language_model() if event.ok else None)  # a reload may add language rules
    policy.add_listener(lambda event: tool_servers.start_warming(toolsets_of(policy.current)) if event.ok else None)
    verifier = build_verifier(store.key_records, store.secret_slots, StaticKeys(local_keys))
    directory = SessionDirectory(
        store.directory,
        DirectoryHooks(
            end_local=lambda sid: sessions.end(sid, EndedByOperator()),
            live_spend=accounting.live_spend,
            trace_id_of=telemetry.trace_id_of,
            turns_of=accounting.turns_of,
            handoff_local=sessions.hand_off,
            hang_up_local=lambda sid: sessions.end(sid, CallHungUp()),
        ),
    )
    await directory.start()
    closers.append(directory.close)
    factories: list[ObserverFactory] = [accounting.observer_factory]
    if settings.tracing:
        factories.append(telemetry.observer_factory)
    factories.append(directory)
    services = InboundServices(
        catalog=catalog,
        keys=verifier,
        api_keys=verifier.api_keys,
        router=PolicyRouter(policy),
        admission=AccountingAdmission(accounting),
        upstreams=pool,
        sessions=sessions,
        observer_factories=tuple(factories),
        clock=clock,
        relay_limits=RelayLimits(
            upstream_stall_s=settings.upstream_stall_s,
            slow_client_s=settings.slow_client_seconds,
            delay_probe=telemetry.record_relay_delay,
        ),
        max_message_bytes=settings.max_message_bytes,
        max_frames_per_second=settings.max_frames_per_second,
        classify_hold_ms=settings.classify_hold_ms,
        classify_hold_bytes=settings.classify_hold_bytes,
        allowed_origins=tuple(settings.allowed_origins),
        default_caps=default_caps(
            settings.max_session_usd, settings.max_session_seconds, settings.idle_timeout_seconds, settings.cap_warn_ratio
        ),
        handshake_limits=HandshakeLimits(
            per_address=KeyedTokenBuckets(settings.handshake_rate_per_address, settings.handshake_burst_per_address),
            per_key=KeyedTokenBuckets(settings.handshake_rate_per_key, settings.handshake_burst_per_key),
        ),
        tool_servers=tool_servers,
    )
    return Runtime(
        settings=settings, services=services, store=store, verifier=verifier, directory=directory, policy=policy,
        accounting=accounting, telemetry=telemetry, closers=closers, local_keys=local_keys, calls=calls,
        emulator_url=emulator_url,
    )


def _minter(verifier: GatewayVerifier) -> ClientSecretStore:
    """The verifier's client-secret store (``build_verifier`` always makes one)."""
    if verifier.client_secrets is None:
        raise RuntimeError("the key verifier was built without a client-secret store")
    return verifier.client_secrets


def _failure_limiter(store: StorePorts) -> FailureLimiter:
    """Auth failures are counted where every replica sees them (Redis), else in this process."""
    return SharedFailureLimiter(store.failure_counts) if store.shared else LocalFailureLimiter()


def _gateway_services(settings: Settings, runtime: Runtime) -> GatewayServices:
    """The one services object the endpoints read, complete: built once, never changed."""
    telemetry = runtime.telemetry

    def reload_policies() -> object:
        runtime.policy.reload(time.time())
        return runtime.policy.status()

    demo = None
    if demo_enabled(settings.demo, settings.emulator_upstream, bool(settings.api_keys)):
        demo = DemoConfig(
            local_key=runtime.local_keys[0],
            accounting=runtime.accounting,
        )
    return GatewayServices(
        inbound=runtime.services,
        handshakes=HandshakeService(
            runtime.services,
            AuthFailureGuard(_failure_limiter(runtime.store), time.time),
            on_refused=lambda error, endpoint: telemetry.record_admission_refused(error.code, endpoint=endpoint.value),
            calls=runtime.calls.runner if runtime.calls is not None else None,
            find_entry=runtime.directory.find,
        ),
        client_secrets=ClientSecretServices(minter=_minter(runtime.verifier)),
        admin=AdminServices(
            directory=runtime.directory,
            recent_records=runtime.accounting.recent_records,
            reload_policies=reload_policies,
            policy_status=runtime.policy.status,
            jaeger_ui_url=settings.jaeger_ui_url,
            records_between=runtime.accounting.records_between,
        ),
        readiness=runtime.readiness,
        drain=runtime.drain,
        render_metrics=telemetry.render_metrics,
        demo=demo,
        calls=runtime.calls,
        sip=_sip_front_door(settings, runtime),
        webrtc_ice=_bridge_options(settings),
    )


def create_app(settings: Settings | None = None) -> RealtimeFastPath:
    """Build the ASGI app; uvicorn calls this as a factory."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await _start(settings)
        services = _gateway_services(settings, runtime)
        app.state.services = services  # the one assignment: everything the endpoints read
        watcher = asyncio.create_task(runtime.policy.watch(settings.policy_watch_interval_s))
        _on_sighup(lambda: runtime.policy.reload(time.time()))
        if not supervised_worker():  # the supervisor of ``--workers N`` announces once for all
            announce(
                banner_facts(
                    settings,
                    generated_key=None if settings.api_keys else runtime.local_keys[0],
                    emulator_url=runtime.emulator_url,
                    demo=services.demo is not None,
                    policy_version=runtime.policy.status().version,
                )
            )
        try:
            yield
        finally:
            watcher.cancel()
            if len(runtime.services.sessions):
                await runtime.drain()
            for close in reversed(runtime.closers):
                with contextlib.suppress(Exception):
                    await close()

    app = FastAPI(title="voice-gateway", version="0.1.0", lifespan=lifespan)
    install_http_errors(app)
    app.state.head_limits = HeadLimits(max_bytes=settings.max_header_bytes, max_header_count=settings.max_header_count)
    sessions = {
        "/v1/realtime": SessionEndpoint(EndpointKind.REALTIME),
        "/v1/realtime/translations": SessionEndpoint(EndpointKind.TRANSLATIONS),
    }
    for path, endpoint in sessions.items():  # also routed inside the app, for in-process test clients
        app.router.routes.append(WebSocketRoute(path, endpoint))
    app.include_router(http.router)
    app.include_router(webrtc_router())
    app.include_router(sip_router())
    app.include_router(calls_control_router())
    app.include_router(demo_router())
    app.include_router(client_secrets_router())
    app.include_router(admin_router(settings.admin_token))
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_body_bytes, timeout_s=settings.request_body_timeout_s)  # inside CORS: a 413 keeps its headers
    app.add_middleware(ScopedCORS, paths=CLIENT_SECRET_PATHS, allow_origins=list(settings.allowed_origins))
    app.router.routes.append(WebSocketRoute("/{path:path}", UnknownPathEndpoint()))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        services: GatewayServices = app.state.services
        body, content_type = services.render_metrics()
        return Response(body, media_type=content_type)

    return RealtimeFastPath(app, sessions)


def _bridge_options(settings: Settings) -> IceOptions:
    """The terminating bridge's settings: its Opus encoder's complexity (process-wide) and its ICE options."""
    set_encoder_complexity(settings.webrtc_opus_complexity)
    return _ice_options(settings)


def _ice_options(settings: Settings) -> IceOptions:
    """Where the terminating bridge's peer connections can be reached (docs/webrtc.md, deployment)."""
    password = settings.webrtc_turn_password.get_secret_value() if settings.webrtc_turn_password else None
    if password:
        register_secret(password)
    restrict_host_addresses(tuple(settings.webrtc_host_addresses))
    ports = parse_port_range(settings.webrtc_udp_ports) if settings.webrtc_udp_ports else None
    restrict_ports(ports)
    return IceOptions(
        ice_servers=tuple(settings.webrtc_ice_servers),
        turn_username=settings.webrtc_turn_username,
        turn_password=password,
        host_addresses=tuple(settings.webrtc_host_addresses),
        announced_address=settings.webrtc_announced_address,
        udp_ports=ports,
    )


def _sip_front_door(settings: Settings, runtime: Runtime) -> SipFrontDoor | None:
    """The SIP webhook endpoint, when a webhook secret is configured."""
    if settings.webhook_secret is None or runtime.calls is None:
        return None
    secret = settings.webhook_secret.get_secret_value()
    register_secret(secret)
    budget = settings.sip_daily_budget_usd
    return SipFrontDoor(
        secret=secret,
        tolerance_s=settings.webhook_tolerance_s,
        ids=runtime.store.webhook_ids,
        calls=runtime.calls,
        tenant=settings.sip_tenant,
        daily_budget_micros=usd_to_micros(budget) if budget else None,
    )


def _on_sighup(reload: Callable[[], object]) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
