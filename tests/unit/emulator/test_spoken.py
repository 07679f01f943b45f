"""The tone code that lets tests speak words the emulator can hear."""

from __future__ import annotations

from array import array

from gateway.emulator import spoken
from gateway.emulator.audio import g711_decode, g711_encode


def _samples(pcm: bytes) -> array[int]:
    out = array("h")
    out.frombytes(pcm)
    return out


def test_text_round_trips_at_24khz_after_silence() -> None:
    """Encoded text, preceded and followed by silence, decodes to the same lower-cased words."""
    pcm = b"\0\0" * 4800 + spoken.encode("Where is my order 4417?") + b"\0\0" * 9600
    assert spoken.decode(_samples(pcm), 24_000) == "where is my order 4417?"


def test_text_survives_g711_telephony_audio() -> None:
    """The code sits below 4 kHz, so 8 kHz mu-law audio carries it."""
    pcm = spoken.encode("weather in paris", rate=8000)
    assert spoken.decode(g711_decode(g711_encode(_samples(pcm), "pcmu"), "pcmu"), 8000) == "weather in paris"


def test_ordinary_audio_is_not_understood() -> None:
    """A voiced tone without the sync code and pure silence decode to nothing."""
    from tests.support.audio import speech

    assert spoken.decode(_samples(speech(800)), 24_000) is None
    assert spoken.decode(_samples(b"\0\0" * 2400), 24_000) is None
