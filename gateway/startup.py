"""What the composition root tells the operator once the gateway is up: the start-up banner."""

from __future__ import annotations

import sys

from gateway.store.connect import describe_store
from gateway.settings import Settings
from gateway.telemetry.banner import BannerFacts, emit_banner
from gateway.telemetry.logs import current_log_style


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
        return f"embedded emulator at {emulator_url} (set OPENAI_API_KEY to reach OpenAI)"
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
