"""What the composition root tells the operator once the gateway is up: the start-up banner."""

from __future__ import annotations

import os
import secrets
import sys

from gateway.store.connect import describe_store
from gateway.settings import Settings
from gateway.telemetry.banner import BannerFacts, emit_banner
from gateway.telemetry.logs import current_log_style


#: set by the worker supervisor (``serve --workers N``): it prints the banner once, so the workers do not
WORKERS_ENV = "VOICE_GATEWAY_SUPERVISED_WORKERS"
#: the one generated key the supervisor hands every worker when no static key is set
GENERATED_KEY_ENV = "VOICE_GATEWAY_SUPERVISOR_GENERATED_KEY"


def generate_local_key() -> str:
    """A key for a gateway started without any (the banner hands it over)."""
    return f"vg_local_{secrets.token_urlsafe(24)}"


def supervised_worker() -> bool:
    """This process is one of ``serve --workers N``'s workers (the supervisor announces the gateway)."""
    return bool(os.environ.get(WORKERS_ENV))


def supervisor_key() -> str | None:
    """The key the supervisor generated for all its workers (``None``: not supervised, or static keys set)."""
    return os.environ.get(GENERATED_KEY_ENV) or None


def _base_url(settings: Settings) -> str:
    scheme = "https" if settings.tls_certfile else "http"
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{settings.port}"


def _upstream(settings: Settings, emulator_url: str | None) -> str:
    if settings.emulator_upstream:
        where = f"at {emulator_url}" if emulator_url else "in each worker"
        return f"embedded emulator {where} (set OPENAI_API_KEY to reach OpenAI)"
    if settings.upstream_url:
        return f"{settings.upstream_url} (VOICE_GATEWAY_UPSTREAM_URL)"
    return "OpenAI, endpoints from the model catalog"


def _keys_source(settings: Settings) -> str:
    static = f"{len(settings.api_keys)} from VOICE_GATEWAY_API_KEYS" if settings.api_keys else "none static"
    return f"{static}; stored keys from `voice-gateway keys create`"


def banner_facts(
    settings: Settings, *, generated_key: str | None, emulator_url: str | None, demo: bool, policy_version: str | None = None
) -> BannerFacts:
    """The banner's facts from the settings and what the lifespan started."""
    url = _base_url(settings)
    policies = [str(path) for path in settings.resolved_policy_files]
    if policies and policy_version:
        policies[-1] += f" (version {policy_version})"
    return BannerFacts(
        url=url,
        generated_key=generated_key,
        keys_source=_keys_source(settings),
        upstream=_upstream(settings, emulator_url),
        store=describe_store(settings.redis_url),
        demo_url=f"{url}/demo" if demo else None,
        admin_url=f"{url}/admin/ui" if settings.admin_token is not None else None,
        metrics_url=f"{url}/metrics",
        policy_files=policies,
        jaeger_ui_url=settings.jaeger_ui_url,
    )


def announce(facts: BannerFacts) -> None:
    """Print the banner in the style of the installed log handler (JSON line when none is installed)."""
    style = current_log_style()
    emit_banner(
        facts,
        human=style.human if style else False,
        color=style.color if style else False,
        stream=style.stream if style else sys.stderr,
        stdout=sys.stdout,
    )
