"""The root docker-compose.yml wires the gateway to Redis and Jaeger as the README says."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


def test_compose_services_and_gateway_environment() -> None:
    """Gateway built from the repo exports OTLP/HTTP to Jaeger, uses Redis, mounts policies read-only."""
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"gateway", "redis", "jaeger"}
    gateway = services["gateway"]
    assert gateway["build"] == "."
    assert "8080:8080" in gateway["ports"]
    env = gateway["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["VOICE_GATEWAY_REDIS_URL"] == "redis://redis:6379/0"
    assert env["VOICE_GATEWAY_HOST"] == "0.0.0.0"
    assert (
        env["OPENAI_API_KEY"] is None
    )  # passed through only when set, never as an empty key
    assert "./policies:/app/policies:ro" in gateway["volumes"]
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one")
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert {"16686:16686", "4318:4318"} <= {
        port.split(" ")[0] for port in jaeger["ports"]
    }
