"""Audio helpers and the energy VAD, on synthetic signals (no sockets)."""

from __future__ import annotations

import math
from array import array

import pytest

from gateway.emulator import audio
from gateway.emulator.vad import EnergyVad, SpeechStart, SpeechStop, VadConfig, level_for_threshold


def tone(ms: int, amplitude: float, rate: int = 24_000, hz: float = 220.0) -> array[int]:
    """A sine tone of ``ms`` milliseconds."""
    n = rate * ms // 1000
    return array("h", [int(amplitude * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n)])


def test_vad_detects_tone_and_reports_padding_and_trailing_silence() -> None:
    """A tone after silence starts speech (minus prefix padding); silence_duration_ms later it stops."""
    vad = EnergyVad(VadConfig(prefix_padding_ms=300, silence_duration_ms=500), 24_000)
    events = vad.feed(tone(1000, 0.0)) + vad.feed(tone(1000, 0.3)) + vad.feed(tone(1000, 0.0))
    assert events == [SpeechStart(700), SpeechStop(2500)]


def test_vad_ignores_quiet_noise_and_honours_threshold() -> None:
    """A -50 dBFS tone is silence at threshold 0.5 but speech at threshold 0.1."""
    quiet = tone(500, 10 ** (-47 / 20))
    assert EnergyVad(VadConfig(threshold=0.5), 24_000).feed(quiet) == []
    assert isinstance(EnergyVad(VadConfig(threshold=0.1), 24_000).feed(quiet)[0], SpeechStart)
    assert level_for_threshold(0.5) == pytest.approx(10 ** (-35 / 20))


def test_vad_works_across_chunk_boundaries() -> None:
    """Feeding 7 ms pieces gives the same decision as one block."""
    vad = EnergyVad(VadConfig(prefix_padding_ms=0, silence_duration_ms=200), 24_000)
    signal = tone(400, 0.3) + tone(400, 0.0)
    events = [e for i in range(0, len(signal), 168) for e in vad.feed(signal[i:i + 168])]
    assert events == [SpeechStart(0), SpeechStop(600)]


@pytest.mark.parametrize("fmt", [audio.PCM, audio.PCMU, audio.PCMA])
def test_synthetic_voice_is_speech_like_in_every_format(fmt: audio.AudioFormat) -> None:
    """The generated voice has the right byte size, passes the VAD, and pauses between phrases."""
    data = audio.voice(fmt, 0, 2000)
    assert len(data) == 2000 * fmt.bytes_per_ms
    samples = audio.samples_of(data, fmt)
    vad = EnergyVad(VadConfig(), fmt.rate)
    assert isinstance(vad.feed(samples)[0], SpeechStart)
    pause = audio.samples_of(audio.voice(fmt, 1800, 150), fmt)
    assert audio.rms(pause) < level_for_threshold(0.5)


@pytest.mark.parametrize("kind", ["pcmu", "pcma"])
def test_g711_round_trip_keeps_level(kind: str) -> None:
    """Encoding then decoding G.711 keeps every sample within the codec's quantisation error."""
    samples = tone(20, 0.5, rate=8000)
    decoded = audio.g711_decode(audio.g711_encode(samples, kind), kind)
    assert all(abs(a - b) <= max(32, abs(a) // 16) for a, b in zip(samples, decoded, strict=True))


def test_format_parsing_accepts_only_ga_formats() -> None:
    """PCM must be 24 kHz; G.711 formats have no rate."""
    assert audio.format_from_json({"type": "audio/pcm", "rate": 24000}) is audio.PCM
    assert audio.format_from_json({"type": "audio/pcm", "rate": 16000}) is None
    assert audio.format_from_json({"type": "audio/pcma"}) is audio.PCMA
    assert audio.format_from_json("pcm16") is None
