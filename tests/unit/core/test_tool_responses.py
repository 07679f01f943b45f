"""The gateway's own response.create frames: follow-ups wait for quiet, a refused one is retried, fillers are out of band."""

from __future__ import annotations

import itertools
import json

from gateway.core.errors import BudgetCapReached, CostCapReached
from gateway.core.observers import ResponseAllowance, SessionStats
from gateway.core.routing import SessionOverrides
from gateway.core.tool_responses import CREATED_BY, FILLER_TAG, GatewayResponses


def _responses() -> GatewayResponses:
    ids = itertools.count(1)
    return GatewayResponses(SessionOverrides(), "Say you are checking.", lambda what: f"gw_tool_{what}_{next(ids)}")


def test_a_follow_up_waits_for_the_running_response_then_for_its_own_creation() -> None:
    """Nothing goes out while a response runs; once sent, the next waits until ours is created and done."""
    responses = _responses()
    responses.created({"id": "resp_user", "conversation_id": "conv"})
    responses.queue_follow_up()
    responses.queue_follow_up()
    assert responses.flush(1.0) == []
    responses.done("resp_user")
    [frame] = responses.flush(1.0)
    sent = json.loads(frame)
    assert sent["type"] == "response.create" and sent["response"]["metadata"] == {CREATED_BY: sent["event_id"]}
    assert responses.busy and responses.flush(1.0) == []
    responses.created({"id": "resp_ours", "conversation_id": "conv", "metadata": {CREATED_BY: sent["event_id"]}})
    responses.done("resp_ours")
    assert len(responses.flush(1.0)) == 1


def test_a_refused_follow_up_is_queued_again_and_others_errors_are_not_ours() -> None:
    """conversation_already_has_active_response puts our frame back in the queue; an unknown event id is not ours."""
    responses = _responses()
    responses.queue_follow_up()
    [frame] = responses.flush(1.0)
    event_id = json.loads(frame)["event_id"]
    assert not responses.refused("client_evt_1", "whatever")
    assert responses.refused(event_id, "conversation_already_has_active_response")
    assert not responses.busy
    assert responses.flush(1.0) == [frame]


def test_dropping_queued_follow_ups_forgets_them() -> None:
    """A cancelled turn's unsent follow-ups are dropped, and say how many."""
    responses = _responses()
    responses.created({"id": "resp_user", "conversation_id": "conv"})
    responses.queue_follow_up()
    assert responses.drop_queued() == 1
    responses.done("resp_user")
    assert responses.flush(1.0) == []


def test_a_filler_is_out_of_band_tagged_and_blocks_until_created() -> None:
    """The filler asks for no conversation, no tools, the filler instructions; it counts as running until created and done."""
    responses = _responses()
    filler = json.loads(responses.filler(1.0) or "")["response"]
    assert filler["conversation"] == "none" and filler["tools"] == [] and filler["metadata"] == {FILLER_TAG: "1"}
    assert filler["instructions"] == "Say you are checking." and responses.busy
    responses.created({"id": "resp_f", "conversation_id": None, "metadata": {FILLER_TAG: "1"}})
    assert responses.busy
    responses.done("resp_f")
    assert not responses.busy


def _bound(responses: GatewayResponses, tokens: int, *, metered: int = 0, done: int = 0, ceiling: object = None) -> SessionStats:
    stats = SessionStats(started_at=0.0, last_activity_at=0.0, responses=done)
    stats.response_allowance = ResponseAllowance(max_output_tokens=tokens, remaining_micros=tokens * 64, by_budget=False,
                                                 responses_metered=metered)
    responses.bind(stats, lambda: ceiling)
    return stats


def test_a_follow_up_is_clamped_to_what_the_cap_leaves_when_it_goes_out() -> None:
    """The follow-up's max_output_tokens is lowered to the allowance at send time (not at queue time), with the
    client path's clamp; a retry after a refusal is clamped again on the allowance then."""
    clamped: list[object] = []
    responses = GatewayResponses(SessionOverrides(), "x", lambda what: f"gw_tool_{what}_1", clamped.append)
    stats = _bound(responses, 500)
    responses.queue_follow_up()
    stats.response_allowance = ResponseAllowance(max_output_tokens=40, remaining_micros=2560, by_budget=False)
    [frame] = responses.flush(1.0)
    assert json.loads(frame)["response"]["max_output_tokens"] == 40
    assert [c.max_output_tokens for c in clamped] == [40]  # type: ignore[attr-defined]
    assert responses.refused(json.loads(frame)["event_id"], "conversation_already_has_active_response")
    stats.response_allowance = ResponseAllowance(max_output_tokens=12, remaining_micros=768, by_budget=False)
    [again] = responses.flush(2.0)
    assert json.loads(again)["response"]["max_output_tokens"] == 12


def test_a_follow_up_within_the_allowance_and_ceiling_is_left_alone() -> None:
    """Like a client reply: nothing is added when the session's ceiling already fits what is left."""
    responses = _responses()
    _bound(responses, 500, ceiling=100)
    responses.queue_follow_up()
    [frame] = responses.flush(1.0)
    assert "max_output_tokens" not in json.loads(frame)["response"]


def test_nothing_left_sends_no_follow_up_and_keeps_the_caps_error() -> None:
    """With less than one token left the follow-up is not sent, later ones neither; the refusal is the cap's error."""
    responses = _responses()
    _bound(responses, 0)
    responses.queue_follow_up()
    assert responses.flush(1.0) == []
    assert isinstance(responses.refusal, CostCapReached)
    responses.queue_follow_up()
    assert responses.flush(1.0) == [] and responses.filler(1.0) is None


def test_a_filler_is_clamped_and_not_asked_with_nothing_left() -> None:
    """The out-of-band filler gets the same clamp; with nothing left there is no filler and the budget's error is kept."""
    responses = _responses()
    _bound(responses, 7)
    assert json.loads(responses.filler(1.0) or "")["response"]["max_output_tokens"] == 7
    other = _responses()
    stats = _bound(other, 0)
    stats.response_allowance = ResponseAllowance(0, 0, by_budget=True)
    assert other.filler(1.0) is None and isinstance(other.refusal, BudgetCapReached) and not other.busy


def test_a_follow_up_waits_while_the_allowance_does_not_count_the_last_reply() -> None:
    """A reply ended and is not metered yet: the follow-up is held (like a client's response.create) until metered,
    or forced once the relay delivered the pending events."""
    responses = _responses()
    stats = _bound(responses, 500, metered=0, done=1)
    responses.queue_follow_up()
    assert responses.flush(1.0) == [] and responses.held
    stats.response_allowance = ResponseAllowance(max_output_tokens=30, remaining_micros=1920, by_budget=False, responses_metered=1)
    [frame] = responses.flush(1.1)
    assert json.loads(frame)["response"]["max_output_tokens"] == 30 and not responses.held
    responses.done("pending:" + json.loads(frame)["event_id"])
    stats.responses = 2
    responses.queue_follow_up()
    assert responses.flush(1.2) == [] and len(responses.flush(1.2, force=True)) == 1
