"""What the listener has heard of the model's audio, Sans-I/O: deliveries and the current time in.

The gateway sees the audio it delivers to the client, not what the client's speaker plays. The
estimate models a real-time player started at the first delivered delta: at ``now`` the listener
has heard ``min(delivered, now - first delivery)``, never more than was delivered. What the client
reports itself corrects it: its own ``conversation.item.truncate`` (the position it stopped at),
``response.cancel`` or ``output_audio_buffer.clear`` (playback stopped where the estimate stood).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: decoded bytes of one millisecond of audio, by output format (pcm16 24 kHz mono; G.711 8 kHz)
BYTES_PER_MS: Final = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}
DEFAULT_OUTPUT_FORMAT: Final = "audio/pcm"


def bytes_per_ms(output_format: str | None) -> int:
    """Decoded bytes per millisecond of the session's output audio (``audio/pcm`` when unknown)."""
    return BYTES_PER_MS.get(output_format or DEFAULT_OUTPUT_FORMAT, BYTES_PER_MS[DEFAULT_OUTPUT_FORMAT])


@dataclass(slots=True)
class ItemPlayback:
    """The audio of one assistant item: delivered, and heard by the real-time estimate."""

    item_id: str
    response_id: str | None
    bytes_per_ms: int
    delivered_bytes: int = 0
    #: relay time of the first delivered delta (``None``: nothing delivered yet)
    first_at: float | None = None
    #: where playback stopped, as the client reported it or the gateway decided (ms into the item)
    stopped_ms: int | None = None
    #: who stopped it: ``client`` | ``gateway``
    stopped_by: str | None = None
    #: when playback stopped, when known exactly (the WebRTC bridge playing for the client cut it then)
    stopped_at: float | None = None

    @property
    def delivered_ms(self) -> int:
        return self.delivered_bytes // self.bytes_per_ms

    def deliver(self, nbytes: int, now: float) -> None:
        """``nbytes`` of decoded audio reached the client at ``now``."""
        if self.first_at is None:
            self.first_at = now
        self.delivered_bytes += nbytes

    def heard_ms(self, now: float) -> int:
        """What the listener has heard by ``now`` (ms into the item): the stop point once stopped."""
        if self.stopped_ms is not None:
            return self.stopped_ms
        if self.first_at is None:
            return 0
        elapsed = max(0, int((now - self.first_at) * 1000))
        return min(self.delivered_ms, elapsed)

    def playing(self, now: float) -> bool:
        """Audio delivered and not yet heard: the listener's speaker is still playing it."""
        return self.stopped_ms is None and self.first_at is not None and self.heard_ms(now) < self.delivered_ms

    def ends_at(self) -> float | None:
        """When the audio ends at the listener (relay time): the stop point, else all of it played."""
        if self.stopped_at is not None:
            return self.stopped_at
        if self.first_at is None:
            return None
        end_ms = self.stopped_ms if self.stopped_ms is not None else self.delivered_ms
        return self.first_at + end_ms / 1000

    def stop(self, position_ms: int, by: str, at: float | None = None) -> None:
        """Playback stopped at ``position_ms`` (clamped to what was delivered), at ``at`` when known; the first stop wins."""
        if self.stopped_ms is None:
            self.stopped_ms = max(0, min(position_ms, self.delivered_ms))
            self.stopped_by = by
            self.stopped_at = at


class Playback:
    """The assistant audio items of one session, most recent last (older ones forgotten)."""

    MAX_ITEMS: Final = 8

    def __init__(self, output_format: str | None = None) -> None:
        self.output_format = output_format
        self._items: dict[str, ItemPlayback] = {}
        self.current: ItemPlayback | None = None

    def item_added(self, item_id: str, response_id: str | None) -> ItemPlayback:
        """An assistant item started: audio deltas from now on belong to it."""
        item = self._items.get(item_id)
        if item is None:
            item = ItemPlayback(item_id, response_id, bytes_per_ms(self.output_format))
            self._items[item_id] = item
            while len(self._items) > self.MAX_ITEMS:
                self._items.pop(next(iter(self._items)))
        self.current = item
        return item

    def get(self, item_id: str) -> ItemPlayback | None:
        return self._items.get(item_id)

    def deliver(self, nbytes: int, now: float, item_id: str | None = None) -> None:
        """Audio delivered to the client: to ``item_id`` when the frame named it, else the current item."""
        item = self._items.get(item_id) if item_id is not None else self.current
        if item is None and item_id is not None:
            item = self.item_added(item_id, None)
        if item is not None:
            item.deliver(nbytes, now)

    def playing(self, now: float) -> ItemPlayback | None:
        """The item still playing at the listener by the estimate, if any."""
        item = self.current
        return item if item is not None and item.playing(now) else None

    def client_truncated(
        self, item_id: str, audio_end_ms: int, by: str = "client", at: float | None = None
    ) -> ItemPlayback | None:
        """The client (or the WebRTC bridge playing for it: ``by``, cutting at ``at``) cut ``item_id`` at
        ``audio_end_ms``: what it played is what it says."""
        item = self._items.get(item_id)
        if item is not None:
            item.stop(audio_end_ms, by, at)
        return item

    def client_stopped(self, now: float) -> None:
        """The client cancelled or cleared its output: playback stops where the estimate stands."""
        item = self.current
        if item is not None:
            item.stop(item.heard_ms(now), "client")
