"""Alerts and dashboard against real gateways: every series they read is exported; Debian's Prometheus scrapes one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
import pytest
import websockets
import yaml

from tests.integration.conftest import GatewayFactory, GatewayProcess, free_port
from tests.support.monitoring import JOB, dashboard, dashboard_exprs, metric_names, rendered_rules, require_tool, rule_exprs


async def _exercise(gw: GatewayProcess) -> None:
    """One session: a reply (time to first audio), an upstream error event, then the duration cap."""
    async with websockets.connect(
        f"{gw.ws_base}/realtime?model=gpt-realtime-2", additional_headers={"Authorization": f"Bearer {gw.key}"}
    ) as ws:
        await ws.send(json.dumps({"type": "response.create"}))
        await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": "item_does_not_exist"}))
        try:
            async with asyncio.timeout(15):
                async for _ in ws:
                    pass
        except websockets.ConnectionClosed:
            pass
    assert ws.close_code == 4101, ws.close_code  # the duration cap ended it


async def _connect_failure(gw: GatewayProcess) -> None:
    try:
        async with websockets.connect(
            f"{gw.ws_base}/realtime?model=gpt-realtime-2", additional_headers={"Authorization": f"Bearer {gw.key}"}
        ) as ws:
            async for _ in ws:
                pass
    except (websockets.InvalidStatus, websockets.ConnectionClosed):
        pass


def _exported(gw: GatewayProcess) -> set[str]:
    text = httpx.get(f"{gw.http_url}/metrics", timeout=5).text
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_every_series_in_the_rules_and_dashboard_is_exported(gateway_factory: GatewayFactory) -> None:
    """Each voice_gateway_* name the alerts and the dashboard query appears in a running gateway's /metrics."""
    serving = gateway_factory(env={"VOICE_GATEWAY_MAX_SESSION_SECONDS": "1.5"})
    unreachable = gateway_factory(
        env={"VOICE_GATEWAY_UPSTREAM_URL": f"ws://127.0.0.1:{free_port()}/v1", "OPENAI_API_KEY": "sk-test-unreachable-upstream"}
    )
    await _exercise(serving)
    await _connect_failure(unreachable)
    exported = _exported(serving) | _exported(unreachable)
    wanted = metric_names(rule_exprs(rendered_rules())) | metric_names(dashboard_exprs(dashboard()))
    assert len(wanted) >= 8
    missing = sorted(wanted - exported)
    assert not missing, f"queried but not exported: {missing}; exported: {sorted(exported)}"


def _query(base: str, promql: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


@pytest.mark.slow
async def test_prometheus_scrapes_a_gateway_and_loads_the_alerts(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    """Debian's Prometheus scrapes a running gateway, answers a query on its metrics and evaluates the chart's rules."""
    binary = require_tool("prometheus")
    gw = gateway_factory(env={"VOICE_GATEWAY_MAX_SESSION_SECONDS": "1.5"})
    await _exercise(gw)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules()))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{gw.port}"]}]}],
    }))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        result: list[dict[str, object]] = []
        while time.monotonic() - started < 60 and not result:
            await asyncio.sleep(0.5)
            try:
                result = _query(base, f'sum(voice_gateway_sessions_started_total{{job="{JOB}"}})')
            except OSError:
                continue
        assert result, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert float(result[0]["value"][1]) >= 1  # type: ignore[index]
        assert _query(base, f'voice_gateway_store_up{{job="{JOB}"}}')[0]["value"][1] == "1"  # type: ignore[index]
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as r:
            groups = json.loads(r.read())["data"]["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        assert len(loaded) == 5 and all(rule["health"] in ("ok", "unknown") for rule in loaded), loaded
    finally:
        proc.terminate()
        proc.wait(20)
