"""The chart ships the repository's default catalog and policies, and documents every value."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from deploy_support import one

SYNC_HINT = "refresh the chart's copies: cp config/models.yaml policies/*.yaml into helm/voice-gateway/files/"


def _yaml_names(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.yaml")) if p.is_file()}


def test_chart_catalog_copy_equals_the_repository_catalog(repo_root: Path, chart_dir: Path) -> None:
    """files/config/models.yaml is byte-identical to config/models.yaml."""
    copy = chart_dir / "files" / "config" / "models.yaml"
    assert copy.read_bytes() == (repo_root / "config" / "models.yaml").read_bytes(), SYNC_HINT


def test_chart_policy_copies_equal_the_repository_policies(repo_root: Path, chart_dir: Path) -> None:
    """files/policies/ holds exactly the repository's top-level policies/*.yaml, byte for byte."""
    assert _yaml_names(chart_dir / "files" / "policies") == _yaml_names(repo_root / "policies"), SYNC_HINT


def test_default_render_embeds_the_shipped_files(render, chart_dir: Path) -> None:
    """With no overrides the ConfigMaps carry the chart's copies unchanged (exact text, last newline kept)."""
    docs = render()
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config"))
    policies = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-policies"))
    assert config["data"] == {"models.yaml": (chart_dir / "files/config/models.yaml").read_text()}
    shipped = {name: text.decode() for name, text in _yaml_names(chart_dir / "files" / "policies").items()}
    assert (policies.get("data") or {}) == shipped
    assert yaml.safe_load(config["data"]["models.yaml"])["version"] == 1
    one(docs, "Deployment")


def test_values_override_the_shipped_files(render) -> None:
    """catalog.modelsYaml and policies.files replace the defaults verbatim."""
    docs = render({"catalog": {"modelsYaml": "version: 1\nmodels: {}\n"}, "policies": {"files": {"p.yaml": "x: 1\n"}}})
    data = {d["metadata"]["name"]: d.get("data") for d in docs if d["kind"] == "ConfigMap"}
    assert data["vg-voice-gateway-config"] == {"models.yaml": "version: 1\nmodels: {}\n"}
    assert data["vg-voice-gateway-policies"] == {"p.yaml": "x: 1\n"}


def _leaf_paths(node: object, prefix: str = "") -> list[str]:
    """Dotted paths of the documented values: maps recurse, except free-form maps and lists."""
    if isinstance(node, dict) and node:
        paths: list[str] = []
        for key, value in node.items():
            paths.extend(_leaf_paths(value, f"{prefix}.{key}" if prefix else str(key)))
        return paths
    return [prefix]


FREE_FORM = ("ingress.websocketAnnotations.", "podSecurityContext.", "securityContext.", "resources.",
             "readinessProbe.", "livenessProbe.", "redis.", "secrets.keys.")


def test_readme_values_table_lists_every_value(chart_dir: Path) -> None:
    """Each value in values.yaml has a row in the chart README's table (docs cannot drift silently)."""
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    readme = (chart_dir / "README.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    missing = []
    for path in _leaf_paths(values):
        covered = path in documented or any(path.startswith(p) and p.rstrip(".") in documented for p in FREE_FORM)
        if not covered and not any(path.startswith(f"{d}.") or path.startswith(f"{d}[") for d in documented):
            missing.append(path)
    assert missing == []
