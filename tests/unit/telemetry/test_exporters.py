"""Exporter choice from the standard OTEL_* variables."""

from __future__ import annotations

import pytest

from gateway.telemetry.exporters import ExportPlan, plan_exporters


def test_no_endpoint_and_no_exporter_means_no_export() -> None:
    """Nothing configured → tracing works in-process but exports nothing."""
    assert plan_exporters({}) == ExportPlan(traces=(), metrics=())


def test_endpoint_defaults_to_otlp_http() -> None:
    """An OTLP endpoint alone exports traces and metrics over http/protobuf."""
    plan = plan_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"})
    assert plan == ExportPlan(
        traces=("otlp:http/protobuf",), metrics=("otlp:http/protobuf",)
    )


def test_protocol_per_signal_and_grpc() -> None:
    """OTEL_EXPORTER_OTLP_TRACES_PROTOCOL overrides the general protocol for traces only."""
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
    }
    assert plan_exporters(env) == ExportPlan(traces=("otlp:grpc",), metrics=())


def test_none_console_and_prometheus_values() -> None:
    """none disables, console prints, prometheus is implied by /metrics."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "prometheus,console",
    }
    assert plan_exporters(env) == ExportPlan(traces=(), metrics=("console",))
    assert plan_exporters({"OTEL_TRACES_EXPORTER": "console"}).traces == ("console",)


def test_explicit_otlp_without_endpoint_uses_sdk_default() -> None:
    """OTEL_TRACES_EXPORTER=otlp with no endpoint still builds the exporter (SDK default endpoint)."""
    assert plan_exporters({"OTEL_TRACES_EXPORTER": "otlp"}).traces == (
        "otlp:http/protobuf",
    )


def test_sdk_disabled_wins() -> None:
    """OTEL_SDK_DISABLED=true turns every exporter off."""
    assert plan_exporters(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}
    ) == ExportPlan((), ())


@pytest.mark.parametrize(
    "env",
    [
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        },
        {"OTEL_TRACES_EXPORTER": "zipkin"},
    ],
)
def test_unsupported_values_fail_at_start(env: dict[str, str]) -> None:
    """Unknown protocols or exporters fail at start-up, naming the bad value."""
    with pytest.raises(ValueError, match="unsupported"):
        plan_exporters(env)
