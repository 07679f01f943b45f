"""Barge-in on direct-media calls in the pure core: the upstream plays the audio, the gateway acts through the sideband."""

from __future__ import annotations

import json

from gateway.core import observers as ev
from gateway.core.barge_in import BargeInMode, BargeInPolicy
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.session import FORWARD, Emit, SessionCore

GRACE_MS = 150


def _call(mode: BargeInMode = BargeInMode.PROTECT) -> SessionCore:
    return SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, direct_media=True,
                       barge_in=BargeInPolicy(mode, GRACE_MS))


def _up(core: SessionCore, event: dict, now: float) -> Emit:
    action = core.from_upstream(json.dumps(event), now)
    return Emit() if action is FORWARD else action


def _answer_playing(core: SessionCore, *, at: float = 0.0, done: bool = False) -> None:
    """A response whose audio the upstream started playing to the caller at ``at`` (``done``: generation finished)."""
    _up(core, {"type": "response.created", "response": {"id": "resp_1"}}, at)
    item = {"id": "item_1", "type": "message", "role": "assistant", "content": []}
    _up(core, {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}, at)
    _up(core, {"type": "output_audio_buffer.started", "response_id": "resp_1"}, at + 0.05)
    if done:
        _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}, at + 0.1)


def _speech(core: SessionCore, at: float) -> None:
    _up(core, {"type": "input_audio_buffer.speech_started", "item_id": "item_u", "audio_start_ms": 900}, at)


def _measured(core: SessionCore) -> list[ev.BargeInMeasured]:
    return [e for e in core.take_events() if isinstance(e, ev.BargeInMeasured)]


def test_protect_cancels_and_clears_through_the_sideband_after_grace() -> None:
    """Nobody stops the audio: after grace the gateway sends response.cancel and output_audio_buffer.clear (no
    truncate: the upstream cuts at what it played), nothing to the caller; measured when the upstream clears."""
    core = _call()
    _answer_playing(core)
    _speech(core, 1.0)
    assert core.due_at == 1.0 + GRACE_MS / 1000
    assert core.tick(1.1).to_upstream == []
    emit = core.tick(1.15)
    sent = [json.loads(f) for f in emit.to_upstream]
    assert [e["type"] for e in sent] == ["response.cancel", "output_audio_buffer.clear"]
    assert sent[0]["response_id"] == "resp_1" and all(e["event_id"].startswith("gw_") for e in sent)
    assert emit.to_client == [] and not _measured(core)
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "cancelled",
                                                      "status_details": {"reason": "client_cancelled"}}}, 1.17)
    _up(core, {"type": "output_audio_buffer.cleared", "response_id": "resp_1"}, 1.18)
    assert core.due_at == 1.18
    core.tick(1.18)
    [m] = _measured(core)
    assert m.stopped_by == "gateway" and m.talk_over_ms == 180 and m.item_id == "item_1"
    assert m.sent == ("response.cancel", "output_audio_buffer.clear") and m.audio_end_ms == 1130
    assert core.stats.interruptions == 1 and core.due_at is None


def test_upstream_that_interrupts_itself_is_left_alone() -> None:
    """Server VAD with interrupt_response: the upstream cancels and clears within grace; the gateway sends nothing."""
    core = _call()
    _answer_playing(core)
    _speech(core, 1.0)
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "cancelled",
                                                      "status_details": {"reason": "turn_detected"}}}, 1.01)
    _up(core, {"type": "output_audio_buffer.cleared", "response_id": "resp_1"}, 1.02)
    emit = core.tick(1.15)
    assert emit.to_upstream == [] and not _measured(core)  # the cancel reason may still be on its way
    assert core.tick(1.5).to_upstream == []
    [m] = _measured(core)
    assert m.stopped_by == "server" and m.talk_over_ms == 20 and m.sent == ()


def test_caller_that_cancels_itself_counts_as_the_client() -> None:
    """The caller cancels and clears over its data channel: the cleared report may come before the response.done
    naming client_cancelled; the gateway sends nothing and counts the client."""
    core = _call()
    _answer_playing(core)
    _speech(core, 1.0)
    _up(core, {"type": "output_audio_buffer.cleared", "response_id": "resp_1"}, 1.05)
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "cancelled",
                                                      "status_details": {"reason": "client_cancelled"}}}, 1.06)
    assert core.tick(1.2).to_upstream == []
    assert core.tick(1.25).to_upstream == []
    [m] = _measured(core)
    assert m.stopped_by == "client"


def test_finished_response_still_playing_gets_only_a_clear() -> None:
    """Generation is over but the audio still plays: no response.cancel (it would be an error), only the clear."""
    core = _call()
    _answer_playing(core, done=True)
    _speech(core, 1.0)
    sent = [json.loads(f)["type"] for f in core.tick(1.2).to_upstream]
    assert sent == ["output_audio_buffer.clear"]


def test_no_interruption_when_nothing_plays() -> None:
    """Speech after the upstream reported the audio stopped opens nothing."""
    core = _call()
    _answer_playing(core, done=True)
    _up(core, {"type": "output_audio_buffer.stopped", "response_id": "resp_1"}, 0.8)
    _speech(core, 1.0)
    assert core.due_at is None and core.tick(2.0).to_upstream == [] and not _measured(core)


def test_observe_measures_until_the_audio_runs_out() -> None:
    """Observe sends nothing; the talk-over runs until the upstream's output_audio_buffer.stopped."""
    core = _call(BargeInMode.OBSERVE)
    _answer_playing(core, done=True)
    _speech(core, 1.0)
    assert core.tick(1.5).to_upstream == []
    _up(core, {"type": "output_audio_buffer.stopped", "response_id": "resp_1"}, 3.2)
    assert core.tick(3.2).to_upstream == []
    [m] = _measured(core)
    assert m.stopped_by == "none" and m.talk_over_ms == 2200


def test_gateway_acted_but_no_report_is_measured_after_the_settle_time() -> None:
    """The upstream never confirms the clear: the interruption is still measured (talk-over up to then)."""
    core = _call()
    _answer_playing(core)
    _speech(core, 1.0)
    core.tick(1.15)
    assert core.tick(2.0).to_upstream == [] and not _measured(core)
    assert core.due_at is not None
    core.tick(core.due_at)
    [m] = _measured(core)
    assert m.stopped_by == "gateway" and m.talk_over_ms == 3150


def test_the_measure_lands_on_the_turn_whose_audio_the_upstream_played() -> None:
    """A direct call has no audio deltas: the upstream's output_audio_buffer.started is the turn's first audio, so
    the interruption reaches the turn (span event and metric) like on a relayed session."""
    from gateway.core.turn_events import TurnBargeIn
    from gateway.core.turns import TurnTracker

    core = _call()
    tracker = TurnTracker()
    _answer_playing(core)
    _speech(core, 1.0)
    core.tick(1.15)
    _up(core, {"type": "output_audio_buffer.cleared", "response_id": "resp_1"}, 1.2)
    core.tick(1.2)
    out = [e for event in core.take_events() for e in tracker.feed(event)]
    [barge] = [e for e in out if isinstance(e, TurnBargeIn)]
    assert barge.stopped_by == "gateway" and barge.talk_over_ms == 200


def test_clear_without_server_interrupt_counts_as_the_caller() -> None:
    """The session's VAD does not interrupt: audio cleared before the gateway acted was the caller's doing, even
    when no response.done names a client cancel (it came too late, or the caller only cleared)."""
    core = _call()
    vad = {"type": "server_vad", "interrupt_response": False}
    _up(core, {"type": "session.updated", "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}}, 0.0)
    _answer_playing(core)
    _speech(core, 1.0)
    _up(core, {"type": "output_audio_buffer.cleared", "response_id": "resp_1"}, 1.05)
    assert core.tick(1.3).to_upstream == []
    [m] = _measured(core)
    assert m.stopped_by == "client" and m.sent == ()
