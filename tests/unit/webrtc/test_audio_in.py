"""Microphone audio → exact 20 ms (or 200 ms) PCM16 24 kHz append events."""

from __future__ import annotations

import base64
import math

import numpy as np
import orjson
from av import AudioFrame

from gateway.webrtc.audio_in import AppendChunker, MicResampler, chunker_for


def _opus_like_frames(seconds: float, freq: float = 1000.0) -> list[AudioFrame]:
    """What aiortc's Opus decoder yields: s16 stereo 48 kHz frames of 960 samples."""
    frames = []
    n = int(seconds * 50)
    for i in range(n):
        t = (np.arange(960) + i * 960) / 48_000
        mono = (8000 * np.sin(2 * math.pi * freq * t)).astype(np.int16)
        stereo = np.repeat(mono, 2).reshape(1, -1)
        frame = AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = 48_000
        frame.pts = i * 960
        frames.append(frame)
    return frames


def _decoded(event_text: str) -> tuple[str, bytes]:
    event = orjson.loads(event_text)
    return event["type"], base64.b64decode(event["audio"])


def test_chunker_emits_exact_20ms_appends_and_keeps_the_rest() -> None:
    """Odd-sized pushes come out as appends of exactly 960 bytes (20 ms), the remainder waits."""
    chunker = AppendChunker("input_audio_buffer.append", 20)
    out = chunker.push(b"\x01\x00" * 300) + chunker.push(b"\x02\x00" * 700) + chunker.push(b"\x03\x00" * 1000)
    assert len(out) == 4
    assert all(_decoded(e) == ("input_audio_buffer.append", _decoded(e)[1]) for e in out)
    assert {len(_decoded(e)[1]) for e in out} == {960}
    assert chunker.pending_bytes == 2000 * 2 - 4 * 960
    assert b"".join(_decoded(e)[1] for e in out) == (b"\x01\x00" * 300 + b"\x02\x00" * 700 + b"\x03\x00" * 1000)[: 4 * 960]


def test_translation_chunker_batches_200ms_session_appends() -> None:
    """Translation sessions get ``session.input_audio_buffer.append`` events of 200 ms (9600 bytes)."""
    chunker = chunker_for(translation=True)
    assert chunker.push(bytes(9599)) == []
    (event,) = chunker.push(bytes(1))
    assert _decoded(event) == ("session.input_audio_buffer.append", bytes(9600))


def test_resampled_48k_stereo_second_becomes_twenty_five_appends_of_the_same_tone() -> None:
    """One second of decoded Opus audio → 25 conversation appends of 40 ms, 24 kHz mono, the tone preserved."""
    resampler, chunker = MicResampler(), chunker_for(translation=False)
    events: list[str] = []
    for frame in _opus_like_frames(1.02):
        events += chunker.push(resampler.convert(frame))
    assert len(events) == 25 and all(len(_decoded(e)[1]) == 1920 for e in events)
    pcm = np.frombuffer(b"".join(_decoded(e)[1] for e in events[:25]), dtype="<i2").astype(float)
    assert pcm.size == 24_000
    crossings = np.count_nonzero(np.diff(np.signbit(pcm[1000:-1000])))
    seconds = (pcm.size - 2000) / 24_000
    assert abs(crossings / 2 / seconds - 1000) < 15
    assert 7000 < np.abs(pcm[1000:-1000]).max() < 9000
