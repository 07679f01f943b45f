"""The deferred session span: ids fixed at the start, the SDK span recorded at the end, exported as the SDK would."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util import types

from gateway.telemetry.session_span import DeferredSpan, PinnedIds, start_session_span

T0 = 1_700_000_000_000_000_000
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def _attributes() -> Mapping[str, types.AnyValue]:
    return {"session.id": "s1", "gen_ai.request.model": "gpt-realtime", "n": 3}


def _provider(**kwargs: object) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=PinnedIds(), **kwargs)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


class _Started(SpanProcessor):
    """Names of the spans the SDK started, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        self.names.append(span.name)


def _use(span: Span) -> None:
    """The same life for a span: attributes, timed events, a status, a rename, then its end."""
    span.set_attribute("gen_ai.response.model", "gpt-realtime-2025")
    span.add_event("upstream_ready", {"a": 1}, timestamp=T0 + 5)
    span.set_attributes({"end.reason": "client_closed", "n": 4})
    span.add_event("cap_warning", timestamp=T0 + 7)
    span.set_status(Status(StatusCode.ERROR, "boom"))
    span.update_name("voice_gateway.session realtime")
    span.end(end_time=T0 + 9)


def _exported(span: ReadableSpan) -> tuple[object, ...]:
    return (
        span.name, span.kind, span.start_time, span.end_time, dict(span.attributes or {}),
        [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events],
        span.status.status_code, span.status.description, span.parent, span.resource, span.instrumentation_scope,
        span.dropped_attributes, span.dropped_events,
    )


def test_exported_span_is_what_the_sdk_records() -> None:
    """A deferred span exports the same name, kind, times, attributes, events and status as an SDK span given the same life."""
    tracer, exporter = _provider()
    _use(tracer.start_span("voice_gateway.session", kind=SpanKind.SERVER, attributes=_attributes(), start_time=T0))
    deferred = start_session_span(tracer, "voice_gateway.session", None, SpanKind.SERVER, _attributes, T0)
    assert isinstance(deferred, DeferredSpan)
    _use(deferred)
    sdk_span, recorded = exporter.get_finished_spans()
    assert _exported(recorded) == _exported(sdk_span)
    assert recorded.context == deferred.get_span_context()


def test_nothing_is_recorded_until_the_end_and_ids_are_fixed_at_the_start() -> None:
    """Before its end no SDK span exists; children started meanwhile are parented on the ids the exported span gets."""
    exporter = InMemorySpanExporter()
    started = _Started()
    provider = TracerProvider(id_generator=PinnedIds())
    provider.add_span_processor(started)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    session = start_session_span(tracer, "voice_gateway.session", None, SpanKind.SERVER, _attributes, T0)
    assert started.names == []
    context = session.get_span_context()
    assert context.is_valid and context.trace_flags.sampled and session.is_recording()
    child = tracer.start_span("turn", context=trace.set_span_in_context(session), start_time=T0 + 1)
    child.end(end_time=T0 + 2)
    (turn,) = exporter.get_finished_spans()
    assert started.names == ["turn"]
    session.add_event("untimed")
    before_end = time.time_ns()
    session.end(end_time=T0 + 3)
    _, recorded = exporter.get_finished_spans()
    assert turn.parent is not None and turn.parent.span_id == context.span_id and turn.context.trace_id == context.trace_id
    assert recorded.context.span_id == context.span_id and recorded.context.trace_id == context.trace_id
    assert recorded.parent is None and recorded.context.trace_flags == context.trace_flags
    (event,) = recorded.events
    assert event.timestamp <= before_end  # stamped when it was added, as the SDK does, not at the end
    assert not session.is_recording()


def test_client_traceparent_is_the_parent() -> None:
    """With a sampled client traceparent the session span joins the client's trace under the client's span."""
    tracer, exporter = _provider()
    parent = TraceContextTextMapPropagator().extract({"traceparent": PARENT})
    session = start_session_span(tracer, "voice_gateway.session", parent, SpanKind.SERVER, _attributes, T0)
    assert format(session.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    session.end(end_time=T0 + 1)
    (recorded,) = exporter.get_finished_spans()
    assert recorded.parent is not None and format(recorded.parent.span_id, "016x") == "b7ad6b7169203331"
    assert recorded.context.span_id == session.get_span_context().span_id


def test_sampler_decides_at_the_start() -> None:
    """An unsampled parent, a sampler that drops everything, or a ratio sampler's no: a non-recording span, nothing exported."""
    for kwargs, traceparent in (({}, UNSAMPLED_PARENT), ({"sampler": ALWAYS_OFF}, None), ({"sampler": TraceIdRatioBased(0.0)}, None)):
        tracer, exporter = _provider(**kwargs)
        parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
        session = start_session_span(tracer, "voice_gateway.session", parent, SpanKind.SERVER, _attributes, T0)
        assert not isinstance(session, DeferredSpan) and not session.is_recording()
        assert session.get_span_context().is_valid and not session.get_span_context().trace_flags.sampled
        session.end(end_time=T0 + 1)
        assert exporter.get_finished_spans() == ()


class _ByAttribute(Sampler):
    """Samples a span whose ``n`` attribute is 3; remembers the attributes it was shown."""

    def __init__(self) -> None:
        self.seen: list[types.Attributes] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: object = None,
    ) -> SamplingResult:
        self.seen.append(attributes)
        return SamplingResult(Decision.RECORD_AND_SAMPLE if (attributes or {}).get("n") == 3 else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "by-attribute"


def test_a_sampler_of_its_own_sees_the_start_attributes() -> None:
    """A configured sampler that reads attributes decides on the start attributes; the SDK's default reads none, so
    they are made only when the span is recorded."""
    sampler = _ByAttribute()
    tracer, exporter = _provider(sampler=sampler)
    session = start_session_span(tracer, "voice_gateway.session", None, SpanKind.SERVER, _attributes, T0)
    assert isinstance(session, DeferredSpan) and sampler.seen[0] == _attributes()
    made: list[int] = []

    def counted() -> Mapping[str, types.AnyValue]:
        made.append(1)
        return _attributes()

    tracer, exporter = _provider()
    session = start_session_span(tracer, "voice_gateway.session", None, SpanKind.SERVER, counted, T0)
    assert isinstance(session, DeferredSpan) and made == []
    session.end(end_time=T0 + 1)
    (recorded,) = exporter.get_finished_spans()
    assert made == [1] and dict(recorded.attributes or {}) == _attributes()


def test_changes_after_the_end_are_ignored_and_it_is_recorded_once() -> None:
    """As an SDK span: a second end records nothing, attributes and events after the end are dropped."""
    tracer, exporter = _provider()
    session = start_session_span(tracer, "voice_gateway.session", None, SpanKind.SERVER, _attributes, T0)
    session.end(end_time=T0 + 1)
    session.set_attribute("late", True)
    session.add_event("late", timestamp=T0 + 2)
    session.end(end_time=T0 + 3)
    (recorded,) = exporter.get_finished_spans()
    assert recorded.end_time == T0 + 1 and "late" not in (recorded.attributes or {}) and not recorded.events


def test_a_tracer_without_pinned_ids_gets_an_sdk_span_at_once() -> None:
    """A tracer whose provider does not pin ids gets the SDK's span, started when the session starts."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    session = start_session_span(provider.get_tracer("t"), "voice_gateway.session", None, SpanKind.SERVER, _attributes, T0)
    assert not isinstance(session, DeferredSpan) and session.is_recording()
    session.end(end_time=T0 + 1)
    assert len(exporter.get_finished_spans()) == 1


def test_pinned_ids_are_handed_out_once() -> None:
    """PinnedIds returns the pinned ids to the next span only, random ones otherwise (and after unpin)."""
    ids = PinnedIds()
    ids.pin(7, 9)
    assert (ids.generate_trace_id(), ids.generate_span_id()) == (7, 9)
    assert ids.generate_span_id() not in (0, 9) and ids.generate_trace_id() not in (0, 7)
    ids.pin(None, 11)
    ids.unpin()
    assert ids.generate_span_id() != 11 and ids.is_trace_id_random()
