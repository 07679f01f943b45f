"""Compile small policies from YAML text for router tests."""

from __future__ import annotations

from typing import Callable

import pytest

from gateway.core.catalog import Catalog
from gateway.policy.loader import PolicyError, PolicySource, compile_sources
from tests.support.policy import catalog, compile_policy  # noqa: F401 - shared fixtures

@pytest.fixture
def problems_of(catalog: Catalog) -> Callable[[str], list[str]]:
    """The problems a policy text is rejected with (fails the test if it is accepted)."""

    def run(text: str) -> list[str]:
        with pytest.raises(PolicyError) as info:
            compile_sources([PolicySource("p.yaml", text)], catalog)
        return info.value.problems

    return run
