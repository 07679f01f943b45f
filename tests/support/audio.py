"""Test audio: speech-like PCM16 24 kHz (voiced, with an envelope) and silence, base64-ready."""

from __future__ import annotations

import base64
import math
import struct

RATE = 24_000


def speech(ms: int, amplitude: int = 9000) -> bytes:
    """A voiced, syllable-like signal: 140 Hz fundamental plus formants, 4 Hz amplitude envelope."""
    n = RATE * ms // 1000
    samples = []
    for i in range(n):
        t = i / RATE
        env = 0.55 + 0.45 * math.sin(2 * math.pi * 4 * t)
        v = math.sin(2 * math.pi * 140 * t) + 0.5 * math.sin(2 * math.pi * 700 * t) + 0.3 * math.sin(2 * math.pi * 1200 * t)
        samples.append(int(amplitude * env * v / 1.8))
    return struct.pack(f"<{n}h", *samples)


def silence(ms: int) -> bytes:
    return b"\x00\x00" * (RATE * ms // 1000)


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


def chunks(pcm: bytes, ms: int = 20) -> list[str]:
    """Split PCM16 into base64 chunks of ``ms`` milliseconds."""
    step = RATE * 2 * ms // 1000
    return [b64(pcm[i : i + step]) for i in range(0, len(pcm), step)]


def said(text: str, rate: int = RATE) -> bytes:
    """A spoken turn the emulator understands: ``text`` tone-coded (``gateway.emulator.spoken``), PCM16."""
    from gateway.emulator.spoken import encode

    return encode(text, rate)
