"""The input audio buffer with optional server VAD (Sans-I/O).

Tracks the session audio clock (milliseconds of all audio appended this session, which is what
``audio_start_ms``/``audio_end_ms`` count), the uncommitted buffer, and the VAD. While VAD is idle
only the last second plus prefix padding is kept, so a silent stream cannot grow memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.emulator.audio import AudioFormat, samples_of
from gateway.emulator.vad import EnergyVad, SpeechStart, SpeechStop, VadConfig

MIN_COMMIT_MS = 100
_IDLE_KEEP_MS = 1000


@dataclass(frozen=True, slots=True)
class Started:
    """VAD detected speech starting at ``audio_start_ms``."""

    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class Stopped:
    """VAD detected the end of speech; ``audio`` is the utterance to commit."""

    audio_start_ms: int
    audio_end_ms: int
    audio: bytes


Signal = Started | Stopped


class InputAudio:
    """Buffer + clock + VAD of one session."""

    def __init__(self, fmt: AudioFormat, vad: VadConfig | None) -> None:
        """Start with an empty buffer at session time 0."""
        self.format = fmt
        self._vad_config = vad
        self.buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._clock_ms = 0.0
        self._speech_start_ms = 0
        self._vad = self._new_vad()

    @property
    def clock_ms(self) -> int:
        """Milliseconds of audio appended this session."""
        return int(self._clock_ms)

    @property
    def in_speech(self) -> bool:
        """Whether the VAD is inside an utterance."""
        return self._vad is not None and self._vad.in_speech

    @property
    def buffered_ms(self) -> float:
        """Milliseconds currently in the uncommitted buffer."""
        return len(self.buffer) / self.format.bytes_per_ms

    def reconfigure(self, fmt: AudioFormat, vad: VadConfig | None) -> None:
        """Apply a new input format or VAD config; a format change empties the buffer."""
        if fmt != self.format:
            self.format = fmt
            self.clear()
        self._vad_config = vad
        self._vad = self._new_vad()

    def append(self, data: bytes) -> list[Signal]:
        """Add audio; return what the VAD concluded about it."""
        self.buffer += data
        self._clock_ms += len(data) / self.format.bytes_per_ms
        if self._vad is None:
            return []
        signals: list[Signal] = []
        for event in self._vad.feed(samples_of(data, self.format)):
            if isinstance(event, SpeechStart):
                self._speech_start_ms = event.audio_start_ms
                signals.append(Started(event.audio_start_ms))
            elif isinstance(event, SpeechStop):
                signals.append(self._cut(event))
        if not self._vad.in_speech:
            self._trim_idle()
        return signals

    def commit(self) -> bytes:
        """Take the whole buffer (manual commit) and restart the VAD."""
        data = bytes(self.buffer)
        self.clear()
        return data

    def clear(self) -> None:
        """Drop the buffer and any utterance in progress."""
        self.buffer.clear()
        self._buffer_start_ms = self._clock_ms
        self._vad = self._new_vad()

    def _new_vad(self) -> EnergyVad | None:
        """A VAD positioned at the current clock, or ``None`` when turn detection is off."""
        if self._vad_config is None:
            return None
        return EnergyVad(self._vad_config, self.format.rate, start_ms=int(self._clock_ms))

    def _cut(self, stop: SpeechStop) -> Stopped:
        """Slice the utterance out of the buffer and drop everything up to its end."""
        bpm = self.format.bytes_per_ms
        start = max(0, int(self._speech_start_ms - self._buffer_start_ms) * bpm)
        end = max(start, int(stop.audio_end_ms - self._buffer_start_ms) * bpm)
        utterance = bytes(self.buffer[start:end])
        del self.buffer[:end]
        self._buffer_start_ms += end / bpm
        return Stopped(self._speech_start_ms, stop.audio_end_ms, utterance)

    def _trim_idle(self) -> None:
        """Keep only recent audio while nobody speaks (prefix padding needs a little history)."""
        assert self._vad_config is not None
        keep = (self._vad_config.prefix_padding_ms + _IDLE_KEEP_MS) * self.format.bytes_per_ms
        excess = len(self.buffer) - keep
        if excess > 0:
            del self.buffer[:excess]
            self._buffer_start_ms += excess / self.format.bytes_per_ms
