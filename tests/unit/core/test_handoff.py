"""Mid-session handoff in the Sans-I/O core: triggers, the switch lifecycle, held frames, replay and swallowing (no event loop)."""

from __future__ import annotations

import base64
import json

import orjson
import pytest

from gateway.core import observers as ev
from gateway.core.errors import InvalidTransition, ToolsNotAllowed
from gateway.core.handoff import (
    TRANSFER_TOOL,
    Handoff,
    HandoffRequest,
    HandoffRules,
    HandoffState,
    ShareTrigger,
    Trigger,
    check_handoff_transition,
    transfer_tool,
)
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.routing import SessionOverrides, ToolAllowlist
from gateway.core.session import FORWARD, Emit, HandoffTarget, SessionCore
from gateway.core.tool_calls import ToolCallInterceptor
from tests.support.tool_calls import LOOKUP, function_call_events

RULES = HandoffRules(
    targets=("mini", "es"),
    transfer_tool=True,
    on_spend=ShareTrigger(0.8, "mini"),
    on_budget=ShareTrigger(0.9, "mini"),
    on_language={"es": "es"},
)
MINI = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), rules=None)


def _core(rules: HandoffRules | None = RULES, *, tools: bool = False, overrides: SessionOverrides | None = None) -> SessionCore:
    interceptor = ToolCallInterceptor([transfer_tool(rules)]) if tools and rules is not None else None
    return SessionCore(
        kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2", served_model="gpt-realtime-2",
        overrides=overrides, tools=interceptor, handoff=Handoff(rules, "agent", "gpt-realtime-2"),
    )


def _text(event: dict) -> str:
    return orjson.dumps(event).decode()


def _append(marker: int) -> str:
    return _text({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes([marker]) * 480).decode()})


def _events(frames: list) -> list[dict]:
    return [json.loads(f) for f in frames]


def _client_session(core: SessionCore) -> None:
    update = {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}}
    assert isinstance(core.from_client(_text(update), 0.1), Emit)


def _turn(core: SessionCore, user: str, assistant: str, language: str | None = None) -> None:
    completed = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": user}
    if language:
        completed["language"] = language
    core.from_upstream(_text(completed), 0.2)
    core.from_upstream(_text({"type": "response.created", "response": {"id": "r1"}}), 0.3)
    core.from_upstream(_text({"type": "response.output_audio_transcript.done", "response_id": "r1", "transcript": assistant}), 0.4)
    core.from_upstream(_text({"type": "response.done", "response": {"id": "r1", "status": "completed"}}), 0.5)


def test_the_transition_table_allows_only_the_switch_paths() -> None:
    """IDLE→OPENING→REPLAYING→IDLE and the RETURNING detour are allowed; skipping or reopening is not."""
    assert check_handoff_transition(HandoffState.IDLE, HandoffState.OPENING) is HandoffState.OPENING
    assert check_handoff_transition(HandoffState.OPENING, HandoffState.RETURNING) is HandoffState.RETURNING
    assert check_handoff_transition(HandoffState.REPLAYING, HandoffState.IDLE) is HandoffState.IDLE
    for current, target in [(HandoffState.IDLE, HandoffState.REPLAYING), (HandoffState.OPENING, HandoffState.IDLE),
                            (HandoffState.RETURNING, HandoffState.OPENING), (HandoffState.REPLAYING, HandoffState.OPENING)]:
        with pytest.raises(InvalidTransition):
            check_handoff_transition(current, target)


def test_requests_outside_the_targets_or_during_a_switch_are_refused() -> None:
    """Only listed targets, never the current route, one switch at a time, nothing on a route without rules."""
    handoff = Handoff(RULES, "agent", "gpt-realtime-2")
    assert "not a handoff target" in (handoff.request(HandoffRequest("elsewhere", "x", Trigger.ADMIN)) or "")
    assert "already on route" in (Handoff(RULES, "mini", "m").request(HandoffRequest("mini", "x", Trigger.ADMIN)) or "")
    assert "allows no handoff" in (Handoff(None, "agent", "m").request(HandoffRequest("mini", "x", Trigger.ADMIN)) or "")
    assert handoff.request(HandoffRequest("mini", "x", Trigger.ADMIN)) is None
    assert "already under way" in (handoff.request(HandoffRequest("es", "y", Trigger.ADMIN)) or "")


def test_spend_and_budget_shares_fire_once_at_their_threshold() -> None:
    """The core's tick reads the shares the accounting observer wrote; below the share nothing happens, above it once."""
    core = _core()
    assert core.handoff is not None
    core.stats.cost_share = 0.79
    core.tick(1.0)
    assert core.handoff.requested is None
    core.stats.cost_share = 0.8
    core.tick(1.1)
    assert core.handoff.requested == HandoffRequest("mini", "spend at 80%", Trigger.SPEND)
    core.handoff.requested = None
    core.tick(1.2)
    assert core.handoff.requested is None  # fired once
    core.stats.budget_share = 0.95
    core.tick(1.3)
    assert core.handoff.requested is not None and core.handoff.requested.trigger is Trigger.BUDGET


def test_a_transcribed_language_with_a_route_asks_for_that_route() -> None:
    """The language on the input transcription picks the route on_language names; other languages do nothing."""
    core = _core()
    assert core.handoff is not None
    _turn(core, "hello", "hi", language="en")
    assert core.handoff.requested is None
    _turn(core, "hola", "hola", language="ES")
    assert core.handoff.requested == HandoffRequest("es", "language es", Trigger.LANGUAGE)


def _transfer_call(core: SessionCore, args: str) -> list[Emit]:
    actions = [core.from_upstream(_text(e), 1.0) for e in function_call_events(TRANSFER_TOOL, "call_t", args, "rt")]
    assert all(isinstance(a, Emit) for a in actions)
    return actions  # type: ignore[return-value]


def test_the_transfer_tool_is_declared_intercepted_and_queues_the_handoff() -> None:
    """The model sees transfer with the targets as an enum; its call never reaches the client and queues the switch."""
    core = _core(tools=True)
    (opening,) = _events(core.opening_frames())
    (tool,) = opening["session"]["tools"]
    assert tool["name"] == TRANSFER_TOOL and tool["parameters"]["properties"]["to"]["enum"] == ["mini", "es"]
    actions = _transfer_call(core, '{"to": "es", "reason": "user speaks Spanish"}')
    assert [a.to_client for a in actions[1:]] == [[], []]  # the call's item and arguments are swallowed
    assert core.handoff is not None and core.handoff.requested == HandoffRequest("es", "user speaks Spanish", Trigger.TRANSFER)


def test_a_transfer_to_a_route_not_allowed_is_answered_with_an_error_output() -> None:
    """A schema-valid call naming the current route gets a function_call_output saying why, and no switch."""
    core = _core(HandoffRules(targets=("mini", "agent"), transfer_tool=True), tools=True)
    actions = _transfer_call(core, '{"to": "agent"}')
    outputs = [e for e in _events(actions[-1].to_upstream) if e["type"] == "conversation.item.create"]
    assert "already on route 'agent'" in outputs[0]["item"]["output"]
    assert core.handoff is not None and core.handoff.requested is None


def test_a_completed_switch_replays_the_conversation_and_holds_client_frames_in_order() -> None:
    """Frames sent during the switch are held and released in order; the target gets the client's settings and the turns."""
    core = _core()
    _client_session(core)
    _turn(core, "What is my balance?", "It is 12 euros.")
    assert core.from_client(_append(1), 0.6) is FORWARD
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "cheaper", Trigger.ADMIN)) is None
    assert core.handoff.begin() is not None
    assert core.from_client(_append(2), 0.7) == Emit() and core.from_client(_append(3), 0.8) == Emit()
    replay = _events(core.switch_to(MINI))
    assert replay[0]["type"] == "session.update"
    assert replay[0]["session"]["instructions"] == "Be brief." and replay[0]["session"]["audio"]["output"]["voice"] == "marin"
    items = [e["item"] for e in replay[1:]]
    assert [(i["role"], i["content"][0]["type"], i["content"][0]["text"]) for i in items] == [
        ("user", "input_text", "What is my balance?"), ("assistant", "output_text", "It is 12 euros."),
    ]
    assert replay[2]["previous_item_id"] == items[0]["id"]
    held = core.release_held(0.9)
    assert held.to_upstream == [_append(2), _append(3)]
    assert core.from_client(_append(4), 0.95) == Emit()  # still held until the switch completes
    assert core.release_held(0.96).to_upstream == [_append(4)]
    done = json.loads(core.handoff_completed(1.0))
    assert {k: done[k] for k in ("type", "status", "from", "to", "reason", "trigger", "model")} == {
        "type": "gateway.handoff", "status": "completed", "from": "agent", "to": "mini", "reason": "cheaper",
        "trigger": "admin", "model": "gpt-realtime-2.1-mini",
    }
    assert core.from_client(_append(5), 1.1) is FORWARD
    assert core.served_model == "gpt-realtime-2.1-mini" and core.handoff.history[-1] == ("mini", "gpt-realtime-2.1-mini")
    (handed,) = [e for e in core.take_events() if isinstance(e, ev.HandedOff)]
    assert (handed.from_model, handed.to_model, handed.ok, handed.audio_in_bytes) == ("gpt-realtime-2", "gpt-realtime-2.1-mini", True, 480)
    assert core.stats.audio_in_bytes_since_usage == 480 * 4  # frames 2-5 went to the target: billed at its price


def test_the_targets_answers_to_the_replay_are_swallowed() -> None:
    """The target's session.created and conversation.created, the session.updated answering the replay and the replayed
    items never reach the client."""
    core = _core()
    _turn(core, "hi", "hello")
    assert core.handoff is not None
    core.handoff.request(HandoffRequest("mini", "x", Trigger.ADMIN))
    core.handoff.begin()
    replay = _events(core.switch_to(MINI))
    core.handoff_completed(1.0)
    item_id = replay[1]["item"]["id"]
    swallowed = [
        {"type": "session.created", "session": {"model": "gpt-realtime-2.1-mini"}},
        {"type": "conversation.created", "conversation": {"id": "conv_target", "object": "realtime.conversation"}},
        {"type": "session.updated", "session": {"model": "gpt-realtime-2.1-mini"}},
        {"type": "conversation.item.added", "item": {"id": item_id}},
        {"type": "conversation.item.done", "item": {"id": item_id}},
        {"type": "error", "error": {"event_id": replay[1]["event_id"], "message": "nope"}},
    ]
    assert all(core.from_upstream(_text(e), 1.1) == Emit() for e in swallowed)
    later = core.from_upstream(_text({"type": "session.updated", "session": {"model": "gpt-realtime-2.1-mini"}}), 1.2)
    assert isinstance(later, Emit) and len(later.to_client) == 1  # the client's own later update is answered
    assert core.upstream_model == "gpt-realtime-2.1-mini"


def test_the_targets_answer_to_the_replayed_configuration_is_recognised() -> None:
    """Before the swap, the target's session.updated accepts the replayed configuration and an error naming it refuses
    it; its session.created, an unreadable frame or an error about something else answer nothing."""
    core = _core()
    assert core.handoff is not None
    handoff = core.handoff
    assert handoff.configuration_answer(_text({"type": "session.updated", "session": {}})) is None  # no replay yet
    handoff.request(HandoffRequest("mini", "x", Trigger.ADMIN))
    handoff.begin()
    configuration = _events(core.switch_to(MINI))[0]
    assert configuration["type"] == "session.update"
    assert handoff.configuration_answer(_text({"type": "session.created", "session": {"model": "m"}})) is None
    assert handoff.configuration_answer('{"type": "error", not json') is None
    assert handoff.configuration_answer(b'{"type":"session.updated"}') is None
    other = {"type": "error", "error": {"event_id": "evt_client", "message": "no"}}
    assert handoff.configuration_answer(_text(other)) is None
    refused = {"type": "error", "error": {"event_id": configuration["event_id"], "message": "Invalid modalities"}}
    assert handoff.configuration_answer(_text(refused)) is False
    assert handoff.configuration_answer(_text({"type": "session.updated", "session": {"model": "m"}})) is True


def test_the_target_routes_enforcement_applies_and_can_refuse_the_switch() -> None:
    """The target's overrides go over the client's settings; settings the target forbids make the switch fail."""
    core = _core()
    update = {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "lookup"}]}}
    core.from_client(_text(update), 0.1)
    assert core.handoff is not None
    core.handoff.request(HandoffRequest("mini", "x", Trigger.ADMIN))
    core.handoff.begin()
    strict = HandoffTarget(model="m", overrides=SessionOverrides(tool_allowlist=ToolAllowlist(functions=frozenset())))
    with pytest.raises(ToolsNotAllowed):
        core.switch_to(strict)
    core.handoff_failed(1.0, "not allowed")
    assert core.served_model == "gpt-realtime-2"


def test_a_failed_switch_stays_answers_the_transfer_and_returns_the_held_frames() -> None:
    """The client hears failed, the model's transfer call gets an error output, held frames go back to the old upstream."""
    core = _core(tools=True)
    _transfer_call(core, '{"to": "mini"}')
    assert core.handoff is not None and core.handoff.begin() is not None
    core.from_client(_append(7), 1.2)
    core.switch_to(MINI)
    failed = core.handoff_failed(1.3, "The target could not be reached.")
    (event,) = _events(failed.to_client)
    assert (event["type"], event["status"], event["to"], event["message"]) == (
        "gateway.handoff", "failed", "mini", "The target could not be reached.",
    )
    outputs = [e for e in _events(failed.to_upstream) if e["type"] == "conversation.item.create"]
    assert outputs[0]["item"]["call_id"] == "call_t" and "failed" in outputs[0]["item"]["output"]
    assert core.served_model == "gpt-realtime-2" and core.handoff.state is HandoffState.RETURNING
    assert core.release_held(1.4).to_upstream == [_append(7)]
    core.handoff_settled()
    assert core.handoff.state is HandoffState.IDLE and core.from_client(_append(8), 1.5) is FORWARD
    (handed,) = [e for e in core.take_events() if isinstance(e, ev.HandedOff)]
    assert not handed.ok


def test_a_switch_cannot_complete_or_settle_with_frames_still_held() -> None:
    """Completing while a frame is held would let it overtake: the lifecycle refuses."""
    core = _core()
    assert core.handoff is not None
    core.handoff.request(HandoffRequest("mini", "x", Trigger.ADMIN))
    core.handoff.begin()
    core.switch_to(MINI)
    core.from_client(_append(1), 1.0)
    with pytest.raises(InvalidTransition):
        core.handoff_completed(1.1)


def test_without_a_reported_language_the_transcript_is_detected() -> None:
    """A transcription event without ``language``: the transcript's detected language picks the on_language route."""
    core = _core()
    assert core.handoff is not None
    _turn(core, "What time does the bank open tomorrow morning?", "At nine.")
    assert core.handoff.requested is None  # English: no route for it
    _turn(core, "Quiero saber cuánto dinero tengo en mi cuenta de ahorros, por favor.", "Claro.")
    assert core.handoff.requested == HandoffRequest("es", "language es", Trigger.LANGUAGE)


def test_gpt_transcribes_languages_list_is_the_reported_language() -> None:
    """gpt-transcribe reports ``languages: [{code}]``: its first code is taken as reported, English text or not."""
    core = _core()
    assert core.handoff is not None
    completed = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u9",
                 "transcript": "What time does the store open tomorrow", "languages": [{"code": "es"}]}
    core.from_upstream(_text(completed), 0.2)
    assert core.handoff.requested == HandoffRequest("es", "language es", Trigger.LANGUAGE)


def _switch_with_a_reply_in_flight(core: SessionCore) -> None:
    """The old model is speaking (resp_old, 960 bytes of audio relayed) when an admin handoff switches the session."""
    core.from_upstream(_text({"type": "response.created", "response": {"id": "resp_old"}}), 1.0)
    delta = {"type": "response.output_audio.delta", "event_id": "e1", "response_id": "resp_old", "item_id": "i1",
             "output_index": 0, "content_index": 0, "delta": base64.b64encode(b"\x01" * 960).decode()}
    core.from_upstream(_text(delta), 1.1)
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "cheaper", Trigger.ADMIN)) is None
    assert core.handoff.begin() is not None


def _done(response_id: str, tokens: int) -> str:
    usage = {"total_tokens": tokens, "input_tokens": 0, "output_tokens": tokens,
             "output_token_details": {"text_tokens": 0, "audio_tokens": tokens}}
    return _text({"type": "response.done", "response": {"id": response_id, "status": "cancelled", "usage": usage}})


def test_usage_the_old_model_reports_after_the_switch_is_its_own() -> None:
    """A reply in flight across the switch: its audio relayed so far is sealed as the old model's (HandedOff); its
    response.done arriving on the old upstream after the switch, before it closed, is the old model's usage
    (RetiredUsage naming the old model), never the new model's reply, and nothing of it reaches the client."""
    core = _core()
    _switch_with_a_reply_in_flight(core)
    core.switch_to(MINI, 1.2)
    core.release_held(1.25)
    core.handoff_completed(1.3)
    (handed,) = [e for e in core.take_events() if isinstance(e, ev.HandedOff)]
    assert handed.audio_out_bytes == 960 and core.stats.audio_out_bytes_since_usage == 0
    responses = core.stats.responses
    core.from_retired_upstream(_done("resp_old", 77), 1.4)
    core.from_retired_upstream(_text({"type": "response.output_audio.delta", "response_id": "resp_old", "delta": ""}), 1.41)
    events = core.take_events()
    assert [(type(e).__name__, getattr(e, "model", None)) for e in events] == [("RetiredUsage", "gpt-realtime-2")]
    (late,) = events
    assert isinstance(late, ev.RetiredUsage) and late.usage is not None and late.usage["output_tokens"] == 77
    assert core.stats.responses == responses and not core.response_in_flight  # not the new model's reply


def test_the_old_models_done_during_the_switch_is_billed_before_the_switch_and_held_audio_is_the_targets() -> None:
    """The old reply's response.done between the replay and the completion comes before HandedOff (priced at the old
    model) and covers its audio (nothing estimated twice); client audio held and sent to the target stays the target's."""
    core = _core()
    assert core.from_client(_append(1), 0.9) is FORWARD
    _switch_with_a_reply_in_flight(core)
    assert core.from_client(_append(2), 1.15) == Emit()  # held: it goes to the target
    core.switch_to(MINI, 1.2)
    assert core.release_held(1.25).to_upstream == [_append(2)]
    core.from_upstream(_done("resp_old", 50), 1.27)  # still the old upstream: the swap comes after completion
    core.handoff_completed(1.3)
    kinds = [type(e).__name__ for e in core.take_events() if isinstance(e, (ev.ResponseDone, ev.HandedOff))]
    assert kinds == ["ResponseDone", "HandedOff"]
    assert core.stats.audio_in_bytes_since_usage == 480  # frame 2, the target's


def test_a_failed_switch_gives_the_old_model_its_audio_back() -> None:
    """The held frames return to the old upstream: the input audio set aside for the target is the old model's again."""
    core = _core()
    assert core.from_client(_append(1), 0.9) is FORWARD
    _switch_with_a_reply_in_flight(core)
    core.switch_to(MINI, 1.2)
    core.handoff_failed(1.3, "gone")
    assert core.stats.audio_in_bytes_since_usage == 480


def test_a_completed_switch_records_the_transfer_ok_and_the_old_routes_running_calls_cancelled() -> None:
    """The old route's tools stop with its upstream: the transfer that moved the session is recorded ok, a gateway
    call still running cancelled (they were never recorded at all), and nothing is sent for them."""
    core = SessionCore(
        kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2",
        served_model="gpt-realtime-2", tools=ToolCallInterceptor([transfer_tool(RULES), LOOKUP]),
        handoff=Handoff(RULES, "agent", "gpt-realtime-2"),
    )
    for event in function_call_events("lookup_order", "call_l", "{}", "rl"):
        core.from_upstream(_text(event), 0.5)
    _transfer_call(core, '{"to": "mini", "reason": "cheaper"}')
    assert core.handoff is not None and core.handoff.begin() is not None
    core.switch_to(MINI, 1.1)
    core.take_events()
    core.handoff_completed(1.2)
    done = {e.call_id: e.outcome for e in core.take_events() if isinstance(e, ev.GatewayToolDone)}
    assert done == {"call_t": "ok", "call_l": "cancelled"}
