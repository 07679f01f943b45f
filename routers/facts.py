"""The attribute values of one session request, extracted once per decision into a flat lookup table."""

from __future__ import annotations

from gateway.core.kinds import SessionKind
from gateway.core.jsontypes import JsonObject
from gateway.core.routing import SessionRequest
from routers.classify import normalize_intent

_NONE: tuple[str, ...] = ()
_TRUE, _FALSE = ("true",), ("false",)


def _text(value: str | None) -> tuple[str, ...]:
    return (value,) if value else _NONE


def _child(parent: object, key: str) -> JsonObject | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else None


def transcription_languages(session: JsonObject) -> tuple[str, ...]:
    """``audio.input.transcription.language`` and ``.languages``, lower-cased."""
    config = _child(_child(_child(session, "audio"), "input"), "transcription")
    if config is None:
        return _NONE
    found: list[str] = []
    single = config.get("language")
    if isinstance(single, str) and single:
        found.append(single.lower())
    several = config.get("languages")
    if isinstance(several, list):
        found.extend(item.lower() for item in several if isinstance(item, str) and item)
    return tuple(found)


def translation_languages(session: JsonObject) -> tuple[str, ...]:
    """``audio.output.language`` of a translation session, lower-cased."""
    output = _child(_child(session, "audio"), "output")
    language = output.get("language") if output is not None else None
    return (language.lower(),) if isinstance(language, str) and language else _NONE


def declares_tools(session: JsonObject) -> bool:
    tools = session.get("tools")
    return isinstance(tools, list) and len(tools) > 0


class Facts:
    """Values by condition label (``model``, ``header:x-team`` …); ``None`` = not known yet (``partial``)."""

    __slots__ = ("values", "budget_used")

    def __init__(self, request: SessionRequest, kind: SessionKind | None, *, partial: bool) -> None:
        declared = normalize_intent(request.declared_intent) if request.declared_intent else None
        values: dict[str, tuple[str, ...] | None] = {
            "intent": (kind.value,) if kind is not None else None,
            "declared_intent": _text(declared),
            "model": _text(request.requested_model),
            "endpoint": (request.endpoint.value,),
            "path": _text(request.path),
            "tenant": _text(request.tenant),
            "key": _text(request.key_id),
        }
        for name, value in request.headers.items():
            values["header:" + name] = _text(value)
        for name, value in request.query.items():
            values["query:" + name] = _text(value)
        for name, value in request.key_labels.items():
            values["label:" + name] = _text(value)
        if partial:
            values["transcription_language"] = values["translation_language"] = values["declares_tools"] = None
        else:
            session = request.first_session_update or {}
            values["transcription_language"] = transcription_languages(session)
            values["translation_language"] = translation_languages(session)
            values["declares_tools"] = _TRUE if declares_tools(session) else _FALSE
        self.values = values
        self.budget_used = request.budget_used_ratio
