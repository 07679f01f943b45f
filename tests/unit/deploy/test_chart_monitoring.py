"""The chart's optional alerts and dashboard: valid for promtool, firing when they should, rendered as ConfigMap."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from deploy_support import one

from tests.support.monitoring import JOB, dashboard, dashboard_exprs, metric_names, rendered_rules, require_tool, rule_exprs

ALERTS = {
    "VoiceGatewayUpstreamConnectFailures", "VoiceGatewayStoreDown", "VoiceGatewayCapCutoffRateHigh",
    "VoiceGatewayTimeToFirstAudioP99High", "VoiceGatewaySessionsNearPodLimit",
}


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    """`promtool check rules` passes on the rendered PrometheusRule, which has the five alerts."""
    spec = rendered_rules()
    assert {rule["alert"] for group in spec["groups"] for rule in group["rules"]} == ALERTS  # type: ignore[index,union-attr,attr-defined]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec))
    done = subprocess.run([require_tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check can fail: a syntax error in an expression is refused."""
    spec = rendered_rules()
    spec["groups"][0]["rules"][0]["expr"] = "sum by (x (rate(voice_gateway_errors_total[5m])"  # type: ignore[index]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec))
    done = subprocess.run([require_tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def test_alerts_fire_on_the_series_they_watch(tmp_path: Path) -> None:
    """promtool unit tests: store down for 2 minutes fires StoreDown; 130 sessions on a pod fire NearPodLimit."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules({"prometheusRule": {"enabled": True, "sessionsPerPodLimit": 150}})))
    series = f'job="{JOB}",namespace="voice",pod="vg-0"'
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"voice_gateway_store_up{{{series}}}", "values": "1 1 0 0 0 0"},
                    {"series": f"voice_gateway_sessions_active{{{series},endpoint=\"realtime\",kind=\"realtime\"}}", "values": "100 130x8"},
                ],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "VoiceGatewayStoreDown", "exp_alerts": []},
                    {
                        "eval_time": "4m", "alertname": "VoiceGatewayStoreDown",
                        "exp_alerts": [{
                            "exp_labels": {"severity": "critical", "namespace": "voice", "pod": "vg-0"},
                            "exp_annotations": {
                                "summary": "Pod vg-0 cannot reach Redis",
                                "description": "The shared store has not answered for a minute. With storeFailureMode=closed new sessions are refused (503); running sessions keep their caps and reconcile spend when Redis is back.",
                            },
                        }],
                    },
                    {"eval_time": "3m", "alertname": "VoiceGatewaySessionsNearPodLimit", "exp_alerts": []},
                    {
                        "eval_time": "8m", "alertname": "VoiceGatewaySessionsNearPodLimit",
                        "exp_alerts": [{
                            "exp_labels": {"severity": "warning", "namespace": "voice", "pod": "vg-0"},
                            "exp_annotations": {
                                "summary": "Pod vg-0 holds 130 sessions (limit 150)",
                                "description": "Above 0.8 of the sessions a pod is sized for (docs/operations.md, Sizing): latency rises past it. Add replicas or raise autoscaling.maxReplicas.",
                            },
                        }],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    done = subprocess.run([require_tool("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_configmap_carries_the_dashboard(render) -> None:  # type: ignore[no-untyped-def]
    """Enabled, the dashboard ships as a ConfigMap labelled for Grafana's sidecar; off by default."""
    assert not [d for d in render() if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert not [d for d in render() if d["kind"] == "PrometheusRule"]
    docs = render({"grafanaDashboard": {"enabled": True}})
    [configmap] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vg-voice-gateway-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(configmap["data"]["voice-gateway.json"])
    assert board == dashboard()
    assert len(board["panels"]) >= 8 and all(p["targets"] for p in board["panels"])
    assert metric_names(dashboard_exprs(board)) >= {"voice_gateway_sessions_active", "voice_gateway_store_up"}


def test_rules_read_only_gateway_series() -> None:
    """Every rule reads at least one voice_gateway_* series scoped to the release's job."""
    for expr in rule_exprs(rendered_rules()):
        assert metric_names([expr]), expr
        assert f'job="{JOB}"' in expr, expr


def test_rule_labels_are_carried(render) -> None:  # type: ignore[no-untyped-def]
    """Labels given for the rules (a Prometheus selector) land on the PrometheusRule."""
    docs = render({"prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}})
    assert one(docs, "PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
