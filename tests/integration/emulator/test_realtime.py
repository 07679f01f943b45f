"""Full voice-agent sessions against the emulator, every event validated with the SDK types."""

from __future__ import annotations

import base64

import orjson

from gateway.emulator import EmulatorHandle
from gateway.emulator.audio import PCMU

from .helpers import Client, open_client, silence_b64, speech_b64

RESPONSE_ORDER = [
    "response.created", "rate_limits.updated", "response.output_item.added", "conversation.item.added",
    "response.content_part.added", "response.output_audio.delta", "response.output_audio.done",
    "response.output_audio_transcript.done", "response.content_part.done", "response.output_item.done",
    "conversation.item.done", "response.done"]


def assert_one_response(events: list[dict[str, object]]) -> dict[str, object]:
    """All response-scoped events share one response_id/item_id; returns the final response."""
    created = next(e for e in events if e["type"] == "response.created")
    done = next(e for e in events if e["type"] == "response.done")
    response_id = created["response"]["id"]  # type: ignore[index]
    assert done["response"]["id"] == response_id  # type: ignore[index]
    added = next(e for e in events if e["type"] == "response.output_item.added")
    item_id = added["item"]["id"]  # type: ignore[index]
    for event in events:
        if "response_id" in event:
            assert event["response_id"] == response_id
        if str(event["type"]).startswith("response.") and "item_id" in event:
            assert event["item_id"] == item_id
    assert done["response"]["output"][0]["id"] == item_id  # type: ignore[index]
    return done["response"]  # type: ignore[return-value]


async def speak(client: Client, ms: int, fmt_offset: int = 0, silence_ms: int = 700) -> None:
    """Stream ``ms`` of speech then trailing silence in 100 ms appends."""
    for i in range(ms // 100):
        await client.send({"type": "input_audio_buffer.append", "audio": speech_b64(100, offset=fmt_offset + i * 100)})
    for _ in range(silence_ms // 100):
        await client.send({"type": "input_audio_buffer.append", "audio": silence_b64(100)})


async def test_vad_turn_with_transcription_and_spoken_reply(emu: EmulatorHandle) -> None:
    """A spoken turn yields VAD events, a committed user item, its transcript and an ordered spoken reply."""
    c = await open_client(emu, "model=gpt-realtime-2")
    created = await c.recv()
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["id"].startswith("sess_") and session["object"] == "realtime.session"  # type: ignore[index]
    assert session["model"] == "gpt-realtime-2"  # type: ignore[index]
    assert (await c.recv())["type"] == "conversation.created"
    await c.send({"type": "session.update", "event_id": "c1", "session": {
        "type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    updated = await c.recv()
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-mini-transcribe"  # type: ignore[index]
    assert updated["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"  # type: ignore[index]
    await speak(c, 1500)
    events = await c.until("response.done")
    kinds = [e["type"] for e in events]
    started, stopped, committed = (next(e for e in events if e["type"] == k) for k in (
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"))
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert started["audio_start_ms"] == 0 and 1500 <= stopped["audio_end_ms"] <= 2200  # type: ignore[operator]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == committed["item_id"] and completed["usage"]["type"] == "tokens"  # type: ignore[index]
    response_kinds = [k for k in kinds[kinds.index("response.created"):] if k in RESPONSE_ORDER]
    assert [k for i, k in enumerate(response_kinds) if i == 0 or k != response_kinds[i - 1]] == [
        k for k in RESPONSE_ORDER]
    response = assert_one_response(events)
    assert response["status"] == "completed"
    usage = response["usage"]
    audio_bytes = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.output_audio.delta")  # type: ignore[arg-type]
    assert audio_bytes == 600 * 48
    assert usage["output_token_details"]["audio_tokens"] == 12  # type: ignore[index]
    assert usage["input_token_details"]["audio_tokens"] >= 15  # type: ignore[index]
    await c.ws.close()
    record = emu.sessions[-1]
    assert record.audio_out_bytes == audio_bytes and record.audio_in_bytes == 22 * 4800
    assert record.usage_total.total_tokens == usage["total_tokens"]  # type: ignore[index]


async def test_manual_turns_text_mode_and_cached_tokens(emu: EmulatorHandle) -> None:
    """Manual commit rejects short buffers, then text replies stream and later turns report cached tokens."""
    c = await open_client(emu, "model=gpt-realtime-2.1")
    await c.until("conversation.created")
    await c.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                        "audio": {"input": {"turn_detection": None}}}})
    assert (await c.recv())["session"]["audio"]["input"]["turn_detection"] is None  # type: ignore[index]
    await c.send({"type": "input_audio_buffer.append", "audio": speech_b64(50)})
    await c.send({"type": "input_audio_buffer.commit", "event_id": "short"})
    error = await c.recv()
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"  # type: ignore[index]
    assert error["error"]["event_id"] == "short"  # type: ignore[index]
    usages = []
    for _ in range(2):
        await c.send({"type": "input_audio_buffer.append", "audio": speech_b64(800)})
        await c.send({"type": "input_audio_buffer.commit"})
        await c.send({"type": "response.create"})
        events = await c.until("response.done")
        assert "response.output_text.delta" in [e["type"] for e in events]
        assert not any(e["type"] == "response.output_audio.delta" for e in events)
        usages.append(assert_one_response(events)["usage"])
    assert usages[0]["input_token_details"]["cached_tokens"] == 0  # type: ignore[index]
    assert usages[1]["input_token_details"]["cached_tokens"] == usages[0]["input_tokens"]  # type: ignore[index]


async def test_function_call_round_trip(emu: EmulatorHandle) -> None:
    """A forced tool call streams schema-valid arguments; the output then yields a spoken answer."""
    c = await open_client(emu, "model=gpt-realtime-2")
    await c.until("conversation.created")
    tool = {"type": "function", "name": "get_weather", "description": "weather", "parameters": {
        "type": "object", "required": ["city", "unit", "days"], "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 3}}}}
    await c.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool],
                                                        "tool_choice": {"type": "function", "name": "get_weather"}}})
    await c.recv()
    await c.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}})
    await c.until("conversation.item.done")
    await c.send({"type": "response.create"})
    events = await c.until("response.done")
    response = assert_one_response(events)
    added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    call_id = added["call_id"]  # type: ignore[index]
    assert call_id.startswith("call_") and done["call_id"] == call_id and done["name"] == "get_weather"  # type: ignore[union-attr]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")  # type: ignore[misc]
    assert deltas == done["arguments"]
    assert orjson.loads(done["arguments"]) == {"city": "example_city", "unit": "celsius", "days": 3}  # type: ignore[arg-type]
    assert response["output"][0]["type"] == "function_call"  # type: ignore[index]
    await c.send({"type": "session.update", "session": {"type": "realtime", "tool_choice": "auto"}})
    await c.recv()
    await c.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call_id, "output": '{"temp": 21}'}})
    await c.until("conversation.item.done")
    await c.send({"type": "response.create"})
    events = await c.until("response.done")
    transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert str(transcript).startswith("The get_weather tool returned")


async def test_cancel_barge_in_truncate_and_item_ops(emu: EmulatorHandle) -> None:
    """Cancel, VAD barge-in, truncate bounds, retrieve/delete and protocol errors behave like the API."""
    c = await open_client(emu, "model=gpt-realtime-2&emu_pace=1&emu_reply_ms=5000&emu_chunk_ms=100")
    await c.until("conversation.created")
    await c.send({"type": "response.cancel", "event_id": "nothing"})
    assert (await c.recv())["error"]["code"] == "response_cancel_not_active"  # type: ignore[index]
    await c.send({"type": "response.create"})
    await c.until("response.output_audio.delta")
    await c.send({"type": "response.create", "event_id": "second"})
    await c.send({"type": "response.cancel"})
    events = await c.until("response.done")
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["error"]["code"] == "conversation_already_has_active_response"  # type: ignore[index]
    response = events[-1]["response"]
    assert response["status"] == "cancelled" and response["status_details"]["reason"] == "client_cancelled"  # type: ignore[index]
    item_id = response["output"][0]["id"]  # type: ignore[index]
    await c.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 99999})
    assert (await c.recv())["error"]["param"] == "audio_end_ms"  # type: ignore[index]
    await c.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 50})
    assert (await c.recv())["type"] == "conversation.item.truncated"
    await c.send({"type": "conversation.item.retrieve", "item_id": item_id})
    retrieved = await c.recv()
    assert len(base64.b64decode(retrieved["item"]["content"][0]["audio"])) == 50 * 48  # type: ignore[index]
    await c.send({"type": "response.create"})
    await c.until("response.output_audio.delta")
    await speak(c, 400, silence_ms=0)
    events = await c.until("response.done")
    assert any(e["type"] == "input_audio_buffer.speech_started" for e in events)
    assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"  # type: ignore[index]
    await c.send({"type": "conversation.item.delete", "item_id": item_id})
    received = await c.until("conversation.item.deleted")
    assert received[-1]["item_id"] == item_id
    for bad in ("not json", '{"type": "nope.nope", "event_id": "x"}', '{"no_type": 1}'):
        await c.ws.send(bad)
        event = await c.until("error")
        assert event[-1]["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    await c.ws.close()


async def test_g711_output_and_snapshot_name(emu: EmulatorHandle) -> None:
    """μ-law output format yields 8 bytes per ms of audio; emu_snapshot reports a dated model name."""
    c = await open_client(emu, "model=gpt-realtime-2&emu_snapshot=1")
    created = await c.recv()
    assert created["session"]["model"].startswith("gpt-realtime-2-20")  # type: ignore[index,union-attr]
    await c.recv()
    await c.send({"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}}})
    await c.recv()
    for i in range(10):
        await c.send({"type": "input_audio_buffer.append",
                      "audio": base64.b64encode(__import__("gateway.emulator.audio", fromlist=["voice"]).voice(
                          PCMU, i * 100, 100)).decode()})
    for _ in range(7):
        await c.send({"type": "input_audio_buffer.append", "audio": silence_b64(100, PCMU)})
    events = await c.until("response.done")
    audio = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.output_audio.delta")  # type: ignore[arg-type]
    assert audio == 600 * 8
    await c.ws.close()


async def test_out_of_band_responses_run_in_parallel_with_item_references(emu: EmulatorHandle) -> None:
    """Two conversation:none responses and the default one run at once; OOB ones take item references."""
    c = await open_client(emu, "model=gpt-realtime-2.1&emu_pace=1&emu_ttfa_ms=50")
    await c.until("conversation.created")
    await c.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                        "audio": {"input": {"turn_detection": None}}}})
    await c.until("session.updated")
    await c.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "id": "item_q1",
                                                               "content": [{"type": "input_text", "text": "hello"}]}})
    await c.until("conversation.item.done")
    await c.send({"type": "response.create"})
    await c.send({"type": "response.create", "response": {"conversation": "none", "metadata": {"job": "summary"},
                                                          "input": [{"type": "item_reference", "id": "item_q1"}]}})
    await c.send({"type": "response.create", "response": {"conversation": "none", "metadata": {"job": "classify"},
                                                          "input": []}})
    await c.send({"type": "response.create", "event_id": "bad_ref", "response": {
        "conversation": "none", "input": [{"type": "item_reference", "id": "item_missing"}]}})
    events: list[dict[str, object]] = []
    done: list[dict[str, object]] = []
    while len(done) < 3:
        event = await c.recv()
        events.append(event)
        if event["type"] == "response.done":
            done.append(event["response"])  # type: ignore[arg-type]
    created = [e for e in events if e["type"] == "response.created"]
    assert len(created) == 3
    first_done = events.index(next(e for e in events if e["type"] == "response.done"))
    assert events.index(created[-1]) < first_done  # all three started before any finished
    by_job = {(r["metadata"] or {}).get("job"): r for r in done}  # type: ignore[union-attr]
    assert by_job["summary"]["conversation_id"] is None and by_job["classify"]["conversation_id"] is None
    assert by_job[None]["conversation_id"] is not None
    oob_items = {r["output"][0]["id"] for r in done if r["conversation_id"] is None}  # type: ignore[index]
    added = {e["item"]["id"] for e in events if e["type"] == "conversation.item.added"}  # type: ignore[index]
    assert not oob_items & added
    error = next(e for e in events if e["type"] == "error")
    assert error["error"]["event_id"] == "bad_ref" and error["error"]["param"] == "response.input"  # type: ignore[index]
