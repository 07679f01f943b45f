"""By default no span carries secrets, transcripts, tool arguments or audio."""

from __future__ import annotations

from gateway.core.kinds import SessionKind
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import (
    relayed,
    T0,
    T1,
    TOOL_ARGUMENTS,
    TRANSCRIPT_TEXT,
    TRANSCRIPTION_END,
    VOICE_AGENT_END,
    drive,
    session_info,
    transcription_script,
    voice_agent_script,
)


def _all_values(traced: Traced) -> list[str]:
    values: list[str] = []
    for span in traced.spans():
        values.append(span.name)
        values += [f"{key}={value}" for key, value in (span.attributes or {}).items()]
        for event in span.events:
            values.append(event.name)
            values += [
                f"{key}={value}" for key, value in (event.attributes or {}).items()
            ]
    return values


async def test_spans_hold_no_transcripts_or_secrets_by_default(traced: Traced) -> None:
    """Transcript text, tool arguments, key material and audio never appear in any span attribute or event."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.REALTIME, "s1", "gpt-realtime-2"),
        T0,
        voice_agent_script(),
        VOICE_AGENT_END,
    )
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.TRANSCRIPTION, "s2", "gpt-realtime-whisper"),
        T1,
        transcription_script(),
        TRANSCRIPTION_END,
    )
    values = _all_values(traced)
    assert values, "spans were recorded"
    for forbidden in (
        TRANSCRIPT_TEXT,
        "4111",
        "okapi",
        TOOL_ARGUMENTS,
        "Lisbon",
        "sk-",
        "Bearer",
        "vg_",
        "ek_",
    ):
        assert not [value for value in values if forbidden in value], forbidden
    assert not [value for value in values if "voice_gateway.transcript" in value]
    assert not [
        value for value in values if "audio" in value.split("=")[0] and len(value) > 200
    ]


async def test_live_session_gets_reload_and_cap_events(traced: Traced) -> None:
    """Policy reloads and cap warnings/cut-offs seen while a session is live become events on its span."""
    from gateway.core.observers import SessionEnded, SessionStats

    telemetry = traced.telemetry
    observer = telemetry.observer_factory.create(
        session_info(SessionKind.REALTIME, "s_live", "gpt-realtime-2"), T0
    )
    telemetry.record_policy_reload(True, version="rev-7")
    telemetry.record_cap_warning("s_live", "cost", 0.8)
    telemetry.record_cap_cutoff("s_live", "session_cost_cap_reached")
    await observer.on_end(
        SessionEnded(
            T0 + 2, "cap", client_close_code=4100, error_code="session_cost_cap_reached"
        ),
        SessionStats(started_at=T0, last_activity_at=T0),
    )
    telemetry.record_policy_reload(
        True, version="rev-8"
    )  # after the end: not on the span
    session = traced.one("realtime.session realtime")
    assert [(event.name, dict(event.attributes or {})) for event in session.events] == [
        (
            "policy.reload",
            {"voice_gateway.policy.ok": True, "voice_gateway.policy.version": "rev-7"},
        ),
        (
            "cap.warning",
            {"voice_gateway.cap": "cost", "voice_gateway.cap.used_ratio": 0.8},
        ),
        ("cap.cutoff", {"voice_gateway.cap": "session_cost_cap_reached"}),
    ]
    body, _ = telemetry.render_metrics()
    cutoffs = [
        line
        for line in body.decode().splitlines()
        if line.startswith("voice_gateway_caps_cutoffs_total{")
    ]
    assert len(cutoffs) == 1 and cutoffs[0].endswith(" 1.0")


async def test_observer_failure_never_raises(traced: Traced) -> None:
    """A broken event payload is logged and swallowed; the observer still answers None and ends cleanly."""
    from gateway.core.observers import ResponseDone, SessionEnded, SessionStats

    observer = traced.telemetry.observer_factory.create(
        session_info(SessionKind.REALTIME, "s_bad", "gpt-realtime-2"), T0
    )
    stats = SessionStats(started_at=T0, last_activity_at=T0)
    bad_usage = {"input_token_details": "not a mapping", "output_token_details": 7}
    done = ResponseDone(T0 + 1, "resp_z", "completed", bad_usage)  # type: ignore[arg-type]
    for event in relayed([done], SessionKind.REALTIME):  # the turn ended with it carries the bad usage
        assert await observer.on_event(event, stats) is None  # type: ignore[arg-type]
    assert await observer.on_tick(T0 + 2, stats) is None
    await observer.on_end(SessionEnded(T0 + 3, "client_closed"), stats)
    assert traced.one("realtime.session realtime").end_time is not None
