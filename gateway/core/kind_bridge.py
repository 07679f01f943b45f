"""A client keeps its protocol when its session is served by a model of another kind (issue #18, item 3).

The entry point: :func:`bridge_for` gives the :class:`KindBridge` a (client kind, upstream kind) pair
needs, or ``None`` when the kinds agree. The bridges live in :mod:`gateway.core.kind_bridges`; the
mapping table is in ``docs/handoff.md``, "Kinds across a handoff".

Where a bridge sits, so metering and enforcement see what the upstream really sends and receives:
client frame → bridge → :class:`gateway.core.session.SessionCore` **of the upstream's kind** (GA
dialect; it enforces the route's overrides and meters input audio) → upstream; upstream frame → that
core (meters, observes) → bridge → client. The bridge's output never reaches a meter.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.core.errors import NotServedByKind
from gateway.core.jsontypes import JsonObject, as_object
from gateway.core.kind_bridges.agent_over_translation import AgentOverTranslation, transcription_config
from gateway.core.kind_bridges.base import KindBridge
from gateway.core.kind_bridges.translation_over_agent import TranslationOverAgent
from gateway.core.kinds import Dialect, SessionKind

__all__ = ["AgentOverTranslation", "KindBridge", "TranslationOverAgent", "bridge_for", "translation_opening"]


def bridge_for(
    client_kind: SessionKind,
    upstream_kind: SessionKind,
    *,
    dialect: Dialect = Dialect.GA,
    client_session: Mapping[str, object] | None = None,
    language: str | None = None,
    seed: int | None = None,
) -> KindBridge | None:
    """The bridge a client of ``client_kind`` needs on an upstream of ``upstream_kind``; ``None`` when the kinds agree.

    ``dialect`` is the client's (the session core behind the bridge speaks GA); ``client_session`` the
    session the client last saw (its last ``session.updated``): formats, voice, output modalities and
    input transcription carry over; ``language`` the translation target; ``seed`` fixes ids for tests.
    Raises :class:`NotServedByKind` for a pair no bridge serves (a transcription session either side;
    a voice-agent session whose audio is not PCM16 24 kHz, which a translation model cannot take).
    """
    if client_kind is upstream_kind:
        return None
    if client_kind is SessionKind.REALTIME and upstream_kind is SessionKind.TRANSLATION:
        return AgentOverTranslation(dialect=dialect, client_session=client_session, language=language, seed=seed)
    if client_kind is SessionKind.TRANSLATION and upstream_kind is SessionKind.REALTIME:
        return TranslationOverAgent(language=language, seed=seed)
    raise NotServedByKind(f"A {client_kind.value} session cannot be served by a {upstream_kind.value} model.")


def translation_opening(language: str | None, client_session: Mapping[str, object] | None = None) -> JsonObject:
    """The translation ``session.update`` body carrying a voice-agent client's settings over: the target
    language, input transcription when the client had it on, its noise reduction."""
    audio_in = as_object(as_object((client_session or {}).get("audio")).get("input"))
    patch_in: JsonObject = {}
    if audio_in.get("transcription") is not None:
        patch_in["transcription"] = transcription_config(audio_in["transcription"])
    if "noise_reduction" in audio_in:
        patch_in["noise_reduction"] = audio_in["noise_reduction"]
    audio: JsonObject = {}
    if patch_in:
        audio["input"] = patch_in
    if language:
        audio["output"] = {"language": language}
    return {"audio": audio}
