"""The span tree of a scripted voice-agent session: turns, tool call, barge-ins, transcription."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from gateway.core.kinds import SessionKind
from gateway.core.observers import SessionStats
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import (
    CLIENT_SPAN_ID,
    CLIENT_TRACE_ID,
    T0,
    VOICE_AGENT_END,
    Tick,
    drive,
    relayed,
    session_info,
    voice_agent_script,
)

SESSION = "realtime.session realtime"


def _offset_s(span_ns: int | None, session: ReadableSpan) -> float:
    assert span_ns is not None and session.start_time is not None
    return round((span_ns - session.start_time) / 1e9, 3)


def _parent_name(span: ReadableSpan, spans: list[ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    for other in spans:
        if other.context.span_id == span.parent.span_id:
            return other.name + (
                f"#{other.attributes.get('voice_gateway.turn.number')}"
                if other.name == "realtime.turn"
                else ""
            )
    return "<remote>"


async def _run(traced: Traced) -> None:
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.REALTIME, "sess_va", "gpt-realtime-2"),
        T0,
        voice_agent_script(),
        VOICE_AGENT_END,
    )


async def test_span_tree_shape(traced: Traced) -> None:
    """Every span has the expected name and parent: turns under the session, tool/barge-ins/utterance under turns."""
    await _run(traced)
    spans = traced.spans()
    tree = sorted(
        (
            span.name
            + (
                f"#{span.attributes['voice_gateway.turn.number']}"
                if span.name == "realtime.turn"
                else ""
            ),
            _parent_name(span, spans),
            _offset_s(span.start_time, traced.one(SESSION)),
            _offset_s(span.end_time, traced.one(SESSION)),
        )
        for span in spans
    )
    assert tree == sorted(
        [
            (SESSION, "<remote>", 0.0, 8.0),
            ("realtime.turn#1", SESSION, 1.0, 3.0),
            ("transcription.utterance", "realtime.turn#1", 1.0, 2.5),
            ("realtime.interruption", "realtime.turn#1", 4.0, 4.1),
            ("realtime.turn#2", SESSION, 4.0, 5.6),
            ("execute_tool get_weather", "realtime.turn#2", 5.5, 6.0),
            ("realtime.turn#3", SESSION, 6.01, 7.25),
            ("realtime.interruption", "realtime.turn#3", 7.0, 7.2),
            ("realtime.turn#4", SESSION, 7.0, 8.0),
        ]
    )
    assert {span.context.trace_id for span in spans} == {int(CLIENT_TRACE_ID, 16)}


async def test_session_span_continues_client_trace(traced: Traced) -> None:
    """The session span is a SERVER span whose parent is the client's traceparent span."""
    await _run(traced)
    session = traced.one(SESSION)
    assert session.kind is SpanKind.SERVER
    assert session.parent is not None and session.parent.is_remote
    assert session.parent.span_id == int(CLIENT_SPAN_ID, 16)


async def test_session_span_attributes(traced: Traced) -> None:
    """Identity, route, models, end reason, close code and totals are on the session span."""
    await _run(traced)
    attrs = traced.one(SESSION).attributes
    assert attrs is not None
    expected = {
        "voice_gateway.session.id": "sess_va",
        "voice_gateway.tenant": "acme",
        "voice_gateway.key.id": "key_42",
        "voice_gateway.endpoint": "realtime",
        "voice_gateway.session.kind": "realtime",
        "voice_gateway.route.rule_id": "rule-realtime",
        "voice_gateway.route.reason": "declared intent",
        "voice_gateway.upstream.endpoint": "openai",
        "voice_gateway.label.team": "support",
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-realtime-2",
        "gen_ai.response.model": "gpt-realtime-2-2026-01-15",
        "voice_gateway.session.end_reason": "client_closed",
        "voice_gateway.close_code.client": 1000,
        "voice_gateway.audio.input_seconds": 1.6,
        "voice_gateway.audio.output_seconds": 3.0,
        "gen_ai.usage.input_tokens": 900,
        "gen_ai.usage.output_tokens": 395,
        "voice_gateway.cost_micros": 26240 + 1080 + 7160,
        "voice_gateway.session.turns": 4,
    }
    assert {key: attrs.get(key) for key in expected} == expected
    events = [
        (event.name, dict(event.attributes or {}))
        for event in traced.one(SESSION).events
    ]
    assert events == [
        ("upstream.ready", {"gen_ai.response.model": "gpt-realtime-2-2026-01-15"}),
        (
            "upstream.error",
            {
                "voice_gateway.error.code": "conversation_already_has_active_response",
                "voice_gateway.error.from_upstream": True,
            },
        ),
    ]


async def test_turn_attributes(traced: Traced) -> None:
    """Each turn carries trigger, status, latencies, usage, cost and barge-in details."""
    await _run(traced)
    turns = {
        span.attributes["voice_gateway.turn.number"]: span.attributes
        for span in traced.by_name("realtime.turn")
    }  # type: ignore[index]
    first, second, third, fourth = turns[1], turns[2], turns[3], turns[4]
    assert (
        first["voice_gateway.turn.trigger"],
        first["voice_gateway.turn.status"],
    ) == ("speech", "completed")
    assert first["voice_gateway.turn.time_to_first_audio_ms"] == 400
    assert first["voice_gateway.turn.time_to_first_transcript_ms"] == 300
    assert (
        first["gen_ai.usage.input_tokens"],
        first["gen_ai.usage.output_tokens"],
    ) == (300, 310)
    assert first["voice_gateway.cost_micros"] == 26240
    assert first["gen_ai.response.id"] == "resp_1"
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.response.model"] == "gpt-realtime-2-2026-01-15"
    assert (
        "voice_gateway.turn.interrupted" not in first
    )  # its barge-in came after it ended: see the child span
    assert second["voice_gateway.turn.tool_calls"] == 1
    assert second["voice_gateway.cost_micros"] == 1080
    assert third["voice_gateway.turn.trigger"] == "tool_output"
    assert third["voice_gateway.turn.status"] == "cancelled"
    assert third["voice_gateway.turn.status_reason"] == "turn_detected"
    assert third["voice_gateway.turn.time_to_first_audio_ms"] == 490
    assert (
        third["voice_gateway.turn.interrupted"],
        third["voice_gateway.turn.played_ms"],
    ) == (True, 300)
    assert fourth["voice_gateway.turn.status"] == "no_response"
    assert "gen_ai.usage.input_tokens" not in fourth


async def test_tool_and_interruption_spans(traced: Traced) -> None:
    """The tool span uses GenAI tool attributes; interruption spans say how much audio had played."""
    await _run(traced)
    tool = traced.one("execute_tool get_weather").attributes
    assert tool is not None
    assert tool["gen_ai.operation.name"] == "execute_tool"
    assert tool["gen_ai.tool.name"] == "get_weather"
    assert tool["gen_ai.tool.call.id"] == "call_1"
    assert tool["voice_gateway.tool.status"] == "completed"
    assert tool["voice_gateway.tool.duration_ms"] == 500
    played = sorted(
        span.attributes["voice_gateway.turn.played_ms"]
        for span in traced.by_name("realtime.interruption")
    )  # type: ignore[index]
    assert played == [300, 1500]


async def test_utterance_latencies_in_voice_session(traced: Traced) -> None:
    """Input transcription in a voice session gets latencies from the end of speech."""
    await _run(traced)
    attrs = traced.one("transcription.utterance").attributes
    assert attrs is not None
    assert attrs["voice_gateway.utterance.time_to_first_delta_ms"] == 200
    assert attrs["voice_gateway.utterance.time_to_final_ms"] == 500
    assert attrs["voice_gateway.utterance.status"] == "completed"


async def test_turns_are_exported_as_they_end(traced: Traced) -> None:
    """A finished turn is exported while the session is still live (live progress in Jaeger)."""
    factory = traced.telemetry.observer_factory
    info = session_info(SessionKind.REALTIME, "sess_live", "gpt-realtime-2")
    from gateway.core.observers import SessionStats

    stats = SessionStats(started_at=T0, last_activity_at=T0)
    observer = factory.create(info, T0)
    for step in relayed(voice_agent_script()[:12], SessionKind.REALTIME):  # through resp_1's response.done
        if not isinstance(step, Tick):
            await observer.on_event(step, stats)
    names = [span.name for span in traced.spans()]
    assert "realtime.turn" in names and SESSION not in names
    await observer.on_end(VOICE_AGENT_END, stats)
    assert SESSION in [span.name for span in traced.spans()]


async def test_failed_session_and_failed_turn_get_error_status(traced: Traced) -> None:
    """An upstream failure marks the session span ERROR; a cap cut-off does not."""
    from gateway.core.observers import ResponseCreated, ResponseDone, SessionEnded

    factory = traced.telemetry.observer_factory
    steps = [
        ResponseCreated(T0 + 1, "resp_x"),
        ResponseDone(T0 + 2, "resp_x", "failed", None, "server_error"),
    ]
    await drive(
        factory,
        session_info(SessionKind.REALTIME, "s_fail", "gpt-realtime-2"),
        T0,
        steps,
        SessionEnded(
            T0 + 3,
            "upstream_error",
            upstream_close_code=1011,
            error_code="upstream_disconnected",
        ),
    )
    await drive(
        factory,
        session_info(SessionKind.REALTIME, "s_cap", "gpt-realtime-2"),
        T0,
        [],
        SessionEnded(
            T0 + 3, "cap", client_close_code=4100, error_code="session_cost_cap_reached"
        ),
    )
    sessions = {
        span.attributes["voice_gateway.session.id"]: span
        for span in traced.by_name(SESSION)
    }  # type: ignore[index]
    assert sessions["s_fail"].status.status_code is StatusCode.ERROR
    assert sessions["s_cap"].status.status_code is StatusCode.UNSET
    assert [event.name for event in sessions["s_cap"].events] == ["cap.cutoff"]
    turn = traced.one("realtime.turn")
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.attributes["voice_gateway.turn.status"] == "failed"  # type: ignore[index]


async def test_session_without_traceparent_starts_a_new_trace(traced: Traced) -> None:
    """No traceparent at the handshake → the session span is a root span."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(
            SessionKind.REALTIME, "s_root", "gpt-realtime-2", traceparent=None
        ),
        T0,
        [],
        VOICE_AGENT_END,
    )
    session = traced.one(SESSION)
    assert session.parent is None
    assert session.context.trace_id != int(CLIENT_TRACE_ID, 16)


async def test_malformed_traceparent_is_ignored(traced: Traced) -> None:
    """A malformed traceparent never breaks the session: a new trace starts."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(
            SessionKind.REALTIME, "s_bad", "gpt-realtime-2", traceparent="00-zzzz-01"
        ),
        T0,
        [],
        VOICE_AGENT_END,
    )
    assert traced.one(SESSION).parent is None


async def test_turn_span_ids_name_the_exported_turn_spans(traced: Traced) -> None:
    """turn_span_ids_of gives each live turn's span id by number: the very span exported for that turn."""
    info = session_info(SessionKind.REALTIME, "sess_ids", "gpt-realtime-2")
    stats = SessionStats(started_at=T0, last_activity_at=T0)
    observer = traced.telemetry.observer_factory.create(info, T0)
    for step in relayed(voice_agent_script(), info.kind, VOICE_AGENT_END.at):
        if isinstance(step, Tick):
            await observer.on_tick(step.at, stats)
        else:
            await observer.on_event(step, stats)
    ids = traced.telemetry.turn_span_ids_of("sess_ids")
    await observer.on_end(VOICE_AGENT_END, stats)
    exported = {
        int(s.attributes["voice_gateway.turn.number"]): format(s.context.span_id, "016x")  # type: ignore[index, arg-type]
        for s in traced.spans() if s.name == "realtime.turn"
    }
    assert ids and ids == {turn: exported[turn] for turn in ids}
    assert traced.telemetry.turn_span_ids_of("sess_ids") == {}  # ended: no longer live
