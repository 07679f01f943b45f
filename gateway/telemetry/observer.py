"""The telemetry observer: one session span, its turn/utterance/segment children, metrics, logs.

It only ever sees session events and ticks (never frames), answers ``None`` to every hook and
swallows its own failures: telemetry can never end or slow a session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeAlias

from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from gateway.core.errors import (
    BudgetCapReached,
    CostCapReached,
    Draining,
    DurationCapReached,
    IdleTimeout,
)
from gateway.core.kinds import SessionKind
from gateway.core.money import audio_ms
from gateway.core.observers import (
    ClientNotified,
    ErrorSeen,
    GatewayFillerRequested,
    HandedOff,
    InputCommitted,
    SessionEnded,
    SessionEvent,
    SessionInfo,
    SessionStats,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    TickBound,
    TranslationOutput,
    UpstreamReady,
    before,
)
from gateway.core.turn_events import is_turn_event
from gateway.telemetry import names as n
from gateway.telemetry.scope import SessionScope
from gateway.telemetry.segments import SegmentTracker
from gateway.telemetry.turns import TurnSpans
from gateway.telemetry.utterances import UtteranceTracker

_log = logging.getLogger(__name__)
#: error codes that end a session by design, not by failure (no ERROR status on the span)
CAP_CODES = frozenset(
    c.code for c in (CostCapReached, DurationCapReached, IdleTimeout, BudgetCapReached)
)
_EXPECTED_CODES = CAP_CODES | {Draining.code}
#: counters are folded into metrics at most this often per session
METRICS_FLUSH_S = 1.0
#: relay counters at a flush: frames and bytes from the client and from upstream, audio bytes in and out
_Counters: TypeAlias = tuple[int, int, int, int, int, int]
_NOTHING_FLUSHED: _Counters = (0, 0, 0, 0, 0, 0)


class TelemetryObserver:
    """Per-session spans, metrics and log lines.

    An open session holds one per session: its trackers are made when the first event needing them arrives."""

    __slots__ = (
        "_scope", "_info", "_live", "_turns", "_utterances", "_segments", "_started_at", "_last_flush", "_flushed",
        "_cost_reported", "_cutoff_counted", "_ended",
    )

    def __init__(
        self,
        scope: SessionScope,
        info: SessionInfo,
        now: float,
        live: dict[str, TelemetryObserver],
    ) -> None:
        self._scope = scope
        self._info = info
        self._live = live
        #: turn spans (a voice-agent session's), made at the first turn or utterance
        self._turns: TurnSpans | None = None
        #: utterance spans, made at the first utterance event
        self._utterances: UtteranceTracker | None = None
        self._segments = (
            SegmentTracker(scope, now) if info.kind is SessionKind.TRANSLATION else None
        )
        self._started_at = now
        self._last_flush = now
        #: the relay counters at the last flush (:data:`_NOTHING_FLUSHED` until the first)
        self._flushed: _Counters = _NOTHING_FLUSHED
        self._cost_reported = 0
        self._cutoff_counted = False
        self._ended = False

    @property
    def scope(self) -> SessionScope:
        return self._scope

    #: (a DirectObserver: its hooks never wait) every tick may flush metrics or end a segment
    ticks = True

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> None:
        self.event_now(event, stats)

    async def on_tick(self, now: float, stats: SessionStats) -> None:
        self.tick_now(now, stats)

    def event_now(self, event: SessionEvent, stats: SessionStats) -> None:
        try:
            self._dispatch(event, stats)
        except Exception:  # noqa: BLE001 - telemetry must never break a session
            _log.warning(
                "telemetry observer failed on %s", type(event).__name__, exc_info=True
            )

    def tick_now(self, now: float, stats: SessionStats) -> None:
        try:
            if self._segments is not None:
                self._segments.tick(now, stats)
            if now - self._last_flush >= METRICS_FLUSH_S:
                self._last_flush = now
                self._flush(stats)
        except Exception:  # noqa: BLE001 - telemetry must never break a session
            _log.warning("telemetry observer failed on tick", exc_info=True)

    def next_tick(self, now: float, stats: SessionStats) -> TickBound | None:
        """(After a tick) when :meth:`tick_now` next folds the metrics; ``None`` (every tick) while a translation
        session's segments sample each tick."""
        if self._segments is not None:
            return None
        return TickBound(before(self._last_flush + METRICS_FLUSH_S))

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        if self._ended:
            return
        self._ended = True
        self._live.pop(self._info.session_id, None)
        try:
            self._close_trackers(ended.at)
            self._flush(stats)
            self._record_end(ended, stats)
        except Exception:  # noqa: BLE001 - telemetry must never break a session
            _log.warning("telemetry observer failed at session end", exc_info=True)
        finally:
            self._scope.end(self._scope.session_span, ended.at)

    # --- out-of-band hooks (called through Telemetry) -------------------------------------
    def turn_span_ids(self) -> dict[int, str]:
        """The voice-agent turn spans' ids by turn number (empty for other kinds)."""
        return self._turns.span_ids() if self._turns is not None else {}

    def cap_warning(self, cap: str, used_ratio: float) -> None:
        self._scope.session_span.add_event(
            n.EV_CAP_WARNING, {n.CAP: cap, n.CAP_RATIO: used_ratio}
        )

    def cap_cutoff(self, cap: str) -> bool:
        """Mark the cut-off on the span; True the first time (so the metric counts it once)."""
        self._scope.session_span.add_event(n.EV_CAP_CUTOFF, {n.CAP: cap})
        first = not self._cutoff_counted
        self._cutoff_counted = True
        return first

    def policy_reload(self, ok: bool, version: str | None) -> None:
        attrs: dict[str, AttributeValue] = {n.POLICY_OK: ok}
        if version:
            attrs[n.POLICY_VERSION] = version
        self._scope.session_span.add_event(n.EV_POLICY_RELOAD, attrs)

    # --- internals --------------------------------------------------------------------------
    def _dispatch(self, event: SessionEvent, stats: SessionStats) -> None:
        if is_turn_event(event):
            self._turn_spans().on_turn_event(event)
            return
        match event:
            case SpeechStarted():
                self._utterance_tracker().input_seen(event.item_id, event.at, input_end=False)
            case SpeechStopped() | InputCommitted():
                self._utterance_tracker().input_seen(event.item_id, event.at, input_end=True)
            case GatewayFillerRequested():
                self._scope.metrics.gateway_tool_fillers.add(1, self._scope.metric_attrs)
            case TranscriptionDelta():
                self._utterance_tracker().delta(event)
            case TranscriptionCompleted():
                self._utterance_tracker().completed(event)
            case TranslationOutput():
                if self._segments is None:
                    self._segments = SegmentTracker(self._scope, self._started_at)
                self._segments.output(event, stats)
            case UpstreamReady():
                self._upstream_ready(event)
            case ErrorSeen():
                self._error(event)
            case ClientNotified():
                self._notified(event)
            case HandedOff():
                self._handed_off(event)

    def _handed_off(self, event: HandedOff) -> None:
        """One session span across models: a ``handoff`` span event, and the model serving from now on."""
        span = self._scope.session_span
        attrs: dict[str, AttributeValue] = {
            n.HANDOFF_FROM_ROUTE: event.from_route,
            n.HANDOFF_TO_ROUTE: event.to_route,
            n.HANDOFF_FROM_MODEL: event.from_model,
            n.HANDOFF_TRIGGER: event.trigger,
            n.HANDOFF_OK: event.ok,
        }
        if event.ok:
            attrs[n.HANDOFF_TO_MODEL] = event.to_model
            if event.to_kind is not None:
                attrs[n.HANDOFF_TO_KIND] = event.to_kind.value
            self._scope.genai_attrs[n.GEN_AI_RESPONSE_MODEL] = event.to_model
            span.set_attribute(n.GEN_AI_RESPONSE_MODEL, event.to_model)
        span.add_event(n.EV_HANDOFF, attrs, timestamp=self._scope.clock.ns(event.at))

    def _notified(self, event: ClientNotified) -> None:
        """Cap warnings the accounting observer had the relay send: a span event and a metric."""
        if event.event.get("type") != "gateway.cap_warning":
            return
        cap = str(event.event.get("cap", "unknown"))
        ratio = event.event.get("ratio")
        self.cap_warning(cap, float(ratio) if isinstance(ratio, (int, float)) else 0.0)
        self._scope.metrics.cap_warnings.add(1, {**self._scope.metric_attrs, "cap": cap})

    def _turn_spans(self) -> TurnSpans:
        if self._turns is None:
            self._turns = TurnSpans(self._scope)
        return self._turns

    def _utterance_tracker(self) -> UtteranceTracker:
        """The utterance tracker; a voice-agent session's parents utterances on its turns."""
        if self._utterances is None:
            kind = self._info.kind
            turns = self._turn_spans() if kind is SessionKind.REALTIME else None
            self._utterances = UtteranceTracker(self._scope, turns, report_unfinished=kind is SessionKind.TRANSCRIPTION)
        return self._utterances

    def _upstream_ready(self, event: UpstreamReady) -> None:
        span = self._scope.session_span
        attrs: dict[str, AttributeValue] = {}
        if event.served_model:
            self._scope.genai_attrs[n.GEN_AI_RESPONSE_MODEL] = event.served_model
            span.set_attribute(n.GEN_AI_RESPONSE_MODEL, event.served_model)
            attrs[n.GEN_AI_RESPONSE_MODEL] = event.served_model
        span.add_event(
            n.EV_UPSTREAM_READY, attrs, timestamp=self._scope.clock.ns(event.at)
        )

    def _error(self, event: ErrorSeen) -> None:
        name = n.EV_ERROR if event.from_upstream else n.EV_GATEWAY_ERROR
        self._scope.session_span.add_event(
            name,
            {
                n.ERROR_EVENT_CODE: event.code,
                n.ERROR_FROM_UPSTREAM: event.from_upstream,
            },
            timestamp=self._scope.clock.ns(event.at),
        )
        source = "upstream" if event.from_upstream else "gateway"
        self._scope.metrics.errors.add(
            1, {**self._scope.metric_attrs, "code": event.code, "source": source}
        )

    def _close_trackers(self, at: float) -> None:
        for close in self._closers():
            try:
                close(at)
            except Exception:  # noqa: BLE001 - telemetry must never break a session
                _log.warning("telemetry tracker failed to close", exc_info=True)

    def _closers(self) -> list[Callable[[float], None]]:
        closers: list[Callable[[float], None]] = []
        if self._utterances is not None:
            closers.append(self._utterances.close)
        if self._segments is not None:
            closers.append(self._segments.close)
        return closers

    def _flush(self, stats: SessionStats) -> None:
        """Fold counter deltas since the last flush into the relay and cost metrics."""
        frames_in, frames_out, bytes_in, bytes_out, audio_in, audio_out = self._flushed
        self._scope.metrics.relayed(
            stats.frames_from_client - frames_in,
            stats.frames_from_upstream - frames_out,
            stats.bytes_from_client - bytes_in,
            stats.bytes_from_upstream - bytes_out,
            (
                audio_ms(stats.audio_in_bytes, stats.input_format)
                - audio_ms(audio_in, stats.input_format)
            )
            / 1000,
            (
                audio_ms(stats.audio_out_bytes, stats.output_format)
                - audio_ms(audio_out, stats.output_format)
            )
            / 1000,
        )
        self._flushed = (
            stats.frames_from_client,
            stats.frames_from_upstream,
            stats.bytes_from_client,
            stats.bytes_from_upstream,
            stats.audio_in_bytes,
            stats.audio_out_bytes,
        )
        total = self._scope.cost.total(stats)
        if total is not None and total > self._cost_reported:
            self._scope.metrics.cost.add(
                total - self._cost_reported, self._scope.metric_attrs
            )
            self._cost_reported = total

    def _record_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        scope, span = self._scope, self._scope.session_span
        in_s = audio_ms(stats.audio_in_bytes, stats.input_format) / 1000
        out_s = audio_ms(stats.audio_out_bytes, stats.output_format) / 1000
        usage = scope.cost.usage
        attrs: dict[str, AttributeValue] = {
            n.END_REASON: ended.reason,
            n.AUDIO_IN_SECONDS: in_s,
            n.AUDIO_OUT_SECONDS: out_s,
            n.FRAMES_FROM_CLIENT: stats.frames_from_client,
            n.FRAMES_FROM_UPSTREAM: stats.frames_from_upstream,
            n.BYTES_FROM_CLIENT: stats.bytes_from_client,
            n.BYTES_FROM_UPSTREAM: stats.bytes_from_upstream,
            n.GEN_AI_INPUT_TOKENS: usage.input_tokens,
            n.GEN_AI_OUTPUT_TOKENS: usage.output_tokens,
            n.TURN_COUNT: self._unit_count(),
        }
        for key, value in (
            (n.ERROR_CODE, ended.error_code),
            (n.CLIENT_CLOSE_CODE, ended.client_close_code),
            (n.UPSTREAM_CLOSE_CODE, ended.upstream_close_code),
        ):
            if value is not None:
                attrs[key] = value
        if self._cost_reported or scope.cost.pricing is not None:
            attrs[n.COST_MICROS] = self._cost_reported
        span.set_attributes(attrs)
        if ended.error_code in CAP_CODES and not self._cutoff_counted:
            self.cap_cutoff(ended.error_code)
            scope.metrics.cap_cutoffs.add(
                1, {**scope.metric_attrs, "cap": ended.error_code}
            )
        if ended.error_code and ended.error_code not in _EXPECTED_CODES:
            span.set_status(Status(StatusCode.ERROR, ended.error_code))
        scope.metrics.active.add(-1, self._active_attrs())
        scope.metrics.ended.add(1, {**scope.metric_attrs, "reason": ended.reason})
        scope.log(
            "session ended",
            span,
            reason=ended.reason,
            error_code=ended.error_code,
            client_close_code=ended.client_close_code,
            upstream_close_code=ended.upstream_close_code,
            timings={"duration_ms": round((ended.at - self._started_at) * 1000)},
            audio_in_s=in_s,
            audio_out_s=out_s,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=attrs.get(n.COST_MICROS),
            turns=self._unit_count(),
        )

    def _unit_count(self) -> int:
        """Turns, utterances or segments: whatever this kind of session counts."""
        if self._segments is not None:
            return self._segments.count
        if self._turns is not None:
            return self._turns.count
        if self._info.kind is SessionKind.REALTIME or self._utterances is None:
            return 0  # a voice-agent session counts turns: none yet
        return self._utterances.count

    def _active_attrs(self) -> dict[str, str]:
        return {"kind": self._info.kind.value, "endpoint": self._info.endpoint.value}
