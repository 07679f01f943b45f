"""A handoff in the session span: one span across models, a handoff span event naming the kind now serving."""

from __future__ import annotations

from gateway.core.kinds import SessionKind
from gateway.core.observers import HandedOff, SessionEnded, UpstreamReady
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import T0, drive, session_info


async def test_a_handoff_to_translation_is_a_span_event_and_the_response_model_follows(traced: Traced) -> None:
    """Voice agent → translation → voice agent: two handoff events on the one session span (routes, models, trigger,
    the kind now serving); gen_ai.response.model is the model serving at the end."""
    steps = [
        UpstreamReady(T0 + 0.1, "gpt-realtime-2"),
        HandedOff(T0 + 1.0, "agent", "gpt-realtime-2", "translate", "gpt-realtime-translate", "user", "transfer", True,
                  to_kind=SessionKind.TRANSLATION),
        HandedOff(T0 + 2.0, "translate", "gpt-realtime-translate", "agent", "gpt-realtime-2", "operator", "admin", True,
                  to_kind=SessionKind.REALTIME),
    ]
    await drive(traced.telemetry.observer_factory, session_info(SessionKind.REALTIME, "sess_h", "gpt-realtime-2"), T0,
                steps, SessionEnded(T0 + 3.0, "client_closed", client_close_code=1000))
    session = traced.one("realtime.session realtime")
    handoffs = [e for e in session.events if e.name == "handoff"]
    assert [(e.attributes["voice_gateway.handoff.to_route"], e.attributes["voice_gateway.handoff.to_kind"])  # type: ignore[index]
            for e in handoffs] == [("translate", "translation"), ("agent", "realtime")]
    assert session.attributes is not None and session.attributes["gen_ai.response.model"] == "gpt-realtime-2"
