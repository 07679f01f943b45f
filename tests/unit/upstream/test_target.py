"""Upstream URLs follow the session kind's rule and cannot be injected into."""

import pytest

from gateway.core.catalog import UpstreamEndpoint
from gateway.core.kinds import SessionKind
from gateway.upstream.target import Targets, build_target

OPENAI = UpstreamEndpoint(name="openai", url="wss://api.openai.com/v1/")


def test_voice_agent_uses_model_query() -> None:
    """Voice agents connect to /realtime?model=…"""
    t = build_target(OPENAI, kind=SessionKind.REALTIME, model="gpt-realtime-2", credential="sk-x")
    assert t.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2"
    assert t.headers["Authorization"] == "Bearer sk-x"


def test_transcription_uses_intent_and_no_model() -> None:
    """Transcription connects with intent=transcription and no model (else OpenAI answers invalid_model)."""
    t = build_target(OPENAI, kind=SessionKind.TRANSCRIPTION, model="gpt-realtime-whisper", credential=None)
    assert t.url == "wss://api.openai.com/v1/realtime?intent=transcription"
    assert "model" not in t.url


def test_translation_path() -> None:
    """Translation sessions use their own path."""
    t = build_target(OPENAI, kind=SessionKind.TRANSLATION, model="gpt-realtime-translate", credential=None)
    assert t.url == "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate"


def test_azure_deployment_and_api_key_header() -> None:
    """Azure endpoints map models to deployments and use the api-key header."""
    azure = UpstreamEndpoint(name="az", url="wss://r.openai.azure.com/openai/v1", auth_header="api-key", auth_scheme="",
                             deployments={"gpt-realtime-2.1": "prod-rt"})
    t = build_target(azure, kind=SessionKind.REALTIME, model="gpt-realtime-2.1", credential="k")
    assert t.url.endswith("/openai/v1/realtime?model=prod-rt")
    assert t.headers == {"api-key": "k"}


def test_model_name_cannot_inject_query_parameters() -> None:
    """A hostile model name is URL-encoded, not spliced into the query."""
    t = build_target(OPENAI, kind=SessionKind.REALTIME, model="x&intent=transcription#", credential=None)
    assert t.url.endswith("model=x%26intent%3Dtranscription%23")


def test_header_injection_is_refused() -> None:
    """CR/LF in a passed-through header value is refused."""
    with pytest.raises(ValueError):
        build_target(OPENAI, kind=SessionKind.REALTIME, model="m", credential=None,
                     client_headers={"openai-safety-identifier": "a\r\nX-Evil: 1"})


def test_repr_hides_credentials() -> None:
    """Printing a target never shows its headers."""
    t = build_target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="sk-secret")
    assert "sk-secret" not in repr(t)


def test_targets_reuse_the_target_of_an_endpoint_kind_and_model() -> None:
    """A pool's second connect for the same endpoint, kind, model and credential gets the same target as the first."""
    targets = Targets()
    first = targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k", client_headers={"x-other": "1"})
    again = targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k", client_headers={})
    assert again is first
    assert first == build_target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k")


def test_targets_build_anew_when_anything_differs() -> None:
    """Another model, kind, credential, endpoint object, a call id or a passed-through header each get their own target."""
    targets = Targets()
    first = targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k")
    assert targets.target(OPENAI, kind=SessionKind.REALTIME, model="n", credential="k").url.endswith("model=n")
    assert "intent=transcription" in targets.target(OPENAI, kind=SessionKind.TRANSCRIPTION, model="m", credential="k").url
    assert targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k2").headers["Authorization"] == "Bearer k2"
    reloaded = UpstreamEndpoint(name="openai", url="wss://other.example/v1")
    assert targets.target(reloaded, kind=SessionKind.REALTIME, model="m", credential="k").url.startswith("wss://other.example/")
    assert targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k", call_id="c1").url.endswith("call_id=c1")
    passed = targets.target(
        OPENAI, kind=SessionKind.REALTIME, model="m", credential="k", client_headers={"openai-safety-identifier": "u1"}
    )
    assert passed.headers["openai-safety-identifier"] == "u1"
    assert targets.target(OPENAI, kind=SessionKind.REALTIME, model="m", credential="k2") is not first
