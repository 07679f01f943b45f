"""Shared helpers and realistic value sets for the deployment tests (imported by name: unique module)."""

from __future__ import annotations

import yaml

Manifest = dict[str, object]


def parse_manifests(rendered: dict[str, str]) -> list[Manifest]:
    """Every Kubernetes object in a render, NOTES.txt and empty documents left out."""
    docs: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def one(docs: list[Manifest], kind: str) -> Manifest:
    """The single object of a kind in a render."""
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container_env(docs: list[Manifest]) -> dict[str, Manifest]:
    """The gateway container's env entries by name (duplicates are a bug, so they fail here)."""
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"
    return {entry["name"]: entry for entry in container["env"]}


# Realistic value sets, shared by the render, schema and Kubernetes-validation tests.
PRODUCTION: dict[str, object] = {
    "replicaCount": 4,
    "image": {"repository": "registry.example.com/voice-gateway", "tag": "1.2.3"},
    "secrets": {"existingSecret": "voice-gateway-credentials"},
    "externalRedis": {"existingSecret": "voice-gateway-redis", "existingSecretKey": "url"},
    "gateway": {
        "port": 8080,
        "drainSeconds": 300,
        "maxSessionUsd": "2.50",
        "maxSessionSeconds": 1800,
        "allowedOrigins": ["https://app.example.com", "https://admin.example.com"],
        "jaegerUiUrl": "https://jaeger.example.com",
    },
    "terminationGracePeriodSeconds": 330,
    "telemetry": {
        "otlpEndpoint": "http://otel-collector.observability:4317",
        "otlpProtocol": "grpc",
        "resourceAttributes": {"deployment.environment": "prod"},
    },
    "autoscaling": {
        "enabled": True,
        "minReplicas": 3,
        "maxReplicas": 30,
        "targetCPUUtilizationPercentage": 60,
        "targetActiveSessionsPerPod": 40,
    },
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": [{"host": "voice.example.com", "paths": [{"path": "/v1", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "voice-tls", "hosts": ["voice.example.com"]}],
    },
    "podDisruptionBudget": {"enabled": True, "minAvailable": "50%"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "grafanaDashboard": {"enabled": True},
}

SENTINEL: dict[str, object] = {
    "externalRedis": {"url": "redis+sentinel://sentinel-0.redis:26379,sentinel-1.redis:26379/mymaster/0"},
    "secrets": {"openaiApiKey": "sk-test-not-a-real-key", "adminToken": "admin-test-token", "apiKeys": ["k1", "k2"]},
}

GATEWAY_API: dict[str, object] = {
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "public-gateway", "namespace": "gateway-system", "sectionName": "https"}],
        "hostnames": ["voice.example.com"],
    },
    "podAntiAffinity": "hard",
    "externalRedis": {"url": "redis+cluster://redis-0.redis:6379,redis-1.redis:6379"},
}

SCENARIOS: dict[str, dict[str, object]] = {
    "default": {},
    "production": PRODUCTION,
    "sentinel": SENTINEL,
    "gateway-api": GATEWAY_API,
}
