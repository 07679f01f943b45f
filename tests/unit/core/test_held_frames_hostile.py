"""Hostile clients against the frames a session holds (mid-session handoff, a reply awaiting its metering)."""

from __future__ import annotations

import base64

import orjson

from gateway.core import observers as ev
from gateway.core.errors import FrameRateExceeded, FrameTooLarge, HeldFramesExceeded, UpstreamRefused
from gateway.core.handoff import Handoff, HandoffRequest, HandoffRules, Trigger
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.routing import SessionOverrides
from gateway.core.session import Emit, HandoffTarget, SessionCore

RULES = HandoffRules(targets=("mini",))
MINI = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), rules=None)


def _core(*, rate: int = 500, size: int = 16 * 1024 * 1024) -> SessionCore:
    return SessionCore(
        kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2", served_model="gpt-realtime-2",
        max_frames_per_second=rate, max_message_bytes=size, handoff=Handoff(RULES, "agent", "gpt-realtime-2"),
    )


def _append(nbytes: int = 480) -> str:
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01" * nbytes).decode()}).decode()


def _switching(core: SessionCore) -> None:
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "test", Trigger.ADMIN)) is None
    assert core.handoff.begin() is not None


def test_a_frame_flood_during_a_switch_is_cut_off_when_it_arrives_not_held() -> None:
    """Frames over the rate limit during a switch close the session at once instead of piling up in the held buffer."""
    core = _core(rate=5)
    _switching(core)
    actions = [core.from_client(_append(), 0.1 + i * 0.01) for i in range(6)]
    assert actions[:5] == [Emit()] * 5
    last = actions[5]
    assert isinstance(last, Emit) and isinstance(last.close, FrameRateExceeded)
    assert core.handoff is not None and len(core.handoff.take_held()) == 5


def test_an_oversized_frame_during_a_switch_is_refused_on_arrival() -> None:
    """A frame over the size limit sent during a switch is refused when it arrives, never held."""
    core = _core(size=4096)
    _switching(core)
    action = core.from_client(_append(8192), 0.1)
    assert isinstance(action, Emit) and isinstance(action.close, FrameTooLarge)
    assert core.handoff is not None and not core.handoff.has_held


def test_the_bytes_held_during_a_switch_are_bounded() -> None:
    """A client that keeps sending within its rate limit during a long switch is closed once the held bytes pass the limit."""
    core = _core(size=64 * 1024)
    _switching(core)
    closed = None
    for i in range(200):
        action = core.from_client(_append(30_000), 0.1 + i * 0.05)
        if isinstance(action, Emit) and action.close is not None:
            closed = action.close
            break
    assert isinstance(closed, HeldFramesExceeded)
    assert core.handoff is not None
    assert sum(len(f) for f in core.handoff.take_held()) <= 64 * 1024


def test_frames_held_over_a_long_switch_at_a_legal_rate_are_not_refused_on_release() -> None:
    """Audio sent at a legal rate through a 3 s switch is released to the target, not counted as one burst and refused."""
    core = _core(rate=5)
    _switching(core)
    for i in range(12):  # 4 frames a second for 3 s: under the limit of 5
        assert core.from_client(_append(), 0.1 + i * 0.25) == Emit()
    core.switch_to(MINI)
    released = core.release_held(3.2)
    assert released.close is None and len(released.to_upstream) == 12
    assert core.stats.frames_from_client == 12
    assert core.stats.audio_in_bytes == 12 * 480


def test_frames_held_behind_a_reply_awaiting_its_metering_are_admitted_on_arrival() -> None:
    """While a response.create waits for the last reply's metering, a frame flood behind it is cut off as it arrives."""
    core = _core(rate=3)
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    core.from_upstream(orjson.dumps({"type": "response.created", "response": {"id": "resp_1"}}).decode(), 1.0)
    core.from_upstream(orjson.dumps({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}).decode(), 1.0)
    assert core.from_client(orjson.dumps({"type": "response.create"}).decode(), 1.1) == Emit() and core.awaiting_metering
    assert core.from_client(_append(), 1.1) == Emit() and core.from_client(_append(), 1.1) == Emit()
    flood = core.from_client(_append(), 1.1)
    assert isinstance(flood, Emit) and isinstance(flood.close, FrameRateExceeded)


def test_a_handoff_keeps_the_target_within_what_the_cap_leaves() -> None:
    """The replayed session.update carries the allowance as the target's ceiling, and the session tracks that ceiling, so
    a client's own "inf" (or the target's default) does not come back after a switch near the cap."""
    core = _core()
    update = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "inf"}}
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=40, remaining_micros=2_560, by_budget=False)
    sent = core.from_client(orjson.dumps(update).decode(), 0.1)
    assert isinstance(sent, Emit) and orjson.loads(sent.to_upstream[0])["session"]["max_output_tokens"] == 40
    _switching(core)
    replay = [orjson.loads(f) for f in core.switch_to(MINI)]
    assert replay[0]["session"]["max_output_tokens"] == 40
    assert core.release_held(0.3) == Emit()
    core.handoff_completed(0.35)
    after = core.from_client(orjson.dumps({"type": "response.create"}).decode(), 0.4)
    assert isinstance(after, Emit)
    assert orjson.loads(after.to_upstream[0]).get("response", {}).get("max_output_tokens", 40) <= 40


def test_a_handoff_near_the_cap_bounds_the_target_even_when_the_client_never_set_a_ceiling() -> None:
    """A client that never set max_output_tokens gets the allowance written into the target's session (its default is inf)."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=1_000, remaining_micros=64_000, by_budget=False)
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=30, remaining_micros=1_920, by_budget=False)
    assert orjson.loads(core.allowance_frames()[0])["session"]["max_output_tokens"] == 30  # the old upstream's ceiling
    _switching(core)
    replay = [orjson.loads(f) for f in core.switch_to(MINI)]
    assert replay[0]["session"]["max_output_tokens"] == 30


def test_a_transfer_with_nothing_left_does_not_ask_the_target_to_speak() -> None:
    """A transfer switch when the cap leaves no token sends no response.create to the target (the cap ends the session)."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=0, remaining_micros=-5, by_budget=False)
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "transfer", Trigger.TRANSFER)) is None
    assert core.handoff.begin() is not None
    replay = [orjson.loads(f) for f in core.switch_to(MINI)]
    assert [e["type"] for e in replay] == ["session.update"]


def test_a_transfers_reply_carries_its_own_bound_not_only_the_targets_ceiling() -> None:
    """The target's first reply after a transfer names max_output_tokens (the allowance, the client path's clamp): it is
    bounded even if the target has not applied (or refuses) the replayed ceiling when the reply starts."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=40, remaining_micros=2_560, by_budget=False)
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "transfer", Trigger.TRANSFER)) is None
    assert core.handoff.begin() is not None
    replay = [orjson.loads(f) for f in core.switch_to(MINI, 0.2)]
    assert replay[-1]["type"] == "response.create" and replay[-1]["response"]["max_output_tokens"] == 40


def test_a_transfers_reply_keeps_a_lower_ceiling_of_the_client() -> None:
    """With plenty left, the transfer's reply names the session's own (lower) ceiling rather than raising it."""
    core = _core()
    core.from_client(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 90}}).decode(), 0.1)
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=4_000, remaining_micros=256_000, by_budget=False)
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "transfer", Trigger.TRANSFER)) is None
    assert core.handoff.begin() is not None
    replay = [orjson.loads(f) for f in core.switch_to(MINI, 0.2)]
    assert replay[-1]["response"]["max_output_tokens"] == 90


def test_a_target_that_refuses_the_replayed_configuration_ends_the_session_instead_of_serving_unenforced() -> None:
    """A client that planted a setting the target refuses cannot make the target run without the route's
    instructions prefix: the refusal of the replayed session.update closes the session (fail closed)."""
    core = _core()
    bad = {"type": "session.update", "session": {"type": "realtime", "instructions": "Anything goes.", "temperature": 9.5}}
    assert isinstance(core.from_client(orjson.dumps(bad).decode(), 0.1), Emit)
    _switching(core)
    guarded = HandoffTarget(model=MINI.model, overrides=SessionOverrides(instructions_prefix="POLICY: stay on topic."), rules=None)
    replay = [orjson.loads(f) for f in core.switch_to(guarded)]
    assert replay[0]["session"]["temperature"] == 9.5  # carried as the client last sent it
    refusal = {"type": "error", "event_id": "evt_1", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "message": "Invalid value for 'temperature'.",
        "param": "session.temperature", "event_id": replay[0]["event_id"]}}
    action = core.from_upstream(orjson.dumps(refusal).decode(), 0.3)
    assert isinstance(action, Emit) and isinstance(action.close, UpstreamRefused)
    (error,) = [orjson.loads(f) for f in action.to_client]
    assert error["type"] == "error" and "POLICY" not in error["error"]["message"]


def test_the_targets_refusal_of_a_replayed_item_is_still_only_swallowed() -> None:
    """An error about a replayed conversation item (not the configuration) is swallowed as before: the session goes on."""
    core = _core()
    core.from_upstream(orjson.dumps({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                                     "transcript": "hello"}).decode(), 0.05)
    _switching(core)
    replay = [orjson.loads(f) for f in core.switch_to(MINI)]
    item_error = {"type": "error", "event_id": "evt_2", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                                                  "message": "x", "event_id": replay[1]["event_id"]}}
    assert core.from_upstream(orjson.dumps(item_error).decode(), 0.3) == Emit()
