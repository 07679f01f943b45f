"""Builders shared by the accounting unit and integration tests."""

from __future__ import annotations

from pathlib import Path

from gateway.core.catalog import Catalog
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionInfo, SessionStats
from gateway.core.routing import Caps, Route, RouteDecision
from gateway.policy.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
PCM_BYTES_PER_S = 48_000
NO_CAPS = Caps()


def catalog() -> Catalog:
    return load_catalog(ROOT / "config" / "models.yaml")


def info(
    *,
    kind: SessionKind = SessionKind.REALTIME,
    model: str = "gpt-realtime-2",
    caps: Caps = NO_CAPS,
    gateway_caps: Caps = NO_CAPS,
    tenant: str | None = "acme",
    session_id: str = "sess_1",
) -> SessionInfo:
    """A routed session; its effective caps are the route's tightened by ``gateway_caps``, as set-up computes them."""
    route = Route(kind=kind, model=model, upstreams=("openai",), caps=caps, name="voice")
    endpoint = EndpointKind.TRANSLATIONS if kind is SessionKind.TRANSLATION else EndpointKind.REALTIME
    return SessionInfo(
        session_id=session_id,
        endpoint=endpoint,
        kind=kind,
        dialect=Dialect.GA,
        requested_model=model,
        decision=RouteDecision(rule_id="rule-voice", reason="test", route=route),
        route=route,
        tenant=tenant,
        key_id="key_1",
        upstream="openai",
        caps=caps.tightened(gateway_caps),
    )


def stats(
    *,
    at: float = 0.0,
    in_s: float = 0.0,
    out_s: float = 0.0,
    since_in_s: float | None = None,
    since_out_s: float | None = None,
    fmt: str = "audio/pcm",
    rate: int = PCM_BYTES_PER_S,
) -> SessionStats:
    s = SessionStats(started_at=0.0, last_activity_at=at, input_format=fmt, output_format=fmt)
    s.audio_in_bytes = int(in_s * rate)
    s.audio_out_bytes = int(out_s * rate)
    s.audio_in_bytes_since_usage = int((in_s if since_in_s is None else since_in_s) * rate)
    s.audio_out_bytes_since_usage = int((out_s if since_out_s is None else since_out_s) * rate)
    return s


#: the usage block of the protocol spec, section 3.1
SPEC_USAGE: dict[str, object] = {
    "total_tokens": 1500,
    "input_tokens": 1100,
    "output_tokens": 400,
    "input_token_details": {
        "text_tokens": 700,
        "audio_tokens": 380,
        "image_tokens": 20,
        "cached_tokens": 900,
        "cached_tokens_details": {"text_tokens": 650, "audio_tokens": 250, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 80, "audio_tokens": 320},
}
