"""Compile small policies from YAML text for router tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from gateway.core.catalog import Catalog
from gateway.policy.catalog import load_catalog
from gateway.policy.loader import PolicyError, PolicySource, compile_sources
from routers.compiled import CompiledPolicy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(ROOT / "config" / "models.yaml")


@pytest.fixture
def compile_policy(catalog: Catalog) -> Callable[[str], CompiledPolicy]:
    def build(text: str) -> CompiledPolicy:
        return compile_sources([PolicySource("test.yaml", text)], catalog)

    return build


@pytest.fixture
def problems_of(catalog: Catalog) -> Callable[[str], list[str]]:
    """The problems a policy text is rejected with (fails the test if it is accepted)."""

    def run(text: str) -> list[str]:
        with pytest.raises(PolicyError) as info:
            compile_sources([PolicySource("p.yaml", text)], catalog)
        return info.value.problems

    return run
