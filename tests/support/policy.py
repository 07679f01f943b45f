"""Fixtures that compile small policies from YAML text (shared by the policy and router tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from gateway.core.catalog import Catalog
from gateway.policy.catalog import load_catalog
from gateway.policy.loader import PolicySource, compile_sources
from routers.compiled import CompiledPolicy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(ROOT / "config" / "models.yaml")


@pytest.fixture
def compile_policy(catalog: Catalog) -> Callable[[str], CompiledPolicy]:
    def build(text: str) -> CompiledPolicy:
        return compile_sources([PolicySource("test.yaml", text)], catalog)

    return build
