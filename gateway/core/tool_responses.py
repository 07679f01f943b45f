"""The responses the gateway asks for on behalf of its tools, Sans-I/O: follow-ups and fillers.

Tracks which responses are running upstream (in the conversation or out of band) so that the
gateway's own ``response.create`` goes out only when nothing is being said: a follow-up (the model
answers with the tool results) waits in a queue until the running responses are done; a refused
one (``conversation_already_has_active_response``) is queued again. A filler is an out-of-band
response with fixed instructions, tagged in its ``metadata`` so clients can tell it apart.

Each of these replies is bounded exactly like a client's ``response.create``
(:func:`gateway.core.allowance.clamp_response`, on the session's allowance and ceiling, which the
session core binds with :meth:`GatewayResponses.bind`): ``max_output_tokens`` lowered to what the
cap or budget leaves, decided when the frame goes out (not when it was queued); while the allowance
is stale (a reply ended, its usage not metered yet) the reply waits like a client's would
(:attr:`GatewayResponses.held`); with nothing left it is not sent and the cap's error is kept in
:attr:`GatewayResponses.refusal` for the core to end the session with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.core.allowance import clamp_response
from gateway.core.errors import CapReached
from gateway.core.frames import dumps as _dumps
from gateway.core.jsontypes import JsonObject
from gateway.core.observers import ResponseClamped, SessionStats
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

    def __init__(
        self,
        overrides: SessionOverrides,
        filler_instructions: str,
        event_id: Callable[[str], str],
        record: Callable[[ResponseClamped], None] | None = None,
    ) -> None:
        self.overrides = overrides
        self.filler_instructions = filler_instructions
        self._event_id = event_id
        self._record = record or (lambda _event: None)
        #: our response.create events still unanswered, as asked (retried if refused; bounded again when resent)
        self._our_creates: dict[str, JsonObject] = {}
        self._in_conversation: set[str] = set()
        self._out_of_band: set[str] = set()
        self._followups: list[JsonObject] = []
        #: the session's counters and allowance, and its ceiling (bound by the session core; None: unbounded)
        self._stats: SessionStats | None = None
        self._ceiling: Callable[[], object] = lambda: None
        #: nothing was left for one of our replies: the cap's error, for the core to end the session with
        self.refusal: CapReached | None = None
        #: event ids of the fillers asked for (an error naming one of exactly these is ours)
        self._fillers: dict[str, None] = {}

    def bind(self, stats: SessionStats, ceiling: Callable[[], object]) -> None:
        """Bound every reply by ``stats.response_allowance`` and the session's ceiling, as a client's is."""
        self._stats, self._ceiling = stats, ceiling

    @property
    def stale(self) -> bool:
        """The allowance does not count a reply that ended yet (a client's response.create would be held too)."""
        stats = self._stats
        allowance = stats.response_allowance if stats is not None else None
        return allowance is not None and stats is not None and allowance.responses_metered < stats.responses

    @property
    def held(self) -> bool:
        """A follow-up could go out but waits for the last reply's metering (:meth:`flush` with ``force``)."""
        return bool(self._followups) and not self.busy and self.refusal is None and self.stale

    def _bounded(self, event: JsonObject, now: float) -> str | None:
        """The frame of one of our ``response.create`` events with its reply clamped like a client's (None: nothing
        is left; the refusal is kept and nothing of ours is sent any more)."""
        asked = event.get("response")
        response: JsonObject = dict(asked) if isinstance(asked, dict) else {}
        if self._stats is not None:
            try:
                clamped = clamp_response(response, self._stats.response_allowance, self._ceiling(), now)
            except CapReached as exc:
                self.refusal = self.refusal or exc
                self._followups.clear()
                return None
            if clamped is not None:
                self._record(clamped)
        return dumps({**event, "response": response})

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
        event = self._our_creates.pop(event_id, None)
        if event is None:
            return False
        self._in_conversation.discard(f"pending:{event_id}")
        if code == "conversation_already_has_active_response":
            self._followups.append(event)
        return True

    def queue_follow_up(self) -> None:
        """The model should answer with the tool results once nothing else is being said."""
        event_id = self._event_id("response")
        response: JsonObject = {"metadata": {CREATED_BY: event_id}}
        apply_to_response(response, self.overrides)
        self._followups.append({"type": "response.create", "event_id": event_id, "response": response})

    def drop_queued(self) -> int:
        """Forget follow-ups not sent yet (their turn was cancelled); how many were dropped."""
        dropped, self._followups = len(self._followups), []
        return dropped

    def flush(self, now: float, *, force: bool = False) -> list[str]:
        """Queued follow-ups go out once no response is running and the last reply is metered (``force``: the
        relay delivered the pending events; decide on the allowance as it is now)."""
        if self.busy or not self._followups or self.refusal is not None or (self.stale and not force):
            return []
        event = self._followups.pop(0)
        frame = self._bounded(event, now)
        if frame is None:
            return []
        event_id = str(event["event_id"])
        self._our_creates[event_id] = event
        self._in_conversation.add(f"pending:{event_id}")  # until its response.created (or error) arrives
        return [frame]

    def filler(self, now: float) -> str | None:
        """An out-of-band ``response.create`` asking for one short spoken filler (None: nothing is left to pay for it)."""
        response: JsonObject = {
            "conversation": "none",
            "instructions": self.filler_instructions,
            "tools": [],
            "tool_choice": "none",
            "metadata": {FILLER_TAG: "1"},
        }
        apply_to_response(response, self.overrides)
        event_id = self._event_id("filler")
        frame = self._bounded({"type": "response.create", "event_id": event_id, "response": response}, now)
        if frame is None:
            return None
        self._out_of_band.add(_PENDING_FILLER)
        self._fillers[event_id] = None
        while len(self._fillers) > _REMEMBERED_FILLERS:
            self._fillers.pop(next(iter(self._fillers)))
        return frame


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
