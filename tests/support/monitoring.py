"""The chart's alert rules and Grafana dashboard as the tests read them, and Debian's Prometheus tools."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "voice-gateway"
RELEASE = "vg"
#: the job label the rules select: the chart's fullname for release ``vg``
JOB = f"{RELEASE}-voice-gateway"
_METRIC = re.compile(r"\bvoice_gateway_[a-z0-9_]+")


def rendered_rules(values: dict[str, object] | None = None) -> dict[str, object]:
    """The PrometheusRule's ``spec`` (a Prometheus rules file) rendered with the rules enabled."""
    merged = {"prometheusRule": {"enabled": True}, **(values or {})}
    chart = helm.Chart.load(CHART)
    try:
        rendered = chart.render(values=merged, name=RELEASE, namespace="voice")
    finally:
        chart.close()
    doc = yaml.safe_load(rendered["voice-gateway/templates/prometheusrule.yaml"])
    assert doc["kind"] == "PrometheusRule"
    return doc["spec"]  # type: ignore[no-any-return]


def dashboard() -> dict[str, object]:
    return json.loads((CHART / "files" / "grafana-dashboard.json").read_text())  # type: ignore[no-any-return]


def rule_exprs(spec: dict[str, object]) -> list[str]:
    return [rule["expr"] for group in spec["groups"] for rule in group["rules"]]  # type: ignore[index,union-attr,attr-defined]


def dashboard_exprs(board: dict[str, object]) -> list[str]:
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]  # type: ignore[index,union-attr,attr-defined]
    exprs += [v["definition"] for v in board["templating"]["list"] if v.get("definition")]  # type: ignore[index,union-attr,attr-defined]
    return exprs


def metric_names(exprs: list[str]) -> set[str]:
    """Every ``voice_gateway_*`` series name a PromQL expression reads."""
    return {name for expr in exprs for name in _METRIC.findall(expr)}


def require_tool(name: str) -> str:
    """A tool from Debian's ``prometheus`` package; missing → fail in CI, skip loudly elsewhere."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian package 'prometheus'; `make test` installs it when root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
