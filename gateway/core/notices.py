"""Gateway notices: the events of the gateway's own (``gateway.*``) that it adds to a client's stream.

``gateway.cap_warning`` (accounting), ``gateway.barge_in`` (barge-in protection) and ``gateway.handoff``
(mid-session handoff) are not part of OpenAI's Realtime API. A client may refuse them at the handshake
(``gateway_events=off`` / ``X-Voice-Gateway-Events: off``) and a route may switch them off
(``gateway_events: false``); the protection itself still acts. Every notice reaches the client through
:meth:`gateway.core.session.SessionCore.notice`, which applies that one switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from gateway.core.errors import InvalidRequest

#: the type prefix of every gateway notice
NOTICE_PREFIX: Final = "gateway."
#: the handshake query parameter and header that carry a client's choice
QUERY_PARAM: Final = "gateway_events"
HEADER: Final = "x-voice-gateway-events"
_VALUES: Final = {"on": True, "off": False}


def is_notice(event: Mapping[str, object]) -> bool:
    """Whether an event is a gateway notice (its type starts with ``gateway.``)."""
    kind = event.get("type")
    return isinstance(kind, str) and kind.startswith(NOTICE_PREFIX)


def client_choice(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """The client's handshake choice (default on); a value other than ``on``/``off`` is refused with HTTP 400.

    ``headers`` have lower-case names. Off in either the query or the header wins."""
    choice = True
    for given, param in ((query.get(QUERY_PARAM), QUERY_PARAM), (headers.get(HEADER), HEADER)):
        if given is None:
            continue
        value = _VALUES.get(given.strip().lower())
        if value is None:
            raise InvalidRequest(f"'{param}' must be 'on' or 'off'.", param=param)
        choice = choice and value
    return choice
