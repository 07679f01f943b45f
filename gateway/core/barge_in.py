"""Barge-in protection, Sans-I/O: the agent stops talking when the user does, even when the client forgets.

When the upstream reports ``input_audio_buffer.speech_started`` while the model's audio is still
playing at the listener (:mod:`gateway.core.playback`), an interruption opens. If the client has
not cancelled and truncated within ``grace_ms``, the gateway (mode ``protect``) sends what is
missing: ``response.cancel`` while the response is still in flight (never once the server has
cancelled or finished it: no error event is ever caused), and ``conversation.item.truncate`` at
the estimated heard position; it tells the client with ``gateway.barge_in``. A client that does
it itself is left alone, and its late duplicates of what the gateway already sent are dropped.
Mode ``observe`` only measures; ``off`` does nothing. Time comes in as an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, TypeVar

from gateway.core.barge_in_direct import DirectInterruption, ServerPlayout
from gateway.core.jsontypes import JsonObject
from gateway.core.playback import ItemPlayback, Playback


#: responses / items remembered per session for dropping a late client's duplicates
_REMEMBERED: Final = 16
_V = TypeVar("_V")


def _remember(seen: dict[str, _V], key: str, value: _V) -> None:
    seen[key] = value
    while len(seen) > _REMEMBERED:
        seen.pop(next(iter(seen)))


@dataclass(frozen=True, slots=True)
class BargeInMeasured:
    """One interruption measured (:mod:`gateway.core.barge_in`): the user spoke over the model's audio.

    ``talk_over_ms`` runs from the user's speech start to the end of the agent's audio at the
    listener (estimated); ``stopped_by`` is ``client``, ``server``, ``gateway`` or ``none`` (the audio
    ran out by itself); ``sent`` lists what the gateway sent upstream on the client's behalf.
    """

    at: float
    item_id: str
    speech_at: float
    talk_over_ms: int
    stopped_by: str
    audio_end_ms: int
    sent: tuple[str, ...] = ()


class BargeInMode(enum.Enum):
    PROTECT = "protect"
    OBSERVE = "observe"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class BargeInPolicy:
    """A route's barge-in handling."""

    mode: BargeInMode = BargeInMode.PROTECT
    #: how long the client has to cancel and truncate itself before the gateway does
    grace_ms: int = 150


@dataclass(slots=True)
class _Interruption:
    speech_at: float
    item: ItemPlayback
    deadline: float
    client_cancelled: bool = False


@dataclass(slots=True)
class BargeInAction:
    """What the gateway does about an interruption: frames each way and the measurement."""

    to_upstream: list[JsonObject] = field(default_factory=list)
    to_client: list[JsonObject] = field(default_factory=list)
    measured: BargeInMeasured | None = None
    #: the gateway truncated this item at this position (ms)
    truncated: tuple[str, int] | None = None


class BargeIn:
    """One voice-agent session's barge-in handling: feed it upstream and client events, poll it when due."""

    def __init__(self, policy: BargeInPolicy, output_format: str | None = None, *, server_plays: bool = False) -> None:
        self.policy = policy
        self.playback = Playback(output_format)
        #: a direct-media call: the upstream plays the audio and reports it (:mod:`gateway.core.barge_in_direct`)
        self.direct = (
            ServerPlayout(protect=policy.mode is BargeInMode.PROTECT, grace_s=policy.grace_ms / 1000) if server_plays else None
        )
        self._in_flight: str | None = None
        self._pending: _Interruption | None = None
        #: responses and items the gateway already cancelled / truncated (a late client's copies are dropped)
        self._gateway_cancelled: dict[str, None] = {}
        self._gateway_truncated: dict[str, int] = {}
        self._last_gateway_cancel: str | None = None
        self._server_cancelled: dict[str, None] = {}

    @property
    def due_at(self) -> float | None:
        """When :meth:`poll` has something to decide (``None``: nothing pending)."""
        if self.direct is not None:
            return self.direct.due_at
        return self._pending.deadline if self._pending is not None else None

    # --- upstream events ---------------------------------------------------------------------

    def upstream(self, event: JsonObject, now: float) -> None:
        """A parsed upstream event (audio deltas go to :meth:`audio_delivered`)."""
        if self.direct is not None:
            self.direct.upstream(event, now)
            return
        t = event.get("type")
        if t == "response.created":
            response = event.get("response")
            rid = response.get("id") if isinstance(response, dict) else None
            self._in_flight = rid if isinstance(rid, str) else "resp_unknown"
            self._last_gateway_cancel = None
        elif t == "response.done":
            response = event.get("response")
            if isinstance(response, dict) and response.get("status") == "cancelled":
                rid = response.get("id")
                if isinstance(rid, str) and rid not in self._gateway_cancelled:
                    _remember(self._server_cancelled, rid, None)
            self._in_flight = None
        elif t == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("role") == "assistant" and isinstance(item.get("id"), str):
                self.playback.item_added(str(item["id"]), self._in_flight)
        elif t == "input_audio_buffer.speech_started":
            self._speech_started(now)

    def audio_delivered(self, nbytes: int, now: float, item_id: str | None = None) -> None:
        self.playback.deliver(nbytes, now, item_id)

    def _speech_started(self, now: float) -> None:
        if self.policy.mode is BargeInMode.OFF or self._pending is not None:
            return
        item = self.playback.playing(now)
        if item is None:
            return
        grace = self.policy.grace_ms / 1000 if self.policy.mode is BargeInMode.PROTECT else 0.0
        self._pending = _Interruption(speech_at=now, item=item, deadline=now + grace)

    # --- client events -----------------------------------------------------------------------

    def client(self, event: JsonObject, now: float, *, by_gateway: bool = False) -> bool:
        """A client control event; ``False`` when it must be dropped (the gateway already sent it).

        ``by_gateway``: the event is the gateway's own, sent in the client's place (the WebRTC bridge's
        truncate when it cut its playout; the core knows it by the exact id it issued, :mod:`gateway.core.event_ids`)."""
        t = event.get("type")
        pending = self._pending
        if t == "response.cancel":
            rid = event.get("response_id")
            target = rid if isinstance(rid, str) and rid else self._in_flight or self._last_gateway_cancel
            if target is not None and target in self._gateway_cancelled:
                return False
            if pending is not None:
                pending.client_cancelled = True
        elif t == "conversation.item.truncate":
            item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
            if not isinstance(item_id, str) or not isinstance(end_ms, int) or isinstance(end_ms, bool):
                return True
            done = self._gateway_truncated.get(item_id)
            if done is not None and end_ms >= done:
                return False
            # the WebRTC bridge's own truncate (it cut its playout): the exact heard position, the gateway's doing
            by = "gateway" if by_gateway else "client"
            # the bridge cut its playout just now: the audio ended at the listener now, not at first delivery + position
            self.playback.client_truncated(item_id, end_ms, by, now if by == "gateway" else None)
        elif t == "output_audio_buffer.clear":
            self.playback.client_stopped(now)
        return True

    # --- decisions ---------------------------------------------------------------------------

    def poll(self, now: float) -> BargeInAction | None:
        """Decide a pending interruption once its grace period is over (or, observing, once it is settled)."""
        if self.direct is not None:
            return self._poll_direct(self.direct, now)
        pending = self._pending
        if pending is None or now < pending.deadline:
            return None
        if self.policy.mode is BargeInMode.OBSERVE:
            return self._observe(pending, now)
        return self._protect(pending, now)

    def _protect(self, pending: _Interruption, now: float) -> BargeInAction:
        self._pending = None
        item = pending.item
        sent: list[str] = []
        action = BargeInAction()
        response_id = item.response_id
        if response_id is not None and response_id == self._in_flight and not pending.client_cancelled:
            action.to_upstream.append({"type": "response.cancel", "response_id": response_id})
            _remember(self._gateway_cancelled, response_id, None)
            self._last_gateway_cancel = response_id
            sent.append("response.cancel")
        if item.stopped_ms is None:
            position = item.heard_ms(now)
            item.stop(position, "gateway")
            action.to_upstream.append(
                {"type": "conversation.item.truncate", "item_id": item.item_id, "content_index": 0, "audio_end_ms": position}
            )
            _remember(self._gateway_truncated, item.item_id, position)
            action.truncated = (item.item_id, position)
            sent.append("conversation.item.truncate")
        if sent:
            action.to_client.append(
                {"type": "gateway.barge_in", "item_id": item.item_id, "audio_end_ms": item.heard_ms(now), "sent": list(sent)}
            )
        action.measured = self._measure(pending, now, "gateway" if sent else self._stopper(pending), sent)
        return action

    @staticmethod
    def _poll_direct(direct: ServerPlayout, now: float) -> BargeInAction | None:
        outcome = direct.poll(now)
        if outcome is None:
            return None
        action = BargeInAction(to_upstream=[dict(frame) for frame in outcome.to_upstream])
        if outcome.settled is not None:
            action.measured = _measure_direct(outcome.settled, now)
        return action

    def _observe(self, pending: _Interruption, now: float) -> BargeInAction | None:
        item = pending.item
        settled = item.stopped_ms is not None or (item.response_id != self._in_flight and not item.playing(now))
        if not settled:
            return None
        self._pending = None
        return BargeInAction(measured=self._measure(pending, now, self._stopper(pending), []))

    def _stopper(self, pending: _Interruption) -> str:
        item = pending.item
        if item.stopped_by == "gateway":
            return "gateway"
        if item.stopped_by == "client" or pending.client_cancelled:
            return "client"
        if item.response_id is not None and item.response_id in self._server_cancelled:
            return "server"
        return "none"

    def _measure(self, pending: _Interruption, now: float, stopped_by: str, sent: list[str]) -> BargeInMeasured:
        item = pending.item
        end = item.ends_at() or now
        return BargeInMeasured(
            at=now,
            item_id=item.item_id,
            speech_at=pending.speech_at,
            talk_over_ms=max(0, round((end - pending.speech_at) * 1000)),
            stopped_by=stopped_by,
            audio_end_ms=item.heard_ms(now),
            sent=tuple(sent),
        )


def _measure_direct(done: DirectInterruption, now: float) -> BargeInMeasured:
    """A direct call's interruption: talk-over until the upstream reported its audio stopped or cleared."""
    end = done.ended_at if done.ended_at is not None else now
    audio = done.audio
    return BargeInMeasured(
        at=now,
        item_id=audio.item_id or audio.response_id or "unknown",
        speech_at=done.speech_at,
        talk_over_ms=max(0, round((end - done.speech_at) * 1000)),
        stopped_by=done.ended_by or "none",
        # what played: from the upstream's started to its stopped/cleared report (the sideband's view)
        audio_end_ms=max(0, round((end - audio.started_at) * 1000)),
        sent=tuple(done.sent),
    )
