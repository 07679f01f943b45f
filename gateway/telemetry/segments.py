"""Translation segments: the protocol has no per-utterance events, so segments are inferred.

The relay emits ``TranslationOutput`` at the first translated output after input resumed;
each one opens a ``translation.segment`` span. A segment ends at the last moment upstream
output was still flowing, once it has been quiet for ``quiet_s`` (seen on ticks), or when the
next segment starts, or at session end. Latency from audio to output uses ``elapsed_ms``
(the position in the source audio the output aligns to): the tick-sampled timeline of
input audio tells when the client had sent that much audio, interpolated between ticks; the
segment span starts there, so its first-output event sits ``latency_ms`` after its start.
"""

from __future__ import annotations

from collections import deque

from opentelemetry.trace import Span

from gateway.core.money import audio_ms
from gateway.core.observers import SessionStats, TranslationOutput
from gateway.telemetry import names as n
from gateway.telemetry.clock import ms_between
from gateway.telemetry.scope import SessionScope

#: output silent this long closes the open segment
DEFAULT_QUIET_S = 1.0
#: how much input timeline to keep for latency lookups
_TIMELINE_S = 120.0


class InputTimeline:
    """(monotonic time, cumulative input audio ms) samples, taken on ticks when the count moved."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, input_ms: int) -> None:
        if self._samples and self._samples[-1][1] == input_ms:
            return
        self._samples.append((now, input_ms))
        while self._samples and now - self._samples[0][0] > _TIMELINE_S:
            self._samples.popleft()

    def time_of(self, position_ms: int) -> float | None:
        """When the input reached ``position_ms`` of audio (``None`` if outside the kept window)."""
        previous: tuple[float, int] | None = None
        for at, total in self._samples:
            if total >= position_ms:
                if previous is None:
                    return at if position_ms == total else None
                t0, m0 = previous
                return t0 + (at - t0) * (position_ms - m0) / (total - m0)
            previous = (at, total)
        return None


class SegmentTracker:
    """Translation segment spans of one session."""

    def __init__(
        self, scope: SessionScope, started_at: float, quiet_s: float = DEFAULT_QUIET_S
    ) -> None:
        self._scope = scope
        self._quiet_s = quiet_s
        self._timeline = InputTimeline()
        self._timeline.sample(started_at, 0)
        self._latency: int | None = None
        self._span: Span | None = None
        self._opened_at = 0.0
        self._last_output_bytes = 0
        self._last_output_at: float | None = None
        self.count = 0

    def tick(self, now: float, stats: SessionStats) -> None:
        """Sample input progress and output flow; close a segment whose output went quiet."""
        self._timeline.sample(now, audio_ms(stats.audio_in_bytes, stats.input_format))
        if stats.bytes_from_upstream != self._last_output_bytes:
            self._last_output_bytes = stats.bytes_from_upstream
            self._last_output_at = now
        elif (
            self._span is not None
            and self._last_output_at is not None
            and now - self._last_output_at >= self._quiet_s
        ):
            self._close(self._last_output_at)

    def output(self, ev: TranslationOutput, stats: SessionStats) -> None:
        if self._span is not None:
            self._close(min(ev.at, self._last_output_at or ev.at))
        self._timeline.sample(ev.at, audio_ms(stats.audio_in_bytes, stats.input_format))
        source_at = (
            self._timeline.time_of(ev.elapsed_ms) if ev.elapsed_ms is not None else None
        )
        latency = ms_between(source_at, ev.at)
        start = source_at if latency is not None and source_at is not None else ev.at
        self.count += 1
        attrs = dict(self._scope.genai_attrs)
        attrs.update(
            {
                n.GEN_AI_OPERATION: "translation",
                n.SESSION_ID: self._scope.session_id,
                n.SEGMENT_NUMBER: self.count,
            }
        )
        if ev.elapsed_ms is not None:
            attrs[n.SEGMENT_ELAPSED_MS] = ev.elapsed_ms
        if latency is not None:
            attrs[n.SEGMENT_LATENCY_MS] = latency
            self._scope.metrics.translation_latency.record(
                latency / 1000, self._scope.metric_attrs
            )
        self._span = self._scope.start_child(n.SEGMENT_SPAN, start, attrs)
        self._span.add_event(n.EV_FIRST_OUTPUT, timestamp=self._scope.clock.ns(ev.at))
        self._opened_at = ev.at
        self._latency = latency
        self._last_output_bytes = stats.bytes_from_upstream
        self._last_output_at = ev.at

    def close(self, at: float) -> None:
        """Session over: end the open segment at its last output."""
        if self._span is not None:
            self._close(min(at, self._last_output_at or at))

    def _close(self, at: float) -> None:
        span = self._span
        if span is None:
            return
        self._span = None
        end = max(at, self._opened_at)
        self._scope.end(span, end)
        self._scope.log(
            "segment translated",
            span,
            turn_id=self.count,
            timings={
                "duration_ms": ms_between(self._opened_at, end),
                "latency_ms": self._latency,
            },
        )
