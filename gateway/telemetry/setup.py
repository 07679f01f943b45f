"""Build the gateway's telemetry once at start-up: providers, exporters, metrics, observer factory.

Each :class:`Telemetry` owns its own ``TracerProvider`` and ``MeterProvider`` and its own
Prometheus registry; nothing is installed globally, so tests and several apps in one process
never collide. ``shutdown()`` flushes pending spans (the ``BatchSpanProcessor`` honours
``OTEL_BSP_SCHEDULE_DELAY``) and metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    make_asgi_app,
)

from gateway.core.catalog import Catalog
from gateway.core.kinds import Direction
from gateway.telemetry.config import TelemetrySettings as Settings
from gateway.telemetry.exporters import (
    METRIC_EXPORTERS,
    SPAN_EXPORTERS,
    ExportPlan,
    plan_exporters,
)
from gateway.telemetry.factory import TelemetryObserverFactory
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.pricing import CostLookup
from gateway.telemetry.session_span import PinnedIds

DEFAULT_SERVICE_NAME = "voice-gateway"
INSTRUMENTATION_NAME = "voice_gateway"
_log = logging.getLogger(__name__)
_DELAY_ATTRS = {direction: {"direction": direction.value} for direction in Direction}
_NO_ATTRS: dict[str, str] = {}


def _version() -> str:
    try:
        return metadata.version("voice-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def build_resource() -> Resource:
    """Resource from ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, defaulting the name to voice-gateway."""
    resource = Resource.create({SERVICE_VERSION: _version()})
    name = str(resource.attributes.get(SERVICE_NAME, ""))
    if not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


@dataclass
class Telemetry:
    """The handle the composition root keeps: factory, hooks, ``/metrics``, shutdown."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metrics: GatewayMetrics
    observer_factory: TelemetryObserverFactory
    registry: CollectorRegistry
    plan: ExportPlan
    _closed: bool = field(default=False, repr=False)

    # --- /metrics ------------------------------------------------------------------------
    def render_metrics(self) -> tuple[bytes, str]:
        """The Prometheus exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    @property
    def metrics_app(self) -> object:
        """An ASGI app serving ``/metrics`` (mount it on the FastAPI app)."""
        return make_asgi_app(self.registry)

    # --- hooks for what the relay does not see -----------------------------------------------
    def trace_id_of(self, session_id: str) -> str | None:
        """The trace id (32 hex digits) of a live session, for links to Jaeger."""
        observer = self.observer_factory.live.get(session_id)
        if observer is None:
            return None
        context = observer.scope.session_span.get_span_context()
        return format(context.trace_id, "032x") if context.is_valid else None

    def turn_span_ids_of(self, session_id: str) -> dict[int, str]:
        """A live voice-agent session's turn span ids by turn number (same trace as the session), for links to Jaeger."""
        observer = self.observer_factory.live.get(session_id)
        return observer.turn_span_ids() if observer is not None else {}

    def record_relay_delay(
        self, seconds: float, direction: Direction | None = None
    ) -> None:
        """Delay the gateway added to one frame; the relay samples at most once a second per session."""
        self.metrics.relay_delay.record(
            seconds, _DELAY_ATTRS[direction] if direction else _NO_ATTRS
        )

    def record_policy_reload(self, ok: bool, *, version: str | None = None) -> None:
        """A policy reload happened (``ok=False``: rejected, last good kept); live sessions get an event."""
        self.metrics.policy_reloads.add(1, {"outcome": "ok" if ok else "failed"})
        for observer in list(self.observer_factory.live.values()):
            observer.policy_reload(ok, version)

    def record_upstream_connect_failure(self, upstream: str, reason: str) -> None:
        """Connecting to an upstream endpoint failed (``reason``: an error code, not a message)."""
        self.metrics.upstream_connect_failures.add(
            1, {"upstream": upstream, "reason": reason}
        )

    def record_admission_refused(
        self, reason: str, *, endpoint: str | None = None
    ) -> None:
        """A session was refused before it started (auth, budget, concurrency, policy deny…)."""
        attrs = {"reason": reason}
        if endpoint:
            attrs["endpoint"] = endpoint
        self.metrics.admission_refusals.add(1, attrs)

    def record_cap_warning(self, session_id: str, cap: str, used_ratio: float) -> None:
        """A cap warning was sent to the client: count it and mark the session span."""
        observer = self.observer_factory.live.get(session_id)
        attrs = dict(observer.scope.metric_attrs) if observer else {}
        self.metrics.cap_warnings.add(1, {**attrs, "cap": cap})
        if observer is not None:
            observer.cap_warning(cap, used_ratio)

    def record_cap_cutoff(self, session_id: str, cap: str) -> None:
        """A cap cut a session off (counted once per session, even if its end says so too)."""
        observer = self.observer_factory.live.get(session_id)
        if observer is None:
            self.metrics.cap_cutoffs.add(1, {"cap": cap})
        elif observer.cap_cutoff(cap):
            self.metrics.cap_cutoffs.add(1, {**observer.scope.metric_attrs, "cap": cap})

    # --- lifecycle -----------------------------------------------------------------------------
    def force_flush(self, timeout_millis: int = 5_000) -> bool:
        """Export everything pending now."""
        spans = self.tracer_provider.force_flush(timeout_millis)
        metrics = self.meter_provider.force_flush(timeout_millis)
        return bool(spans and metrics)

    def shutdown(self) -> None:
        """Flush and stop exporters; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.tracer_provider.shutdown()
        finally:
            self.meter_provider.shutdown()


def setup_telemetry(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    cost_of: CostLookup | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Create providers and exporters from the process's ``OTEL_*`` variables (the SDK reads them too)."""
    plan = plan_exporters(os.environ)
    resource = build_resource()
    # With no trace exporter and no span processor a recorded span goes nowhere: record none (each session's
    # span, its attributes and events cost set-up time and ~2.5 KiB per open session); spans still carry ids
    # (a client's traceparent is kept), so logs and the admin's trace links read the same.
    recorded = bool(plan.traces or span_processors)
    # PinnedIds: a session span is recorded when the session ends, with the ids it was given at its start
    ids = PinnedIds()
    tracer_provider = (
        TracerProvider(resource=resource, id_generator=ids)
        if recorded
        else TracerProvider(resource=resource, sampler=ALWAYS_OFF, id_generator=ids)
    )
    for key in plan.traces:
        tracer_provider.add_span_processor(BatchSpanProcessor(SPAN_EXPORTERS[key]()))
    for processor in span_processors:
        tracer_provider.add_span_processor(processor)
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [
        PrometheusMetricReader(registry=registry, scope_info_enabled=False)
    ]
    readers += [
        PeriodicExportingMetricReader(METRIC_EXPORTERS[key]()) for key in plan.metrics
    ]
    readers += list(metric_readers)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics = GatewayMetrics(meter_provider.get_meter(INSTRUMENTATION_NAME, _version()))
    factory = TelemetryObserverFactory(
        tracer_provider.get_tracer(INSTRUMENTATION_NAME, _version()),
        metrics,
        catalog=catalog,
        cost_of=cost_of,
        trace_transcripts=settings.trace_transcripts,
    )
    _log.info(
        "telemetry ready",
        extra={
            "trace_exporters": list(plan.traces),
            "metric_exporters": list(plan.metrics),
        },
    )
    return Telemetry(tracer_provider, meter_provider, metrics, factory, registry, plan)
