"""The committed JSON Schema is current, and every shipped policy passes `policy check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy.cli import main
from gateway.policy.schema import render_schema

POLICIES = Path(__file__).resolve().parents[3] / "policies"
SHIPPED = sorted(POLICIES.rglob("*.yaml"))


def test_committed_schema_is_current() -> None:
    """policies/policy.schema.json equals the schema generated from the models (regenerate with `policy schema --write`)."""
    assert (POLICIES / "policy.schema.json").read_text(encoding="utf-8") == render_schema()


def test_policies_directory_has_default_and_examples() -> None:
    """The default policy and the three documented examples ship."""
    names = {p.relative_to(POLICIES).as_posix() for p in SHIPPED}
    assert {"default.yaml", "examples/per-tenant.yaml", "examples/budget-downgrade.yaml", "examples/deny.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policy_passes_check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`voice-gateway policy check` accepts every policy file in policies/."""
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok (")
