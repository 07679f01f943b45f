"""Transcription and translation sessions end to end, every event validated with the SDK types."""

from __future__ import annotations

import base64

from websockets.exceptions import ConnectionClosed

from gateway.emulator import EmulatorHandle

from .helpers import TRANSLATION, open_client, silence_b64, speech_b64


async def test_whisper_transcription_manual_commit(emu: EmulatorHandle) -> None:
    """gpt-realtime-whisper refuses VAD, transcribes a manual commit and reports duration usage."""
    c = await open_client(emu, "intent=transcription")
    created = await c.recv()
    assert created["session"]["type"] == "transcription"  # type: ignore[index]
    bad = {"type": "session.update", "event_id": "vad", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": {"type": "server_vad"}}}}}
    await c.send(bad)
    error = await c.recv()
    assert error["error"]["param"] == "session.audio.input.turn_detection" and error["error"]["event_id"] == "vad"  # type: ignore[index]
    await c.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-realtime-whisper", "language": "en", "delay": "low"}}}}})
    updated = await c.recv()
    assert updated["session"]["audio"]["input"]["turn_detection"] is None  # type: ignore[index]
    await c.send({"type": "input_audio_buffer.append", "audio": speech_b64(1200)})
    await c.send({"type": "input_audio_buffer.commit"})
    events = await c.until("conversation.item.input_audio_transcription.completed")
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    item_id = events[0]["item_id"]
    assert all(e["item_id"] == item_id for e in events if "item_id" in e)
    deltas = "".join(str(e["delta"]) for e in events if e["type"].endswith(".delta"))  # type: ignore[union-attr]
    assert deltas == events[-1]["transcript"]
    assert events[-1]["usage"] == {"type": "duration", "seconds": 1.2}
    await c.send({"type": "response.create", "event_id": "r"})
    assert (await c.recv())["error"]["param"] == "type"  # type: ignore[index]
    await c.ws.close()
    assert emu.sessions[-1].usage_total.transcription_seconds == 1.2


async def test_live_transcribe_with_vad(emu: EmulatorHandle) -> None:
    """gpt-live-transcribe commits turns by VAD and never creates responses."""
    c = await open_client(emu, "intent=transcription")
    await c.recv()
    await c.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-live-transcribe", "languages": ["en"]},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}})
    await c.recv()
    for i in range(8):
        await c.send({"type": "input_audio_buffer.append", "audio": speech_b64(100, offset=i * 100)})
    for _ in range(5):
        await c.send({"type": "input_audio_buffer.append", "audio": silence_b64(100)})
    events = await c.until("conversation.item.input_audio_transcription.completed")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "input_audio_buffer.speech_started" and "input_audio_buffer.committed" in kinds
    assert not any(k.startswith("response.") for k in kinds)  # type: ignore[union-attr]
    await c.ws.close()


async def test_model_in_url_then_transcription_update_closes_4000(emu: EmulatorHandle) -> None:
    """A conversation session asked to become a transcription session errors invalid_model and closes 4000."""
    c = await open_client(emu, "model=gpt-realtime-2&intent=transcription")
    await c.until("conversation.created")
    await c.send({"type": "session.update", "session": {"type": "transcription"}})
    assert (await c.recv())["error"]["code"] == "invalid_model"  # type: ignore[index]
    try:
        await c.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4000


async def test_unknown_model_is_refused_with_invalid_model(emu: EmulatorHandle) -> None:
    """An unknown model gets an invalid_model error event then close 4000."""
    c = await open_client(emu, "model=gpt-4-turbo")
    assert (await c.recv())["error"]["code"] == "invalid_model"  # type: ignore[index]
    try:
        await c.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4000


async def test_translation_session_streams_and_closes(emu: EmulatorHandle) -> None:
    """Translation yields equal-length lagged audio, transcripts in both languages and session.closed."""
    c = await open_client(emu, "model=gpt-realtime-translate&emu_ttfa_ms=400", TRANSLATION, "/realtime/translations")
    created = await c.recv()
    assert created["session"]["type"] == "translation" and created["session"]["id"].startswith("sess_")  # type: ignore[index,union-attr]
    await c.send({"type": "session.update", "event_id": "bad", "session": {"audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 24000}}}}})
    assert (await c.recv())["error"]["code"] == "unknown_parameter"  # type: ignore[index]
    await c.send({"type": "session.update", "session": {"audio": {
        "output": {"language": "es"}, "input": {"transcription": {"model": "gpt-realtime-whisper"}}}}})
    assert (await c.recv())["session"]["audio"]["output"]["language"] == "es"  # type: ignore[index]
    await c.send({"type": "response.create"})
    assert (await c.recv())["type"] == "error"
    for i in range(10):
        await c.send({"type": "session.input_audio_buffer.append", "audio": speech_b64(200, offset=i * 200)})
    await c.send({"type": "session.input_audio_buffer.append", "audio": silence_b64(100)})
    await c.send({"type": "session.close"})
    events = await c.until("session.closed")
    audio = [e for e in events if e["type"] == "session.output_audio.delta"]
    assert sum(len(base64.b64decode(str(e["delta"]))) for e in audio) == 11 * 9600
    elapsed = [e["elapsed_ms"] for e in audio]
    assert elapsed == sorted(elapsed) and elapsed[-1] == 2200
    spanish = "".join(str(e["delta"]) for e in events if e["type"] == "session.output_transcript.delta")
    assert spanish.startswith("la reunión")
    assert any(e["type"] == "session.input_transcript.delta" for e in events)
    try:
        await c.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1000
    record = emu.sessions[-1]
    assert record.audio_in_bytes == 10 * 9600 + 4800 and record.audio_out_bytes == 11 * 9600
