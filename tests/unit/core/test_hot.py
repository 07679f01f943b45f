"""The core's fast-path gate: off by default, on only where the core itself would forward the frame untouched."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import orjson
import pytest

from gateway.core import hot, session as session_module
from gateway.core import observers as ev
from gateway.core.barge_in import BargeInPolicy
from gateway.core.handoff import Handoff, HandoffRequest, HandoffRules, Trigger
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.session import FORWARD, HandoffTarget, SessionCore
from gateway.core.routing import SessionOverrides

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")

AUDIO = base64.b64encode(b"\x01\x02" * 240).decode()
APPEND = '{"type":"input_audio_buffer.append","audio":"%s"}' % AUDIO
SESSION_APPEND = '{"type":"session.input_audio_buffer.append","audio":"%s"}' % AUDIO
DELTA = ('{"type":"response.output_audio.delta","event_id":"e","response_id":"resp_1","item_id":"item_1",'
         '"output_index":0,"content_index":0,"delta":"%s"}' % AUDIO)
CLIENT_BIT, UPSTREAM_BIT = 1 << 1, 1 << 1


@pytest.fixture(params=("compiled", "pure"))
def gate_build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with the compiled gate and with its pure-Python twin."""
    if request.param == "compiled":
        if hot.COMPILED is None:
            pytest.skip("the compiled gate is not built here")
        monkeypatch.setattr(session_module, "HotGate", hot.COMPILED[1])
    else:
        monkeypatch.setattr(session_module, "HotGate", hot.PyHotGate)
    yield request.param


def _text(event: dict[str, object]) -> str:
    return orjson.dumps(event).decode()


def _core(**kwargs: object) -> SessionCore:
    options: dict[str, object] = {"kind": SessionKind.REALTIME, "dialect": Dialect.GA, "now": 0.0}
    options.update(kwargs)
    return SessionCore(**options)  # type: ignore[arg-type]


def _allowed_means_forwarded(core: SessionCore, now: float) -> None:
    """What the gate lets through is what the core forwards untouched with nothing but counters moved."""
    for frame, upstream, bit in ((APPEND, False, CLIENT_BIT), (SESSION_APPEND, False, 1 << 2), (DELTA, True, UPSTREAM_BIT)):
        mask = core.hot.upstream_mask if upstream else core.hot.client_mask
        if not mask & bit:
            continue
        events, due = len(core.events), core.due_at
        action = core.from_upstream(frame, now) if upstream else core.from_client(frame, now)
        assert action is FORWARD, frame[:40]
        assert len(core.events) == events and core.due_at == due


def test_a_new_core_lets_nothing_through(gate_build: str) -> None:
    """The gate is off until the core has taken a decision of its own."""
    core = _core()
    assert (core.hot.client_mask, core.hot.upstream_mask) == (0, 0)


def test_after_a_decision_audio_of_the_accepted_types_may_go_alone(gate_build: str) -> None:
    """A GA realtime core lets appends (not the translation kind's) and deltas through once it has decided a frame."""
    core = _core()
    assert core.from_client(APPEND, 0.1) is FORWARD
    assert core.hot.client_mask == CLIENT_BIT
    assert core.hot.upstream_mask & UPSTREAM_BIT
    _allowed_means_forwarded(core, 0.2)


def test_a_reply_in_flight_keeps_its_first_delta_for_the_core(gate_build: str) -> None:
    """From response.created to the reply's first audio, deltas go to the core (first-audio timing); then alone."""
    core = _core(barge_in=BargeInPolicy())
    core.from_upstream(_text({"type": "response.created", "response": {"id": "resp_1"}}), 1.0)
    assert core.hot.upstream_mask == 0
    core.from_upstream(_text({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
                              "item": {"id": "item_1", "type": "message", "role": "assistant"}}), 1.0)
    assert core.hot.upstream_mask == 0
    assert core.from_upstream(DELTA, 1.1) is FORWARD
    assert core.hot.upstream_mask & UPSTREAM_BIT
    _allowed_means_forwarded(core, 1.2)


def test_deltas_relayed_alone_reach_the_playback_estimate_before_the_next_decision(gate_build: str) -> None:
    """The bytes the listener relayed (pending on the gate) are added to the playing item when the core next decides."""
    core = _core(barge_in=BargeInPolicy())
    core.from_upstream(_text({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
                              "item": {"id": "item_1", "type": "message", "role": "assistant"}}), 1.0)
    core.from_upstream(DELTA, 1.1)
    assert core.barge_in is not None
    item = core.barge_in.playback.get("item_1")
    assert item is not None and item.delivered_bytes == 480
    core.hot.pending_out_bytes += 960  # what the listener does for two deltas it relays alone
    core.hot.upstream_at = 1.2
    core.from_client(_text({"type": "input_audio_buffer.commit"}), 1.3)
    assert item.delivered_bytes == 1440 and core.hot.pending_out_bytes == 0


def test_client_frames_held_for_metering_close_the_client_direction(gate_build: str) -> None:
    """A response.create held until the last reply is metered holds the appends after it: none may go alone."""
    core = _core()
    core.stats.response_allowance = ev.ResponseAllowance(max_output_tokens=150, remaining_micros=9_600, by_budget=False)
    core.from_upstream(_text({"type": "response.created", "response": {"id": "resp_1"}}), 1.0)
    core.from_upstream(_text({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}), 1.0)
    assert core.hot.client_mask == CLIENT_BIT
    core.from_client(_text({"type": "response.create"}), 1.1)
    assert core.awaiting_metering and core.hot.client_mask == 0
    core.stats.response_allowance = ev.ResponseAllowance(
        max_output_tokens=20, remaining_micros=1_280, by_budget=False, responses_metered=1
    )
    core.release_awaiting(1.2)
    assert core.hot.client_mask == CLIENT_BIT


def test_a_handoff_closes_the_client_direction_while_it_holds_client_frames(gate_build: str) -> None:
    """Requested only, appends still go alone; begun (client frames held) and switching, they go to the core; after
    completion, alone again."""
    core = _core(requested_model="gpt-realtime-2", served_model="gpt-realtime-2",
                 handoff=Handoff(HandoffRules(targets=("mini",)), "agent", "gpt-realtime-2"))
    core.from_client(APPEND, 0.1)
    assert core.hot.client_mask == CLIENT_BIT
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "test", Trigger.ADMIN)) is None
    assert core.from_client(APPEND, 0.2) is FORWARD and core.hot.client_mask == CLIENT_BIT
    assert core.begin_handoff() is not None
    assert core.handoff.holding and core.hot.client_mask == 0
    core.switch_to(HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides()), 0.3)
    assert core.hot.client_mask == 0
    core.release_held(0.4)
    core.handoff_completed(0.5)
    assert not core.handoff.holding and core.hot.client_mask == CLIENT_BIT
    _allowed_means_forwarded(core, 0.6)


def test_a_beta_client_gets_renamed_deltas_from_the_core(gate_build: str) -> None:
    """Deltas to a beta-dialect client are renamed by the core: none go alone (appends still may)."""
    core = _core(dialect=Dialect.BETA)
    core.from_client(APPEND, 0.1)
    assert core.hot.upstream_mask == 0 and core.hot.client_mask == CLIENT_BIT
    _allowed_means_forwarded(core, 0.2)


def test_a_translation_session_times_its_output_in_the_core(gate_build: str) -> None:
    """A translation session's deltas go to the core (output segments); its own append type may go alone."""
    core = _core(kind=SessionKind.TRANSLATION)
    core.from_client(SESSION_APPEND, 0.1)
    assert core.hot.upstream_mask == 0 and core.hot.client_mask == 1 << 2
    _allowed_means_forwarded(core, 0.2)


def test_a_direct_media_call_lets_nothing_through(gate_build: str) -> None:
    """A direct-media call's audio is measured from its sideband: the gate stays off."""
    core = _core(direct_media=True)
    core.from_client(_text({"type": "input_audio_buffer.commit"}), 0.1)
    assert (core.hot.client_mask, core.hot.upstream_mask) == (0, 0)


def test_the_frame_rate_window_is_shared_with_the_listener(gate_build: str) -> None:
    """Frames the listener counted in the window count for the core's limit too."""
    core = _core(max_frames_per_second=3)
    core.from_client(APPEND, 0.1)
    core.hot.rate_count += 2  # two more the listener relayed in the same second
    refused = core.from_client(APPEND, 0.2)
    assert refused is not FORWARD and refused.close is not None and refused.close.code == "rate_limit_exceeded"
