"""setup_telemetry: spans are recorded only when something receives them."""

from __future__ import annotations

from gateway.core.kinds import SessionKind
from gateway.settings import Settings
from gateway.telemetry import setup_telemetry
from tests.unit.telemetry.conftest import make_traced
from tests.unit.telemetry.scripts import CATALOG, T0, TRACEPARENT, session_info


def test_no_exporter_records_no_span_but_keeps_its_ids() -> None:
    """Without a trace exporter or processor a session span is not recorded, yet keeps the client's trace id."""
    telemetry = setup_telemetry(Settings(_env_file=None), catalog=CATALOG)  # type: ignore[call-arg]
    try:
        observer = telemetry.observer_factory.create(session_info(SessionKind.REALTIME, "s_plain", "gpt-realtime"), T0)
        span = observer.scope.session_span
        assert not span.is_recording()
        assert telemetry.trace_id_of("s_plain") == TRACEPARENT.split("-")[1]
        assert span.get_span_context().span_id != 0
    finally:
        telemetry.shutdown()


def test_a_span_processor_gets_recorded_spans() -> None:
    """With a span processor (an exporter's or a test's) the session span is recorded as before."""
    traced = make_traced()
    try:
        observer = traced.telemetry.observer_factory.create(
            session_info(SessionKind.REALTIME, "s_traced", "gpt-realtime"), T0
        )
        assert observer.scope.session_span.is_recording()
    finally:
        traced.telemetry.shutdown()
