"""Gateway notices (gateway.*) pass one switch in the core: suppressed when off, sent when on, protection unchanged (no event loop)."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.accounting.caps import CAP_WARNING_TYPE
from gateway.core.barge_in import BargeInPolicy
from gateway.core.errors import InvalidRequest
from gateway.core.handoff import Handoff, HandoffRequest, HandoffRules, HandoffState, Trigger
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.notices import client_choice, is_notice
from gateway.core.session import HandoffTarget, SessionCore
from gateway.core.routing import SessionOverrides

RULES = HandoffRules(targets=("mini",))
MINI = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), rules=None)


def _core(gateway_events: bool) -> SessionCore:
    return SessionCore(
        kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2",
        served_model="gpt-realtime-2", barge_in=BargeInPolicy(), handoff=Handoff(RULES, "agent", "gpt-realtime-2"),
        gateway_events=gateway_events,
    )


def _up(core: SessionCore, event: dict, now: float) -> None:
    assert core.from_upstream(json.dumps(event), now) is not None


def _barged(core: SessionCore) -> tuple[list[str], list[str]]:
    """The model speaks 2 s, the user talks over it at 0.5 s, nobody cancels: the upstream and client types after grace."""
    _up(core, {"type": "response.created", "response": {"id": "resp_1"}}, 0.0)
    item = {"id": "item_1", "type": "message", "role": "assistant", "content": []}
    _up(core, {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}, 0.0)
    delta = {"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
             "content_index": 0, "delta": base64.b64encode(bytes(2000 * 48)).decode()}
    _up(core, delta, 0.0)
    _up(core, {"type": "input_audio_buffer.speech_started", "item_id": "item_user", "audio_start_ms": 0}, 0.5)
    emit = core.tick(1.0)
    return [json.loads(f)["type"] for f in emit.to_upstream], [json.loads(f)["type"] for f in emit.to_client]


@pytest.mark.parametrize("on", [True, False])
def test_barge_in_cuts_either_way_and_tells_the_client_only_when_on(on: bool) -> None:
    """Cancel and truncate go upstream with notices on or off; gateway.barge_in reaches the client only when on."""
    upstream, client = _barged(_core(on))
    assert upstream == ["response.cancel", "conversation.item.truncate"]
    assert client == (["gateway.barge_in"] if on else [])


@pytest.mark.parametrize("on", [True, False])
def test_handoff_completes_and_fails_either_way_and_tells_the_client_only_when_on(on: bool) -> None:
    """A completed and a failed switch happen as usual; the gateway.handoff events are sent only when on."""
    core = _core(on)
    assert core.handoff is not None
    core.handoff.request(HandoffRequest("mini", "cheaper", Trigger.ADMIN))
    core.handoff.begin()
    core.switch_to(MINI)
    done = core.handoff_completed(1.0)
    assert core.served_model == "gpt-realtime-2.1-mini"
    assert (json.loads(done)["type"] if done is not None else None) == ("gateway.handoff" if on else None)
    core = _core(on)
    assert core.handoff is not None
    core.handoff.request(HandoffRequest("mini", "cheaper", Trigger.ADMIN))
    core.handoff.begin()
    failed = core.handoff_failed(2.0, "unreachable")
    assert [json.loads(f)["status"] for f in failed.to_client] == (["failed"] if on else [])
    core.release_held(2.1)
    core.handoff_settled()
    assert core.served_model == "gpt-realtime-2"
    assert core.handoff.state is HandoffState.IDLE


@pytest.mark.parametrize("on", [True, False])
def test_a_cap_warning_is_framed_only_when_on(on: bool) -> None:
    """The accounting observer's gateway.cap_warning becomes a client frame only when notices are on."""
    frame = _core(on).notice({"type": CAP_WARNING_TYPE, "cap": "max_cost_micros", "ratio": 0.8})
    assert (json.loads(frame)["type"] if frame is not None else None) == (CAP_WARNING_TYPE if on else None)


def test_notices_and_other_gateway_events_cannot_take_each_others_path() -> None:
    """A gateway.* event sent as a plain gateway event, or a session.update sent as a notice, is a programming error."""
    core = _core(True)
    with pytest.raises(ValueError):
        core.gateway_event({"type": "gateway.something_new"})
    with pytest.raises(ValueError):
        core.notice({"type": "session.update"})
    assert is_notice({"type": "gateway.handoff"}) and not is_notice({"type": "error"})


def test_the_handshake_choice_reads_query_and_header_and_refuses_other_values() -> None:
    """Default on; off in the query or the header turns notices off; anything but on/off is a 400 naming the parameter."""
    assert client_choice({}, {}) is True
    assert client_choice({}, {"gateway_events": "off"}) is False
    assert client_choice({"x-voice-gateway-events": "OFF"}, {}) is False
    assert client_choice({"x-voice-gateway-events": "on"}, {"gateway_events": "on"}) is True
    with pytest.raises(InvalidRequest) as info:
        client_choice({}, {"gateway_events": "nope"})
    assert info.value.http_status == 400 and info.value.param == "gateway_events"
    with pytest.raises(InvalidRequest) as info:
        client_choice({"x-voice-gateway-events": "0"}, {})
    assert info.value.param == "x-voice-gateway-events"
