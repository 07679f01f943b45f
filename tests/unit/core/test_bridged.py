"""A session core behind a kind bridge keeps the core's surface: client frames are limited and parsed as the core
does, refusals become OpenAI-shaped error events, upstream frames are metered before they are mapped."""

from __future__ import annotations

import base64
import math
import struct

import orjson
import pytest

from gateway.core.bridged import BridgedCore
from gateway.core.jsontypes import JsonObject
from gateway.core.kind_bridge import AgentOverTranslation, bridge_for
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.ports import Frame
from gateway.core.session import Emit, SessionCore

LOUD = base64.b64encode(struct.pack("<4800h", *([8000, -8000] * 2400))).decode()


def bridged(**core_args: object) -> BridgedCore:
    bridge = bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION, language="es", seed=1)
    assert isinstance(bridge, AgentOverTranslation)
    core = SessionCore(kind=SessionKind.TRANSLATION, dialect=Dialect.GA, now=0.0, **core_args)  # type: ignore[arg-type]
    return BridgedCore(core, bridge)


def emitted(action: object) -> Emit:
    assert isinstance(action, Emit)
    return action


def frames(out: list[Frame]) -> list[JsonObject]:
    return [orjson.loads(f) for f in out]


def test_core_and_bridge_must_agree() -> None:
    """The core behind the bridge is of the upstream's kind and speaks GA."""
    bridge = bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION)
    assert bridge is not None
    for kind, dialect in ((SessionKind.REALTIME, Dialect.GA), (SessionKind.TRANSLATION, Dialect.BETA)):
        with pytest.raises(ValueError):
            BridgedCore(SessionCore(kind=kind, dialect=dialect, now=0.0), bridge)


def test_append_goes_up_mapped_and_metered() -> None:
    """A realtime append leaves as a translation append and counts as input audio (9600 bytes)."""
    b = bridged()
    out = emitted(b.from_client(orjson.dumps({"type": "input_audio_buffer.append", "audio": LOUD}).decode(), 0.0))
    assert frames(out.to_upstream) == [{"type": "session.input_audio_buffer.append", "audio": LOUD}]
    assert out.to_client == [] and b.core.stats.audio_in_bytes == 9600 and b.core.stats.frames_from_client == 1


def test_bridge_refusal_is_an_error_event_naming_the_clients_event() -> None:
    """conversation.item.create on translation: an error event with the client's event_id; nothing goes up; the session goes on."""
    b = bridged()
    out = emitted(b.from_client('{"type":"conversation.item.create","event_id":"c9","item":{"type":"message"}}', 0.0))
    [error] = frames(out.to_client)
    assert error["type"] == "error" and error["error"]["code"] == "unsupported_for_session_kind"
    assert error["error"]["event_id"] == "c9" and out.to_upstream == [] and out.close is None


def test_bad_frames_are_refused_as_the_core_refuses_them() -> None:
    """Binary frames, invalid JSON and duplicate keys get the core's errors before the bridge sees anything."""
    b = bridged()
    for frame in (b"\x00", "{nope", '{"type":"input_audio_buffer.clear","type":"response.create"}'):
        out = emitted(b.from_client(frame, 0.0))
        assert [e["type"] for e in frames(out.to_client)] == ["error"] and out.to_upstream == []


def test_frame_limits_apply_to_the_clients_frames() -> None:
    """The frame-rate limit counts the client's frames, including those the bridge answers itself."""
    b = bridged(max_frames_per_second=3)
    for _ in range(3):
        assert emitted(b.from_client('{"type":"input_audio_buffer.clear"}', 0.0)).close is None
    out = emitted(b.from_client('{"type":"input_audio_buffer.clear"}', 0.0))
    assert out.close is not None and frames(out.to_client)[0]["error"]["code"] == "rate_limit_exceeded"


def test_answers_come_back_in_the_same_call() -> None:
    """What the bridge answers itself (input_audio_buffer.cleared) is in the same Emit."""
    b = bridged()
    out = emitted(b.from_client('{"type":"input_audio_buffer.clear"}', 0.0))
    assert [e["type"] for e in frames(out.to_client)] == ["input_audio_buffer.cleared"]


def test_upstream_audio_is_metered_then_mapped_and_a_pause_closes_by_tick() -> None:
    """A translation delta is counted as output audio by the core, reaches the client inside a response; the tick closes it."""
    b = bridged()
    delta = orjson.dumps({"type": "session.output_audio.delta", "event_id": "event_1", "delta": LOUD}).decode()
    out = emitted(b.from_upstream(delta, 0.0))
    assert b.core.stats.audio_out_bytes == 9600
    names = [e["type"] for e in frames(out.to_client)]
    assert names[-1] == "response.output_audio.delta" and "response.created" in names
    due = b.due_at
    assert due is not None and due == pytest.approx(b.bridge.due_at or math.nan)
    closed = emitted(b.tick(due))
    assert [e["type"] for e in frames(closed.to_client)][-1] == "response.done"
    assert b.due_at is None


def test_upstream_error_passes_to_the_client() -> None:
    """An upstream error event reaches the client unchanged in shape."""
    b = bridged()
    error = {"type": "error", "event_id": "event_e", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                                                "message": "bad", "param": None, "event_id": "c1"}}
    out = emitted(b.from_upstream(orjson.dumps(error).decode(), 0.0))
    assert frames(out.to_client) == [error]
