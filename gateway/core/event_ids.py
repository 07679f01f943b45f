"""Which events are the gateway's own, decided by exact id, never by what an id looks like.

The gateway tags what it sends upstream itself (tool outputs and follow-ups, fillers, barge-in
cancels and truncates, ceiling updates, the handoff replay) with ``event_id`` values in a reserved
namespace (:data:`GATEWAY_EVENT_PREFIX`), and reads the upstream's answers (an ``error`` naming
one of them) as answers to the gateway. Two rules keep that origin unforgeable:

* the namespace is the gateway's alone: a client event whose ``event_id`` is in it is refused
  with an OpenAI-shaped ``invalid_request_error`` (param ``event_id``) and never reaches the
  upstream (:func:`refuse_reserved_event_id`; the audio fast path never proves such a frame
  canonical, so it takes this check too); so is a client item whose ``id`` is in it
  (``item.id``), since the handoff replay names its items there;
* where the core must tell its own event from another, it compares with the ids it minted
  (each component keeps the exact ids it is waiting on). The one event the gateway originates on
  the *client's* side — the WebRTC bridge's ``conversation.item.truncate`` when it cut its
  playout — carries an id issued by :meth:`GatewayEventIds.issue` (unguessable, remembered,
  accepted once: :meth:`GatewayEventIds.redeem`).
"""

from __future__ import annotations

import itertools
import secrets
from typing import Final

from gateway.core.errors import InvalidRequest
from gateway.core.jsontypes import JsonObject
from gateway.core.protocol import GATEWAY_EVENT_PREFIX

#: ids issued to the client-side bridge and not yet seen back, per session (the oldest forgotten first)
MAX_ISSUED: Final = 64


def reserved(event_id: object) -> bool:
    """Whether an id is in the gateway's namespace (only the gateway may send such ids upstream)."""
    return isinstance(event_id, str) and event_id.startswith(GATEWAY_EVENT_PREFIX)


def refuse_reserved_event_id(event: JsonObject) -> None:
    """A client event may not carry an ``event_id`` (or create an item ``id``) in the gateway's namespace."""
    if reserved(event.get("event_id")):
        raise InvalidRequest(
            f"Event ids starting with '{GATEWAY_EVENT_PREFIX}' are reserved for the gateway; choose another event_id.",
            param="event_id",
        )
    item = event.get("item")
    if event.get("type") == "conversation.item.create" and isinstance(item, dict) and reserved(item.get("id")):
        raise InvalidRequest(
            f"Item ids starting with '{GATEWAY_EVENT_PREFIX}' are reserved for the gateway; choose another item id.",
            param="item.id",
        )


class GatewayEventIds:
    """Ids for the events a client-side bridge of the gateway sends in the client's place (one session)."""

    def __init__(self) -> None:
        self._token = secrets.token_hex(8)
        self._n = itertools.count(1)
        self._issued: dict[str, None] = {}

    def issue(self, what: str) -> str:
        """A fresh id the core will take as the gateway's (once) when it comes back as a client event."""
        event_id = f"{GATEWAY_EVENT_PREFIX}{what}_{self._token}_{next(self._n)}"
        self._issued[event_id] = None
        while len(self._issued) > MAX_ISSUED:
            self._issued.pop(next(iter(self._issued)))
        return event_id

    def redeem(self, event_id: object) -> bool:
        """Whether ``event_id`` was issued here and not seen before (it is forgotten now)."""
        if not isinstance(event_id, str) or event_id not in self._issued:
            return False
        del self._issued[event_id]
        return True
