"""Creates the per-session telemetry observer: opens the session span, parented on the client's trace.

The session span is a :class:`gateway.telemetry.session_span.DeferredSpan` when the tracer allows it: its
ids are fixed now, the SDK span is recorded when the session ends."""

from __future__ import annotations

import logging

from functools import partial

from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from gateway.core.catalog import Catalog
from gateway.core.observers import SessionInfo
from gateway.telemetry import names as n
from gateway.telemetry.clock import SpanClock
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.observer import TelemetryObserver
from gateway.telemetry.pricing import CostLookup, SessionCost, resolve_model
from gateway.telemetry.scope import SessionScope
from gateway.telemetry.session_span import start_session_span

SESSION_LOGGER = "gateway.sessions"
_propagator = TraceContextTextMapPropagator()


class TelemetryObserverFactory:
    """Creates one :class:`TelemetryObserver` per session; registered once at start-up."""

    name = "telemetry"

    def __init__(
        self,
        tracer: Tracer,
        metrics: GatewayMetrics,
        *,
        catalog: Catalog | None = None,
        cost_of: CostLookup | None = None,
        trace_transcripts: bool = False,
    ) -> None:
        self._tracer = tracer
        self._metrics = metrics
        self._catalog = catalog
        self._cost_of = cost_of
        self._trace_transcripts = trace_transcripts
        self.live: dict[str, TelemetryObserver] = {}
        self._logger = logging.getLogger(SESSION_LOGGER)

    def create(self, info: SessionInfo, now: float) -> TelemetryObserver:
        clock = SpanClock(now)
        route = info.route
        spec = resolve_model(self._catalog, route.model)
        kind, endpoint = info.kind.value, info.endpoint.value  # an enum's ``value`` is a Python-level property
        metric_attrs = {
            "kind": kind,
            "endpoint": endpoint,
            "route": info.decision.rule_id,
            "model_family": spec.family if spec else route.model,
        }
        parent = (
            _propagator.extract({"traceparent": info.traceparent})
            if info.traceparent
            else None
        )
        span = start_session_span(
            self._tracer,
            f"{n.SESSION_SPAN} {kind}",
            parent,
            SpanKind.SERVER,
            partial(_start_attributes, info),  # made again when the span is recorded, not kept meanwhile
            clock.ns(now),
        )
        pricing = (
            spec.pricing
            if spec
            else (self._catalog.fallback_pricing if self._catalog else None)
        )
        scope = SessionScope(
            session_id=info.session_id,
            tracer=self._tracer,
            clock=clock,
            session_span=span,
            metrics=self._metrics,
            metric_attrs=metric_attrs,
            cost=SessionCost(info.session_id, pricing, self._cost_of),
            logger=self._logger,
            trace_transcripts=self._trace_transcripts,
            genai_attrs=_genai_attributes(info),
        )
        observer = TelemetryObserver(scope, info, now, self.live)
        self.live[info.session_id] = observer
        self._metrics.started.add(1, metric_attrs)
        self._metrics.active.add(1, {"kind": kind, "endpoint": endpoint})
        scope.log(
            "session started",
            span,
            kind=kind,
            endpoint=endpoint,
            model=route.model,
            requested_model=info.requested_model,
            upstream=info.upstream,
            tenant=info.tenant,
            key_id=info.key_id,
            route_reason=info.decision.reason,
        )
        return observer


def _genai_attributes(info: SessionInfo) -> dict[str, AttributeValue]:
    """The GenAI attributes a session starts with (the response model is added when upstream reports it)."""
    return {
        n.GEN_AI_SYSTEM: n.PROVIDER_OPENAI,
        n.GEN_AI_PROVIDER: n.PROVIDER_OPENAI,
        n.GEN_AI_REQUEST_MODEL: info.route.model,
    }


def _start_attributes(info: SessionInfo) -> dict[str, AttributeValue]:
    """The session span's attributes at its start (``info`` is frozen: the same every time)."""
    return {**_genai_attributes(info), **_session_attributes(info)}


def _session_attributes(info: SessionInfo) -> dict[str, AttributeValue]:
    """Who and what the session is; never a key, only the non-secret key id."""
    attrs: dict[str, AttributeValue] = {
        n.SESSION_ID: info.session_id,
        n.SESSION_KIND: info.kind.value,
        n.ENDPOINT: info.endpoint.value,
        n.DIALECT: info.dialect.value,
        n.ROUTE_RULE_ID: info.decision.rule_id,
        n.ROUTE_REASON: info.decision.reason,
        n.ROUTE_NAME: info.route.name or info.decision.rule_id,
    }
    optional = {
        n.TENANT: info.tenant,
        n.KEY_ID: info.key_id,
        n.CLIENT_REQUESTED_MODEL: info.requested_model,
        n.UPSTREAM_ENDPOINT: info.upstream,
        "client.address": info.client_address,
    }
    attrs.update({key: value for key, value in optional.items() if value})
    for key, value in info.labels.items():
        attrs[n.LABEL_PREFIX + key] = value
    return attrs
