"""A client cannot pass its events off as the gateway's: the ``gw_`` namespace is refused, origin is decided by exact id."""

from __future__ import annotations

import base64
import json

import orjson

from gateway.core.bridged import BridgedCore
from gateway.core.event_ids import MAX_ISSUED, GatewayEventIds, reserved
from gateway.core.frames import canonical_audio
from gateway.core.gateway_tools import GatewayTool, ToolLimits
from gateway.core.kind_bridge import bridge_for
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.routing import SessionOverrides
from gateway.core.session import FORWARD, Emit, SessionCore
from gateway.core.tool_calls import ToolCallInterceptor
from gateway.core.tool_responses import GatewayResponses

ORDER = GatewayTool("lookup_order", "Order status", {"type": "object", "properties": {}}, "http", ToolLimits(filler_after_ms=300))
AUDIO = base64.b64encode(b"\x00\x01" * 2400).decode()


def _core(**kw: object) -> SessionCore:
    return SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, **kw)  # type: ignore[arg-type]


def _emit(action: object) -> Emit:
    assert isinstance(action, Emit)
    return action


def _error(emit: Emit) -> dict[str, object]:
    [frame] = emit.to_client
    event = orjson.loads(frame)
    assert event["type"] == "error"
    return event["error"]  # type: ignore[no-any-return]


def _call(core: SessionCore) -> str:
    """The model calls the gateway tool in resp_1, the tool answers, resp_1 ends: the follow-up's event id."""
    item = {"id": "item_f", "type": "function_call", "name": "lookup_order", "call_id": "call_1", "arguments": ""}
    for event in (
        {"type": "response.created", "response": {"id": "resp_1", "conversation_id": "conv_1"}},
        {"type": "response.output_item.added", "response_id": "resp_1", "item": item},
        {"type": "response.function_call_arguments.done", "response_id": "resp_1", "item_id": "item_f", "call_id": "call_1",
         "name": "lookup_order", "arguments": "{}"},
    ):
        core.from_upstream(json.dumps(event), 1.0)
    assert core.tools is not None
    core.tools.finished("call_1", "{}", 1.1)
    done = _emit(core.from_upstream(json.dumps({"type": "response.done", "response": {"id": "resp_1", "output": []}}), 1.2))
    [create] = [orjson.loads(f) for f in done.to_upstream]
    assert create["type"] == "response.create"
    return str(create["event_id"])


def test_a_client_event_id_in_the_gateway_namespace_is_refused_and_never_sent_upstream() -> None:
    """response.create with event_id "gw_tool_response_1" (the id of the gateway's next follow-up) gets an
    invalid_request_error naming param event_id and the client's id; nothing goes upstream; the session goes on."""
    core = _core(tools=ToolCallInterceptor([ORDER]))
    emit = _emit(core.from_client(json.dumps({"type": "response.create", "event_id": "gw_tool_response_1"}), 0.5))
    assert emit.to_upstream == [] and emit.close is None
    error = _error(emit)
    assert error["type"] == "invalid_request_error" and error["param"] == "event_id" and error["event_id"] == "gw_tool_response_1"
    ok = _emit(core.from_client(json.dumps({"type": "response.create", "event_id": "evt_gw_1"}), 0.6))
    assert [orjson.loads(f)["event_id"] for f in ok.to_upstream] == ["evt_gw_1"]  # only the prefix is reserved


def test_an_upstream_error_naming_the_gateways_follow_up_is_still_the_gateways() -> None:
    """With client ids kept out of the namespace, a refusal of the gateway's own follow-up is swallowed and retried,
    and an error for any other id reaches the client."""
    core = _core(tools=ToolCallInterceptor([ORDER]))
    follow_up = _call(core)
    refusal = {"type": "error", "error": {"type": "invalid_request_error", "code": "conversation_already_has_active_response",
                                          "event_id": follow_up}}
    assert _emit(core.from_upstream(json.dumps(refusal), 1.3)).to_client == []
    other = {"type": "error", "error": {"type": "invalid_request_error", "code": "x", "event_id": "gw_tool_response_99"}}
    assert len(_emit(core.from_upstream(json.dumps(other), 1.4)).to_client) == 1


def test_an_error_naming_a_filler_id_the_gateway_never_minted_is_not_swallowed() -> None:
    """The filler's refusal is recognised by the exact id minted, not by a ``gw_tool_filler_`` look-alike."""
    ids = iter(range(1, 100))
    responses = GatewayResponses(SessionOverrides(), "Say you are checking.", lambda what: f"gw_tool_{what}_{next(ids)}")
    assert not responses.refused("gw_tool_filler_7", "whatever")
    frame = responses.filler(1.0)
    assert frame is not None
    filler = orjson.loads(frame)
    assert responses.busy
    assert responses.refused(str(filler["event_id"]), "whatever") and not responses.busy
    assert not responses.refused(str(filler["event_id"]), "whatever")  # once


def test_a_canonical_append_with_a_reserved_event_id_is_not_forwarded_as_is() -> None:
    """The audio fast path proves no client append whose event_id is in the namespace; the parsed path refuses it
    and its audio is not metered."""
    spoof = '{"type":"input_audio_buffer.append","event_id":"gw_barge_in_1","audio":"%s"}' % AUDIO
    assert canonical_audio(spoof, False) is None
    assert canonical_audio(spoof.replace("gw_barge_in_1", "evt_1"), False) is not None
    core = _core()
    emit = _emit(core.from_client(spoof, 0.1))
    assert emit.to_upstream == [] and _error(emit)["param"] == "event_id"
    assert core.stats.audio_in_bytes == 0
    assert core.from_client(spoof.replace("gw_barge_in_1", "evt_1"), 0.2) is FORWARD


def test_a_beta_client_cannot_use_the_namespace_either() -> None:
    """The check runs on the client's own event, before the beta translation."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.BETA, now=0.0)
    emit = _emit(core.from_client(json.dumps({"type": "response.cancel", "event_id": "gw_cancel_1"}), 0.1))
    assert emit.to_upstream == [] and _error(emit)["param"] == "event_id"


def test_a_client_item_in_the_namespace_is_refused() -> None:
    """conversation.item.create with item.id "gw_handoff_item_1" (the handoff replay's item ids) is refused: its
    item events could be swallowed as the replay's."""
    core = _core()
    item = {"id": "gw_handoff_item_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    emit = _emit(core.from_client(json.dumps({"type": "conversation.item.create", "item": item}), 0.1))
    assert emit.to_upstream == [] and _error(emit)["param"] == "item.id"


def test_a_bridged_append_with_a_reserved_id_is_refused() -> None:
    """Behind a kind bridge the mapped append is not read again: the client's id is checked before mapping."""
    bridge = bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION, language="es", seed=1)
    assert bridge is not None
    b = BridgedCore(SessionCore(kind=SessionKind.TRANSLATION, dialect=Dialect.GA, now=0.0), bridge)
    frame = '{"type":"input_audio_buffer.append","event_id":"gw_evt_1","audio":"%s"}' % AUDIO
    emit = _emit(b.from_client(frame, 0.0))
    assert emit.to_upstream == [] and _error(emit)["param"] == "event_id" and b.core.stats.audio_in_bytes == 0


def test_issued_ids_are_unguessable_single_use_and_bounded() -> None:
    """Ids issued to a client-side bridge carry a random token, are redeemed once, and only the latest are kept."""
    a, b = GatewayEventIds(), GatewayEventIds()
    first = a.issue("rtc_truncate")
    assert reserved(first) and first != b.issue("rtc_truncate")
    assert not a.redeem("gw_rtc_truncate_1") and a.redeem(first) and not a.redeem(first)
    issued = [a.issue("x") for _ in range(MAX_ISSUED + 1)]
    assert not a.redeem(issued[0]) and a.redeem(issued[-1])
