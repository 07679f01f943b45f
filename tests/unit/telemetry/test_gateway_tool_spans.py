"""Gateway-side tool calls in traces: one execute_tool span per call with server, cache hit and outcome."""

from __future__ import annotations

from opentelemetry.trace import StatusCode

from gateway.core.kinds import SessionKind
from gateway.core.observers import GatewayToolDone, GatewayToolStarted, ResponseCreated, ResponseDone, SessionEnded
from tests.unit.telemetry.conftest import make_traced
from tests.unit.telemetry.scripts import T0, drive, session_info

ARGS = '{"order_id": "123456"}'


def _script() -> list[object]:
    return [
        ResponseCreated(T0 + 1.0, "resp_1"),
        GatewayToolStarted(T0 + 1.2, "call_1", "lookup_order", "http"),
        ResponseDone(T0 + 1.3, "resp_1", "completed", None),
        GatewayToolDone(T0 + 1.45, "call_1", "lookup_order", "http", T0 + 1.2, "ok", cache_hit=False, arguments=ARGS),
        GatewayToolDone(T0 + 2.0, "call_2", "customer_tier", "crm", T0 + 1.9, "timeout", arguments=ARGS),
    ]


async def _spans(**settings: object) -> list[object]:
    traced = make_traced(**settings)
    try:
        await drive(traced.telemetry.observer_factory, session_info(SessionKind.REALTIME, "sess_t", "gpt-realtime-2"), T0,
                    _script(), SessionEnded(T0 + 3.0, "client_closed", client_close_code=1000))  # type: ignore[arg-type]
        return [traced.one("execute_tool lookup_order"), traced.one("execute_tool customer_tier")]
    finally:
        traced.telemetry.shutdown()


async def test_each_gateway_call_has_a_span_without_arguments() -> None:
    """Tool, server, duration, cache hit and outcome are on the span; a failed call has error status; no arguments."""
    ok, failed = await _spans()
    attrs, failed_attrs = ok.attributes, failed.attributes  # type: ignore[attr-defined]
    assert attrs["gen_ai.tool.name"] == "lookup_order" and attrs["voice_gateway.tool.server"] == "http"
    assert attrs["voice_gateway.tool.status"] == "ok" and attrs["voice_gateway.tool.cache_hit"] is False
    assert attrs["voice_gateway.tool.duration_ms"] == 250 and attrs["voice_gateway.tool.executor"] == "gateway"
    assert failed_attrs["voice_gateway.tool.server"] == "crm" and failed.status.status_code is StatusCode.ERROR  # type: ignore[attr-defined]
    assert all("voice_gateway.tool.arguments" not in a for a in (attrs, failed_attrs))


async def test_arguments_are_traced_only_with_transcripts_on() -> None:
    """With transcript tracing enabled the call's arguments are on its span."""
    ok, _ = await _spans(trace_transcripts=True)
    assert ok.attributes["voice_gateway.tool.arguments"] == ARGS  # type: ignore[attr-defined]


async def test_a_cancelled_call_is_recorded_as_such_without_an_error_status() -> None:
    """outcome cancelled: on the span's status attribute, but the span is not an error (the conversation moved on)."""
    traced = make_traced()
    script = [
        ResponseCreated(T0 + 1.0, "resp_1"),
        ResponseDone(T0 + 1.3, "resp_1", "completed", None),
        GatewayToolDone(T0 + 1.6, "call_9", "track_parcel", "http", T0 + 1.2, "cancelled"),
    ]
    try:
        await drive(traced.telemetry.observer_factory, session_info(SessionKind.REALTIME, "sess_c", "gpt-realtime-2"), T0,
                    script, SessionEnded(T0 + 3.0, "client_closed", client_close_code=1000))  # type: ignore[arg-type]
        span = traced.one("execute_tool track_parcel")
    finally:
        traced.telemetry.shutdown()
    assert span.attributes["voice_gateway.tool.status"] == "cancelled"  # type: ignore[attr-defined]
    assert span.status.status_code is not StatusCode.ERROR  # type: ignore[attr-defined]
