"""Every manifest the chart renders is a valid Kubernetes object, for realistic value sets."""

from __future__ import annotations

import kubernetes_validate
import pytest
from deploy_support import SCENARIOS, Manifest

# Oldest and newest Kubernetes minors the chart claims (Chart.yaml kubeVersion >=1.27).
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
# Kinds from CRDs: kubernetes-validate ships only core schemas; these get structural checks instead.
CRD_KINDS = {"HTTPRoute", "ServiceMonitor", "PrometheusRule"}


def _validate(doc: Manifest, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_objects_pass_strict_kubernetes_schemas(render, scenario: str, version: str) -> None:
    """Each built-in object validates in strict mode (unknown fields rejected) against offline schemas."""
    docs = render(SCENARIOS[scenario])
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        _validate(doc, version)
        checked += 1
    assert checked >= 6


def test_strict_validation_catches_a_misspelt_field(render) -> None:
    """The validator is really strict: a typo in a rendered Deployment is refused."""
    deployment = next(doc for doc in render() if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 150
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment, KUBE_VERSIONS[-1])


def test_validation_needs_no_network(render, monkeypatch: pytest.MonkeyPatch) -> None:
    """With sockets forbidden, validation still runs: the schemas ship inside the package (CI is offline)."""
    import socket

    def _refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to open a socket")

    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    for doc in render():
        _validate(doc, KUBE_VERSIONS[0])
