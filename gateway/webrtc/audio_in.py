"""Microphone → Realtime events: decoded WebRTC audio resampled to PCM16 24 kHz mono, cut into fixed appends."""

from __future__ import annotations

from typing import Final

import pybase64
from av import AudioFrame, AudioResampler

#: the Realtime API's PCM format: 16-bit little-endian mono at 24 kHz
RATE: Final = 24_000
BYTES_PER_MS: Final = RATE * 2 // 1000
#: one append per 40 ms for conversations (half the relay work of 20 ms appends, at most 20 ms more on the way in);
#: the translation engine prefers 200 ms frames
REALTIME_CHUNK_MS: Final = 40
TRANSLATION_CHUNK_MS: Final = 200
REALTIME_APPEND: Final = "input_audio_buffer.append"
TRANSLATION_APPEND: Final = "session.input_audio_buffer.append"


class AppendChunker:
    """Collects PCM and emits one ``*.append`` event text per exactly ``chunk_ms`` of audio."""

    __slots__ = ("_buffer", "_chunk_bytes", "_prefix")

    def __init__(self, event_type: str, chunk_ms: int) -> None:
        self._chunk_bytes = chunk_ms * BYTES_PER_MS
        self._buffer = bytearray()
        # built once: the event is a constant prefix, the base64 audio and a closing quote-brace
        self._prefix = '{"type":"' + event_type + '","audio":"'

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def push(self, pcm: bytes) -> list[str]:
        """Add PCM16 audio; return the append events that are now complete."""
        buffer = self._buffer
        buffer += pcm
        size = self._chunk_bytes
        if len(buffer) < size:
            return []
        whole = len(buffer) // size * size
        out = [
            self._prefix + pybase64.b64encode(buffer[at : at + size]).decode("ascii") + '"}'
            for at in range(0, whole, size)
        ]
        del buffer[:whole]
        return out


def chunker_for(translation: bool) -> AppendChunker:
    """The chunker a session kind wants: 20 ms GA appends, or 200 ms translation appends."""
    if translation:
        return AppendChunker(TRANSLATION_APPEND, TRANSLATION_CHUNK_MS)
    return AppendChunker(REALTIME_APPEND, REALTIME_CHUNK_MS)


class MicResampler:
    """Whatever aiortc decoded (the voice Opus decoder: s16 mono 48 kHz) → PCM16 mono 24 kHz bytes."""

    __slots__ = ("_resampler",)

    def __init__(self) -> None:
        self._resampler = AudioResampler(format="s16", layout="mono", rate=RATE)

    def convert(self, frame: AudioFrame) -> bytes:
        """Resample one decoded frame; the resampler keeps fractional samples for the next call."""
        # the plane's buffer is padded past the samples: copy exactly samples × 2 bytes (no numpy round trip)
        return b"".join(bytes(memoryview(out.planes[0])[: out.samples * 2]) for out in self._resampler.resample(frame))
