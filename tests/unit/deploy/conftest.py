"""Fixtures for the deployment artefacts: the Helm chart rendered by Helm's own engine, offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import helm_python as helm
import pytest
from deploy_support import Manifest, parse_manifests

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART_DIR = REPO_ROOT / "helm" / "voice-gateway"

Render = Callable[..., list[Manifest]]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout the artefacts are built from."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    """The chart directory."""
    return CHART_DIR


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    """The chart loaded once through helm-python-sdk (Helm's Go SDK; no binary, no cluster)."""
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Render:
    """Render the chart with override values as a release named ``vg`` in namespace ``voice``."""

    def _render(values: dict[str, object] | None = None, *, name: str = "vg") -> list[Manifest]:
        return parse_manifests(chart.render(values=values or {}, name=name, namespace="voice"))

    return _render
