"""Property-based fuzzing of the Sans-I/O session core and the frame peek with valid-ish and garbage frames."""

from __future__ import annotations

import copy

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.errors import GatewayError
from gateway.core.frames import read_client, read_upstream
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.protocol import client_events
from gateway.core.session import FORWARD, Emit, SessionCore

SERVER_TYPES = [
    "session.created", "session.updated", "response.created", "response.done", "response.output_audio.delta",
    "response.output_audio_transcript.delta", "response.output_text.delta", "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "response.function_call_arguments.done",
    "conversation.item.input_audio_transcription.delta", "conversation.item.input_audio_transcription.completed",
    "error", "session.output_audio.delta", "session.output_transcript.delta", "rate_limits.updated",
]
CLIENT_TYPES = sorted({t for kind in SessionKind for d in Dialect for t in client_events(kind, d)})

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["session", "response", "item", "audio", "delta", "usage", "error", "item_id", "call_id", "name", "audio_end_ms",
     "status_details", "status", "id", "model", "transcript", "event_id", "format", "input", "output"]
)


def events(types: list[str]) -> st.SearchStrategy[dict[str, object]]:
    """Events of known types whose other fields are random (often the right name, with the wrong shape)."""
    return st.builds(
        lambda t, fields: {"type": t, **fields},
        st.sampled_from(types),
        st.dictionaries(field_names, json_value, max_size=5),
    )


def frames(types: list[str]) -> st.SearchStrategy[str | bytes]:
    """Valid-ish events, audio with huge payloads, broken JSON, non-objects, binary garbage, huge strings."""
    return st.one_of(
        events(types).map(lambda e: orjson.dumps(e).decode()),
        st.sampled_from(types).map(lambda t: '{"type":"%s","audio":"%s","delta":"%s"}' % (t, "QUJD" * 900, "QUJD" * 900)),
        st.text(max_size=200),
        st.binary(max_size=200),
        json_value.map(lambda v: orjson.dumps(v).decode()),
        st.integers(0, 3000).map(lambda n: '{"type":"input_audio_buffer.append","audio":"' + "x" * n),
        st.integers(1, 5000).map(lambda n: "[" * n),
    )


def _core(kind: SessionKind, dialect: Dialect) -> SessionCore:
    return SessionCore(kind=kind, dialect=dialect, now=0.0, requested_model="gpt-realtime-2", served_model="gpt-realtime-2.1",
                       max_message_bytes=64 * 1024, max_frames_per_second=10_000)


def _check(action: object) -> None:
    assert action is FORWARD or isinstance(action, Emit)
    if isinstance(action, Emit):
        assert all(isinstance(f, (bytes, str)) for f in action.to_client + action.to_upstream)
        assert action.close is None or isinstance(action.close, GatewayError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(SessionKind)),
    dialect=st.sampled_from(list(Dialect)),
    script=st.lists(st.tuples(st.booleans(), frames(CLIENT_TYPES + SERVER_TYPES)), max_size=25),
)
def test_core_only_ever_forwards_or_emits(kind: SessionKind, dialect: Dialect, script: list[tuple[bool, str | bytes]]) -> None:
    """Whatever frames arrive from either side, the core returns FORWARD or an Emit and never raises."""
    core = _core(kind, dialect)
    for i, (from_client, frame) in enumerate(script):
        now = i * 0.01
        _check(core.from_client(frame, now) if from_client else core.from_upstream(frame, now))
    core.take_events()
    core.cancel_frames()


@settings(max_examples=150, deadline=None)
@given(script=st.lists(st.tuples(st.booleans(), frames(CLIENT_TYPES + SERVER_TYPES)), min_size=1, max_size=15))
def test_two_cores_are_independent(script: list[tuple[bool, str | bytes]]) -> None:
    """Feeding garbage to one core changes nothing in another: same input, same output, with or without the noise."""
    quiet, noisy, witness = (_core(SessionKind.REALTIME, Dialect.GA) for _ in range(3))
    for i, (from_client, frame) in enumerate(script):
        now = i * 0.01
        garbage = "{" * (i + 1)
        noisy_action = noisy.from_client(garbage, now)
        _check(noisy_action)
        a = quiet.from_client(frame, now) if from_client else quiet.from_upstream(frame, now)
        b = witness.from_client(frame, now) if from_client else witness.from_upstream(frame, now)
        assert _shape(a) == _shape(b)
    assert quiet.stats == witness.stats
    assert [type(e) for e in quiet.take_events()] == [type(e) for e in witness.take_events()]


def _shape(action: object) -> object:
    if action is FORWARD:
        return "FORWARD"
    assert isinstance(action, Emit)
    strip = lambda frames: [orjson.loads(f).get("type") if _is_json(f) else f for f in frames]  # noqa: E731
    return (strip(action.to_client), strip(action.to_upstream), type(action.close))


def _is_json(frame: str | bytes) -> bool:
    try:
        return isinstance(orjson.loads(frame), dict)
    except orjson.JSONDecodeError:
        return False


@settings(max_examples=400, deadline=None)
@given(frame=frames(CLIENT_TYPES + SERVER_TYPES))
def test_reading_returns_a_type_or_a_client_safe_error(frame: str | bytes) -> None:
    """Reading a text frame either names a type (with a non-negative audio size) or raises a GatewayError, nothing else."""
    if not isinstance(frame, str):
        return
    for read in (read_client, read_upstream):
        try:
            info = read(frame)
        except GatewayError:
            continue
        assert isinstance(info.type, str) and info.type
        assert info.audio_bytes >= 0


@settings(max_examples=100, deadline=None)
@given(event=events(CLIENT_TYPES))
def test_core_does_not_mutate_a_forwarded_frame(event: dict[str, object]) -> None:
    """A forwarded client frame is passed on as the very same object (the hot path never rewrites)."""
    core = _core(SessionKind.REALTIME, Dialect.GA)
    frame = orjson.dumps(event).decode()
    before = copy.copy(frame)
    action = core.from_client(frame, 0.0)
    _check(action)
    assert frame == before
