"""Barge-in on direct-media calls, Sans-I/O: the upstream plays the audio, the gateway watches the sideband.

On a direct WebRTC or SIP call the media goes caller ↔ model endpoint; the gateway follows the
call on its sideband WebSocket and sees no audio. The upstream plays the audio itself and reports
it: ``output_audio_buffer.started`` (a response's audio reached the caller), ``…stopped`` (all of
it played) and ``…cleared`` (cut off). It knows exactly what was heard and truncates the item at
that point itself when its buffer is cleared, so the gateway never sends a
``conversation.item.truncate`` here (it could only guess worse).

When the upstream reports ``input_audio_buffer.speech_started`` while a response's audio plays
and it has not stopped within ``grace_ms`` (server VAD without ``interrupt_response``, and a
caller that does not clear its output), the gateway (mode ``protect``) sends on the sideband
``response.cancel`` while that response is still in flight and ``output_audio_buffer.clear``.
The interruption is measured once the upstream reports the audio stopped or cleared: talk-over
runs from the speech start to that report. Nothing goes to the caller (a direct call has no
gateway channel to it). Time comes in as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gateway.core.jsontypes import JsonObject

#: after the gateway acted, how long it waits for the upstream's stopped/cleared before measuring anyway
SETTLE_S: Final = 3.0
#: observing: how long an interruption may stay open before it is measured as it stands
OBSERVE_LIMIT_S: Final = 30.0
#: audio stopped before the gateway acted: the ``response.done`` naming who cancelled may follow the report
STOPPER_WAIT_S: Final = 0.2


@dataclass(slots=True)
class _Audio:
    """A response's audio the upstream is playing to the caller."""

    response_id: str | None
    item_id: str | None
    started_at: float


@dataclass(slots=True)
class DirectInterruption:
    """The caller spoke over the upstream's audio."""

    speech_at: float
    audio: _Audio
    deadline: float
    acted: bool = False
    sent: list[str] = field(default_factory=list)
    ended_at: float | None = None
    ended_by: str | None = None


@dataclass(frozen=True, slots=True)
class DirectOutcome:
    """What to do now: frames for the upstream (sideband), or the settled interruption to measure."""

    to_upstream: tuple[JsonObject, ...] = ()
    settled: DirectInterruption | None = None


class ServerPlayout:
    """The upstream's own playout of a direct call, as its sideband events report it."""

    def __init__(self, *, protect: bool, grace_s: float) -> None:
        self.protect = protect
        self.grace_s = grace_s
        self._audio: _Audio | None = None
        self._item_of: dict[str, str] = {}
        self._in_flight: str | None = None
        #: response id → the upstream's cancel reason (``turn_detected``: its VAD; ``client_cancelled``: a caller)
        self._cancel_reason: dict[str, str] = {}
        #: server VAD's ``interrupt_response`` as the session stands (``None``: not known yet)
        self._interrupts: bool | None = None
        self.pending: DirectInterruption | None = None

    @property
    def due_at(self) -> float | None:
        return self.pending.deadline if self.pending is not None else None

    def upstream(self, event: JsonObject, now: float) -> None:
        """A sideband event (server VAD, responses, the WebRTC/SIP-only ``output_audio_buffer.*``)."""
        t = event.get("type")
        rid = _str(event.get("response_id"))
        if t in ("session.created", "session.updated"):
            self._interrupts = _interrupts(event.get("session"))
        elif t == "response.created":
            response = event.get("response")
            self._in_flight = _str(response.get("id")) if isinstance(response, dict) else None
        elif t == "response.done":
            response = event.get("response")
            if isinstance(response, dict):
                details = response.get("status_details")
                reason = _str(details.get("reason")) if isinstance(details, dict) else None
                done_id = _str(response.get("id"))
                if response.get("status") == "cancelled" and done_id is not None:
                    self._cancel_reason[done_id] = reason or "unknown"
                    while len(self._cancel_reason) > 16:
                        self._cancel_reason.pop(next(iter(self._cancel_reason)))
            self._in_flight = None
        elif t == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("role") == "assistant" and self._in_flight is not None:
                item_id = _str(item.get("id"))
                if item_id is not None:
                    self._item_of[self._in_flight] = item_id
                    while len(self._item_of) > 16:
                        self._item_of.pop(next(iter(self._item_of)))
        elif t == "output_audio_buffer.started":
            self._audio = _Audio(rid, self._item_of.get(rid or ""), now)
        elif t in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
            self._ended(now, "none" if t == "output_audio_buffer.stopped" else "cleared", rid)
        elif t == "input_audio_buffer.speech_started":
            if self._audio is not None and self.pending is None:
                grace = self.grace_s if self.protect else OBSERVE_LIMIT_S
                self.pending = DirectInterruption(speech_at=now, audio=self._audio, deadline=now + grace)

    def _ended(self, now: float, how: str, response_id: str | None) -> None:
        audio = self._audio
        if audio is not None and (response_id is None or audio.response_id in (None, response_id)):
            self._audio = None
        pending = self.pending
        if pending is None or pending.ended_at is not None:
            return
        if response_id is not None and pending.audio.response_id not in (None, response_id):
            return
        pending.ended_at = now
        pending.ended_by = "gateway" if pending.acted else how
        # measured at the next poll: at once after the gateway's own clear, else once the cancel reason is in
        pending.deadline = now if pending.acted or how == "none" else now + STOPPER_WAIT_S

    def _stopper(self, response_id: str | None) -> str:
        """Who cleared audio before the gateway acted (the sideband cannot see the caller's own clear): the caller
        when it cancelled, or when the server's VAD does not interrupt; else the server."""
        reason = self._cancel_reason.get(response_id or "")
        return "client" if reason == "client_cancelled" or self._interrupts is False else "server"

    def poll(self, now: float) -> DirectOutcome | None:
        pending = self.pending
        if pending is None or now < pending.deadline:
            return None
        if pending.ended_at is not None:
            self.pending = None
            if pending.ended_by == "cleared":
                pending.ended_by = self._stopper(pending.audio.response_id)
            return DirectOutcome(settled=pending)
        if pending.acted or not self.protect:
            # no stopped/cleared came: measure as it stands (talk-over up to now)
            self.pending = None
            pending.ended_at, pending.ended_by = now, "gateway" if pending.acted else "none"
            return DirectOutcome(settled=pending)
        return self._act(pending, now)

    def _act(self, pending: DirectInterruption, now: float) -> DirectOutcome:
        pending.acted = True
        pending.deadline = now + SETTLE_S
        rid = pending.audio.response_id
        frames: list[JsonObject] = []
        if rid is not None and rid == self._in_flight:
            frames.append({"type": "response.cancel", "response_id": rid})
            pending.sent.append("response.cancel")
        frames.append({"type": "output_audio_buffer.clear"})
        pending.sent.append("output_audio_buffer.clear")
        return DirectOutcome(to_upstream=tuple(frames))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _interrupts(session: object) -> bool | None:
    """Whether the session's turn detection interrupts a response on speech (``None``: the event does not say)."""
    if not isinstance(session, dict):
        return None
    audio = session.get("audio")
    if isinstance(audio, dict):
        entry = audio.get("input")
        if not isinstance(entry, dict) or "turn_detection" not in entry:
            return None
        detection = entry.get("turn_detection")
    elif "turn_detection" in session:  # the beta shape
        detection = session.get("turn_detection")
    else:
        return None
    if not isinstance(detection, dict):
        return False  # no turn detection: nothing interrupts
    return detection.get("interrupt_response") is not False
