"""The start-up banner: URL, key or key source, upstream, store, links and policy files."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest

from gateway.store.connect import describe_store
from gateway.telemetry.banner import BannerFacts, emit_banner, render_banner

FACTS = BannerFacts(
    url="http://127.0.0.1:8080",
    generated_key="vg_local_ABCDEFGHIJKLMNOP",
    keys_source="none static",
    upstream="embedded emulator at ws://127.0.0.1:9/v1",
    store="in-process",
    demo_url="http://127.0.0.1:8080/demo",
    admin_url=None,
    metrics_url="http://127.0.0.1:8080/metrics",
    policy_files=["policies/default.yaml (version abc)"],
    jaeger_ui_url="http://jaeger:16686",
)


def test_human_banner_lists_everything() -> None:
    """The terminal banner shows the URL, the generated key, upstream, store, links and policies."""
    text = render_banner(FACTS)
    for expected in (
        "http://127.0.0.1:8080", "vg_local_ABCDEFGHIJKLMNOP", "embedded emulator", "in-process",
        "/demo", "off (set VOICE_GATEWAY_ADMIN_TOKEN)", "/metrics", "policies/default.yaml", "http://jaeger:16686",
        "ws://127.0.0.1:8080/v1",
    ):
        assert expected in text
    assert "\x1b[" not in text and "\x1b[" in render_banner(FACTS, color=True)


def test_json_banner_keeps_the_key_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """In JSON mode the banner is one log record without the key; the key goes to stdout once."""
    stdout, stream = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.INFO, logger="voice_gateway"):
        emit_banner(FACTS, human=False, color=False, stream=stream, stdout=stdout)
    record = next(r for r in caplog.records if r.getMessage() == "voice-gateway is ready")
    fields = record.__dict__["banner"]
    assert fields["url"] == FACTS.url and fields["store"] == "in-process"
    assert "vg_local_ABCDEFGHIJKLMNOP" not in json.dumps(fields)
    assert "vg_local_ABCDEFGHIJKLMNOP" in stdout.getvalue() and stream.getvalue() == ""


def test_configured_keys_name_their_source() -> None:
    """Without a generated key the banner says where keys come from."""
    text = render_banner(dataclasses.replace(FACTS, generated_key=None, keys_source="2 from VOICE_GATEWAY_API_KEYS"))
    assert "2 from VOICE_GATEWAY_API_KEYS" in text and "vg_local" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, "in-process"),
        ("redis://:hunter2secret@cache:6379/2", "Redis at cache:6379/2"),
        ("redis+cluster://node1:7000", "Redis Cluster seeded from node1:7000"),
        ("redis://node1:7000?cluster=true", "Redis Cluster seeded from node1:7000"),
        ("redis+sentinel://:pw@s1:26379,s2:26379/mymaster", "Redis Sentinel: master of 'mymaster' via s1:26379,s2:26379"),
    ],
)
def test_store_description_names_topology_not_password(url: str | None, expected: str) -> None:
    """The store line says which topology and where, never the password."""
    text = describe_store(url)
    assert text.startswith(expected)
    assert "hunter2" not in text and "pw@" not in text
