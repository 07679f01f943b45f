"""The Sans-I/O session core: what is forwarded, rewritten, refused and observed."""

import base64
import json

import pytest

import orjson

from gateway.core import observers as ev
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.reservations import PENDING_TTL_S
from gateway.core.routing import SessionOverrides, ToolAllowlist
from gateway.core.session import FORWARD, Emit, SessionCore

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")


def _core(kind: SessionKind = SessionKind.REALTIME, **kwargs: object) -> SessionCore:
    return SessionCore(kind=kind, dialect=Dialect.GA, now=0.0, **kwargs)  # type: ignore[arg-type]


def _text(event: dict) -> str:
    return orjson.dumps(event).decode()


def _append(n: int = 4800, event_type: str = "input_audio_buffer.append") -> str:
    return _text({"type": event_type, "audio": base64.b64encode(b"\x00\x01" * (n // 2)).decode()})


def _delta(n: int = 4800, response_id: str = "resp_1") -> str:
    return _text({"type": "response.output_audio.delta", "event_id": "e", "response_id": response_id, "item_id": "i",
                  "output_index": 0, "content_index": 0, "delta": base64.b64encode(b"\x00" * n).decode()})


def _errors(action: object) -> list[dict]:
    assert isinstance(action, Emit)
    return [orjson.loads(f) for f in action.to_client]


def test_audio_append_is_forwarded_untouched_and_counted() -> None:
    """An append takes the hot path and its decoded bytes are counted."""
    core = _core()
    assert core.from_client(_append(4800), 1.0) is FORWARD
    assert core.stats.audio_in_bytes == 4800
    assert core.stats.audio_in_bytes_since_usage == 4800
    assert core.stats.last_activity_at == 1.0


def test_unknown_event_type_gets_error_and_is_not_forwarded() -> None:
    """An unknown client event is answered with an OpenAI-shaped error echoing the client event id."""
    action = core_action = _core().from_client(_text({"type": "nope.nope", "event_id": "c1"}), 0.0)
    (error,) = _errors(core_action)
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_event"
    assert error["error"]["event_id"] == "c1"
    assert isinstance(action, Emit) and not action.to_upstream and action.close is None


def test_large_frame_with_unknown_type_is_refused_too() -> None:
    """Even an audio-sized frame is refused when its type is wrong for the session kind."""
    core = _core(SessionKind.TRANSLATION)
    (error,) = _errors(core.from_client(_append(9600), 0.0))
    assert "input_audio_buffer.append" in error["error"]["message"]
    assert core.stats.audio_in_bytes == 0


def test_invalid_json_and_missing_type_keep_the_session_open() -> None:
    """Garbage text gets an error event but no close."""
    core = _core()
    for frame in ("not json", '{"audio": "x"}', "[]"):
        action = core.from_client(frame, 0.0)
        assert isinstance(action, Emit) and action.close is None
        assert _errors(action)[0]["type"] == "error"


def test_binary_frame_is_refused() -> None:
    """Binary frames are answered with an error; events are JSON text."""
    action = _core().from_client(b"\x00\x01", 0.0)
    assert _errors(action)[0]["error"]["message"].startswith("Binary frames")


def test_oversized_frame_closes_with_1009() -> None:
    """A frame above the limit gets an error event and ends the session with 1009."""
    core = _core(max_message_bytes=1000)
    action = core.from_client(_append(4800), 0.0)
    assert isinstance(action, Emit) and action.close is not None
    assert action.close.close_code == 1009


def test_overrides_rewrite_session_update() -> None:
    """Route overrides are enforced on the client's session.update before it goes upstream."""
    core = _core(overrides=SessionOverrides(instructions_prefix="Be brief.", voice="marin", max_output_tokens=100))
    action = core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi", "max_output_tokens": 4000}}), 0.0)
    assert isinstance(action, Emit)
    sent = orjson.loads(action.to_upstream[0])["session"]
    assert sent["instructions"] == "Be brief.\n\nHi"
    assert sent["audio"]["output"]["voice"] == "marin"
    assert sent["max_output_tokens"] == 100


def test_tool_outside_allowlist_is_refused() -> None:
    """A session.update declaring a tool the route does not allow gets an error and is not forwarded."""
    core = _core(overrides=SessionOverrides(tool_allowlist=ToolAllowlist(functions=frozenset({"lookup"}))))
    action = core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "rm_rf"}]}}), 0.0)
    assert isinstance(action, Emit) and not action.to_upstream
    assert "rm_rf" in _errors(action)[0]["error"]["message"]


def test_session_update_without_overrides_is_forwarded_and_formats_tracked() -> None:
    """With no overrides the update goes on as the gateway's serialization of it, and the input format is remembered."""
    core = _core()
    event = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}}
    action = core.from_client(json.dumps(event, indent=2), 0.0)
    assert isinstance(action, Emit) and [json.loads(f) for f in action.to_upstream] == [event]
    assert all(isinstance(f, str) for f in action.to_upstream)  # text frames
    assert core.stats.input_format == "audio/pcmu"


def test_response_lifecycle_emits_turn_events_and_resets_running_estimate() -> None:
    """created → first audio → first transcript → done, with usage, and the since-usage counters reset."""
    core = _core()
    core.from_upstream(_text({"type": "response.created", "event_id": "e", "response": {"id": "resp_1", "status": "in_progress"}}), 1.0)
    assert core.response_in_flight
    assert core.from_upstream(_delta(4800), 1.2) is FORWARD
    core.from_upstream(_delta(4800), 1.3)
    core.from_upstream(_text({"type": "response.output_audio_transcript.delta", "event_id": "e", "response_id": "resp_1", "item_id": "i", "output_index": 0, "content_index": 0, "delta": "Hi"}), 1.25)
    assert core.stats.audio_out_bytes_since_usage == 9600
    core.from_upstream(_text({"type": "response.done", "event_id": "e", "response": {"id": "resp_1", "status": "completed", "usage": {"total_tokens": 3}}}), 2.0)
    kinds = [type(e) for e in core.take_events()]
    assert kinds == [ev.ResponseCreated, ev.FirstAudio, ev.FirstTranscript, ev.ResponseDone]
    assert core.stats.audio_out_bytes_since_usage == 0
    assert core.stats.audio_out_bytes == 9600
    assert not core.response_in_flight


def test_cancel_frames_only_while_a_response_is_in_flight() -> None:
    """A cap cut-off cancels upstream only when there is something to cancel."""
    core = _core()
    assert core.cancel_frames() == []
    core.from_upstream(_text({"type": "response.created", "event_id": "e", "response": {"id": "resp_9"}}), 0.0)
    (frame,) = core.cancel_frames()
    assert orjson.loads(frame)["type"] == "response.cancel"
    assert orjson.loads(frame)["event_id"].startswith("gw_")


def test_served_model_is_rewritten_back_to_the_requested_alias() -> None:
    """A client that asked for gpt-realtime-2 never sees the routed model's name."""
    core = _core(requested_model="gpt-realtime-2", served_model="gpt-realtime-2.1")
    action = core.from_upstream(_text({"type": "session.created", "event_id": "e", "session": {"model": "gpt-realtime-2.1-2026-07-01", "type": "realtime"}}), 0.0)
    assert isinstance(action, Emit)
    assert orjson.loads(action.to_client[0])["session"]["model"] == "gpt-realtime-2"
    (ready,) = core.take_events()
    assert isinstance(ready, ev.UpstreamReady) and ready.served_model == "gpt-realtime-2.1-2026-07-01"


def test_malformed_upstream_frame_is_dropped_with_an_error() -> None:
    """A garbled frame from upstream is not passed on; the client gets an error event instead."""
    core = _core()
    action = core.from_upstream("{oops", 0.0)
    assert _errors(action)[0]["type"] == "error"
    assert isinstance(core.take_events()[0], ev.ErrorSeen)


def test_function_call_round_trip_is_observed() -> None:
    """Arguments done → FunctionCallRequested; the client's output item → FunctionCallOutput."""
    core = _core()
    core.from_upstream(_text({"type": "response.function_call_arguments.done", "event_id": "e", "response_id": "r", "item_id": "i", "output_index": 0, "call_id": "call_1", "name": "lookup", "arguments": "{}"}), 1.0)
    core.from_client(_text({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"}}), 1.5)
    requested, output = core.take_events()
    assert isinstance(requested, ev.FunctionCallRequested) and requested.name == "lookup"
    assert isinstance(output, ev.FunctionCallOutput) and output.call_id == "call_1"


def test_translation_output_is_segmented_by_gaps() -> None:
    """Translation output deltas start a new segment only after a silence gap."""
    core = _core(SessionKind.TRANSLATION)
    for t in (1.0, 1.1, 1.2, 3.0, 3.1):
        core.from_upstream(_append(9600, "session.output_audio.delta").replace('"audio"', '"delta"'), t)
    segments = [e for e in core.take_events() if isinstance(e, ev.TranslationOutput)]
    assert [s.at for s in segments] == [1.0, 3.0]


def test_frame_flood_is_cut_off() -> None:
    """More client frames in one second than the limit ends the session with 1008."""
    core = _core(max_frames_per_second=10)
    actions = [core.from_client(_append(960), 0.5) for _ in range(11)]
    assert all(a is FORWARD for a in actions[:10])
    last = actions[-1]
    assert isinstance(last, Emit) and last.close is not None and last.close.close_code == 1008
    assert core.from_client(_append(960), 1.6) is FORWARD  # a new second, a new window


def test_opening_frames_carry_the_routes_session_update() -> None:
    """With overrides the gateway has its own session.update to send before any client frame."""
    core = _core(overrides=SessionOverrides(instructions_prefix="Policy.", voice="cedar"))
    (frame,) = core.opening_frames()
    event = orjson.loads(frame)
    assert event["type"] == "session.update" and event["event_id"].startswith("gw_")
    assert event["session"]["instructions"] == "Policy." and event["session"]["audio"]["output"]["voice"] == "cedar"
    assert _core().opening_frames() == []


def test_response_create_alone_obeys_overrides() -> None:
    """A client that only sends response.create (in-band or out-of-band) gets the route's prefix and ceiling."""
    core = _core(overrides=SessionOverrides(instructions_prefix="Policy.", max_output_tokens=64))
    frame = _text({"type": "response.create", "response": {"conversation": "none", "instructions": "Say X", "max_output_tokens": "inf"}})
    action = core.from_client(frame, 0.0)
    assert isinstance(action, Emit)
    sent = orjson.loads(action.to_upstream[0])["response"]
    assert sent["instructions"] == "Policy.\n\nSay X" and sent["max_output_tokens"] == 64


def test_response_create_with_mcp_tool_refused() -> None:
    """response.create cannot bring an MCP server the route's allow-list does not name."""
    core = _core(overrides=SessionOverrides(tool_allowlist=ToolAllowlist(functions=frozenset({"lookup"}))))
    frame = _text({"type": "response.create", "event_id": "c9", "response": {"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x"}]}})
    action = core.from_client(frame, 0.0)
    assert isinstance(action, Emit) and not action.to_upstream and action.close is None
    (error,) = _errors(action)
    assert error["error"]["code"] == "tools_not_allowed" and error["error"]["event_id"] == "c9"


def test_declared_tools_checked_for_the_whole_session() -> None:
    """Tools declared in a later update or in response.create go through the policy's tool rules too."""
    from gateway.core.errors import ToolsNotAllowed

    seen: list[list[object]] = []

    def check(tools: list[object]) -> ToolsNotAllowed | None:
        seen.append(tools)
        return ToolsNotAllowed("no tools here")

    core = _core(declared_tools_check=check)
    action = core.from_client(_text({"type": "session.update", "session": {"type": "realtime"}}), 0.0)
    assert isinstance(action, Emit) and len(action.to_upstream) == 1 and not action.to_client
    tool = {"type": "function", "name": "f"}
    for frame in (
        _text({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}}),
        _text({"type": "response.create", "response": {"tools": [tool]}}),
    ):
        action = core.from_client(frame, 0.0)
        assert isinstance(action, Emit) and not action.to_upstream
        assert _errors(action)[0]["error"]["code"] == "tools_not_allowed"
    assert seen == [[tool], [tool]]


def test_upstream_frames_the_gateway_cannot_read_never_reach_the_client() -> None:
    """NaN in a large delta, a binary frame, bad base64 audio: dropped, and the client gets an error event instead."""
    core = _core()
    audio = base64.b64encode(b"\x00" * 4800).decode()
    for frame in (
        '{"type":"response.output_audio.delta","event_id":"e","delta":"%s","x":NaN}' % audio,
        b"\x00\x01binary",
        '{"type":"response.output_audio.delta","event_id":"e","delta":"%s!"}' % audio,
    ):
        action = core.from_upstream(frame, 1.0)
        assert isinstance(action, Emit) and not action.to_upstream
        (error,) = _errors(action)
        assert "dropped" in error["error"]["message"]
    assert core.stats.audio_out_bytes == 0


def test_every_parsed_event_goes_on_as_the_gateways_serialization() -> None:
    """A control event spelled with escapes and spacing reaches the upstream re-serialized (text), not as sent."""
    core = _core()
    frame = '{ "type" : "input_audio_buffer.\\u0063ommit" , "event_id" : "c1" }'
    action = core.from_client(frame, 0.0)
    assert isinstance(action, Emit) and action.to_upstream == ['{"type":"input_audio_buffer.commit","event_id":"c1"}']


def test_response_clamped_to_what_the_cap_leaves() -> None:
    """response.create is sent upstream with max_output_tokens lowered to what the nearest money limit pays for."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    action = core.from_client(_text({"type": "response.create", "response": {"max_output_tokens": "inf"}}), 1.0)
    assert isinstance(action, Emit)
    assert orjson.loads(action.to_upstream[0])["response"]["max_output_tokens"] == 150
    _reply_done(core, 1.0)  # each reply ends and is metered before the next is asked for
    core.stats.response_allowance = ev.ResponseAllowance(150, 9_600, by_budget=False, responses_metered=1)
    action = core.from_client(_text({"type": "response.create"}), 1.0)
    assert isinstance(action, Emit) and orjson.loads(action.to_upstream[0])["response"] == {"max_output_tokens": 150}
    _reply_done(core, 1.0)
    core.stats.response_allowance = ev.ResponseAllowance(150, 9_600, by_budget=False, responses_metered=2)
    action = core.from_client(_text({"type": "response.create", "response": {"max_output_tokens": 100}}), 1.0)
    assert isinstance(action, Emit) and orjson.loads(action.to_upstream[0])["response"] == {"max_output_tokens": 100}
    clamped = [e for e in core.take_events() if isinstance(e, ev.ResponseClamped)]
    assert [(e.max_output_tokens, e.asked) for e in clamped] == [(150, 4096), (150, 4096)]


def _created(core: SessionCore, response_id: str, now: float, *, tokens: object, out_of_band: bool) -> None:
    response = {"id": response_id, "max_output_tokens": tokens, "conversation_id": None if out_of_band else "conv_1"}
    core.from_upstream(_text({"type": "response.created", "response": response}), now)


def _bound_sent(action: object) -> int:
    assert isinstance(action, Emit) and action.to_upstream, action
    return orjson.loads(action.to_upstream[0])["response"]["max_output_tokens"]  # type: ignore[no-any-return]


def test_parallel_replies_share_what_the_cap_leaves() -> None:
    """Out-of-band replies asked for together get what is left after the ones before them, not each the whole of it;
    once nothing is left uncommitted the next is refused with a non-fatal error and the session goes on."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    oob = {"type": "response.create", "response": {"conversation": "none", "max_output_tokens": 100}}
    assert _bound_sent(core.from_client(_text(oob), 1.0)) == 100
    assert _bound_sent(core.from_client(_text(oob), 1.0)) == 50
    refused = core.from_client(_text({**oob, "event_id": "c3"}), 1.0)
    (error,) = _errors(refused)
    assert error["error"]["code"] == "allowance_committed" and error["error"]["event_id"] == "c3"
    assert isinstance(refused, Emit) and not refused.to_upstream and refused.close is None
    assert core.from_client(_append(), 1.0) is FORWARD  # the session goes on


def test_a_running_reply_counts_its_reported_bound_until_it_ends() -> None:
    """A reply the upstream started (its response.created's max_output_tokens) is promised until its response.done."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    _created(core, "resp_vad", 1.0, tokens=120, out_of_band=False)  # the upstream's own (server VAD) reply
    oob = {"type": "response.create", "response": {"conversation": "none"}}
    assert _bound_sent(core.from_client(_text(oob), 1.1)) == 30
    _created(core, "resp_oob", 1.2, tokens=30, out_of_band=True)
    core.from_upstream(_text({"type": "response.done", "response": {"id": "resp_vad", "status": "completed"}}), 1.3)
    core.stats.response_allowance = ev.ResponseAllowance(100, 6_400, by_budget=False, responses_metered=1)
    assert _bound_sent(core.from_client(_text(oob), 1.4)) == 70  # 100 left, 30 still running


def test_an_unanswered_promise_expires() -> None:
    """A response.create the upstream never started (it refused it) stops counting after the pending time."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    oob = {"type": "response.create", "response": {"conversation": "none"}}
    assert _bound_sent(core.from_client(_text(oob), 1.0)) == 150
    assert _errors(core.from_client(_text(oob), 1.0 + PENDING_TTL_S - 0.1))[0]["error"]["code"] == "allowance_committed"
    assert _bound_sent(core.from_client(_text(oob), 1.0 + PENDING_TTL_S + 0.1)) == 150


def test_promises_do_not_apply_without_a_money_limit() -> None:
    """With no cap or budget nothing is counted or clamped: parallel replies go on as asked."""
    core = _core()
    for _ in range(3):
        action = core.from_client(_text({"type": "response.create", "response": {"conversation": "none"}}), 1.0)
        assert isinstance(action, Emit) and orjson.loads(action.to_upstream[0])["response"] == {"conversation": "none"}
    assert core.stats.reservations is None


def test_session_ceiling_below_the_allowance_is_not_raised() -> None:
    """A session max_output_tokens already below the allowance is left to apply (the clamp never raises a ceiling)."""
    core = _core()
    core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 50}}), 0.0)
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=True)
    action = core.from_client(_text({"type": "response.create"}), 1.0)
    assert isinstance(action, Emit) and orjson.loads(action.to_upstream[0]) == {"type": "response.create"}


def test_a_large_allowance_leaves_the_clients_session_ceiling_alone() -> None:
    """An allowance above the API's 4096-token maximum never replaces "inf" with an out-of-range number."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=120_000, remaining_micros=7_680_000, by_budget=False)
    update = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "inf"}}
    action = core.from_client(_text(update), 1.0)
    assert isinstance(action, Emit)
    assert orjson.loads(action.to_upstream[0])["session"]["max_output_tokens"] == "inf"
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=900, remaining_micros=57_600, by_budget=False)
    action = core.from_client(_text(update), 2.0)
    assert isinstance(action, Emit)
    assert orjson.loads(action.to_upstream[0])["session"]["max_output_tokens"] == 900


def test_nothing_left_refuses_the_response_and_ends_the_session() -> None:
    """With less than one output token left, response.create is refused with the cap's error and close code."""
    for by_budget, code, close in ((False, "session_cost_cap_reached", 4100), (True, "budget_exceeded", 4103)):
        core = _core()
        core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=0, remaining_micros=10, by_budget=by_budget)
        action = core.from_client(_text({"type": "response.create", "event_id": "r"}), 1.0)
        assert isinstance(action, Emit) and not action.to_upstream and action.close is not None
        (error,) = _errors(action)
        assert error["error"]["code"] == code and error["error"]["event_id"] == "r"
        assert action.close.close_code == close


def test_session_ceiling_follows_the_allowance() -> None:
    """Once what is left falls below half the session's ceiling, a session.update lowers it (server-VAD replies)."""
    core = _core()
    assert core.allowance_frames() == []
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=3000, remaining_micros=192_000, by_budget=False)
    assert core.allowance_frames() == []  # 3000 is more than half of 4096
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=1000, remaining_micros=64_000, by_budget=False)
    (frame,) = core.allowance_frames()
    assert orjson.loads(frame)["session"] == {"type": "realtime", "max_output_tokens": 1000}
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=600, remaining_micros=38_400, by_budget=False)
    assert core.allowance_frames() == []
    action = core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "inf"}}), 1.0)
    assert isinstance(action, Emit) and orjson.loads(action.to_upstream[0])["session"]["max_output_tokens"] == 600


def test_requested_model_in_session_update_is_renamed_to_the_served_one() -> None:
    """The model the client routed by is sent upstream as the served model; another name passes to be refused."""
    core = _core(requested_model="gpt-4o-realtime-preview", served_model="gpt-realtime-2.1")
    action = core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "model": "gpt-4o-realtime-preview"}}), 0.0)
    assert isinstance(action, Emit)
    assert orjson.loads(action.to_upstream[0])["session"]["model"] == "gpt-realtime-2.1"
    other = core.from_client(_text({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-mini"}}), 0.0)
    assert isinstance(other, Emit) and orjson.loads(other.to_upstream[0])["session"]["model"] == "gpt-realtime-mini"


def test_saved_prompt_field_is_refused_after_its_shutdown() -> None:
    """session.update / response.create setting 'prompt' get unknown_parameter and are not forwarded; null passes."""
    core = _core()
    for kind, holder in (("session.update", "session"), ("response.create", "response")):
        event = {"type": kind, "event_id": "c9", holder: {"prompt": {"id": "pmpt_1"}}}
        if holder == "session":
            event["session"]["type"] = "realtime"  # type: ignore[index]
        action = core.from_client(_text(event), 0.0)
        (error,) = _errors(action)
        assert error["error"]["code"] == "unknown_parameter" and error["error"]["param"] == f"{holder}.prompt"
        assert error["error"]["event_id"] == "c9" and "2026-11-30" in error["error"]["message"]
        assert isinstance(action, Emit) and not action.to_upstream
    passed = core.from_client(_text({"type": "response.create", "response": {"prompt": None}}), 0.0)
    assert isinstance(passed, Emit) and passed.to_upstream and not passed.to_client


def _reply_done(core: SessionCore, now: float) -> None:
    core.from_upstream(_text({"type": "response.created", "response": {"id": "resp_1"}}), now)
    core.from_upstream(_text({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}), now)


def test_a_reply_asked_before_the_last_one_is_metered_waits_with_what_follows() -> None:
    """After response.done, a response.create (and every frame after it) is held until release_awaiting; the stale
    allowance never lets it through, the fresh one decides it, and the held frames go on in order."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    _reply_done(core, 1.0)
    assert not core.awaiting_metering and core.from_client(_append(), 1.0) is FORWARD  # audio is not held on its own
    held = core.from_client(_text({"type": "response.create"}), 1.1)
    assert isinstance(held, Emit) and held.to_upstream == held.to_client == [] and core.awaiting_metering
    assert core.from_client(_append(480), 1.1) == Emit()  # behind the held reply, in order
    core.stats.response_allowance = ev.ResponseAllowance(
        max_output_tokens=20, remaining_micros=1_280, by_budget=False, responses_metered=1
    )
    out = core.release_awaiting(1.2)
    assert not core.awaiting_metering and out.close is None
    assert orjson.loads(out.to_upstream[0])["response"] == {"max_output_tokens": 20}
    assert out.to_upstream[1] == _append(480)
    assert core.from_client(_text({"type": "response.create"}), 1.3) != Emit()  # current allowance: not held


def test_a_held_reply_is_refused_when_the_metered_reply_used_up_the_cap() -> None:
    """The reply that just ended reached the cap: the held response.create is refused, never sent upstream."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    _reply_done(core, 1.0)
    core.from_client(_text({"type": "response.create", "event_id": "r2"}), 1.1)
    core.from_client(_append(480), 1.1)
    core.stats.response_allowance = ev.ResponseAllowance(
        max_output_tokens=0, remaining_micros=-96, by_budget=False, responses_metered=1
    )
    out = core.release_awaiting(1.2)
    assert out.to_upstream == [] and out.close is not None and out.close.close_code == 4100
    (error,) = _errors(out)
    assert error["error"]["code"] == "session_cost_cap_reached" and error["error"]["event_id"] == "r2"


def test_no_allowance_means_nothing_is_held() -> None:
    """Without a cost cap or budget (no allowance) a reply right after response.done goes straight on."""
    core = _core()
    _reply_done(core, 1.0)
    action = core.from_client(_text({"type": "response.create"}), 1.1)
    assert isinstance(action, Emit) and len(action.to_upstream) == 1 and not core.awaiting_metering
