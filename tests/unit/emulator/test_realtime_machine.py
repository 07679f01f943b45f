"""The voice-agent state machine without sockets: ordering, pacing, cancel, truncate, config."""

from __future__ import annotations

import dataclasses

from gateway.emulator.script import Script
from gateway.emulator.session_config import Problem, apply_update, default_realtime_session

from .machine_helpers import FAST, events, kinds, quiet, realtime, send, speech


def test_response_events_follow_the_documented_order() -> None:
    """response.create yields the documented sequence with transcript deltas interleaved with audio."""
    m = realtime()
    out = kinds(send(m, {"type": "response.create"}))
    assert out[:5] == ["response.created", "rate_limits.updated", "response.output_item.added",
                       "conversation.item.added", "response.content_part.added"]
    assert out[-6:] == ["response.output_audio.done", "response.output_audio_transcript.done",
                        "response.content_part.done", "response.output_item.done", "conversation.item.done",
                        "response.done"]
    middle = set(out[5:-6])
    assert middle == {"response.output_audio.delta", "response.output_audio_transcript.delta"}
    assert out.count("response.output_audio.delta") == 5


def test_bursty_response_sends_audio_faster_than_real_time() -> None:
    """By default 500 ms of audio leave at once and the next burst follows 125 ms later (4x real time)."""
    m = realtime(Script(ttfa_ms=300, reply_ms=2000, chunk_ms=100, pace=True))
    assert "response.output_audio.delta" not in kinds(send(m, {"type": "response.create"}, now=10.0))
    assert kinds(events(m.poll(10.3))).count("response.output_audio.delta") == 5
    assert kinds(events(m.poll(10.42))) == []
    assert kinds(events(m.poll(10.425))).count("response.output_audio.delta") == 5
    tail = kinds(events(m.poll(10.675)))
    assert tail[-1] == "response.done" and tail.count("response.output_audio.delta") == 10


def test_realtime_mode_releases_audio_in_real_time() -> None:
    """emu_speed=1, emu_burst_ms=0: the first audio waits for ttfa and each 100 ms chunk follows 100 ms later."""
    m = realtime(Script(ttfa_ms=300, reply_ms=1000, chunk_ms=100, pace=True, speed=1, burst_ms=0))
    assert "response.output_audio.delta" not in kinds(send(m, {"type": "response.create"}, now=10.0))
    assert m.next_deadline() == 10.3
    assert kinds(events(m.poll(10.3))) == ["response.output_audio.delta", "response.output_audio_transcript.delta"]
    assert kinds(events(m.poll(10.35))) == []
    assert kinds(events(m.poll(10.4)))[0] == "response.output_audio.delta"
    tail = kinds(events(m.poll(11.25)))
    assert tail[-1] == "response.done" and tail.count("response.output_audio.delta") == 8


def test_cancel_mid_stream_reports_partial_audio_and_usage() -> None:
    """Cancelling after 300 ms of audio closes the streams and bills only what was generated."""
    m = realtime(Script(ttfa_ms=0, reply_ms=1000, pace=True, speed=1, burst_ms=0))
    send(m, {"type": "response.create"}, now=0.0)
    events(m.poll(0.2))
    out = send(m, {"type": "response.cancel"}, now=0.25)
    done = out[-1]["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled"  # type: ignore[index]
    assert done["output"][0]["status"] == "incomplete"  # type: ignore[index]
    assert done["usage"]["output_token_details"]["audio_tokens"] == 6  # type: ignore[index]
    assert send(m, {"type": "response.cancel"})[0]["error"]["code"] == "response_cancel_not_active"  # type: ignore[index]


def test_truncate_bounds_and_transcript_cut() -> None:
    """Truncate refuses audio_end_ms past the audio and user items, and shortens the transcript."""
    m = realtime(dataclasses.replace(FAST, reply_ms=2000))
    item = send(m, {"type": "response.create"})[-1]["response"]["output"][0]  # type: ignore[index]
    too_far = send(m, {"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0,
                       "audio_end_ms": 2001})
    assert too_far[0]["error"]["param"] == "audio_end_ms"  # type: ignore[index]
    ok = send(m, {"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0, "audio_end_ms": 1000})
    assert ok[0]["type"] == "conversation.item.truncated"
    entry = m.conversation.get(item["id"])
    assert entry is not None and entry.audio_ms == 1000
    words = item["content"][0]["transcript"].split(" ")
    assert entry.item["content"][0]["transcript"] == " ".join(words[:round(len(words) / 2)])  # type: ignore[index]
    user = send(m, {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                                   "content": [{"type": "input_text", "text": "hi"}]}})
    bad = send(m, {"type": "conversation.item.truncate", "item_id": user[0]["item"]["id"], "content_index": 0,  # type: ignore[index]
                   "audio_end_ms": 0})
    assert bad[0]["type"] == "error"


def test_vad_commit_then_auto_response_and_barge_in() -> None:
    """Speech + silence commits a user item and responds; speech during a paced reply cancels it."""
    m = realtime(Script(ttfa_ms=0, reply_ms=3000, pace=True, speed=1, burst_ms=0))
    out = []
    for i in range(10):
        out += send(m, {"type": "input_audio_buffer.append", "audio": speech(100, i * 100)}, now=i * 0.1)
    for i in range(6):
        out += send(m, {"type": "input_audio_buffer.append", "audio": quiet(100)}, now=1 + i * 0.1)
    assert "input_audio_buffer.committed" in kinds(out) and "response.created" in kinds(out)
    barge = []
    for i in range(3):
        barge += send(m, {"type": "input_audio_buffer.append", "audio": speech(100, i * 100)}, now=2 + i * 0.1)
    barge_kinds = kinds(barge)
    assert barge_kinds.index("input_audio_buffer.speech_started") < barge_kinds.index("response.done")
    assert barge[-1]["response"]["status_details"]["reason"] == "turn_detected"  # type: ignore[index]


def test_second_response_create_is_rejected_while_one_is_active() -> None:
    """Only one default-conversation response at a time; out-of-band ones may run in parallel."""
    m = realtime(Script(ttfa_ms=100, pace=True, speed=1, burst_ms=0))
    send(m, {"type": "response.create"})
    error = send(m, {"type": "response.create", "event_id": "again"})[0]
    assert error["error"] == {  # type: ignore[comparison-overlap]
        "type": "invalid_request_error", "code": "conversation_already_has_active_response",
        "message": error["error"]["message"], "param": None, "event_id": "again"}  # type: ignore[index]
    oob = send(m, {"type": "response.create", "response": {"conversation": "none", "metadata": {"k": "v"}}})
    assert oob[0]["response"]["conversation_id"] is None  # type: ignore[index]
    assert "conversation.item.added" not in kinds(oob)


def test_session_update_merges_only_present_fields() -> None:
    """An update changes only what it names, fills VAD defaults, and refuses model changes and bad keys."""
    base = default_realtime_session("sess_x", "gpt-realtime-2", 0)
    merged = apply_update(base, {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 200}}}})
    assert isinstance(merged, dict)
    assert merged["audio"]["input"]["turn_detection"]["threshold"] == 0.5  # type: ignore[index]
    assert merged["audio"]["output"] == base["audio"]["output"]  # type: ignore[index]
    assert merged["instructions"] == base["instructions"]
    for patch, code in [({}, "missing_required_parameter"), ({"type": "realtime", "model": "gpt-realtime-1.5"}, "invalid_value"),
                        ({"type": "realtime", "temperature": 0.7}, "unknown_parameter"),
                        ({"type": "transcription"}, "invalid_model")]:
        problem = apply_update(base, patch)
        assert isinstance(problem, Problem) and problem.code == code
    fatal = apply_update(base, {"type": "transcription"})
    assert isinstance(fatal, Problem) and fatal.fatal


def test_voice_is_frozen_after_audio_was_produced() -> None:
    """Changing the voice after the first spoken reply is refused."""
    m = realtime()
    send(m, {"type": "response.create"})
    out = send(m, {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}})
    assert out[0]["error"]["param"] == "session.audio.output.voice"  # type: ignore[index]


def test_max_output_tokens_makes_the_reply_incomplete() -> None:
    """A low max_output_tokens shortens the reply and reports status incomplete."""
    m = realtime(dataclasses.replace(FAST, reply_ms=3000))
    done = send(m, {"type": "response.create", "response": {"max_output_tokens": 20}})[-1]["response"]
    assert done["status"] == "incomplete" and done["status_details"]["reason"] == "max_output_tokens"  # type: ignore[index]
    assert done["usage"]["output_tokens"] <= 20  # type: ignore[index]


def test_transcription_session_rejects_conversation_events() -> None:
    """Transcription sessions accept only session.update and the input buffer events."""
    m = realtime(kind="transcription")
    assert send(m, {"type": "conversation.item.create", "item": {}})[0]["error"]["param"] == "type"  # type: ignore[index]
    assert send(m, {"type": "session.update", "session": {"type": "realtime"}})[0]["error"]["code"] == "invalid_value"  # type: ignore[index]


def test_input_transcription_fills_the_user_item() -> None:
    """After the ASR completion, retrieving the user item shows its transcript and its audio."""
    m = realtime(dataclasses.replace(FAST, reply_ms=300))
    send(m, {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-realtime-whisper"}}}}})
    send(m, {"type": "input_audio_buffer.append", "audio": speech(500)})
    out = send(m, {"type": "input_audio_buffer.commit"})
    completed = next(e for e in out if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["usage"] == {"type": "duration", "seconds": 0.5}
    item = send(m, {"type": "conversation.item.retrieve", "item_id": completed["item_id"]})[0]["item"]
    assert item["content"][0]["transcript"] == completed["transcript"]  # type: ignore[index]
    assert item["content"][0]["audio"] == speech(500)  # type: ignore[index]


def _speak(m: object, text: str, now: float) -> list[dict[str, object]]:
    """Append tone-coded speech then 700 ms of silence in 100 ms chunks (server VAD commits it)."""
    import base64

    from tests.support.audio import said, silence

    pcm = said(text) + silence(700)
    out: list[dict[str, object]] = []
    for i in range(0, len(pcm), 4800):
        out += send(m, {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i:i + 4800]).decode()},  # type: ignore[arg-type]
                    now=now + i / 48_000)
    return out


ORDER_TOOL = {"type": "function", "name": "lookup_order", "description": "Look up an order by its ID",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}


def test_spoken_question_gets_a_relevant_tool_call_once_then_speech() -> None:
    """A spoken question about an order calls lookup_order (no marker); after its output the model speaks."""
    m = realtime()
    send(m, {"type": "session.update", "session": {"type": "realtime", "tools": [ORDER_TOOL], "audio": {"input": {
        "transcription": {"model": "gpt-realtime-whisper"}}}}})
    out = _speak(m, "Where is my order 4417?", 0.0)
    heard = next(e for e in out if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert heard["transcript"] == "Where is my order 4417?"
    call = next(e for e in out if e["type"] == "response.function_call_arguments.done")
    assert call["name"] == "lookup_order"
    send(m, {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"],
                                                          "output": "{\"status\": \"shipped\"}"}})
    again = kinds(send(m, {"type": "response.create"}))
    assert "response.function_call_arguments.done" not in again and "response.output_audio.delta" in again
    assert "response.function_call_arguments.done" not in kinds(send(m, {"type": "response.create"}))


def test_unrelated_spoken_question_gets_speech() -> None:
    """A spoken turn with no word in common with any tool is answered with speech."""
    m = realtime()
    send(m, {"type": "session.update", "session": {"type": "realtime", "tools": [ORDER_TOOL]}})
    out = kinds(_speak(m, "Tell me a joke about cats", 0.0))
    assert "response.output_audio.delta" in out and "response.function_call_arguments.done" not in out


def test_truncate_at_played_position_while_audio_is_ahead() -> None:
    """Audio arrives ahead of playback; a truncate at what was played (300 ms) after cancel is accepted."""
    m = realtime(Script(ttfa_ms=0, reply_ms=3000, chunk_ms=100, pace=True))
    out = send(m, {"type": "response.create"}, now=0.0)
    item_id = next(e for e in out if e["type"] == "response.output_item.added")["item"]["id"]  # type: ignore[index]
    out += events(m.poll(0.3))
    assert kinds(out).count("response.output_audio.delta") == 15  # 1.5 s of audio sent within 300 ms
    cancel = send(m, {"type": "response.cancel"}, now=0.3)
    assert cancel[-1]["response"]["status"] == "cancelled"  # type: ignore[index]
    truncated = send(m, {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                         "audio_end_ms": 300}, now=0.31)
    assert kinds(truncated) == ["conversation.item.truncated"]
    late = send(m, {"type": "response.cancel"}, now=0.32)
    assert late[0]["error"]["code"] == "response_cancel_not_active"  # type: ignore[index]


def test_mcp_tools_take_the_newer_fields_and_need_a_target() -> None:
    """MCP tools accept tunnel_id and allowed_callers; one of server_url/connector_id/tunnel_id is required."""
    m = realtime()
    good = {"type": "mcp", "server_label": "docs", "tunnel_id": "tun_1", "allowed_callers": ["direct"],
            "require_approval": "never"}
    assert kinds(send(m, {"type": "session.update", "session": {"type": "realtime", "tools": [good]}})) == ["session.updated"]
    for bad, param in (({"type": "mcp", "server_label": "docs"}, "session.tools[0]"),
                       ({**good, "allowed_callers": ["robots"]}, "session.tools[0].allowed_callers"),
                       ({**good, "colour": "red"}, "session.tools[0].colour"),
                       ({"type": "web_search"}, "session.tools[0].type")):
        (error,) = send(m, {"type": "session.update", "session": {"type": "realtime", "tools": [bad]}})
        assert error["type"] == "error" and error["error"]["param"] == param  # type: ignore[index]


def test_saved_prompt_is_refused_and_null_accepted() -> None:
    """A non-null session.prompt / response.prompt is unknown_parameter since 2026-11-30; null is fine."""
    m = realtime()
    (error,) = send(m, {"type": "session.update", "session": {"type": "realtime", "prompt": {"id": "pmpt_1"}}})
    assert error["error"]["code"] == "unknown_parameter" and error["error"]["param"] == "session.prompt"  # type: ignore[index]
    assert kinds(send(m, {"type": "session.update", "session": {"type": "realtime", "prompt": None}})) == ["session.updated"]
    (error,) = send(m, {"type": "response.create", "response": {"prompt": {"id": "pmpt_1"}}})
    assert error["error"]["param"] == "response.prompt"  # type: ignore[index]
