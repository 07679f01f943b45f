"""What the emulator "hears": words carried in the audio by a tone code, since it runs no ASR model.

The emulator has no speech recogniser. So that a spoken turn can still say something (and a tool
can be chosen by relevance to it), audio may carry text as a *tone code*: a 3 kHz sync tone of
``SYNC_MS``, then one ``SYMBOL_MS`` sine per character (``ALPHABET[i]`` at ``500 + 50·i`` Hz, all
below 4 kHz so G.711 telephony audio carries it too), then the sync tone again. It is loud, voiced
audio, so the energy VAD treats it as speech. ``encode`` renders text as PCM16 at any rate;
``decode`` finds the code in committed audio (Goertzel detection on a 8 kHz decimation) and returns
the text, or ``None`` for ordinary audio, for which the emulator's deterministic transcript is used.
Real speech (a microphone, espeak-ng) is detected as speech but not understood.
"""

from __future__ import annotations

import math
import struct
from array import array
from typing import Final

ALPHABET: Final = " abcdefghijklmnopqrstuvwxyz0123456789'?.,-"
SYNC_HZ: Final = 3000.0
SYNC_MS: Final = 80
SYMBOL_MS: Final = 40
_BASE_HZ: Final = 500.0
_STEP_HZ: Final = 50.0
_RATE: Final = 8000
_ONSET_LEVEL: Final = 1500
#: share of a symbol window's energy the winning tone must hold to count as a symbol
_MIN_SHARE: Final = 0.35


def _freq(index: int) -> float:
    return _BASE_HZ + _STEP_HZ * index


def encode(text: str, rate: int = 24_000, amplitude: int = 12_000) -> bytes:
    """``text`` (lower-cased; unknown characters become spaces) as tone-coded PCM16 mono at ``rate``."""
    symbols = [ALPHABET.index(c) if c in ALPHABET else 0 for c in text.lower()]
    tones = [(SYNC_HZ, SYNC_MS), *((_freq(i), SYMBOL_MS) for i in symbols), (SYNC_HZ, SYNC_MS)]
    samples: list[int] = []
    for hz, ms in tones:
        n = rate * ms // 1000
        start = len(samples)
        # phase continues across symbols; a gentle 4 Hz envelope keeps it speech-like
        samples.extend(
            int(amplitude * (0.8 + 0.2 * math.sin(2 * math.pi * 4 * (start + k) / rate)) * math.sin(2 * math.pi * hz * k / rate))
            for k in range(n)
        )
    return struct.pack(f"<{len(samples)}h", *samples)


def _decimate(samples: array[int], rate: int) -> list[int]:
    """Down to 8 kHz by averaging (a crude low-pass; the code lives below 3.2 kHz)."""
    if rate == _RATE:
        return list(samples)
    factor = rate / _RATE
    out: list[int] = []
    position = 0.0
    while int(position + factor) <= len(samples):
        lo, hi = int(position), int(position + factor)
        chunk = samples[lo:hi] if hi > lo else samples[lo : lo + 1]
        out.append(sum(chunk) // max(1, len(chunk)))
        position += factor
    return out


def _power(window: list[int], hz: float) -> float:
    """Goertzel power of one frequency over a window at 8 kHz."""
    coeff = 2 * math.cos(2 * math.pi * hz / _RATE)
    s1 = s2 = 0.0
    for x in window:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _symbol(window: list[int]) -> int | None:
    """Index of the dominant code tone (``-1`` = the sync tone), or ``None`` when none dominates."""
    energy = sum(x * x for x in window) * len(window) / 2 or 1.0
    best, best_power = None, 0.0
    for index in range(-1, len(ALPHABET)):
        power = _power(window, SYNC_HZ if index < 0 else _freq(index))
        if power > best_power:
            best, best_power = index, power
    return best if best_power / energy >= _MIN_SHARE else None


def decode(samples: array[int], rate: int) -> str | None:
    """The text tone-coded in ``samples`` (linear PCM at ``rate``), or ``None`` when there is none."""
    pcm = _decimate(samples, rate)
    onset = next((i for i, x in enumerate(pcm) if abs(x) >= _ONSET_LEVEL), None)
    if onset is None:
        return None
    per_ms = _RATE // 1000
    sync = pcm[onset + 10 * per_ms : onset + (SYNC_MS - 10) * per_ms]
    if len(sync) < 20 * per_ms or _symbol(sync) != -1:
        return None
    chars: list[str] = []
    start = onset + SYNC_MS * per_ms
    while start + SYMBOL_MS * per_ms <= len(pcm):
        index = _symbol(pcm[start + 10 * per_ms : start + (SYMBOL_MS - 10) * per_ms])
        if index is None or index < 0:
            break
        chars.append(ALPHABET[index])
        start += SYMBOL_MS * per_ms
    text = " ".join("".join(chars).split())
    return text or None
