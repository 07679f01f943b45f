"""Wiring for keys, client secrets, the session directory and the admin API (called by the composition root).

Two calls: :func:`install_keys` when the app is built (routes and middleware), and
:func:`start_keys` in the lifespan once the store, sessions and services exist.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol

from fastapi import FastAPI

from gateway.keys.auth_failures import LocalFailureLimiter, SharedFailureLimiter
from gateway.accounting.caps import default_caps
from gateway.directory.service import DirectoryHooks, SessionDirectory
from gateway.keys.keyring import build_verifier
from gateway.store.accounting_store import AccountingStore
from gateway.store.auth_failures import RedisFailureCounts
from gateway.store.client_secrets import RedisSecretSlots
from gateway.store.directory import RedisDirectoryBoard
from gateway.store.keyring import RedisKeyRecords
from gateway.core.errors import EndedByOperator
from gateway.core.api_keys import KeyRecord
from gateway.inbound.admin import AdminServices, admin_router
from gateway.inbound.auth_limit import AuthFailureLimitMiddleware, ScopedCORS
from gateway.inbound.client_secrets import ClientSecretServices, client_secrets_router
from gateway.inbound.services import InboundServices
from gateway.settings import Settings

#: browser-facing HTTP paths: CORS follows ``allowed_origins`` here only
CLIENT_SECRET_PATHS = ("/v1/realtime/client_secrets", "/v1/realtime/translations/client_secrets", "/v1/realtime/sessions")


class _Verifier(Protocol):
    async def verify(self, secret: str) -> KeyRecord | None: ...


def install_keys(app: FastAPI, settings: Settings) -> None:
    """At app construction: the client-secret and admin routes, CORS for the former, auth-failure limiting."""
    app.include_router(client_secrets_router())
    app.include_router(admin_router(settings.admin_token))
    app.add_middleware(ScopedCORS, paths=CLIENT_SECRET_PATHS, allow_origins=list(settings.allowed_origins))
    app.add_middleware(AuthFailureLimitMiddleware, limiter=None)


async def start_keys(
    app: FastAPI,
    settings: Settings,
    *,
    store: AccountingStore,
    services: InboundServices,
    static_keys: _Verifier,
    live_spend: Callable[[str], int | None],
    recent_records: Callable[[int], Awaitable[list[dict[str, str]]]],
    records_between: Callable[[float, float], Awaitable[list[dict[str, str]]]] | None = None,
    reload_policies: Callable[[], object],
    policy_status: Callable[[], object],
    trace_id_of: Callable[[str], str | None] = lambda _sid: None,
    turns_of: Callable[[str], list[dict[str, object]] | None] = lambda _sid: None,
) -> Callable[[], Awaitable[None]]:
    """In the lifespan: key verification, client secrets, the directory observer and listener; returns its closer."""
    verifier = build_verifier(RedisKeyRecords(store.client, store.keys), RedisSecretSlots(store.client, store.keys), static_keys)
    services.keys = verifier
    app.state.client_secrets = ClientSecretServices(api_keys=verifier.api_keys, minter=verifier.client_secrets)  # type: ignore[arg-type]
    sessions = services.sessions
    caps = default_caps(settings.max_session_usd, settings.max_session_seconds, settings.idle_timeout_seconds, settings.cap_warn_ratio)
    directory = SessionDirectory(
        RedisDirectoryBoard(store.client, store.keys),
        DirectoryHooks(
            end_local=lambda sid: sessions.end(sid, EndedByOperator()),
            live_spend=live_spend,
            trace_id_of=trace_id_of,
            turns_of=turns_of,
            default_caps=caps,
        ),
    )
    services.observer_factories.append(directory)
    await directory.start()
    app.state.admin = AdminServices(
        directory=directory,
        recent_records=recent_records,
        reload_policies=reload_policies,
        policy_status=policy_status,
        jaeger_ui_url=settings.jaeger_ui_url,
        records_between=records_between,
    )
    app.state.auth_failure_limiter = SharedFailureLimiter(RedisFailureCounts(store.client, store.keys)) if store.kind == "redis" else LocalFailureLimiter()
    return directory.close
