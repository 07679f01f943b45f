"""The kinds of session and the protocol dialects the gateway speaks."""

from enum import StrEnum


class SessionKind(StrEnum):
    """What job a session does; decides the upstream URL shape and the event protocol."""

    REALTIME = "realtime"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"


class EndpointKind(StrEnum):
    """Which inbound endpoint the client used."""

    REALTIME = "realtime"  # /v1/realtime (voice agent or transcription)
    TRANSLATIONS = "translations"  # /v1/realtime/translations
    CALLS = "calls"  # WebRTC /v1/realtime/calls
    SIP = "sip"  # an incoming SIP call announced by a realtime.call.incoming webhook


class Dialect(StrEnum):
    """Event dialect a client speaks: GA, or the retired beta (translated both ways)."""

    GA = "ga"
    BETA = "beta"


class Direction(StrEnum):
    CLIENT_TO_UPSTREAM = "client_to_upstream"
    UPSTREAM_TO_CLIENT = "upstream_to_client"
