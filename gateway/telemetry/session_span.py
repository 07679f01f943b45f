"""The session span, recorded when the session ends: no SDK span object held for the session's life.

An OpenTelemetry SDK span keeps ~2.5 KiB while it is open (its attribute dict and lock, two bounded lists
of events and links, each a deque and a lock). A session span is open as long as the session, and most of
its content is known only at the end, so the session holds a :class:`DeferredSpan` instead: the span's
ids, flags and trace state are decided when the session starts, exactly as the SDK decides them (the
provider's id generator and sampler), so turn spans, log lines, the admin's trace links and a client's
``traceparent`` see the same ids from the start; what is set on it meanwhile (attributes, events with their
time, status, name) is kept in a list, usually empty. When it ends, the SDK span is started with the same
ids (:class:`PinnedIds` hands them to the SDK), start time and start attributes, the list is replayed in
order and the span ends at its end time: the exported span is the one the SDK would have recorded. A span
processor's ``on_start`` sees it when it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, DEFAULT_OFF, DEFAULT_ON, Sampler
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

#: what happened to an open deferred span, replayed in order on the SDK span at the end
_Op: TypeAlias = (
    tuple[Literal["attrs"], Mapping[str, types.AnyValue]]
    | tuple[Literal["event"], str, types.Attributes, int]
    | tuple[Literal["link"], SpanContext, types.Attributes]
    | tuple[Literal["status"], Status | StatusCode, str | None]
    | tuple[Literal["name"], str]
    | tuple[Literal["exception"], BaseException, types.Attributes, int, bool]
)


#: the SDK's own samplers that decide without reading a span's attributes (``OTEL_TRACES_SAMPLER`` unset, ``always_on``,
#: ``always_off``, ``parentbased_always_on/off``): the start attributes are not built for them
_ATTRIBUTE_BLIND: tuple[Sampler, ...] = (DEFAULT_ON, DEFAULT_OFF, ALWAYS_ON, ALWAYS_OFF)


def _reads_attributes(sampler: Sampler) -> bool:
    return not any(sampler is blind for blind in _ATTRIBUTE_BLIND)


class PinnedIds(IdGenerator):
    """Random ids (the SDK's default generator), except the ids pinned for the span started next on this
    thread: a deferred span's SDK span gets the ids chosen when the session started."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._pinned = threading.local()

    def pin(self, trace_id: int | None, span_id: int) -> None:
        """The next span started on this thread gets ``span_id`` (and ``trace_id`` if it is a root)."""
        self._pinned.trace_id, self._pinned.span_id = trace_id, span_id

    def unpin(self) -> None:
        self._pinned.trace_id = self._pinned.span_id = None

    def generate_span_id(self) -> int:
        span_id: int | None = getattr(self._pinned, "span_id", None)
        if span_id is None:
            return self._random.generate_span_id()
        self._pinned.span_id = None
        return span_id

    def generate_trace_id(self) -> int:
        trace_id: int | None = getattr(self._pinned, "trace_id", None)
        if trace_id is None:
            return self._random.generate_trace_id()
        self._pinned.trace_id = None
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True


def start_session_span(
    tracer: trace.Tracer,
    name: str,
    parent: Context | None,
    kind: SpanKind,
    attributes: Callable[[], Mapping[str, types.AnyValue]],
    start_time: int,
) -> Span:
    """The session span: deferred when ``tracer`` allows it, else the SDK's own span started now.

    ``attributes`` builds the start attributes; it is called now when the sampler may read them, and again at
    the end, so it must return the same mapping both times."""
    if not isinstance(tracer, SdkTracer) or not isinstance(tracer.id_generator, PinnedIds):
        return tracer.start_span(name, context=parent, kind=kind, attributes=attributes(), start_time=start_time)
    parent_context = trace.get_current_span(parent).get_span_context()
    root = not parent_context.is_valid
    trace_id = tracer.id_generator.generate_trace_id() if root else parent_context.trace_id
    span_id = tracer.id_generator.generate_span_id()
    sampler = tracer.sampler
    sampled = sampler.should_sample(parent, trace_id, name, kind, attributes() if _reads_attributes(sampler) else None, ())
    flags = TraceFlags.SAMPLED if sampled.decision.is_sampled() else TraceFlags.DEFAULT
    if tracer.id_generator.is_trace_id_random() if root else parent_context.trace_flags.random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags), trace_state=sampled.trace_state)
    if not sampled.decision.is_recording():
        return trace.NonRecordingSpan(context)
    return DeferredSpan(tracer, tracer.id_generator, context, root, name, parent, kind, attributes, start_time)


class DeferredSpan(Span):
    """A recorded span whose SDK span is made when it ends (see the module's docstring)."""

    def __init__(
        self,
        tracer: SdkTracer,
        ids: PinnedIds,
        context: SpanContext,
        root: bool,
        name: str,
        parent: Context | None,
        kind: SpanKind,
        attributes: Callable[[], Mapping[str, types.AnyValue]],
        start_time: int,
    ) -> None:
        self._tracer = tracer
        self._ids = ids
        self._context = context
        self._root = root
        self._name = name
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._start_time = start_time
        #: what was set on the open span, in order (``None`` until something is)
        self._ops: list[_Op] | None = None
        self._ended = False

    def _record(self, op: _Op) -> None:
        if self._ended:
            return  # as the SDK's span: changes after the end are ignored
        if self._ops is None:
            self._ops = []
        self._ops.append(op)

    # --- the Span API -----------------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        self._record(("attrs", dict(attributes)))

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        self._record(("attrs", {key: value}))

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        # the SDK stamps an event when it is added: so does this
        self._record(("event", name, dict(attributes) if attributes else None, time.time_ns() if timestamp is None else timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        self._record(("link", context, dict(attributes) if attributes else None))

    def update_name(self, name: str) -> None:
        self._record(("name", name))

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._record(("status", status, description))

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        stamp = time.time_ns() if timestamp is None else timestamp
        self._record(("exception", exception, dict(attributes) if attributes else None, stamp, escaped))

    def end(self, end_time: int | None = None) -> None:
        """Record the span now: the SDK span with the ids chosen at the start, what happened meanwhile, the end."""
        if self._ended:
            return
        end_time = time.time_ns() if end_time is None else end_time
        self._ended = True
        self._ids.pin(self._context.trace_id if self._root else None, self._context.span_id)
        try:
            span = self._tracer.start_span(
                self._name, context=self._parent, kind=self._kind, attributes=self._attributes(), start_time=self._start_time
            )
        finally:
            self._ids.unpin()
        for op in self._ops or ():
            _replay(span, op)
        self._ops = None
        span.end(end_time=end_time)


def _replay(span: Span, op: _Op) -> None:
    match op:
        case ("attrs", attributes):
            span.set_attributes(attributes)
        case ("event", name, attributes, timestamp):
            span.add_event(name, attributes, timestamp=timestamp)
        case ("link", context, attributes):
            span.add_link(context, attributes)
        case ("status", status, description):
            span.set_status(status, description)
        case ("name", name):
            span.update_name(name)
        case ("exception", exception, attributes, timestamp, escaped):
            span.record_exception(exception, attributes, timestamp, escaped)

