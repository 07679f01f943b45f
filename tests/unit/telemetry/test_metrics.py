"""Metrics: /metrics renders every gateway metric with low-cardinality labels only."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from gateway.core.kinds import Direction, SessionKind
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import (
    T0,
    T1,
    T2,
    TRANSCRIPTION_END,
    TRANSLATION_END,
    VOICE_AGENT_END,
    drive,
    session_info,
    transcription_script,
    translation_script,
    voice_agent_script,
)

EXPECTED = {
    "voice_gateway_sessions_active",
    "voice_gateway_sessions_started_total",
    "voice_gateway_sessions_ended_total",
    "voice_gateway_relay_frames_total",
    "voice_gateway_relay_bytes_total",
    "voice_gateway_relay_audio_seconds_total",
    "voice_gateway_relay_delay_seconds_bucket",
    "voice_gateway_turn_time_to_first_audio_seconds_bucket",
    "voice_gateway_turns_total",
    "voice_gateway_turn_interruptions_total",
    "voice_gateway_tool_calls_total",
    "voice_gateway_tokens_total",
    "voice_gateway_cost_micros_total",
    "voice_gateway_transcription_latency_seconds_bucket",
    "voice_gateway_translation_latency_seconds_bucket",
    "voice_gateway_caps_warnings_total",
    "voice_gateway_caps_cutoffs_total",
    "voice_gateway_policy_reloads_total",
    "voice_gateway_upstream_connect_failures_total",
    "voice_gateway_admission_refusals_total",
    "voice_gateway_errors_total",
}


async def _populate(traced: Traced) -> None:
    factory = traced.telemetry.observer_factory
    await drive(
        factory,
        session_info(SessionKind.REALTIME, "sess_m1", "gpt-realtime-2"),
        T0,
        voice_agent_script(),
        VOICE_AGENT_END,
    )
    await drive(
        factory,
        session_info(SessionKind.TRANSCRIPTION, "sess_m2", "gpt-realtime-whisper"),
        T1,
        transcription_script(),
        TRANSCRIPTION_END,
    )
    await drive(
        factory,
        session_info(SessionKind.TRANSLATION, "sess_m3", "gpt-realtime-translate"),
        T2,
        translation_script(),
        TRANSLATION_END,
    )
    telemetry = traced.telemetry
    telemetry.record_relay_delay(0.0004, Direction.CLIENT_TO_UPSTREAM)
    telemetry.record_policy_reload(True, version="v2")
    telemetry.record_policy_reload(False)
    telemetry.record_admission_refused("budget_exceeded", endpoint="realtime")
    telemetry.record_upstream_connect_failure("openai", "upstream_unavailable")
    telemetry.record_cap_warning("sess_gone", "cost", 0.8)
    telemetry.record_cap_cutoff("sess_gone", "session_cost_cap_reached")


def _samples(traced: Traced) -> dict[str, list[tuple[dict[str, str], float]]]:
    body, content_type = traced.telemetry.render_metrics()
    assert content_type.startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(
                (dict(sample.labels), sample.value)
            )
    return found


async def test_metrics_render_every_name(traced: Traced) -> None:
    """After sessions of all three kinds and each hook, every metric name is on /metrics."""
    await _populate(traced)
    assert EXPECTED <= set(_samples(traced))


async def test_metric_values_follow_the_sessions(traced: Traced) -> None:
    """Counters add up: sessions started/ended, no active left, voice-agent cost and turns by status."""
    await _populate(traced)
    samples = _samples(traced)
    assert (
        sum(value for _, value in samples["voice_gateway_sessions_started_total"]) == 3
    )
    assert sum(value for _, value in samples["voice_gateway_sessions_active"]) == 0
    cost = {
        labels["kind"]: value
        for labels, value in samples["voice_gateway_cost_micros_total"]
    }
    assert cost == {"realtime": 34480, "transcription": 1672, "translation": 3344}
    turns = {
        labels["status"]: value
        for labels, value in samples["voice_gateway_turns_total"]
    }
    assert turns == {"completed": 2, "cancelled": 1, "no_response": 1}
    reloads = {
        labels["outcome"]: value
        for labels, value in samples["voice_gateway_policy_reloads_total"]
    }
    assert reloads == {"ok": 1, "failed": 1}
    ttfa = [
        value
        for labels, value in samples[
            "voice_gateway_turn_time_to_first_audio_seconds_count"
        ]
    ]
    assert ttfa == [2]


async def test_no_session_ids_in_metric_labels(traced: Traced) -> None:
    """Metric labels never carry session ids, tenants, keys or item ids."""
    await _populate(traced)
    body, _ = traced.telemetry.render_metrics()
    text = body.decode()
    for forbidden in ("sess_", "acme", "key_42", "item_", "resp_", "call_1"):
        assert forbidden not in text
    labels = set(re.findall(r'([a-z_]+)="', text))
    assert labels <= {
        "kind",
        "endpoint",
        "route",
        "model_family",
        "reason",
        "status",
        "direction",
        "outcome",
        "type",
        "cap",
        "upstream",
        "code",
        "source",
        "le",
        "service_name",
        "service_version",
        "service_instance_id",
        "telemetry_sdk_language",
        "telemetry_sdk_name",
        "telemetry_sdk_version",
    }


async def test_tick_flushes_at_most_once_a_second(traced: Traced) -> None:
    """Frame counters move on ticks a second apart, not on every 100 ms tick."""
    from gateway.core.observers import SessionEnded, SessionStats

    observer = traced.telemetry.observer_factory.create(
        session_info(SessionKind.REALTIME, "s_tick", "gpt-realtime-2"), T0
    )
    stats = SessionStats(started_at=T0, last_activity_at=T0)

    def frames() -> float:
        return sum(
            value
            for _, value in _samples(traced).get("voice_gateway_relay_frames_total", [])
        )

    stats.frames_from_client = 10
    await observer.on_tick(T0 + 0.1, stats)
    assert frames() == 0
    await observer.on_tick(T0 + 1.0, stats)
    assert frames() == 10
    stats.frames_from_client = 15
    await observer.on_tick(T0 + 1.5, stats)
    assert frames() == 10
    await observer.on_end(SessionEnded(T0 + 1.6, "client_closed"), stats)
    assert frames() == 15


async def test_injected_cost_is_used_and_never_steps_back() -> None:
    """cost_of (the accountant's figure) wins when larger; its 0-after-forgetting never lowers the total."""
    from gateway.core.observers import SessionEnded, SessionStats
    from gateway.settings import Settings
    from gateway.telemetry import setup_telemetry
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from tests.unit.telemetry.scripts import CATALOG

    answers = {"s_cost": 50_000}
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        Settings(_env_file=None),
        catalog=CATALOG,
        cost_of=lambda sid: answers.get(sid, 0),
        span_processors=[SimpleSpanProcessor(exporter)],  # spans are recorded only when received
    )  # type: ignore[call-arg]
    try:
        observer = telemetry.observer_factory.create(
            session_info(SessionKind.REALTIME, "s_cost", "gpt-realtime-2"), T0
        )
        stats = SessionStats(started_at=T0, last_activity_at=T0)
        await observer.on_tick(T0 + 1.0, stats)
        answers.clear()  # the accountant forgot the session before our end ran
        await observer.on_end(SessionEnded(T0 + 2.0, "client_closed"), stats)
        body, _ = telemetry.render_metrics()
        line = next(
            l
            for l in body.decode().splitlines()
            if l.startswith("voice_gateway_cost_micros_total{")
        )
        assert line.endswith(" 50000.0")
        (session_span,) = exporter.get_finished_spans()
        assert session_span.attributes is not None
        assert session_span.attributes["voice_gateway.cost_micros"] == 50_000
    finally:
        telemetry.shutdown()


def test_summed_counter_reports_running_sums_per_attribute_set() -> None:
    """Adds are summed per attribute set and read on collection, as a counter's series; non-positive adds are ignored."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from gateway.telemetry.metrics import SummedCounter

    reader = InMemoryMetricReader()
    counter = SummedCounter(MeterProvider(metric_readers=[reader]).get_meter("t"), "t.frames", "{frame}", "frames")

    def collected() -> dict[str, float]:
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
        assert metric.data.is_monotonic  # type: ignore[union-attr]
        return {str(p.attributes["direction"]): p.value for p in metric.data.data_points}  # type: ignore[union-attr,index]

    counter.add(3, {"direction": "in"})
    counter.add(0, {"direction": "out"})
    counter.add(-2, {"direction": "in"})
    assert collected() == {"in": 3}
    counter.add(4, {"direction": "in"})
    counter.add(1.5, {"direction": "out"})
    assert collected() == {"in": 7, "out": 1.5}


def test_summed_up_down_counter_reports_running_sums_both_ways() -> None:
    """Adds of either sign are summed per attribute set and read as an up-down counter's (non-monotonic) series."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from gateway.telemetry.metrics import SummedUpDownCounter

    reader = InMemoryMetricReader()
    active = SummedUpDownCounter(MeterProvider(metric_readers=[reader]).get_meter("t"), "t.active", "{session}", "active")

    def collected() -> dict[str, float]:
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
        assert not metric.data.is_monotonic  # type: ignore[union-attr]
        return {str(p.attributes["kind"]): p.value for p in metric.data.data_points}  # type: ignore[union-attr,index]

    active.add(1, {"kind": "realtime"})
    active.add(1, {"kind": "realtime"})
    active.add(1, {"kind": "transcription"})
    assert collected() == {"realtime": 2, "transcription": 1}
    active.add(-1, {"kind": "realtime"})
    active.add(-1, {"kind": "transcription"})
    assert collected() == {"realtime": 1, "transcription": 0}


async def test_a_tick_before_the_published_bound_never_folds(traced: Traced) -> None:
    """``next_tick`` is never later than the next fold: over random tick times, every tick that folds the metrics
    comes at or after the bound the tick before it published."""
    import random

    from gateway.core.observers import SessionStats

    observer = traced.telemetry.observer_factory.create(
        session_info(SessionKind.REALTIME, "s_bound", "gpt-realtime-2"), T0
    )
    stats = SessionStats(started_at=T0, last_activity_at=T0)

    def frames() -> float:
        return sum(value for _, value in _samples(traced).get("voice_gateway_relay_frames_total", []))

    rng = random.Random(20)
    now, folds = T0, 0
    for _ in range(300):
        bound = observer.next_tick(now, stats)
        assert bound is not None
        now += rng.choice([rng.uniform(0.0, 0.3), 0.1, 1.0 - 1e-9, 1.0])
        stats.frames_from_client += 1
        before = frames()
        await observer.on_tick(now, stats)
        if frames() != before:
            folds += 1
            assert now >= bound.at
    assert folds > 10
