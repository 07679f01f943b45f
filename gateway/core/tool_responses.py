"""The responses the gateway asks for on behalf of its tools, Sans-I/O: follow-ups and fillers.

Tracks which responses are running upstream (in the conversation or out of band) so that the
gateway's own ``response.create`` goes out only when nothing is being said: a follow-up (the model
answers with the tool results) waits in a queue until the running responses are done; a refused
one (``conversation_already_has_active_response``) is queued again. A filler is an out-of-band
response with fixed instructions, tagged in its ``metadata`` so clients can tell it apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from gateway.core.frames import dumps as _dumps
from gateway.core.jsontypes import JsonObject
from gateway.core.overrides import apply_to_response
from gateway.core.routing import SessionOverrides

#: ``metadata`` tag on the gateway's filler responses (echoed in their events)
FILLER_TAG: Final = "voice_gateway_filler"
#: ``metadata`` key carrying the event id of the gateway's follow-up ``response.create``
CREATED_BY: Final = "voice_gateway_event"
_PENDING_FILLER: Final = "pending:filler"
#: filler event ids remembered for recognising the upstream's refusal of one (oldest forgotten first)
_REMEMBERED_FILLERS: Final = 16


def dumps(event: JsonObject) -> str:
    """Events the gateway sends upstream go as text frames, like a client's."""
    return _dumps(event).decode()


class GatewayResponses:
    """Running responses and the gateway's queued ``response.create`` frames for one session."""

    def __init__(self, overrides: SessionOverrides, filler_instructions: str, event_id: Callable[[str], str]) -> None:
        self.overrides = overrides
        self.filler_instructions = filler_instructions
        self._event_id = event_id
        #: event ids of our response.create frames still unanswered (retried if refused)
        self._our_creates: dict[str, str] = {}
        self._in_conversation: set[str] = set()
        self._out_of_band: set[str] = set()
        self._followups: list[str] = []
        #: event ids of the fillers asked for (an error naming one of exactly these is ours)
        self._fillers: dict[str, None] = {}

    @property
    def busy(self) -> bool:
        """A response is running (or one of ours was asked for and not yet created)."""
        return bool(self._in_conversation or self._out_of_band)

    def created(self, response: JsonObject) -> None:
        response_id = _text(response.get("id"))
        if "conversation_id" in response and response["conversation_id"] is None:
            self._out_of_band.add(response_id)
        else:
            self._in_conversation.add(response_id)
        metadata = response.get("metadata")
        if isinstance(metadata, dict):
            created_by = str(metadata.get(CREATED_BY))
            if self._our_creates.pop(created_by, None) is not None:
                self._in_conversation.discard(f"pending:{created_by}")
            if FILLER_TAG in metadata:
                self._out_of_band.discard(_PENDING_FILLER)

    def done(self, response_id: str) -> None:
        self._in_conversation.discard(response_id)
        self._out_of_band.discard(response_id)

    def refused(self, event_id: str, code: object) -> bool:
        """An ``error`` answering one of our ``response.create`` frames (True: it was ours; drop it).

        Ours by the exact ids minted here, never by their look (:mod:`gateway.core.event_ids`)."""
        if event_id in self._fillers:
            del self._fillers[event_id]
            self._out_of_band.discard(_PENDING_FILLER)
            return True
        frame = self._our_creates.pop(event_id, None)
        if frame is None:
            return False
        self._in_conversation.discard(f"pending:{event_id}")
        if code == "conversation_already_has_active_response":
            self._followups.append(frame)
        return True

    def queue_follow_up(self) -> None:
        """The model should answer with the tool results once nothing else is being said."""
        event_id = self._event_id("response")
        response: JsonObject = {"metadata": {CREATED_BY: event_id}}
        apply_to_response(response, self.overrides)
        self._followups.append(dumps({"type": "response.create", "event_id": event_id, "response": response}))

    def drop_queued(self) -> int:
        """Forget follow-ups not sent yet (their turn was cancelled); how many were dropped."""
        dropped, self._followups = len(self._followups), []
        return dropped

    def flush(self) -> list[str]:
        """Queued follow-ups go out once no response is running."""
        if self.busy or not self._followups:
            return []
        frame = self._followups.pop(0)
        event_id = json.loads(frame)["event_id"]
        self._our_creates[event_id] = frame
        self._in_conversation.add(f"pending:{event_id}")  # until its response.created (or error) arrives
        return [frame]

    def filler(self) -> str:
        """An out-of-band ``response.create`` asking for one short spoken filler."""
        response: JsonObject = {
            "conversation": "none",
            "instructions": self.filler_instructions,
            "tools": [],
            "tool_choice": "none",
            "metadata": {FILLER_TAG: "1"},
        }
        apply_to_response(response, self.overrides)
        self._out_of_band.add(_PENDING_FILLER)
        event_id = self._event_id("filler")
        self._fillers[event_id] = None
        while len(self._fillers) > _REMEMBERED_FILLERS:
            self._fillers.pop(next(iter(self._fillers)))
        return dumps({"type": "response.create", "event_id": event_id, "response": response})


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
