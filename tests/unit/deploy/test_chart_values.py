"""Values are checked at install time, lint is clean, and every env var is a real gateway setting."""

from __future__ import annotations

import helm_python as helm
import pytest
from deploy_support import SCENARIOS, container_env

from gateway.settings import Settings

BAD_VALUES = {
    "replicas as a word": {"replicaCount": "two"},
    "drain as text": {"gateway": {"drainSeconds": "two minutes"}},
    "unknown gateway setting": {"gateway": {"drainSecs": 60}},
    "unknown top-level key": {"replicas": 3},
    "redis over http": {"externalRedis": {"url": "http://redis:6379"}},
    "cap not a decimal": {"gateway": {"maxSessionUsd": "two dollars"}},
    "port out of range": {"gateway": {"port": 70000}},
    "bad failure mode": {"gateway": {"storeFailureMode": "maybe"}},
    "hpa with no metric": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}},
    "route without a gateway": {"httpRoute": {"enabled": True, "parentRefs": []}},
    "cpu as a word": {"resources": {"requests": {"cpu": "lots"}}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_refuses_bad_values(chart, values: dict[str, object]) -> None:
    """values.schema.json rejects the value before any template runs, naming where it is wrong."""
    with pytest.raises(helm.HelmValuesError, match=r"at '"):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmValuesError, match="schema"):
        chart.render(values=values, name="vg")


def test_replica_count_two_as_a_word_names_the_field(chart) -> None:
    """The refusal points at the offending key and the expected type."""
    with pytest.raises(helm.HelmValuesError, match=r"/replicaCount.*got string, want integer"):
        chart.render(values={"replicaCount": "two"}, name="vg")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_realistic_values_pass_the_schema(chart, scenario: str) -> None:
    """Every shipped scenario (and the defaults) is accepted as-is."""
    chart.validate_schema(SCENARIOS[scenario])


def _lint_findings(chart_dir, values: dict[str, object]) -> list[str]:
    report = helm.lint(chart_dir, values, namespace="voice", kube_version="v1.30.0")
    assert report["errors"] == [], report
    # The only accepted warning: the optional redis subchart is fetched by `helm dependency build`.
    return [
        m["error"]
        for m in report["messages"]
        if m["severity"] >= 2 and "missing these dependencies: redis" not in m["error"]
    ]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_is_clean(chart_dir, scenario: str) -> None:
    """helm lint reports no error and no warning beyond the not-yet-fetched optional subchart."""
    assert _lint_findings(chart_dir, SCENARIOS[scenario]) == []


def test_helm_lint_reports_bad_values(chart_dir) -> None:
    """Lint runs the schema too, so a bad value shows up as a lint error."""
    report = helm.lint(chart_dir, {"replicaCount": "two"})
    assert any("replicaCount" in error for error in report["errors"])


def _settings_env(docs) -> dict[str, str]:
    env = container_env(docs)
    return {name: entry["value"] for name, entry in env.items() if name.startswith("VOICE_GATEWAY_") and "value" in entry}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_gateway_variable_is_a_real_setting(render, scenario: str) -> None:
    """Each VOICE_GATEWAY_* the chart sets names a field of gateway.settings.Settings (no silent typos)."""
    fields = {f"VOICE_GATEWAY_{name.upper()}" for name in Settings.model_fields}
    env_names = set(container_env(render(SCENARIOS[scenario])))
    gateway_vars = {name for name in env_names if name.startswith("VOICE_GATEWAY_")}
    assert gateway_vars - fields == set()


@pytest.mark.parametrize("scenario", ["default", "production", "sentinel"])
def test_rendered_settings_load_in_the_gateway(render, scenario: str, monkeypatch, tmp_path) -> None:
    """The literal env the chart renders parses with the gateway's own Settings, values intact."""
    monkeypatch.chdir(tmp_path)  # keep a developer's .env out of it
    for name in [n for n in __import__("os").environ if n.startswith(("VOICE_GATEWAY_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    env = _settings_env(render(SCENARIOS[scenario]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.port == 8080
    assert settings.max_message_bytes == 16 * 1024 * 1024
    assert str(settings.config_dir) == "/app/config"
    if scenario == "production":
        assert settings.drain_seconds == 300
        assert settings.max_session_usd == "2.50"
        assert settings.max_session_seconds == 1800
        assert settings.allowed_origins == ["https://app.example.com", "https://admin.example.com"]
    if scenario == "sentinel":
        assert settings.redis_url == SCENARIOS["sentinel"]["externalRedis"]["url"]


def test_chart_defaults_override_only_what_they_mean_to(chart) -> None:
    """Chart defaults equal the gateway's own defaults except the deliberate ones (drain for long sessions, JSON logs)."""
    values = chart.values["gateway"]
    mapping = {
        "port": "port", "upstreamConnectTimeoutSeconds": "upstream_connect_timeout_s",
        "upstreamStallSeconds": "upstream_stall_s", "maxMessageBytes": "max_message_bytes",
        "pingIntervalSeconds": "ping_interval_s", "pingTimeoutSeconds": "ping_timeout_s",
        "slowClientSeconds": "slow_client_seconds", "classifyHoldMs": "classify_hold_ms",
        "classifyHoldBytes": "classify_hold_bytes", "maxFramesPerSecond": "max_frames_per_second",
        "maxRequestBodyBytes": "max_request_body_bytes", "requestBodyTimeoutSeconds": "request_body_timeout_s",
        "capWarnRatio": "cap_warn_ratio", "storeFailureMode": "store_failure_mode",
        "flushIntervalMs": "flush_interval_ms", "traceTranscripts": "trace_transcripts",
        "recordsRetentionDays": "records_retention_days",
        "policyWatchIntervalSeconds": "policy_watch_interval_s", "useEmulator": "use_emulator",
    }
    for key, field in mapping.items():
        assert values[key] == Settings.model_fields[field].default, key
    assert values["drainSeconds"] == 120
    assert values["logFormat"] == "json" and Settings.model_fields["log_format"].default == "auto"  # pods: always JSON
