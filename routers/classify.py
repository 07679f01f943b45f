"""Which job a session does: declared intent, then the requested model, then the first ``session.update``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from gateway.core.catalog import ModelSpec
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.jsontypes import JsonObject
from gateway.core.routing import SessionRequest

#: the accepted ``intent=`` / ``X-Voice-Intent`` vocabulary (case-insensitive, ``-`` same as ``_``)
INTENT_VOCABULARY: Mapping[str, SessionKind] = {
    "realtime": SessionKind.REALTIME,
    "agent": SessionKind.REALTIME,
    "voice_agent": SessionKind.REALTIME,
    "transcription": SessionKind.TRANSCRIPTION,
    "captions": SessionKind.TRANSCRIPTION,
    "translation": SessionKind.TRANSLATION,
}


def normalize_intent(value: str) -> str:
    """Canonical spelling of a declared intent (``Voice-Agent`` → ``voice_agent``)."""
    return value.strip().lower().replace("-", "_")


def intent_kind(value: str) -> SessionKind | None:
    """The session kind a declared intent names, or ``None`` when it is not in the vocabulary."""
    return INTENT_VOCABULARY.get(normalize_intent(value))


@dataclass(frozen=True, slots=True)
class Classification:
    """The session kind (``None`` = not known yet), where it came from, or why the declaration is refused."""

    kind: SessionKind | None
    source: str
    error: str | None = None


_KIND_VALUES = frozenset(kind.value for kind in SessionKind)
UNKNOWN = Classification(None, "not known from the handshake")


def _mapping(parent: object, key: str) -> JsonObject | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else None


def session_kind(session: JsonObject) -> SessionKind | None:
    """Kind implied by a ``session.update``: its ``type``, else tools, translation or transcription settings."""
    declared = session.get("type")
    if isinstance(declared, str) and declared in _KIND_VALUES:
        return SessionKind(declared)
    if isinstance(session.get("tools"), list) and session["tools"]:
        return SessionKind.REALTIME
    audio = _mapping(session, "audio")
    output = _mapping(audio, "output")
    if output is not None and "language" in output:
        return SessionKind.TRANSLATION
    if _mapping(_mapping(audio, "input"), "transcription") is not None:
        return SessionKind.TRANSCRIPTION
    return None


def classify(request: SessionRequest, requested: ModelSpec | None) -> Classification:
    """Classify in order: declaration (query/header/path), requested model, first ``session.update``."""
    if request.declared_intent:
        kind = intent_kind(request.declared_intent)
        if kind is None:
            accepted = ", ".join(INTENT_VOCABULARY)
            return Classification(
                None, "declared intent", f"Unknown intent '{request.declared_intent[:64]}'; use one of: {accepted}."
            )
        return Classification(kind, f"declared intent '{normalize_intent(request.declared_intent)}'")
    if request.endpoint is EndpointKind.TRANSLATIONS:
        return Classification(SessionKind.TRANSLATION, "endpoint /v1/realtime/translations")
    if requested is not None:
        return Classification(requested.kind, f"model '{requested.name}'")
    if request.first_session_update is not None:
        kind = session_kind(request.first_session_update)
        if kind is not None:
            return Classification(kind, "first session.update")
    return UNKNOWN


def fallback_kind(endpoint: EndpointKind) -> SessionKind:
    """What an unclassified session is, as OpenAI treats it: translation on its endpoint, else realtime."""
    return SessionKind.TRANSLATION if endpoint is EndpointKind.TRANSLATIONS else SessionKind.REALTIME
