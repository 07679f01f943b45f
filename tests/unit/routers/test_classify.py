"""Intent classification order: declaration, path, model, first session.update, endpoint fallback."""

from __future__ import annotations

import pytest

from gateway.core.catalog import Catalog
from gateway.core.kinds import EndpointKind, SessionKind
from routers.classify import INTENT_VOCABULARY, classify, session_kind
from tests.unit.routers.conftest import request


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("realtime", SessionKind.REALTIME),
        ("agent", SessionKind.REALTIME),
        ("voice_agent", SessionKind.REALTIME),
        ("Voice-Agent", SessionKind.REALTIME),
        ("transcription", SessionKind.TRANSCRIPTION),
        ("captions", SessionKind.TRANSCRIPTION),
        ("translation", SessionKind.TRANSLATION),
    ],
)
def test_vocabulary(word: str, kind: SessionKind) -> None:
    """Each documented intent word maps to its session kind, case- and dash-insensitively."""
    assert classify(request(declared_intent=word), None).kind is kind


def test_vocabulary_is_exactly_the_documented_words() -> None:
    """The accepted vocabulary is the documented six words."""
    assert set(INTENT_VOCABULARY) == {"realtime", "agent", "voice_agent", "transcription", "captions", "translation"}


def test_declaration_beats_model(catalog: Catalog) -> None:
    """intent=captions wins over a realtime model in the query."""
    spec = catalog.resolve("gpt-realtime-2")
    found = classify(request(declared_intent="captions", requested_model="gpt-realtime-2"), spec)
    assert found.kind is SessionKind.TRANSCRIPTION and "declared intent" in found.source


def test_translations_path_beats_model(catalog: Catalog) -> None:
    """The translations endpoint is translation even with another model named."""
    req = request(endpoint=EndpointKind.TRANSLATIONS, path="/v1/realtime/translations")
    assert classify(req, catalog.resolve("gpt-realtime-2")).kind is SessionKind.TRANSLATION


def test_model_beats_session_update(catalog: Catalog) -> None:
    """The requested model's catalog kind wins over the session.update's type."""
    req = request(requested_model="gpt-realtime-whisper", first_session_update={"type": "realtime"})
    found = classify(req, catalog.resolve("gpt-realtime-whisper"))
    assert found.kind is SessionKind.TRANSCRIPTION and found.source == "model 'gpt-realtime-whisper'"


def test_session_update_when_handshake_says_nothing() -> None:
    """Without declaration or model, the first session.update decides."""
    found = classify(request(first_session_update={"type": "transcription"}), None)
    assert found.kind is SessionKind.TRANSCRIPTION and found.source == "first session.update"


def test_unknown_without_any_signal() -> None:
    """Nothing in the handshake and no session.update: the kind is not known."""
    assert classify(request(), None).kind is None


def test_unknown_declared_intent_is_an_error() -> None:
    """A declared intent outside the vocabulary is refused with the accepted list."""
    found = classify(request(declared_intent="dictation"), None)
    assert found.error is not None and "Unknown intent 'dictation'" in found.error


@pytest.mark.parametrize(
    ("session", "kind"),
    [
        ({"type": "realtime"}, SessionKind.REALTIME),
        ({"type": "transcription"}, SessionKind.TRANSCRIPTION),
        ({"tools": [{"type": "function", "name": "x"}]}, SessionKind.REALTIME),
        ({"audio": {"output": {"language": "es"}}}, SessionKind.TRANSLATION),
        ({"audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}}}, SessionKind.TRANSCRIPTION),
        ({"instructions": "hi"}, None),
        ({"type": "bogus"}, None),
    ],
)
def test_session_kind_from_session_update(session: dict[str, object], kind: SessionKind | None) -> None:
    """session.type first, then tools, translation output language, transcription settings."""
    assert session_kind(session) is kind
