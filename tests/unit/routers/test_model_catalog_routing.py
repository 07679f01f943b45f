"""Older and newer model names, retired models mapped to successors, and the model named in session.update."""

from __future__ import annotations

from datetime import date
from typing import Callable

import pytest

from gateway.core.catalog import Catalog
from gateway.core.kinds import SessionKind
from gateway.policy.catalog import CatalogError, compile_catalog, parse_catalog
from gateway.policy.loader import PolicyError
from routers import decide, wants_session_update
from routers.compiled import CompiledPolicy
from routers.decide import MODEL_MAP_HIT
from tests.unit.routers.conftest import request

Compile = Callable[[str], CompiledPolicy]

AGENT_POLICY = """
version: 1
model_map:
  gpt-4o-realtime-preview: gpt-realtime-2.1
rules:
  - id: agent
    match: {intent: realtime}
    route: {model: gpt-realtime-2, prefer_requested: true}
"""


@pytest.mark.parametrize("name", [
    "gpt-realtime", "gpt-realtime-2025-08-28", "gpt-realtime-mini", "gpt-realtime-mini-2025-12-15",
    "gpt-4o-realtime-preview", "gpt-4o-realtime-preview-2024-12-17", "gpt-4o-mini-realtime-preview-2024-12-17",
    "gpt-realtime-2.1", "gpt-realtime-2.1-mini", "gpt-realtime-1.5", "gpt-audio-mini",
])
def test_catalog_serves_older_and_newer_realtime_names(catalog: Catalog, name: str) -> None:
    """Every realtime model name in the SDK's literals resolves to a priced realtime catalog entry."""
    spec = catalog.resolve(name)
    assert spec is not None and spec.kind is SessionKind.REALTIME and spec.pricing.text is not None


def test_catalog_knows_transcription_models_and_shutdown_dates(catalog: Catalog) -> None:
    """gpt-live-transcribe is served; legacy names carry their shutdown day and successor."""
    assert catalog.resolve("gpt-live-transcribe").kind is SessionKind.TRANSCRIPTION  # type: ignore[union-attr]
    legacy = catalog.resolve("gpt-realtime")
    assert legacy is not None and legacy.shutdown == date(2027, 1, 20) and legacy.successor == "gpt-realtime-2.1"
    assert not legacy.retired(date(2027, 1, 19)) and legacy.retired(date(2027, 1, 20))
    assert catalog.resolve("whisper-1").shutdown == date(2027, 2, 26)  # type: ignore[union-attr]
    assert catalog.models["gpt-realtime-2"].successor is None
    assert catalog.default_for(SessionKind.REALTIME).name == "gpt-realtime-2"  # type: ignore[union-attr]


def test_catalog_refuses_a_successor_that_is_missing_or_of_another_kind() -> None:
    """A successor must be another catalog model of the same kind."""
    base = """
version: 1
endpoints: {openai: {url: "wss://api.openai.com/v1"}}
models:
  a: {kind: realtime, upstreams: [openai], pricing: {unit: minutes, per_minute: "1"}, successor: %s}
  b: {kind: transcription, upstreams: [openai], pricing: {unit: minutes, per_minute: "1"}}
"""
    for successor in ("nope", "b", "a"):
        with pytest.raises(CatalogError, match="successor"):
            compile_catalog(parse_catalog(base % successor))


def test_legacy_name_is_served_as_asked(compile_policy: Compile) -> None:
    """LiveKit's default gpt-realtime is served as gpt-realtime (prefer_requested)."""
    decision = decide(compile_policy(AGENT_POLICY), request(requested_model="gpt-realtime"))
    assert decision.route is not None and decision.route.model == "gpt-realtime"


def test_model_map_routes_a_retired_name_to_its_successor(compile_policy: Compile) -> None:
    """model_map serves gpt-4o-realtime-preview (and is recorded in matched) as gpt-realtime-2.1."""
    decision = decide(compile_policy(AGENT_POLICY), request(requested_model="gpt-4o-realtime-preview"))
    assert decision.route is not None and decision.route.model == "gpt-realtime-2.1"
    assert decision.matched[MODEL_MAP_HIT] == "gpt-4o-realtime-preview->gpt-realtime-2.1"


def test_model_map_target_must_be_in_the_catalog(compile_policy: Compile) -> None:
    """A model_map entry naming an unknown model is a policy error with its location."""
    with pytest.raises(PolicyError, match="model_map"):
        compile_policy("version: 1\nmodel_map: {old: gpt-nope}\n")


def test_model_named_in_session_update_is_awaited_for_a_declared_agent(compile_policy: Compile) -> None:
    """intent=realtime with no model in the URL: hold for the first session.update (it may name the model)."""
    policy = compile_policy(AGENT_POLICY)
    assert wants_session_update(policy, request(declared_intent="realtime"))
    assert not wants_session_update(policy, request(declared_intent="realtime", requested_model="gpt-realtime-2"))
    assert not wants_session_update(policy, request(declared_intent="transcription"))
