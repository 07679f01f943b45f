"""Every fuzz test runs against both hot paths (compiled and pure Python)."""

import pytest


@pytest.fixture(autouse=True)
def _both_hot_paths(hot_path: str) -> str:
    return hot_path
