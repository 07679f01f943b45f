"""The gateway's own response.create frames: follow-ups wait for quiet, a refused one is retried, fillers are out of band."""

from __future__ import annotations

import itertools
import json

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
    assert responses.flush() == []
    responses.done("resp_user")
    [frame] = responses.flush()
    sent = json.loads(frame)
    assert sent["type"] == "response.create" and sent["response"]["metadata"] == {CREATED_BY: sent["event_id"]}
    assert responses.busy and responses.flush() == []
    responses.created({"id": "resp_ours", "conversation_id": "conv", "metadata": {CREATED_BY: sent["event_id"]}})
    responses.done("resp_ours")
    assert len(responses.flush()) == 1


def test_a_refused_follow_up_is_queued_again_and_others_errors_are_not_ours() -> None:
    """conversation_already_has_active_response puts our frame back in the queue; an unknown event id is not ours."""
    responses = _responses()
    responses.queue_follow_up()
    [frame] = responses.flush()
    event_id = json.loads(frame)["event_id"]
    assert not responses.refused("client_evt_1", "whatever")
    assert responses.refused(event_id, "conversation_already_has_active_response")
    assert not responses.busy
    assert responses.flush() == [frame]


def test_dropping_queued_follow_ups_forgets_them() -> None:
    """A cancelled turn's unsent follow-ups are dropped, and say how many."""
    responses = _responses()
    responses.created({"id": "resp_user", "conversation_id": "conv"})
    responses.queue_follow_up()
    assert responses.drop_queued() == 1
    responses.done("resp_user")
    assert responses.flush() == []


def test_a_filler_is_out_of_band_tagged_and_blocks_until_created() -> None:
    """The filler asks for no conversation, no tools, the filler instructions; it counts as running until created and done."""
    responses = _responses()
    filler = json.loads(responses.filler())["response"]
    assert filler["conversation"] == "none" and filler["tools"] == [] and filler["metadata"] == {FILLER_TAG: "1"}
    assert filler["instructions"] == "Say you are checking." and responses.busy
    responses.created({"id": "resp_f", "conversation_id": None, "metadata": {FILLER_TAG: "1"}})
    assert responses.busy
    responses.done("resp_f")
    assert not responses.busy
