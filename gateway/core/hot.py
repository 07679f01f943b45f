"""The hot path's shared state: the session's counters and the core's fast-path gate (pure-Python twins).

A compiled listener (``gateway/upstream/hotlisten.pyx``) relays a whole canonical audio frame in the
usual layout without entering the interpreter: it proves the frame's shape on its raw bytes
(:func:`gateway.core.frames.usual_audio`, same answer), applies the client frame limits, updates the
counters below and writes the frame to the peer socket. It does so only while the core's
:class:`HotGate` says so for that direction and type (``client_mask``/``upstream_mask``: bit ``1 << code``
per hot type, see :data:`CLIENT_CODES`); the core sets the masks itself (:meth:`SessionCore.refresh_hot
<gateway.core.session.SessionCore.refresh_hot>`), after every decision of its own, to exactly the types it
would forward untouched in its present state. Everything else reaches the core as before.

``gateway/core/hotgate.pyx`` is the compiled twin of :class:`HotCounters` and :class:`HotGate` (C fields
the listener reads and writes); ``VOICE_GATEWAY_PURE_PYTHON=1`` or an install without a C compiler
selects these classes, and then the pure-Python listener twin (:mod:`gateway.upstream.hot_listener`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

#: hot type code → event type, per direction (the ``code`` :func:`gateway.core.frames.usual_audio` returns)
CLIENT_CODES: Final = {1: "input_audio_buffer.append", 2: "session.input_audio_buffer.append"}
UPSTREAM_CODES: Final = {1: "response.output_audio.delta", 2: "session.output_audio.delta"}


class PyHotCounters:
    """The counters the hot path updates in place (the base of :class:`gateway.core.observers.SessionStats`)."""

    __slots__ = (
        "frames_from_client", "frames_from_upstream", "bytes_from_client", "bytes_from_upstream",
        "audio_in_bytes", "audio_out_bytes", "audio_in_bytes_since_usage", "audio_out_bytes_since_usage",
        "last_activity_at",
    )

    frames_from_client: int
    frames_from_upstream: int
    bytes_from_client: int
    bytes_from_upstream: int
    #: decoded audio bytes relayed (client → upstream appends; upstream → client deltas)
    audio_in_bytes: int
    audio_out_bytes: int
    #: audio bytes relayed since the last ``response.done`` (for the running estimate)
    audio_in_bytes_since_usage: int
    audio_out_bytes_since_usage: int
    last_activity_at: float


class PyHotGate:
    """What the core lets the listener do alone, and the frame-limit state the two share."""

    __slots__ = (
        "client_mask", "upstream_mask", "rate_window", "rate_count", "max_frames_per_second", "max_message_bytes",
        "pending_out_bytes", "upstream_at", "relayed_alone", "stats", "clock",
    )

    def __init__(self, stats: PyHotCounters, now: float, max_frames_per_second: int, max_message_bytes: int) -> None:
        #: per direction, the hot types (bit ``1 << code``) the listener may forward alone; 0: none (the default)
        self.client_mask = 0
        self.upstream_mask = 0
        #: the client frame-rate window: its start and the frames counted in it
        self.rate_window = now
        self.rate_count = 0
        self.max_frames_per_second = max_frames_per_second
        self.max_message_bytes = max_message_bytes
        #: decoded bytes of deltas the listener forwarded that the core's playback estimate has not counted yet
        self.pending_out_bytes = 0
        #: when the listener last relayed an upstream frame (the relay's stall check reads it)
        self.upstream_at = -1e18
        #: frames the listener relayed alone, both ways
        self.relayed_alone = 0
        self.stats = stats
        self.clock: Callable[[], float] = time.monotonic

    def use_clock(self, clock: Callable[[], float]) -> None:
        """The relay's clock (the compiled twin reads ``time.monotonic`` in C)."""
        self.clock = clock


def _pure() -> bool:
    return os.environ.get("VOICE_GATEWAY_PURE_PYTHON", "") not in ("", "0")


def _compiled() -> tuple[type[PyHotCounters], type[PyHotGate]] | None:
    """The compiled twins (``gateway/core/hotgate.pyx``) unless absent or ``VOICE_GATEWAY_PURE_PYTHON`` is set."""
    if _pure():
        return None
    try:
        from gateway.core.hotgate import HotCounters as counters, HotGate as gate  # built at install
    except ImportError:
        return None
    return counters, gate


COMPILED: Final = _compiled()

if TYPE_CHECKING:
    HotCounters = PyHotCounters
    HotGate = PyHotGate
else:
    HotCounters, HotGate = COMPILED or (PyHotCounters, PyHotGate)
