"""Energy voice-activity detector on linear samples (Sans-I/O).

Fed samples with their session-time position, it reports speech start/stop in session
milliseconds following OpenAI's ``server_vad`` knobs: ``threshold`` (0..1), ``prefix_padding_ms``
and ``silence_duration_ms``. The threshold maps linearly onto a level in dBFS,
``-60 + 50 * threshold`` (0.5 → -35 dBFS), so silence and line noise never trigger it while any
spoken level does. Speech starts after 60 ms of consecutive voiced 20 ms frames; it stops after
``silence_duration_ms`` of unvoiced frames, and ``audio_end_ms`` includes that silence, as the
real API documents.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Final

from gateway.emulator.audio import rms

from gateway.core import session_schema as schema

FRAME_MS: Final = 20
_ONSET_FRAMES: Final = 3


def level_for_threshold(threshold: float) -> float:
    """RMS level (0..1 full scale) that counts as speech for an OpenAI-style threshold."""
    clamped = min(1.0, max(0.0, threshold))
    return 10 ** ((-60.0 + 50.0 * clamped) / 20.0)


@dataclass(frozen=True, slots=True)
class VadConfig:
    """The server_vad knobs that influence detection."""

    threshold: float = schema.VAD_THRESHOLD
    prefix_padding_ms: int = schema.VAD_PREFIX_PADDING_MS
    silence_duration_ms: int = schema.VAD_SILENCE_DURATION_MS


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """Speech began; ``audio_start_ms`` already includes the prefix padding."""

    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStop:
    """Speech ended; ``audio_end_ms`` includes the trailing silence."""

    audio_end_ms: int


VadEvent = SpeechStart | SpeechStop


class EnergyVad:
    """Frames incoming samples into 20 ms windows and tracks speech/silence runs."""

    def __init__(self, config: VadConfig, rate: int, start_ms: int = 0) -> None:
        """Start detecting at session time ``start_ms`` for audio sampled at ``rate``."""
        self.config = config
        self._frame = rate * FRAME_MS // 1000
        self._level = level_for_threshold(config.threshold)
        self._pending = array("h")
        self._pos_ms = start_ms
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run_ms = 0

    def feed(self, samples: array[int]) -> list[VadEvent]:
        """Consume samples that follow the previous ones; return the transitions they cause."""
        self._pending.extend(samples)
        events: list[VadEvent] = []
        frames = len(self._pending) // self._frame
        for i in range(frames):
            window = self._pending[i * self._frame:(i + 1) * self._frame]
            event = self._step(rms(window) >= self._level)
            if event is not None:
                events.append(event)
        del self._pending[:frames * self._frame]
        return events

    def _step(self, voiced: bool) -> VadEvent | None:
        """Advance one frame and report a transition if this frame completes one."""
        self._pos_ms += FRAME_MS
        if not self.in_speech:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run < _ONSET_FRAMES:
                return None
            self.in_speech, self._silent_run_ms = True, 0
            onset = self._pos_ms - _ONSET_FRAMES * FRAME_MS
            return SpeechStart(max(0, onset - self.config.prefix_padding_ms))
        self._silent_run_ms = 0 if voiced else self._silent_run_ms + FRAME_MS
        if self._silent_run_ms < max(FRAME_MS, self.config.silence_duration_ms):
            return None
        self.in_speech, self._voiced_run = False, 0
        return SpeechStop(self._pos_ms)


def dbfs(level: float) -> float:
    """Express a 0..1 RMS level in dBFS (for logs and tests)."""
    return 20 * math.log10(level) if level > 0 else -math.inf
