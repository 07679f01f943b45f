"""What the per-session trackers share: tracer, clock, session span, metrics, pricing, logger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from gateway.telemetry.clock import SpanClock
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.pricing import SessionCost

Attributes = Mapping[str, AttributeValue]


@dataclass(slots=True)
class SessionScope:
    """One session's telemetry context, handed to each tracker."""

    session_id: str
    tracer: Tracer
    clock: SpanClock
    session_span: Span
    metrics: GatewayMetrics
    #: low-cardinality metric attributes (kind, endpoint, route, model_family)
    metric_attrs: Mapping[str, str]
    cost: SessionCost
    logger: logging.Logger
    trace_transcripts: bool
    #: GenAI attributes every inference span carries (provider, request model, response model)
    genai_attrs: dict[str, AttributeValue]

    def start_child(
        self,
        name: str,
        at: float,
        attributes: Attributes,
        parent: Span | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        """Start a span under ``parent`` (default: the session span) at monotonic time ``at``."""
        context = trace.set_span_in_context(parent or self.session_span)
        return self.tracer.start_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            start_time=self.clock.ns(at),
        )

    def end(self, span: Span, at: float) -> None:
        """End a span at monotonic time ``at``."""
        span.end(end_time=self.clock.ns(at))

    def log(self, msg: str, span: Span, **fields: object) -> None:
        """One structured log line tied to a span (trace and span ids added; nothing gathered when INFO is off)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        context = span.get_span_context()
        extra: dict[str, object] = {
            "session_id": self.session_id,
            "trace_id": trace.format_trace_id(context.trace_id),
            "span_id": trace.format_span_id(context.span_id),
            "route": self.metric_attrs.get("route"),
        }
        extra.update(fields)
        self.logger.info(msg, extra=extra)
