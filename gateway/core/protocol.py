"""Event vocabularies of the three session kinds (client → server direction)."""

from __future__ import annotations

from typing import Final

from gateway.core.kinds import Dialect, SessionKind

REALTIME_CLIENT_EVENTS: Final = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "output_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
    }
)

BETA_ONLY_CLIENT_EVENTS: Final = frozenset({"transcription_session.update"})

TRANSLATION_CLIENT_EVENTS: Final = frozenset(
    {"session.update", "session.input_audio_buffer.append", "session.close"}
)


def client_events(kind: SessionKind, dialect: Dialect) -> frozenset[str]:
    """Client event types the gateway accepts on a session of this kind and dialect."""
    if kind is SessionKind.TRANSLATION:
        return TRANSLATION_CLIENT_EVENTS
    if dialect is Dialect.BETA:
        return REALTIME_CLIENT_EVENTS | BETA_ONLY_CLIENT_EVENTS
    return REALTIME_CLIENT_EVENTS


#: prefix of event ids the gateway itself generates, so upstream errors can be routed back
GATEWAY_EVENT_PREFIX: Final = "gw_"
