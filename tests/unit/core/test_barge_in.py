"""Barge-in protection in the pure core: forgetful, correct and late clients; server VAD with and without auto interrupt (no event loop)."""

from __future__ import annotations

import base64
import json

from gateway.core import observers as ev
from gateway.core.barge_in import BargeInMode, BargeInPolicy
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.session import FORWARD, Emit, SessionCore

GRACE_MS = 150


def _core(mode: BargeInMode = BargeInMode.PROTECT) -> SessionCore:
    return SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, barge_in=BargeInPolicy(mode, GRACE_MS))


def _up(core: SessionCore, event: dict, now: float) -> Emit:
    action = core.from_upstream(json.dumps(event), now)
    return Emit() if action is FORWARD else action


def _client(core: SessionCore, event: dict, now: float) -> Emit:
    action = core.from_client(json.dumps(event), now)
    return Emit() if action is FORWARD else action


def _speak(core: SessionCore, ms: int = 2000, *, at: float = 0.0, bytes_per_ms: int = 48) -> None:
    """The model answers with ``ms`` of audio delivered in one burst at ``at``."""
    _up(core, {"type": "response.created", "response": {"id": "resp_1"}}, at)
    item = {"id": "item_1", "type": "message", "role": "assistant", "content": []}
    _up(core, {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}, at)
    audio = base64.b64encode(bytes(ms * bytes_per_ms)).decode()
    delta = {"type": "response.output_audio.delta", "event_id": "e1", "response_id": "resp_1", "item_id": "item_1",
             "output_index": 0, "content_index": 0, "delta": audio}
    _up(core, delta, at)


def _speech_started(core: SessionCore, at: float) -> None:
    _up(core, {"type": "input_audio_buffer.speech_started", "item_id": "item_user", "audio_start_ms": 0}, at)


def _cancelled_by_server(core: SessionCore, at: float) -> None:
    response = {"id": "resp_1", "status": "cancelled", "status_details": {"type": "cancelled", "reason": "turn_detected"}}
    _up(core, {"type": "response.done", "response": response}, at)


def _types(frames: list) -> list[str]:
    return [json.loads(f)["type"] for f in frames]


def _measured(core: SessionCore) -> list[ev.BargeInMeasured]:
    return [e for e in core.take_events() if isinstance(e, ev.BargeInMeasured)]


def test_forgetful_client_gets_cancel_and_truncate_at_the_heard_position_after_grace() -> None:
    """The client does nothing: after grace the gateway cancels, truncates where the listener is, and says so."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    assert core.due_at == 0.5 + GRACE_MS / 1000
    assert core.tick(0.6).to_upstream == []  # still within grace
    emit = core.tick(0.65)
    assert _types(emit.to_upstream) == ["response.cancel", "conversation.item.truncate"]
    truncate = json.loads(emit.to_upstream[1])
    assert truncate["item_id"] == "item_1" and truncate["audio_end_ms"] == 650 and truncate["content_index"] == 0
    notice = json.loads(emit.to_client[0])
    assert notice["type"] == "gateway.barge_in" and notice["item_id"] == "item_1" and notice["audio_end_ms"] == 650
    assert notice["sent"] == ["response.cancel", "conversation.item.truncate"]
    [measured] = _measured(core)
    assert measured.stopped_by == "gateway" and measured.talk_over_ms == GRACE_MS
    assert core.stats.interruptions == 1
    assert core.due_at is None and core.tick(1.0).to_upstream == []  # decided once


def test_client_that_does_it_right_is_left_alone() -> None:
    """Cancel and truncate by the client within grace: they go on untouched and the gateway sends nothing."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    assert _types(_client(core, {"type": "response.cancel"}, 0.55).to_upstream) == ["response.cancel"]
    truncate = {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 540}
    assert _types(_client(core, truncate, 0.56).to_upstream) == ["conversation.item.truncate"]
    emit = core.tick(0.7)
    assert emit.to_upstream == [] and emit.to_client == []
    [measured] = _measured(core)
    assert measured.stopped_by == "client" and measured.talk_over_ms == 40 and measured.audio_end_ms == 540


def test_client_that_cancels_late_sends_nothing_twice() -> None:
    """The gateway acted after grace; the client's late cancel and truncate are dropped, an earlier truncate still goes."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    assert len(core.tick(0.65).to_upstream) == 2
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "cancelled"}}, 0.7)
    assert _client(core, {"type": "response.cancel"}, 0.9).to_upstream == []
    late = {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 880}
    assert _client(core, late, 0.9).to_upstream == []
    earlier = {**late, "audio_end_ms": 600}
    assert _types(_client(core, earlier, 0.91).to_upstream) == ["conversation.item.truncate"]
    assert _client(core, {"type": "response.create"}, 1.0).to_upstream  # a new response is the client's own


def test_client_truncating_without_cancel_gets_only_the_cancel() -> None:
    """A client that truncates but lets the response run: the gateway sends only the missing cancel."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    _client(core, {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 520}, 0.52)
    emit = core.tick(0.65)
    assert _types(emit.to_upstream) == ["response.cancel"]
    assert json.loads(emit.to_client[0])["sent"] == ["response.cancel"]


def test_server_vad_with_auto_interrupt_gets_only_the_truncate() -> None:
    """The server already cancelled (interrupt_response): no response.cancel that would cause an error event."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    _cancelled_by_server(core, 0.5)
    emit = core.tick(0.65)
    assert _types(emit.to_upstream) == ["conversation.item.truncate"]
    assert json.loads(emit.to_upstream[0])["audio_end_ms"] == 650
    [measured] = _measured(core)
    assert measured.stopped_by == "gateway" and measured.sent == ("conversation.item.truncate",)


def test_server_vad_without_auto_interrupt_gets_both() -> None:
    """interrupt_response false: the response is still in flight, so the gateway cancels it too."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    assert _types(core.tick(0.65).to_upstream) == ["response.cancel", "conversation.item.truncate"]


def test_speech_after_the_audio_was_heard_is_no_interruption() -> None:
    """The user speaks once the answer has finished playing: nothing happens."""
    core = _core()
    _speak(core, 300)
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}, 0.1)
    _speech_started(core, 0.5)
    assert core.due_at is None and core.tick(1.0).to_upstream == []
    assert _measured(core) == [] and core.stats.interruptions == 0


def test_observe_mode_measures_the_whole_remaining_answer_and_sends_nothing() -> None:
    """observe: no frames; the talk-over is the rest of the answer at the listener."""
    core = _core(BargeInMode.OBSERVE)
    _speak(core, 2000)
    _speech_started(core, 0.5)
    assert core.tick(0.7).to_upstream == []
    _up(core, {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}, 0.8)
    assert core.tick(1.5).to_upstream == []  # still playing at the listener
    assert core.tick(2.1).to_client == []
    [measured] = _measured(core)
    assert measured.stopped_by == "none" and measured.talk_over_ms == 1500


def test_off_mode_has_no_barge_in_state() -> None:
    """off: the core keeps no playback model at all."""
    core = _core(BargeInMode.OFF)
    assert core.barge_in is None and core.due_at is None


def test_g711_output_counts_eight_bytes_a_millisecond() -> None:
    """A pcmu session: the truncate position is computed from 8-byte milliseconds."""
    core = _core()
    _up(core, {"type": "session.updated", "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}}, 0.0)
    _speak(core, 400, bytes_per_ms=8)
    _speech_started(core, 0.2)
    truncate = json.loads(core.tick(0.35).to_upstream[1])
    assert truncate["audio_end_ms"] == 350


def test_beta_client_events_are_recognised() -> None:
    """A beta-dialect client's cancel counts too (events are read after translation to GA)."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.BETA, now=0.0, barge_in=BargeInPolicy())
    _speak(core)
    _speech_started(core, 0.5)
    _client(core, {"type": "response.cancel"}, 0.51)
    _client(core, {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 500}, 0.52)
    assert core.tick(1.0).to_upstream == []


def test_hot_path_audio_deltas_are_counted_as_delivered() -> None:
    """Canonical deltas are forwarded untouched yet still feed the playback model of the current item."""
    core = _core()
    _up(core, {"type": "response.created", "response": {"id": "resp_1"}}, 0.0)
    item = {"id": "item_1", "type": "message", "role": "assistant", "content": []}
    _up(core, {"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}, 0.0)
    delta = {"type": "response.output_audio.delta", "event_id": "e1", "response_id": "resp_1", "item_id": "item_1",
             "output_index": 0, "content_index": 0, "delta": base64.b64encode(bytes(48 * 1000)).decode()}
    assert core.from_upstream(json.dumps(delta, separators=(",", ":")), 0.0) is FORWARD
    _speech_started(core, 0.3)
    assert json.loads(core.tick(0.45).to_upstream[1])["audio_end_ms"] == 450


def test_the_measurement_becomes_a_turn_event_of_the_interrupted_turn() -> None:
    """The turn tracker turns the gateway's measurement into a TurnBargeIn for the turn that played the audio."""
    from gateway.core.turn_events import TurnBargeIn, TurnInterrupted
    from gateway.core.turns import TurnTracker

    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    core.tick(0.65)
    turn_events = TurnTracker().expand(core.take_events())
    [barge] = [e for e in turn_events if isinstance(e, TurnBargeIn)]
    assert barge.turn == 1 and barge.stopped_by == "gateway" and barge.talk_over_ms == GRACE_MS
    assert [e.audio_end_ms for e in turn_events if isinstance(e, TurnInterrupted)] == [650]


def test_webrtc_bridge_truncate_is_exact_and_the_gateway_adds_only_the_cancel() -> None:
    """The terminating WebRTC bridge cuts its playout and truncates at what it played (an event id the core issued it):
    that exact position stands, and after grace the gateway cancels the response still in flight."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    bridge = {"event_id": core.bridge_ids.issue("rtc_truncate"), "type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 497}
    assert _types(_client(core, bridge, 0.5).to_upstream) == ["conversation.item.truncate"]
    emit = core.tick(0.65)
    assert _types(emit.to_upstream) == ["response.cancel"]
    notice = json.loads(emit.to_client[0])
    assert notice["audio_end_ms"] == 497 and notice["sent"] == ["response.cancel"]
    [measured] = _measured(core)
    assert measured.stopped_by == "gateway" and measured.audio_end_ms == 497


def test_a_client_truncate_dressed_as_the_bridges_is_refused_and_the_gateway_still_protects() -> None:
    """A client truncate with a gateway-looking id (``gw_rtc_1``) is refused (param event_id), never taken as the
    gateway's: the interruption stays open and, after grace, the gateway cancels and truncates itself."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    spoof = {"event_id": "gw_rtc_1", "type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 10}
    refused = _client(core, spoof, 0.5)
    assert refused.to_upstream == []
    error = json.loads(refused.to_client[0])["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "event_id" and error["event_id"] == "gw_rtc_1"
    emit = core.tick(0.65)
    assert _types(emit.to_upstream) == ["response.cancel", "conversation.item.truncate"]
    [measured] = _measured(core)
    assert measured.stopped_by == "gateway" and measured.audio_end_ms == 650


def test_an_issued_bridge_id_counts_once() -> None:
    """The id the core issued the bridge is the gateway's the first time only: a replay of it is refused."""
    core = _core()
    _speak(core)
    _speech_started(core, 0.5)
    issued = core.bridge_ids.issue("rtc_truncate")
    bridge = {"event_id": issued, "type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 497}
    assert _types(_client(core, bridge, 0.5).to_upstream) == ["conversation.item.truncate"]
    again = _client(core, {**bridge, "audio_end_ms": 100}, 0.55)
    assert again.to_upstream == [] and json.loads(again.to_client[0])["error"]["param"] == "event_id"
