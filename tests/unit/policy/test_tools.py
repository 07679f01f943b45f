"""Compiling a route's gateway_tools block: good tool sets compile, every mistake is reported with its place."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

import pytest

from gateway.policy.cli import main
from gateway.policy.tools import toolsets_of
from routers.compiled import CompiledPolicy, RouteTarget

CATALOG = Path(__file__).resolve().parents[3] / "config" / "models.yaml"

TOOLS = """
version: 1
rules:
  - id: agent
    route:
      model: gpt-realtime-2
      gateway_tools:
        max_concurrent_calls: 3
        http:
          - name: lookup_order
            description: Order status
            url: https://orders.example.com/status
            method: GET
            parameters: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
            headers: {Authorization: {env: VG_TEST_ORDERS_TOKEN}, X-Team: voice}
            timeout_ms: 1500
            filler_after_ms: 700
            cache_ttl_s: 30
            error_message: the order system is not answering
        mcp:
          - name: crm
            url: https://crm.example.com/mcp
            allow: [customer_tier]
"""


def test_a_tool_set_compiles_with_limits_headers_and_allow_list(
    compile_policy: Callable[[str], CompiledPolicy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field lands in the route's compiled tool set; the secret stays an env reference."""
    monkeypatch.setenv("VG_TEST_ORDERS_TOKEN", "Bearer s3cret")
    policy = compile_policy(TOOLS)
    outcome = policy.rules[0].outcome
    assert isinstance(outcome, RouteTarget)
    tools = outcome.route.gateway_tools
    assert tools is not None and tools.max_concurrent_calls == 3
    http = tools.http[0]
    assert (http.name, http.method, http.limits.timeout_s, http.limits.filler_after_ms, http.limits.cache_ttl_s) == (
        "lookup_order", "GET", 1.5, 700, 30,
    )
    assert [(h.name, h.value, h.env) for h in http.headers] == [
        ("Authorization", None, "VG_TEST_ORDERS_TOKEN"), ("X-Team", "voice", None),
    ]
    assert "s3cret" not in repr(policy)
    assert tools.mcp[0].allow == frozenset({"customer_tier"})
    assert toolsets_of(policy) == [tools]


def test_mistakes_are_reported(problems_of: Callable[[str], list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing secret, bad schema, duplicate names, URL without scheme, unknown field, non-realtime model."""
    monkeypatch.delenv("VG_TEST_ORDERS_TOKEN", raising=False)
    assert any("environment variable 'VG_TEST_ORDERS_TOKEN' is not set" in p for p in problems_of(TOOLS))
    bad = TOOLS.replace("{type: object, properties", "{type: 7, properties").replace("{env: VG_TEST_ORDERS_TOKEN}", "x")
    assert any("not a valid JSON Schema" in p for p in problems_of(bad))
    twice = TOOLS.replace("{env: VG_TEST_ORDERS_TOKEN}", "x") + "          - name: crm\n            url: https://x.example.com/mcp\n"
    assert any("declared twice" in p for p in problems_of(twice))
    assert problems_of(TOOLS.replace("https://orders.example.com/status", "orders.example.com"))
    assert any("unknown field 'cache_ttl'" in p for p in problems_of(TOOLS.replace("cache_ttl_s: 30", "cache_ttl: 30")))
    captions = TOOLS.replace("gpt-realtime-2", "gpt-realtime-whisper").replace("{env: VG_TEST_ORDERS_TOKEN}", "x")
    assert any("gateway tools need a realtime model" in p for p in problems_of(captions))


def test_policy_check_warns_about_unreachable_tool_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed ports for the HTTP tool and the MCP server are warnings; the check still passes; --offline skips it."""
    monkeypatch.setenv("VG_TEST_ORDERS_TOKEN", "x")
    port = _closed_port()
    text = TOOLS.replace("https://orders.example.com/status", f"http://127.0.0.1:{port}/status").replace(
        "https://crm.example.com/mcp", f"http://127.0.0.1:{port}/mcp"
    )
    policy = tmp_path / "tools.yaml"
    policy.write_text(text)
    assert main(["check", "--catalog", str(CATALOG), str(policy)]) == 0
    out = capsys.readouterr().out
    assert "warning: HTTP tool 'lookup_order'" in out and "warning: MCP server 'crm' is not reachable" in out
    assert main(["check", "--offline", "--catalog", str(CATALOG), str(policy)]) == 0
    assert "warning" not in capsys.readouterr().out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_explain_shows_the_routes_gateway_tools(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """policy explain --json lists the route's HTTP tools and MCP servers (names only, never headers)."""
    import json

    monkeypatch.setenv("VG_TEST_ORDERS_TOKEN", "Bearer s3cret")
    policy = tmp_path / "tools.yaml"
    policy.write_text(TOOLS)
    assert main(["explain", str(policy), "--catalog", str(CATALOG), "--json", "--query", "model=gpt-realtime-2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["route"]["gateway_tools"] == {"http": ["lookup_order"], "mcp": [{"server": "crm", "allow": ["customer_tier"]}]}
