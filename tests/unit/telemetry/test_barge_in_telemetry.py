"""Barge-in measurements become a span event on the turn span and a talk-over histogram by who stopped it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.core.barge_in import BargeInMeasured
from gateway.core.kinds import SessionKind
from gateway.core.observers import FirstAudio, ResponseCreated, ResponseDone, SessionEnded, SpeechStarted
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import T0, drive, session_info


async def test_barge_in_span_event_and_talk_over_histogram(traced: Traced) -> None:
    """The turn whose audio was cut carries a barge_in event; the histogram counts it under stopped_by=gateway."""
    steps = [
        SpeechStarted(T0 + 0.5, "item_u1", 0),
        ResponseCreated(T0 + 1.0, "resp_1"),
        FirstAudio(T0 + 1.1, "resp_1"),
        SpeechStarted(T0 + 1.5, "item_u2", 1500),
        BargeInMeasured(T0 + 1.65, "item_a1", T0 + 1.5, 150, "gateway", 550, ("response.cancel", "conversation.item.truncate")),
        ResponseDone(T0 + 1.7, "resp_1", "cancelled", None),
    ]
    await drive(traced.telemetry.observer_factory, session_info(SessionKind.REALTIME, "sess_b", "gpt-realtime-2"),
                T0, steps, SessionEnded(T0 + 2.0, "client_closed", 1000))
    turn = next(s for s in traced.by_name("realtime.turn") if s.attributes and s.attributes["voice_gateway.turn.number"] == 1)
    [event] = [e for e in turn.events if e.name == "barge_in"]
    assert event.attributes is not None
    assert event.attributes["voice_gateway.barge_in.talk_over_ms"] == 150
    assert event.attributes["voice_gateway.barge_in.stopped_by"] == "gateway"
    assert event.attributes["voice_gateway.turn.played_ms"] == 550
    assert list(event.attributes["voice_gateway.barge_in.sent"]) == ["response.cancel", "conversation.item.truncate"]  # type: ignore[arg-type]
    body, _ = traced.telemetry.render_metrics()
    counts = [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name.startswith("voice_gateway_barge_in_talk_over") and sample.name.endswith("_count")
    ]
    assert counts and counts[0][0]["stopped_by"] == "gateway" and counts[0][1] == 1
    assert all("sess_b" not in str(labels) for labels, _ in counts)
