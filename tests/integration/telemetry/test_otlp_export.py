"""Spans and metrics leave the process over real OTLP exporters configured by OTEL_* variables."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import pytest

from gateway.core.kinds import SessionKind
from gateway.core.observers import SessionStats
from gateway.settings import Settings
from gateway.telemetry import setup_telemetry
from tests.integration.telemetry.conftest import Received, Receiver
from tests.unit.telemetry.scripts import (
    CATALOG,
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

REPO = Path(__file__).resolve().parents[3]
EXPECTED_TREE = sorted(
    [
        ("realtime.session realtime", "<client>"),
        ("realtime.turn", "realtime.session realtime"),
        ("realtime.turn", "realtime.session realtime"),
        ("realtime.turn", "realtime.session realtime"),
        ("realtime.turn", "realtime.session realtime"),
        ("transcription.utterance", "realtime.turn"),
        ("realtime.interruption", "realtime.turn"),
        ("realtime.interruption", "realtime.turn"),
        ("execute_tool get_weather", "realtime.turn"),
    ]
)


def _tree(received: Received) -> list[tuple[str, str]]:
    spans = [span for _, span in received.spans()]
    by_id = {span.span_id: span.name for span in spans}
    client = bytes.fromhex(CLIENT_SPAN_ID)
    return sorted(
        (
            span.name,
            "<client>"
            if span.parent_span_id == client
            else by_id.get(span.parent_span_id, "<missing>"),
        )
        for span in spans
    )


def _otlp_env(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, protocol: str = "http/protobuf"
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "vg-otlp-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")


async def test_http_export_carries_service_trace_and_tree(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: Receiver
) -> None:
    """Over OTLP/HTTP the receiver gets the service name, the client's trace id and the whole span tree."""
    _otlp_env(monkeypatch, otlp_receiver.url)
    telemetry = setup_telemetry(Settings(_env_file=None), catalog=CATALOG)  # type: ignore[call-arg]
    try:
        await drive(
            telemetry.observer_factory,
            session_info(SessionKind.REALTIME, "sess_otlp", "gpt-realtime-2"),
            T0,
            voice_agent_script(),
            VOICE_AGENT_END,
        )
    finally:
        telemetry.shutdown()
    received = otlp_receiver.received
    assert {service for service, _ in received.spans()} == {"vg-otlp-test"}
    assert {span.trace_id.hex() for _, span in received.spans()} == {CLIENT_TRACE_ID}
    assert _tree(received) == EXPECTED_TREE
    session = next(
        span for _, span in received.spans() if span.name.startswith("realtime.session")
    )
    attrs = {a.key: a.value for a in session.attributes}
    assert attrs["voice_gateway.session.id"].string_value == "sess_otlp"
    assert attrs["voice_gateway.cost_micros"].int_value == 34480
    assert received.content_types == {"application/x-protobuf"}
    assert {
        "voice_gateway.sessions.started",
        "voice_gateway.turn.time_to_first_audio",
    } <= received.metric_names()


async def test_turn_spans_arrive_while_the_session_is_live(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: Receiver
) -> None:
    """A turn that ended is exported within the batch delay, before the session span ends."""
    _otlp_env(monkeypatch, otlp_receiver.url)
    telemetry = setup_telemetry(Settings(_env_file=None), catalog=CATALOG)  # type: ignore[call-arg]
    try:
        observer = telemetry.observer_factory.create(
            session_info(SessionKind.REALTIME, "sess_live", "gpt-realtime-2"), T0
        )
        stats = SessionStats(started_at=T0, last_activity_at=T0)
        for step in relayed(voice_agent_script()[:12], SessionKind.REALTIME):  # through resp_1's response.done
            if not isinstance(step, Tick):
                await observer.on_event(step, stats)
        received = otlp_receiver.received
        assert received.wait_for(
            lambda r: any(span.name == "realtime.turn" for _, span in r.spans()),
            timeout=5,
        )
        assert not [
            span
            for _, span in received.spans()
            if span.name.startswith("realtime.session")
        ]
        await observer.on_end(VOICE_AGENT_END, stats)
    finally:
        telemetry.shutdown()
    assert [
        span
        for _, span in otlp_receiver.received.spans()
        if span.name.startswith("realtime.session")
    ]


_CHILD = """
import asyncio
from gateway.core.kinds import SessionKind
from gateway.settings import Settings
from gateway.telemetry import setup_telemetry
from tests.unit.telemetry.scripts import CATALOG, T0, VOICE_AGENT_END, drive, session_info, voice_agent_script

telemetry = setup_telemetry(Settings(), catalog=CATALOG)
asyncio.run(drive(telemetry.observer_factory, session_info(SessionKind.REALTIME, "sess_child", "gpt-realtime-2"),
                  T0, voice_agent_script(), VOICE_AGENT_END))
telemetry.shutdown()
"""


def test_subprocess_configured_only_by_env_exports(otlp_receiver: Receiver) -> None:
    """A separate process configured only by OTEL_* variables exports its spans, flushed at shutdown."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "VOICE_GATEWAY_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "vg-child",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    received = otlp_receiver.received
    assert {service for service, _ in received.spans()} == {"vg-child"}
    assert _tree(received) == EXPECTED_TREE


async def test_grpc_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends the same spans to an OTLP/gRPC receiver."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import (
        trace_service_pb2,
        trace_service_pb2_grpc,
    )

    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            with received.lock:
                received.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        _otlp_env(monkeypatch, f"http://127.0.0.1:{port}", protocol="grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
        telemetry = setup_telemetry(Settings(_env_file=None), catalog=CATALOG)  # type: ignore[call-arg]
        assert telemetry.plan.traces == ("otlp:grpc",)
        try:
            await drive(
                telemetry.observer_factory,
                session_info(SessionKind.REALTIME, "sess_grpc", "gpt-realtime-2"),
                T0,
                voice_agent_script(),
                VOICE_AGENT_END,
            )
        finally:
            telemetry.shutdown()
    finally:
        server.stop(grace=None)
    assert {service for service, _ in received.spans()} == {"vg-otlp-test"}
    assert _tree(received) == EXPECTED_TREE
