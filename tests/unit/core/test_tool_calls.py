"""The pure gateway-tool interceptor: injection, hiding, interception, follow-ups and fillers (no event loop)."""

from __future__ import annotations

import json

import pytest

from gateway.core import observers as ev
from gateway.core.errors import InvalidRequest
from gateway.core.gateway_tools import GatewayTool, ToolLimits
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.routing import SessionOverrides
from gateway.core.session import Emit, SessionCore
from gateway.core.tool_calls import FILLER_TAG, ToolCallInterceptor

ORDER = GatewayTool(
    "lookup_order",
    "Order status",
    {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}}, "required": ["order_id"]},
    "http",
    ToolLimits(filler_after_ms=300),
)
CLIENT_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def _interceptor(**kw: object) -> ToolCallInterceptor:
    return ToolCallInterceptor([ORDER], **kw)  # type: ignore[arg-type]


def _call_events(response_id: str = "resp_1", args: str = '{"order_id": "42"}', name: str = "lookup_order") -> list[dict]:
    item = {"id": "item_f", "type": "function_call", "name": name, "call_id": "call_1", "arguments": ""}
    return [
        {"type": "response.created", "response": {"id": response_id, "conversation_id": "conv_1"}},
        {"type": "response.output_item.added", "response_id": response_id, "item": item},
        {"type": "conversation.item.added", "item": item},
        {"type": "response.function_call_arguments.delta", "response_id": response_id, "item_id": "item_f", "delta": args},
        {"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": "item_f", "call_id": "call_1", "name": name, "arguments": args},
        {"type": "response.output_item.done", "response_id": response_id, "item": {**item, "arguments": args}},
        {"type": "conversation.item.done", "item": {**item, "arguments": args}},
    ]


def _done(response_id: str = "resp_1", output: list | None = None, conversation: str | None = "conv_1") -> dict:
    return {"type": "response.done", "response": {"id": response_id, "conversation_id": conversation, "output": output or []}}


def test_client_tools_keep_the_gateway_tools_and_a_clash_is_refused() -> None:
    """A client tool list gets the gateway's definitions appended; a same-named client tool is an error."""
    tools = _interceptor()
    session = {"tools": [CLIENT_TOOL]}
    tools.client_session(session)
    assert [t["name"] for t in session["tools"]] == ["get_weather", "lookup_order"]
    with pytest.raises(InvalidRequest) as info:
        tools.client_session({"tools": [{**CLIENT_TOOL, "name": "lookup_order"}]})
    assert "lookup_order" in str(info.value) and info.value.param == "session.tools"
    response = {"tools": []}
    tools.client_response(response)
    assert [t["name"] for t in response["tools"]] == ["lookup_order"]


def test_session_events_hide_the_gateway_tools() -> None:
    """session.created/updated never show gateway tools; the core declares them in its opening update."""
    tools = _interceptor()
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=tools)
    opening = json.loads(core.opening_frames()[0])
    assert opening["session"]["tools"][0]["name"] == "lookup_order"
    assert tools.upstream({"type": "session.created", "session": {"tools": []}}, 0.0).drop is False
    only_ours = {"type": "session.updated", "session": {"tools": [ORDER.definition()]}}
    assert tools.upstream(only_ours, 0.0).changed and only_ours["session"]["tools"] == []
    event = {"type": "session.updated", "session": {"tools": [CLIENT_TOOL, ORDER.definition()]}}
    verdict = tools.upstream(event, 0.0)
    assert verdict.changed and event["session"]["tools"] == [CLIENT_TOOL]


def test_a_gateway_call_is_swallowed_validated_and_queued() -> None:
    """Every event about the call is dropped; the executor gets the validated arguments once."""
    tools = _interceptor()
    woken: list[int] = []
    tools.wake = lambda: woken.append(1)
    verdicts = [tools.upstream(e, 1.0) for e in _call_events()]
    assert [v.drop for v in verdicts] == [False, True, True, True, True, True, True]
    starts = tools.take_starts()
    assert [(s.name, s.arguments) for s in starts] == [("lookup_order", {"order_id": "42"})] and woken == [1]
    assert isinstance(tools.take_events()[0], ev.GatewayToolStarted)


def test_output_and_response_create_after_the_response_is_done() -> None:
    """The output item goes out at once; response.create waits for response.done, then the output items are hidden."""
    tools = _interceptor()
    for event in _call_events():
        tools.upstream(event, 1.0)
    frames = tools.finished("call_1", '{"status": "shipped"}', 1.2)
    assert [json.loads(f)["type"] for f in frames] == ["conversation.item.create"]
    item = json.loads(frames[0])["item"]
    assert item == {"type": "function_call_output", "call_id": "call_1", "output": '{"status": "shipped"}'}
    done = _done(output=[{"id": "item_f", "type": "function_call"}])
    verdict = tools.upstream(done, 1.3)
    assert verdict.changed and done["response"]["output"] == []
    assert [json.loads(f)["type"] for f in verdict.to_upstream] == ["response.create"]
    created = {"type": "conversation.item.added", "item": {"id": "item_o", "type": "function_call_output", "call_id": "call_1"}}
    assert tools.upstream(created, 1.3).drop
    outcome = [e for e in tools.take_events() if isinstance(e, ev.GatewayToolDone)]
    assert outcome[0].outcome == "ok" and outcome[0].started_at == 1.0


def test_arguments_failing_the_schema_answer_at_once_without_a_call() -> None:
    """An invalid argument never reaches the executor; the model gets an error output naming the problem."""
    tools = _interceptor()
    frames: list[str] = []
    for event in _call_events(args='{"order_id": "abc"}'):
        frames += tools.upstream(event, 1.0).to_upstream
    assert tools.take_starts() == []
    output = json.loads(json.loads(frames[0])["item"]["output"])
    assert "order_id" in output["error"] and "does not match" in output["error"]
    assert [e.outcome for e in tools.take_events() if isinstance(e, ev.GatewayToolDone)] == ["invalid_arguments"]


def test_a_response_that_also_called_a_client_tool_is_left_to_the_client() -> None:
    """With a client call in the same response the gateway sends its output but no response.create."""
    tools = _interceptor()
    for event in _call_events():
        tools.upstream(event, 1.0)
    client_item = {"id": "item_c", "type": "function_call", "name": "get_weather", "call_id": "call_c"}
    assert tools.upstream({"type": "response.output_item.added", "response_id": "resp_1", "item": client_item}, 1.0).drop is False
    assert tools.upstream(_done(), 1.1).to_upstream == ()
    frames = tools.finished("call_1", "{}", 1.2)
    assert [json.loads(f)["type"] for f in frames] == ["conversation.item.create"]


def test_follow_up_waits_for_a_running_response_and_retries_when_refused() -> None:
    """response.create is queued while another response runs; a refusal puts it back in the queue."""
    tools = _interceptor()
    for event in _call_events():
        tools.upstream(event, 1.0)
    tools.upstream(_done(), 1.1)
    tools.upstream({"type": "response.created", "response": {"id": "resp_user", "conversation_id": "conv_1"}}, 1.2)
    frames = tools.finished("call_1", "{}", 1.3)
    assert [json.loads(f)["type"] for f in frames] == ["conversation.item.create"]
    verdict = tools.upstream(_done("resp_user"), 1.4)
    create = json.loads(verdict.to_upstream[0])
    assert create["type"] == "response.create"
    refusal = {"type": "error", "error": {"code": "conversation_already_has_active_response", "event_id": create["event_id"]}}
    assert tools.upstream(refusal, 1.5).drop
    tools.upstream({"type": "response.created", "response": {"id": "resp_x", "conversation_id": "conv_1"}}, 1.6)
    again = tools.upstream(_done("resp_x"), 1.7).to_upstream
    assert json.loads(again[0])["event_id"] == create["event_id"]


def test_filler_is_asked_once_after_filler_after_ms_when_nothing_is_said() -> None:
    """A slow call gets one out-of-band filler at its deadline (not while a response is running)."""
    tools = _interceptor(overrides=SessionOverrides(max_output_tokens=50))
    for event in _call_events():
        tools.upstream(event, 1.0)
    assert tools.next_deadline() == pytest.approx(1.3)
    assert tools.due(1.3) == []  # resp_1 is still running: look again shortly
    tools.upstream(_done(), 1.32)
    deadline = tools.next_deadline()
    assert deadline is not None and deadline <= 1.36
    frames = tools.due(deadline)
    filler = json.loads(frames[0])["response"]
    assert filler["conversation"] == "none" and FILLER_TAG in filler["metadata"] and filler["max_output_tokens"] == 50
    assert tools.due(5.0) == [] and tools.next_deadline() is None
    tools.upstream({"type": "response.created", "response": {"id": "resp_f", "conversation_id": None, "metadata": filler["metadata"]}}, 1.4)
    assert tools.finished("call_1", "{}", 1.5)[-1:] != []  # the output item goes out
    verdict = tools.upstream(_done("resp_f", conversation=None), 1.9)
    assert [json.loads(f)["type"] for f in verdict.to_upstream] == ["response.create"]


def test_a_result_over_the_size_limit_becomes_an_error_output() -> None:
    """The model never gets more than max_result_bytes of a tool's answer."""
    tools = _interceptor(max_result_bytes=64)
    for event in _call_events():
        tools.upstream(event, 1.0)
    frames = tools.finished("call_1", "x" * 100, 1.1)
    assert "too large" in json.loads(frames[0])["item"]["output"]


def test_session_core_routes_frames_through_the_interceptor() -> None:
    """In the core: the call never reaches the client, the follow-up goes upstream, client tools pass through."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    actions = [core.from_upstream(json.dumps(e), 1.0) for e in _call_events()]
    assert isinstance(actions[0], Emit) and json.loads(actions[0].to_client[0]) == _call_events()[0]  # re-serialized, unchanged
    assert all(isinstance(a, Emit) and not a.to_client for a in actions[1:])
    upstream = core.tools.finished("call_1", "{}", 1.1)  # type: ignore[union-attr]
    done = core.from_upstream(json.dumps(_done(output=[{"id": "item_f", "type": "function_call"}])), 1.2)
    assert isinstance(done, Emit) and json.loads(done.to_client[0])["response"]["output"] == []
    assert json.loads(done.to_upstream[0])["type"] == "response.create" and upstream
    events = core.take_events()
    assert not any(isinstance(e, ev.FunctionCallRequested) for e in events)
    assert any(isinstance(e, ev.GatewayToolDone) for e in events)
    update = core.from_client(json.dumps({"type": "session.update", "session": {"tools": [CLIENT_TOOL]}}), 1.3)
    assert isinstance(update, Emit) and [t["name"] for t in json.loads(update.to_upstream[0])["session"]["tools"]] == ["get_weather", "lookup_order"]
    clash = core.from_client(json.dumps({"type": "session.update", "session": {"tools": [{**CLIENT_TOOL, "name": "lookup_order"}]}}), 1.4)
    assert isinstance(clash, Emit) and json.loads(clash.to_client[0])["error"]["type"] == "invalid_request_error"
    assert clash.close is None


def test_beta_dialect_sessions_get_the_same_injection_and_hiding() -> None:
    """A beta client's tools are merged after translation to GA; the call is hidden before translation back."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.BETA, now=0.0, tools=_interceptor())
    update = core.from_client(json.dumps({"type": "session.update", "session": {"tools": [CLIENT_TOOL]}}), 0.1)
    assert isinstance(update, Emit)
    assert [t["name"] for t in json.loads(update.to_upstream[0])["session"]["tools"]] == ["get_weather", "lookup_order"]
    actions = [core.from_upstream(json.dumps(e), 1.0) for e in _call_events()[1:]]
    assert all(isinstance(a, Emit) and not a.to_client for a in actions)
    updated = core.from_upstream(json.dumps({"type": "session.updated", "session": {"type": "realtime", "tools": [CLIENT_TOOL, ORDER.definition()]}}), 1.1)
    assert isinstance(updated, Emit) and [t["name"] for t in json.loads(updated.to_client[0])["session"]["tools"]] == ["get_weather"]


def test_parallel_gateway_calls_get_one_follow_up_after_both() -> None:
    """Two gateway calls in one response: two outputs, and response.create only once both are in."""
    tools = _interceptor()
    events = _call_events()
    second = [json.loads(json.dumps(e).replace("item_f", "item_g").replace("call_1", "call_2")) for e in events[1:]]
    for event in [*events, *second]:
        tools.upstream(event, 1.0)
    assert [s.call_id for s in tools.take_starts()] == ["call_1", "call_2"]
    assert tools.upstream(_done(), 1.1).to_upstream == ()
    assert [json.loads(f)["type"] for f in tools.finished("call_1", "{}", 1.2)] == ["conversation.item.create"]
    frames = tools.finished("call_2", "{}", 1.3)
    assert [json.loads(f)["type"] for f in frames] == ["conversation.item.create", "response.create"]
    retrieved = {"type": "conversation.item.retrieved", "item": {"id": "item_g", "type": "function_call"}}
    assert tools.upstream(retrieved, 1.4).drop


def _outcomes(tools: ToolCallInterceptor) -> list[str]:
    return [e.outcome for e in tools.take_events() if isinstance(e, ev.GatewayToolDone)]


def test_a_cancelled_origin_response_cancels_its_calls_without_a_follow_up() -> None:
    """response.done cancelled for the response that made the call: a cancelled output at once, no response.create, the executor told."""
    tools = _interceptor()
    for event in _call_events():
        tools.upstream(event, 1.0)
    assert [s.call_id for s in tools.take_starts()] == ["call_1"]
    verdict = tools.upstream({"type": "response.done", "response": {"id": "resp_1", "conversation_id": "conv_1", "status": "cancelled"}}, 1.2)
    [frame] = [json.loads(f) for f in verdict.to_upstream]
    assert frame["type"] == "conversation.item.create" and frame["item"]["call_id"] == "call_1"
    assert "Cancelled" in json.loads(frame["item"]["output"])["error"]
    assert tools.take_cancelled() == ["call_1"] and _outcomes(tools) == ["cancelled"]
    assert tools.finished("call_1", '{"status": "shipped"}', 2.0) == []  # the late result is stale: nothing is sent
    assert tools.next_deadline() is None  # and no filler is asked for it
    assert tools.upstream(_done("resp_other"), 2.1).to_upstream == ()


def test_the_user_speaking_while_a_call_runs_cancels_it_and_drops_a_queued_follow_up() -> None:
    """Barge-in (speech_started) cancels running calls; a finished call's follow-up still waiting to be sent is dropped."""
    tools = _interceptor()
    events = _call_events()
    second = [json.loads(json.dumps(e).replace("item_f", "item_g").replace("call_1", "call_2").replace("resp_1", "resp_2")) for e in events]
    for event in [*events, _done(), *second, _done("resp_2")]:
        tools.upstream(event, 1.0)
    tools.upstream({"type": "response.created", "response": {"id": "resp_f", "conversation_id": None}}, 1.1)  # a filler plays
    assert [json.loads(f)["type"] for f in tools.finished("call_1", "{}", 1.2)] == ["conversation.item.create"]  # follow-up queued
    verdict = tools.upstream({"type": "input_audio_buffer.speech_started", "item_id": "item_u"}, 1.3)
    assert verdict.drop is False
    assert [json.loads(f)["item"]["call_id"] for f in verdict.to_upstream] == ["call_2"]
    assert tools.take_cancelled() == ["call_2"] and _outcomes(tools) == ["ok", "cancelled"]
    assert tools.upstream(_done("resp_f", conversation=None), 1.4).to_upstream == ()  # the stale follow-up never goes out


def test_speech_does_not_cancel_when_the_session_turns_interruption_off() -> None:
    """With turn_detection.interrupt_response false the user's speech leaves the call running."""
    tools = _interceptor()
    session = {"audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}}
    tools.upstream({"type": "session.updated", "session": session}, 0.5)
    for event in _call_events():
        tools.upstream(event, 1.0)
    assert tools.upstream({"type": "input_audio_buffer.speech_started"}, 1.1).to_upstream == ()
    assert tools.take_cancelled() == []


def test_a_client_response_cancel_cancels_the_pending_answer_in_the_core() -> None:
    """The client's response.cancel goes upstream, followed by the cancelled output; the call's late result is dropped."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    for event in [*_call_events(), _done()]:
        core.from_upstream(json.dumps(event), 1.0)
    action = core.from_client(json.dumps({"type": "response.cancel"}), 1.2)
    assert isinstance(action, Emit)
    assert [json.loads(f)["type"] for f in action.to_upstream] == ["response.cancel", "conversation.item.create"]
    assert core.tools is not None and core.tools.take_cancelled() == ["call_1"]
    assert core.tools.finished("call_1", "{}", 1.5) == []
    assert [e.outcome for e in core.take_events() if isinstance(e, ev.GatewayToolDone)] == ["cancelled"]


def test_the_session_ending_records_running_calls_as_cancelled_and_sends_nothing() -> None:
    """At the session's end a call still running is cancelled (recorded), with no frame for a closed upstream."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    for event in _call_events():
        core.from_upstream(json.dumps(event), 1.0)
    core.closing(2.0)
    assert core.tools is not None and core.tools.take_cancelled() == ["call_1"]
    done = [e for e in core.take_events() if isinstance(e, ev.GatewayToolDone)]
    assert [(e.outcome, e.at) for e in done] == [("cancelled", 2.0)]


def test_a_call_cancelled_before_the_executor_took_it_is_never_started() -> None:
    """Cancelled in the same tick as it was queued: take_starts does not hand it out."""
    tools = _interceptor()
    for event in _call_events():
        tools.upstream(event, 1.0)
    tools.cancel_pending(1.0)
    assert tools.take_starts() == [] and tools.take_cancelled() == ["call_1"]


def _metered(core: SessionCore, tokens: int, *, by_budget: bool = False) -> None:
    """The accounting observer's allowance, counting every reply that ended so far."""
    core.stats.response_allowance = ev.ResponseAllowance(
        max_output_tokens=tokens, remaining_micros=tokens * 64, by_budget=by_budget, responses_metered=core.stats.responses
    )


def _origin_done(core: SessionCore) -> Emit:
    """The model calls the gateway tool in resp_1, the tool answers, then resp_1 ends upstream."""
    for event in _call_events():
        core.from_upstream(json.dumps(event), 1.0)
    assert core.tools is not None and core.tools.finished("call_1", "{}", 1.1)[0]
    done = core.from_upstream(json.dumps(_done(output=[{"id": "item_f", "type": "function_call"}])), 1.2)
    assert isinstance(done, Emit)
    return done


def test_the_core_clamps_a_tool_follow_up_by_what_the_cap_leaves_after_metering_the_origin() -> None:
    """The follow-up is held until the reply that made the call is metered (as a client's response.create would be),
    then goes out with max_output_tokens lowered to the fresh allowance; the clamp is recorded."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    _metered(core, 500)
    done = _origin_done(core)
    assert done.to_upstream == [] and core.awaiting_metering  # resp_1's cost is not in the allowance yet
    _metered(core, 40)
    released = core.release_awaiting(1.3)
    [create] = [json.loads(f) for f in released.to_upstream]
    assert create["type"] == "response.create" and create["response"]["max_output_tokens"] == 40
    assert released.close is None and not core.awaiting_metering
    assert [e.max_output_tokens for e in core.take_events() if isinstance(e, ev.ResponseClamped)] == [40]


def test_a_tool_answer_after_metering_goes_out_clamped_at_once() -> None:
    """When the origin is already metered as the tool answers (the runner's path), the follow-up is clamped right away."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    for event in _call_events():
        core.from_upstream(json.dumps(event), 1.0)
    core.from_upstream(json.dumps(_done(output=[{"id": "item_f", "type": "function_call"}])), 1.1)
    _metered(core, 25)
    assert core.tools is not None
    frames = [json.loads(f) for f in core.tools.finished("call_1", "{}", 1.2)]
    assert [f["type"] for f in frames] == ["conversation.item.create", "response.create"]
    assert frames[1]["response"]["max_output_tokens"] == 25


def test_nothing_left_for_a_tool_follow_up_ends_the_session_with_the_caps_error() -> None:
    """No token left once the origin is metered: no response.create goes upstream; the session ends like any other
    reply refused by the cap (budget_exceeded here, close code of the budget)."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    _metered(core, 500)
    _origin_done(core)
    _metered(core, 0, by_budget=True)
    released = core.release_awaiting(1.3)
    assert released.to_upstream == []
    assert released.close is not None and released.close.code == "budget_exceeded"
    assert json.loads(released.to_client[0])["error"]["code"] == "budget_exceeded"


def test_nothing_left_for_a_filler_ends_the_session_on_the_next_tick() -> None:
    """A due filler with nothing left is not asked for; the core's next tick ends the session with the cap's error."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, tools=_interceptor())
    for event in _call_events():
        core.from_upstream(json.dumps(event), 1.0)
    core.from_upstream(json.dumps(_done(output=[{"id": "item_f", "type": "function_call"}])), 1.1)
    _metered(core, 0)
    assert core.tools is not None and core.tools.due(1.4) == []
    tick = core.tick(1.45)
    assert tick.to_upstream == [] and tick.close is not None and tick.close.code == "session_cost_cap_reached"
