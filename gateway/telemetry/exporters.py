"""Exporters chosen from the standard ``OTEL_*`` variables, by string key from a registry.

Which exporters run is decided here (``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``,
``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_PROTOCOL``, whether an OTLP endpoint is set); how
they connect (endpoint, headers, timeout, compression, TLS) the OTel SDK reads from the same
variables itself. With no exporter variable and no endpoint set, nothing is exported: spans
are still created (and visible to in-process processors), metrics still serve ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_PROTOCOL = "http/protobuf"
PROTOCOLS = ("grpc", "http/protobuf")


def _otlp_http_spans() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_grpc_spans() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _console_spans() -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def _otlp_http_metrics() -> MetricExporter:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter,
    )

    return OTLPMetricExporter()


def _otlp_grpc_metrics() -> MetricExporter:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter,
    )

    return OTLPMetricExporter()


def _console_metrics() -> MetricExporter:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    return ConsoleMetricExporter()


SPAN_EXPORTERS: dict[str, Callable[[], SpanExporter]] = {
    "otlp:http/protobuf": _otlp_http_spans,
    "otlp:grpc": _otlp_grpc_spans,
    "console": _console_spans,
}
METRIC_EXPORTERS: dict[str, Callable[[], MetricExporter]] = {
    "otlp:http/protobuf": _otlp_http_metrics,
    "otlp:grpc": _otlp_grpc_metrics,
    "console": _console_metrics,
}


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """Registry keys of the exporters to build, decided once at start-up."""

    traces: tuple[str, ...]
    metrics: tuple[str, ...]


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "true"


def _protocol(env: Mapping[str, str], signal: str) -> str:
    value = (
        env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or ""
    ).strip()
    protocol = value or DEFAULT_PROTOCOL
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unsupported OTLP protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}"
        )
    return protocol


def _keys(
    env: Mapping[str, str], signal: str, ignored: frozenset[str]
) -> tuple[str, ...]:
    """Registry keys for one signal (``TRACES`` or ``METRICS``)."""
    raw = env.get(f"OTEL_{signal}_EXPORTER")
    endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    names = (
        [name.strip().lower() for name in raw.split(",") if name.strip()]
        if raw
        else (["otlp"] if endpoint else [])
    )
    keys: list[str] = []
    for name in names:
        if name == "none" or name in ignored:
            continue
        key = f"otlp:{_protocol(env, signal)}" if name == "otlp" else name
        registry = SPAN_EXPORTERS if signal == "TRACES" else METRIC_EXPORTERS
        if key not in registry:
            raise ValueError(f"unsupported OTEL_{signal}_EXPORTER value {name!r}")
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def plan_exporters(env: Mapping[str, str]) -> ExportPlan:
    """Decide the exporters from an environment mapping; raises ``ValueError`` on unknown values."""
    if _flag(env, "OTEL_SDK_DISABLED"):
        return ExportPlan(traces=(), metrics=())
    # Prometheus is always served on /metrics, so naming it in OTEL_METRICS_EXPORTER adds nothing
    return ExportPlan(
        traces=_keys(env, "TRACES", frozenset()),
        metrics=_keys(env, "METRICS", frozenset({"prometheus"})),
    )
