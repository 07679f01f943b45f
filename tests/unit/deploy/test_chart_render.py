"""What the rendered chart does: probes, drain timing, hardening, config mounts, routing objects."""

from __future__ import annotations

import pytest
from deploy_support import GATEWAY_API, PRODUCTION, SENTINEL, Manifest, container_env, one


def _pod(docs: list[Manifest]) -> Manifest:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def _container(docs: list[Manifest]) -> Manifest:
    return _pod(docs)["containers"][0]


def test_probes_hit_readyz_and_healthz_on_the_serving_port(render) -> None:
    """Readiness follows /readyz (false while draining) and liveness /healthz, on the named http port."""
    container = _container(render())
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]


def test_grace_period_outlasts_prestop_sleep_plus_drain(render) -> None:
    """The kubelet's deadline covers the preStop sleep and the whole drain, so live sessions finish."""
    docs = render()
    pod, env = _pod(docs), container_env(docs)
    sleep = int(_container(docs)["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = int(env["VOICE_GATEWAY_DRAIN_SECONDS"]["value"])
    assert (sleep, drain, pod["terminationGracePeriodSeconds"]) == (5, 120, 150)
    assert pod["terminationGracePeriodSeconds"] > sleep + drain


def test_a_grace_period_shorter_than_the_drain_is_refused(chart) -> None:
    """Rendering fails, naming both numbers, when the kubelet would kill sessions mid-drain."""
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match=r"terminationGracePeriodSeconds \(100\).*5 \+ 120"):
        chart.render(values={"terminationGracePeriodSeconds": 100}, name="vg")


def test_pod_runs_hardened_with_a_writable_tmp_only(render) -> None:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp."""
    docs = render()
    pod, container = _pod(docs), _container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]
    assert pod["automountServiceAccountToken"] is False


def test_resources_have_requests_and_limits(render) -> None:
    """CPU and memory requests and limits are set (the HPA's CPU target needs requests)."""
    resources = _container(render())["resources"]
    assert set(resources["requests"]) >= {"cpu", "memory"}
    assert set(resources["limits"]) >= {"cpu", "memory"}


def test_replicas_prefer_distinct_nodes(render) -> None:
    """Soft anti-affinity by hostname spreads replicas without blocking scheduling on small clusters."""
    affinity = _pod(render())["affinity"]["podAntiAffinity"]
    (term,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "vg"


def test_config_and_policies_are_directory_mounts_that_receive_updates(render) -> None:
    """Both ConfigMaps mount as whole directories (no subPath), so kubelet pushes edits into the pod."""
    docs = render()
    pod, container, env = _pod(docs), _container(docs), container_env(docs)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "subPath" not in mounts["/app/config"] and "subPath" not in mounts["/app/policies"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/app/config"]["name"]]["configMap"]["name"] == "vg-voice-gateway-config"
    assert volumes[mounts["/app/policies"]["name"]]["configMap"]["name"] == "vg-voice-gateway-policies"
    assert env["VOICE_GATEWAY_CONFIG_DIR"]["value"] == "/app/config"


def test_policy_change_does_not_touch_the_pod_template_but_a_catalog_change_does(render) -> None:
    """Policies hot-reload in place (no rollout); the catalog is start-up config, so it rolls the pods."""
    base = {"policies": {"files": {"default.yaml": "version: 1\n"}}}
    edited_policy = {"policies": {"files": {"default.yaml": "version: 1\n# tweaked\n"}}}
    edited_catalog = {**base, "catalog": {"modelsYaml": "version: 1\nmodels: {}\n"}}
    template = lambda values: one(render(values), "Deployment")["spec"]["template"]  # noqa: E731
    policies_cm = lambda values: next(  # noqa: E731
        d for d in render(values) if d["metadata"]["name"].endswith("-policies")
    )
    assert policies_cm(base)["data"] != policies_cm(edited_policy)["data"]
    assert template(base) == template(edited_policy)
    assert template(base)["metadata"]["annotations"]["checksum/config"] != (
        template(edited_catalog)["metadata"]["annotations"]["checksum/config"]
    )
    assert not any("polic" in key for key in template(base)["metadata"]["annotations"])


def test_policy_files_env_lists_every_mounted_policy(render) -> None:
    """VOICE_GATEWAY_POLICY_FILES names each file in the policies ConfigMap under /app/policies."""
    values = {"policies": {"files": {"default.yaml": "a: 1\n", "tenants.yaml": "b: 2\n"}}}
    env = container_env(render(values))
    assert env["VOICE_GATEWAY_POLICY_FILES"]["value"] == "/app/policies/default.yaml,/app/policies/tenants.yaml"


def test_production_uses_the_existing_secret_and_creates_none(render) -> None:
    """With existingSecret the chart renders no Secret and reads every credential from the named one."""
    docs = render(PRODUCTION)
    assert not [d for d in docs if d["kind"] == "Secret"]
    env = container_env(docs)
    for name in ("OPENAI_API_KEY", "VOICE_GATEWAY_ADMIN_TOKEN", "VOICE_GATEWAY_API_KEYS"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "voice-gateway-credentials"
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is False
    assert env["VOICE_GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "voice-gateway-redis", "key": "url"}
    assert "checksum/secret" not in one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]


def test_production_autoscales_on_cpu_and_sessions_per_pod(render) -> None:
    """The HPA owns the replica count and targets both CPU and average live sessions per pod."""
    docs = render(PRODUCTION)
    assert "replicas" not in one(docs, "Deployment")["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "vg-voice-gateway"
    by_type = {m["type"]: m for m in hpa["metrics"]}
    assert by_type["Resource"]["resource"]["target"]["averageUtilization"] == 60
    pods = by_type["Pods"]["pods"]
    assert pods["metric"]["name"] == "voice_gateway_active_sessions"
    assert pods["target"] == {"type": "AverageValue", "averageValue": "40"}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_ingress_keeps_websockets_open_and_exposes_only_the_client_api(render) -> None:
    """The nginx timeouts outlast a voice session; /admin and /metrics are not routed from outside."""
    ingress = one(render(PRODUCTION), "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert notes["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt"
    (rule,) = ingress["spec"]["rules"]
    assert [p["path"] for p in rule["http"]["paths"]] == ["/v1"]
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "vg-voice-gateway", "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"secretName": "voice-tls", "hosts": ["voice.example.com"]}]


def test_service_monitor_scrapes_metrics_on_the_service_port(render) -> None:
    """The ServiceMonitor selects the Service and scrapes /metrics through its named port."""
    docs = render(PRODUCTION)
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_pdb_and_service_select_the_gateway_pods(render) -> None:
    """The PDB and the Service select exactly the Deployment's pods."""
    docs = render(PRODUCTION)
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == "50%" and "maxUnavailable" not in pdb
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert one(docs, "Service")["spec"]["selector"].items() <= pod_labels.items()


def test_telemetry_uses_standard_otel_variables(render) -> None:
    """OTLP endpoint, protocol, service name and k8s resource attributes go in as OTEL_* variables."""
    env = container_env(render(PRODUCTION))
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.observability:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
    assert env["OTEL_SERVICE_NAME"]["value"] == "vg-voice-gateway"
    attrs = env["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
    assert "k8s.pod.name=$(POD_NAME)" in attrs and "deployment.environment=prod" in attrs
    assert list(env).index("POD_NAME") < list(env).index("OTEL_RESOURCE_ATTRIBUTES")


def test_no_otlp_endpoint_means_no_exporter_variables(render) -> None:
    """By default nothing is exported over OTLP; the gateway still serves /metrics."""
    env = container_env(render())
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env and "OTEL_EXPORTER_OTLP_PROTOCOL" not in env


def test_sentinel_url_and_inline_credentials(render) -> None:
    """A Sentinel URL goes through verbatim; inline credentials land base64 in the chart's Secret."""
    import base64

    docs = render(SENTINEL)
    env = container_env(docs)
    assert env["VOICE_GATEWAY_REDIS_URL"]["value"] == SENTINEL["externalRedis"]["url"]
    secret = one(docs, "Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "VOICE_GATEWAY_ADMIN_TOKEN": "admin-test-token",
        "VOICE_GATEWAY_API_KEYS": "k1,k2",
    }
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    annotations = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/secret"] != one(render(), "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]["checksum/secret"]


def test_secrets_never_appear_in_plain_env(render) -> None:
    """Inline credentials reach the pod only through secretKeyRef, never as a literal env value."""
    container = _container(render(SENTINEL))
    literals = " ".join(str(entry.get("value", "")) for entry in container["env"])
    assert "sk-test-not-a-real-key" not in literals and "admin-test-token" not in literals


def test_in_cluster_redis_url_takes_the_subchart_password(render) -> None:
    """redis.enabled builds the URL from the bitnami chart's Secret, via Kubernetes' $(VAR) expansion."""
    env = container_env(render({"redis": {"enabled": True}}))
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "vg-redis", "key": "redis-password"}
    assert env["VOICE_GATEWAY_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@vg-redis-master:6379/0"
    assert list(env).index("REDIS_PASSWORD") < list(env).index("VOICE_GATEWAY_REDIS_URL")


def test_gateway_api_route_points_at_the_service(render) -> None:
    """The HTTPRoute attaches to the given Gateway and forwards /v1 to the Service port, timeouts off."""
    docs = render(GATEWAY_API)
    route, service = one(docs, "HTTPRoute"), one(docs, "Service")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == GATEWAY_API["httpRoute"]["parentRefs"]
    assert route["spec"]["hostnames"] == ["voice.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
    assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}]
    assert rule["timeouts"] == {"request": "0s", "backendRequest": "0s"}
    assert not [d for d in docs if d["kind"] == "Ingress"]


def test_hard_anti_affinity_is_required_by_hostname(render) -> None:
    """podAntiAffinity=hard makes one replica per node a scheduling requirement."""
    affinity = _pod(render(GATEWAY_API))["affinity"]["podAntiAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"


def test_rolling_update_surges_before_draining(render) -> None:
    """A new pod is ready before an old one starts its drain, so capacity never dips during upgrades."""
    strategy = one(render(), "Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
