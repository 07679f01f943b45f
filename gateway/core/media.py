"""Audio that a direct-media call carries without the gateway seeing it, measured from its sideband events.

On a WebRTC or SIP call the audio rides the peer connection, so no ``*.append`` or audio delta
passes the relay. The sideband still reports when the caller spoke (server VAD's
``speech_started``/``speech_stopped`` with ``audio_start_ms``/``audio_end_ms``) and when model audio
played (``output_audio_buffer.started``/``stopped``/``cleared``). Those spans are credited to the
session's audio counters as the bytes they would have been, so the running cost estimate between
``response.done`` usages works as on a WebSocket session. Pure: events and the time in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.core.money import BYTES_PER_SECOND
from gateway.core.observers import SessionStats

from gateway.core.jsontypes import JsonObject

OUTPUT_STARTED = "output_audio_buffer.started"
OUTPUT_ENDED = frozenset({"output_audio_buffer.stopped", "output_audio_buffer.cleared"})
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"


def _bytes(ms: float, audio_format: str) -> int:
    return int(ms * BYTES_PER_SECOND.get(audio_format, 48_000) / 1000)


@dataclass(slots=True)
class DirectMediaMeter:
    """Credits spoken and played audio spans to ``SessionStats`` from sideband events."""

    _speech_start_ms: int | None = None
    _playing_since: dict[str, float] = field(default_factory=dict)

    def observe(self, event: JsonObject, now: float, stats: SessionStats) -> None:
        kind = event.get("type")
        if kind == SPEECH_STARTED:
            start = event.get("audio_start_ms")
            self._speech_start_ms = start if isinstance(start, int) else None
        elif kind == SPEECH_STOPPED:
            end = event.get("audio_end_ms")
            if isinstance(end, int) and self._speech_start_ms is not None and end > self._speech_start_ms:
                self._credit_input(end - self._speech_start_ms, stats)
            self._speech_start_ms = None
        elif kind == OUTPUT_STARTED:
            self._playing_since.setdefault(_response_id(event), now)
        elif kind in OUTPUT_ENDED:
            since = self._playing_since.pop(_response_id(event), None)
            if since is None and self._playing_since and kind == "output_audio_buffer.cleared":
                since = self._playing_since.popitem()[1]
            if since is not None and now > since:
                self._credit_output((now - since) * 1000, stats)

    @staticmethod
    def _credit_input(ms: float, stats: SessionStats) -> None:
        added = _bytes(ms, stats.input_format)
        stats.audio_in_bytes += added
        stats.audio_in_bytes_since_usage += added

    @staticmethod
    def _credit_output(ms: float, stats: SessionStats) -> None:
        added = _bytes(ms, stats.output_format)
        stats.audio_out_bytes += added
        stats.audio_out_bytes_since_usage += added


def _response_id(event: JsonObject) -> str:
    value = event.get("response_id")
    return value if isinstance(value, str) else ""
