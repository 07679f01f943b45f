"""Hostile clients against the frames a session holds (mid-session handoff, a reply awaiting its metering)."""

from __future__ import annotations

import base64

import orjson

from gateway.core import observers as ev
from gateway.core.errors import FrameRateExceeded, FrameTooLarge, HeldFramesExceeded
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
