"""The translation state machine without sockets: 200 ms framing, lag, flush and update rules."""

from __future__ import annotations

import base64

from gateway.emulator.script import Script

from .machine_helpers import FAST, events, kinds, quiet, send, speech, translation


def test_frames_are_200ms_and_output_lags_by_ttfa() -> None:
    """With a 400 ms lag, output starts after the third input frame and matches its size and elapsed_ms."""
    m = translation(Script(ttfa_ms=400, pace=False))
    assert send(m, {"type": "session.input_audio_buffer.append", "audio": speech(300)}) == []
    assert send(m, {"type": "session.input_audio_buffer.append", "audio": speech(100, 300)}) == []
    out = send(m, {"type": "session.input_audio_buffer.append", "audio": speech(200, 400)})
    audio = [e for e in out if e["type"] == "session.output_audio.delta"]
    assert len(audio) == 1 and audio[0]["elapsed_ms"] == 200
    assert len(base64.b64decode(str(audio[0]["delta"]))) == 9600


def test_silent_input_gives_silent_output_without_words() -> None:
    """Silence in → silence out of the same duration, no transcript deltas."""
    m = translation()
    out = send(m, {"type": "session.input_audio_buffer.append", "audio": quiet(1000)})
    assert kinds(out) == ["session.output_audio.delta"] * 5
    assert all(set(base64.b64decode(str(e["delta"]))) == {0} for e in out)


def test_idle_flush_and_close_flush() -> None:
    """Held-back frames are flushed after a paced idle second, and session.close flushes the rest."""
    m = translation(Script(ttfa_ms=400, pace=True, speed=1, burst_ms=0))
    send(m, {"type": "session.input_audio_buffer.append", "audio": speech(600)}, now=5.0)
    assert m.next_deadline() == 6.0
    assert len(events(m.poll(6.0))) >= 2
    send(m, {"type": "session.input_audio_buffer.append", "audio": speech(100)}, now=7.0)
    out = send(m, {"type": "session.close"}, now=7.1)
    assert kinds(out)[-1] == "session.closed" and m.close is not None and m.close.code == 1000
    assert send(m, {"type": "session.input_audio_buffer.append", "audio": speech(200)})[0]["type"] == "error"


def test_only_language_transcription_and_noise_reduction_are_updatable() -> None:
    """Model, type, input format and unknown languages are refused; the language switch applies."""
    m = translation(FAST)
    for patch in ({"model": "x"}, {"type": "translation"}, {"audio": {"input": {"format": {"type": "audio/pcm"}}}},
                  {"audio": {"output": {"language": "xx"}}}):
        assert send(m, {"type": "session.update", "session": patch})[0]["type"] == "error"
    ok = send(m, {"type": "session.update", "session": {"audio": {"output": {"language": "ja"},
                                                                  "input": {"noise_reduction": {"type": "near_field"}}}}})
    assert ok[0]["session"]["audio"]["output"]["language"] == "ja"  # type: ignore[index]
