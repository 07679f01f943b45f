"""What every kind bridge is (:class:`KindBridge`) and the small helpers the bridges share."""

from __future__ import annotations

import abc
import base64
import binascii
from typing import Final

from gateway.core.jsontypes import JsonObject
from gateway.core.kinds import SessionKind

#: an output audio delta whose PCM16 peak stays below this (~ -36 dBFS) is a pause, not speech
QUIET_PEAK: Final = 512
#: the high bytes of the PCM16 LE samples whose magnitude is below :data:`QUIET_PEAK`
_QUIET_HIGH_BYTES: Final = bytes([0x00, 0x01, 0xFE, 0xFF])
#: base64 characters per probe (6 bytes: 3 whole samples) and between probe starts (48 bytes: 24 samples)
_PROBE: Final = 8
_STRIDE: Final = 64


class KindBridge(abc.ABC):
    """Maps one client kind's events onto another kind's upstream and back (one per session, stateful).

    Sans-I/O: events and the current time in, events out. The shell calls :meth:`to_upstream` on
    every client event (before the session core of the upstream's kind), :meth:`to_client` on every
    upstream event the core let through (after it metered it), and :meth:`poll` right after
    :meth:`to_upstream` and whenever :attr:`due_at` has passed.
    """

    client_kind: SessionKind
    upstream_kind: SessionKind

    @abc.abstractmethod
    def to_upstream(self, event: JsonObject) -> list[JsonObject]:
        """A client event → the events the upstream gets (``[]``: swallowed); raises a ``GatewayError``
        for an event the upstream's kind cannot serve (the shell turns it into an ``error`` event)."""

    @abc.abstractmethod
    def to_client(self, event: JsonObject, now: float) -> list[JsonObject]:
        """An upstream event (already metered) → events in the client's kind's shape."""

    @abc.abstractmethod
    def poll(self, now: float) -> list[JsonObject]:
        """Client-bound events due without an upstream event: the bridge's own replies, closes after a pause."""

    @property
    @abc.abstractmethod
    def due_at(self) -> float | None:
        """When :meth:`poll` has something to hand out (``-inf``: at once); ``None``: nothing pending."""


def keep_event_id(mapped: JsonObject, source: JsonObject) -> JsonObject:
    """Keep the client's ``event_id`` on a mapped event so an upstream error still names the client's event."""
    event_id = source.get("event_id")
    if isinstance(event_id, str):
        mapped["event_id"] = event_id
    return mapped


def is_pcm24(fmt: object) -> bool:
    """Whether a GA audio format object is PCM16 at 24 kHz (what translation models take and give)."""
    return isinstance(fmt, dict) and fmt.get("type") == "audio/pcm" and fmt.get("rate", 24000) == 24000


def b64_size(audio: str) -> int:
    """Decoded size of base64 text, without decoding it."""
    return len(audio) * 3 // 4 - audio[-2:].count("=") if audio else 0


def is_quiet(delta: str) -> bool:
    """Whether base64 PCM16 LE audio stays below :data:`QUIET_PEAK` (too short or undecodable audio counts as quiet).

    Probes 3 whole samples in every 24 (8 base64 characters = 6 bytes, every 64 characters = 48 bytes,
    so each probe starts on a sample): plenty to tell speech from a pause, at an eighth of the decoding.
    Every sample with ``|s| < 512`` has a high byte of 0x00, 0x01 (0…511) or 0xFE, 0xFF (-512…-1), so
    the probes are quiet exactly when deleting those bytes from their high bytes leaves nothing.
    """
    last = len(delta) - 4 - _PROBE  # clear of the final group, which may hold padding
    probes = "".join([delta[i:i + _PROBE] for i in range(0, last + 1, _STRIDE)])
    try:
        raw = base64.b64decode(probes)
    except (binascii.Error, ValueError):
        return True
    return not raw[1::2].translate(None, _QUIET_HIGH_BYTES)
