"""Audio helpers: wire formats, G.711 μ-law/A-law, energy, and a speech-like synthetic voice.

The emulator must produce audio that a level meter or a VAD in the gateway reacts to as speech
(voiced harmonics under a syllable-rate envelope with pauses), cheaply: one cyclic 4 s clip per
format is rendered once and sliced, so the hot path only copies bytes.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from gateway.emulator.types import Json

PCM_RATE: Final = 24_000
G711_RATE: Final = 8_000
_LOOP_MS: Final = 4_000


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One of the three GA wire formats; ``kind`` is ``pcm``, ``pcmu`` or ``pcma``."""

    kind: str

    @property
    def rate(self) -> int:
        """Samples per second on the wire."""
        return PCM_RATE if self.kind == "pcm" else G711_RATE

    @property
    def bytes_per_ms(self) -> int:
        """Wire bytes per millisecond (48 for PCM16 24 kHz, 8 for G.711)."""
        return 48 if self.kind == "pcm" else 8

    def ms(self, nbytes: int) -> int:
        """Whole milliseconds of audio in ``nbytes`` wire bytes."""
        return nbytes // self.bytes_per_ms

    def to_json(self) -> dict[str, Json]:
        """The GA session representation of this format."""
        if self.kind == "pcm":
            return {"type": "audio/pcm", "rate": PCM_RATE}
        return {"type": f"audio/{self.kind}"}


PCM: Final = AudioFormat("pcm")
PCMU: Final = AudioFormat("pcmu")
PCMA: Final = AudioFormat("pcma")


def format_from_json(value: Json) -> AudioFormat | None:
    """Parse a GA format object; ``None`` when it is not one the API accepts."""
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind == "audio/pcm" and value.get("rate", PCM_RATE) == PCM_RATE:
        return PCM
    if kind in ("audio/pcmu", "audio/pcma") and set(value) <= {"type"}:
        return PCMU if kind == "audio/pcmu" else PCMA
    return None


# --- G.711 -------------------------------------------------------------------------------------

def _ulaw_decode(byte: int) -> int:
    """Decode one μ-law byte to a linear PCM16 sample (ITU-T G.711)."""
    u = ~byte & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def _alaw_decode(byte: int) -> int:
    """Decode one A-law byte to a linear PCM16 sample (ITU-T G.711)."""
    a = byte ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _ulaw_encode(sample: int) -> int:
    """Encode one PCM16 sample to μ-law."""
    sign = 0x80 if sample < 0 else 0
    mag = min(abs(sample), 32635) + 0x84
    exponent = max(0, mag.bit_length() - 8)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw_encode(sample: int) -> int:
    """Encode one PCM16 sample to A-law."""
    sign = 0x80 if sample >= 0 else 0
    mag = min(abs(sample), 32767) >> 3
    if mag < 32:
        code = mag >> 1
    else:
        exponent = mag.bit_length() - 5
        code = (exponent << 4) | ((mag >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


_ULAW_TABLE: Final = array("h", [_ulaw_decode(b) for b in range(256)])
_ALAW_TABLE: Final = array("h", [_alaw_decode(b) for b in range(256)])


def g711_decode(data: bytes, kind: str) -> array[int]:
    """Decode μ-law (``pcmu``) or A-law (``pcma``) bytes to linear samples."""
    table = _ULAW_TABLE if kind == "pcmu" else _ALAW_TABLE
    return array("h", [table[b] for b in data])


def g711_encode(samples: array[int], kind: str) -> bytes:
    """Encode linear samples to μ-law or A-law bytes."""
    encode = _ulaw_encode if kind == "pcmu" else _alaw_encode
    return bytes(encode(s) for s in samples)


def samples_of(data: bytes, fmt: AudioFormat) -> array[int]:
    """Linear samples of wire bytes in ``fmt`` (a trailing odd PCM byte is ignored)."""
    if fmt.kind != "pcm":
        return g711_decode(data, fmt.kind)
    usable = len(data) - (len(data) % 2)
    out = array("h")
    out.frombytes(data[:usable])
    return out


def rms(samples: array[int]) -> float:
    """Root-mean-square level of samples, normalised to 0..1 full scale."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


# --- synthetic voice ---------------------------------------------------------------------------

def _voice_sample(t: float) -> float:
    """One sample of a vowel-like sound: harmonics of a gliding pitch under a syllable envelope."""
    syllable = (t * 4.0) % 1.0
    phrase = (t % 2.0) < 1.75  # a short pause every two seconds, like breathing between phrases
    envelope = math.sin(math.pi * syllable) ** 2 if phrase else 0.0
    # pitch glides 110..160 Hz; the phase is the integral of that frequency
    phase = 2 * math.pi * (135.0 * t - 25.0 / (2 * math.pi * 0.7) * math.cos(2 * math.pi * 0.7 * t))
    voiced = (0.55 * math.sin(phase) + 0.3 * math.sin(2 * phase) + 0.2 * math.sin(3 * phase)
              + 0.12 * math.sin(5 * phase) + 0.08 * math.sin(7 * phase))
    return 0.45 * envelope * voiced


@lru_cache(maxsize=3)
def _voice_loop(kind: str) -> bytes:
    """Render the cyclic synthetic-voice clip once per wire format."""
    rate = PCM_RATE if kind == "pcm" else G711_RATE
    n = rate * _LOOP_MS // 1000
    samples = array("h", [int(32767 * _voice_sample(i / rate)) for i in range(n)])
    return samples.tobytes() if kind == "pcm" else g711_encode(samples, kind)


def voice(fmt: AudioFormat, start_ms: int, duration_ms: int) -> bytes:
    """``duration_ms`` of synthetic speech starting ``start_ms`` into the endless voice track."""
    loop = _voice_loop(fmt.kind)
    bpm = fmt.bytes_per_ms
    start = (start_ms * bpm) % len(loop)
    need = duration_ms * bpm
    out = bytearray()
    while len(out) < need:
        take = min(need - len(out), len(loop) - start)
        out += loop[start:start + take]
        start = 0
    return bytes(out)


def silence(fmt: AudioFormat, duration_ms: int) -> bytes:
    """``duration_ms`` of digital silence in ``fmt``."""
    n = duration_ms * fmt.bytes_per_ms
    if fmt.kind == "pcm":
        return bytes(n)
    return bytes([0xFF if fmt.kind == "pcmu" else 0xD5]) * n
