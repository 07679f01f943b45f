"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from gateway.core import frames

#: the two implementations of the hot path's audio check: compiled (Cython, built at install) and pure Python
HOT_PATHS = ("compiled", "pure")


@pytest.fixture(params=HOT_PATHS)
def hot_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once with the compiled audio check and once with its pure-Python twin."""
    if request.param == "compiled":
        if frames.B64_COMPILED is None:
            if os.environ.get("CI"):
                pytest.fail("the compiled hot path was not built (gateway/core/b64span.pyx); CI must test it")
            pytest.skip("the compiled hot path is not built here (no C compiler at install?)")
        monkeypatch.setattr(frames, "b64_span_len", frames.B64_COMPILED)
    else:
        monkeypatch.setattr(frames, "b64_span_len", frames.b64_span_len_py)
    yield request.param
