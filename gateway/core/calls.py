"""Session configuration of a direct-media call: forced at set-up, re-forced when the peer changes it.

A call's media and data channel bypass the gateway, so the route's overrides cannot be applied to
the peer's ``session.update`` in flight. Instead the configuration the gateway sends upstream with
the offer (or the SIP accept) is already forced, and every ``session.updated`` the sideband reports
is checked: when the peer moved a forced field, the gateway sends the correcting ``session.update``.
Pure: JSON in, JSON out.
"""

from __future__ import annotations

import copy
from typing import Mapping, Sequence

from gateway.core.kinds import SessionKind
from gateway.core.overrides import apply_to_session
from gateway.core.routing import SessionOverrides
from gateway.core.tool_declarations import restored

from gateway.core.jsontypes import JsonObject

#: fields a call's peer may not set through the offer: the gateway decides them
_GATEWAY_OWNED = ("model",)


def _merge(base: JsonObject, patch: Mapping[str, object]) -> JsonObject:
    """Deep-merge ``patch`` over ``base`` (objects merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = _merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def forced_session(
    client_session: Mapping[str, object] | None,
    bound_session: Mapping[str, object] | None,
    overrides: SessionOverrides,
    *,
    kind: SessionKind,
    model: str,
) -> JsonObject:
    """The configuration sent upstream: the client's, under the key's bound config, under the route's overrides.

    Raises ``InvalidRequest`` (client-safe) when the client's configuration breaks a route rule
    (a tool outside the allow-list, instructions too long), exactly as on a WebSocket session.
    """
    session: JsonObject = {k: copy.deepcopy(v) for k, v in (client_session or {}).items() if k not in _GATEWAY_OWNED}
    if bound_session:
        session = _merge(session, {k: v for k, v in bound_session.items() if k not in _GATEWAY_OWNED})
    if kind is not SessionKind.TRANSLATION:
        session["type"] = "transcription" if kind is SessionKind.TRANSCRIPTION else "realtime"
    if kind is SessionKind.REALTIME and overrides.instructions_prefix and "instructions" not in session:
        session["instructions"] = ""  # the prefix applies even when the caller sent no instructions
    apply_to_session(session, overrides, kind)
    if kind is not SessionKind.TRANSCRIPTION:
        session["model"] = model
    return session


def _voice(session: Mapping[str, object]) -> object:
    audio = session.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    return output.get("voice") if isinstance(output, dict) else None


def _turn_detection(session: Mapping[str, object]) -> object:
    audio = session.get("audio")
    side = audio.get("input") if isinstance(audio, dict) else None
    return side.get("turn_detection") if isinstance(side, dict) else None


def _turn_detection_differs(actual: object, forced: JsonObject | None) -> bool:
    if forced is None:
        return actual is not None
    if not isinstance(actual, dict):
        return True
    return any(actual.get(key) != value for key, value in forced.items())


def _holds(actual: object, pinned: object) -> bool:
    """``actual`` has every pinned value (objects compared key by key)."""
    if isinstance(pinned, dict) and pinned:
        return isinstance(actual, dict) and all(_holds(actual.get(k), v) for k, v in pinned.items())
    return actual == pinned


def corrective_update(
    session: Mapping[str, object], overrides: SessionOverrides, gateway_tools: Sequence[JsonObject] = ()
) -> JsonObject | None:
    """The ``session.update`` that puts a reported session back under the overrides, or ``None`` if it complies.

    ``gateway_tools``: the definitions of the route's gateway tools, which the session must keep
    declaring (a caller's ``session.update`` that replaced the tool list gets them back); they are
    allowed by construction, whatever the route's client-tool allow-list says.
    """
    if overrides.empty and not gateway_tools:
        return None
    patch: JsonObject = {}
    prefix = overrides.instructions_prefix
    instructions = session.get("instructions")
    text = instructions if isinstance(instructions, str) else ""
    if prefix and not text.startswith(prefix):
        patch["instructions"] = f"{prefix}\n\n{text}" if text else prefix
    if overrides.voice is not None and _voice(session) != overrides.voice:
        patch["audio"] = {"output": {"voice": overrides.voice}}
    cap = overrides.max_output_tokens
    asked = session.get("max_output_tokens")
    if cap is not None and (not isinstance(asked, int) or asked > cap):
        patch["max_output_tokens"] = cap
    if overrides.sets_turn_detection and _turn_detection_differs(_turn_detection(session), overrides.turn_detection):
        audio = patch.setdefault("audio", {})
        assert isinstance(audio, dict)
        audio["input"] = {"turn_detection": overrides.turn_detection}
    allow = overrides.tool_allowlist
    tools = session.get("tools")
    if isinstance(tools, list) or gateway_tools:
        listed = tools if isinstance(tools, list) else []
        own = {d.get("name") for d in gateway_tools}
        kept = [t for t in listed if allow is None or (isinstance(t, dict) and t.get("name") in own) or allow.refusal(t) is None]
        back = restored(kept, gateway_tools)
        if back is not None or len(kept) != len(listed):
            patch["tools"] = back if back is not None else kept
    for key, value in (overrides.pinned or {}).items():
        if not _holds(session.get(key), value):
            patch = _merge(patch, {key: value})
    if not patch:
        return None
    kind = session.get("type")
    return {"type": "session.update", "session": {"type": kind if isinstance(kind, str) else "realtime", **patch}}
