"""A client secret's binding: endpoint, model (after aliases) and session kind, checked at the handshake and after routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.errors import Forbidden
from gateway.core.api_keys import SecretBinding
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.routing import Route, SessionRequest
from gateway.inbound.secret_binding import bound_request, check_bound_route
from gateway.policy.catalog import load_catalog

CATALOG = load_catalog(Path(__file__).resolve().parents[3] / "config" / "models.yaml")
MINI = SecretBinding(EndpointKind.REALTIME, SessionKind.REALTIME, "gpt-realtime-2.1-mini", "gpt-realtime-2.1-mini")


def _request(endpoint: EndpointKind = EndpointKind.REALTIME, model: str | None = None, intent: str | None = None) -> SessionRequest:
    return SessionRequest(endpoint=endpoint, path="/v1/realtime", requested_model=model, declared_intent=intent)


def test_no_model_asked_means_the_bound_model() -> None:
    """A handshake naming no model asks for the model the secret was minted for."""
    assert bound_request(MINI, _request(), CATALOG).requested_model == "gpt-realtime-2.1-mini"


def test_another_model_is_refused() -> None:
    """Naming a dearer model is a 403 that says what the secret was minted for."""
    with pytest.raises(Forbidden, match="minted for model 'gpt-realtime-2.1-mini'"):
        bound_request(MINI, _request(model="gpt-realtime-2"), CATALOG)


def test_webrtc_calls_share_realtime_secrets_but_not_translations() -> None:
    """A realtime secret opens /v1/realtime/calls too, never the translations endpoint."""
    bound_request(MINI, _request(EndpointKind.CALLS), CATALOG)
    with pytest.raises(Forbidden, match="realtime endpoint"):
        bound_request(MINI, _request(EndpointKind.TRANSLATIONS), CATALOG)


def test_transcription_secret_implies_its_intent() -> None:
    """A transcription secret declares the transcription intent when the handshake does not."""
    binding = SecretBinding(EndpointKind.REALTIME, SessionKind.TRANSCRIPTION, "gpt-realtime-whisper")
    assert bound_request(binding, _request(), CATALOG).declared_intent == "transcription"


def test_route_of_another_kind_or_model_is_refused() -> None:
    """After routing, another session kind or another catalog model is a 403."""
    check_bound_route(MINI, Route(kind=SessionKind.REALTIME, model="gpt-realtime-2.1-mini", upstreams=("openai",)), CATALOG)
    with pytest.raises(Forbidden, match="transcription session"):
        check_bound_route(MINI, Route(kind=SessionKind.TRANSCRIPTION, model="gpt-realtime-whisper", upstreams=("openai",)), CATALOG)
    with pytest.raises(Forbidden, match="would run on 'gpt-realtime-2'"):
        check_bound_route(MINI, Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("openai",)), CATALOG)


def test_secret_without_binding_opens_nothing() -> None:
    """A stored secret without a readable binding is refused rather than trusted."""
    with pytest.raises(Forbidden):
        bound_request(None, _request(), CATALOG)
    assert SecretBinding.from_dict({"endpoint": "nowhere", "kind": "realtime", "model": "m"}) is None
