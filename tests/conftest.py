"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(params=HOT_PATHS)
def hot_listener(request: pytest.FixtureRequest) -> str:
    """The listener the sockets relay hot frames with: the compiled one, or its pure-Python twin.

    The listener is a base class of the picows sockets, picked once at import; the build this process
    does not run is tested in a child pytest with ``VOICE_GATEWAY_PURE_PYTHON`` set to match (then the
    test body here returns at once: ``"ran in a child process"``)."""
    from gateway.upstream.hot_listener import LISTENER_COMPILED

    running = "pure" if LISTENER_COMPILED is None else "compiled"
    if request.param == running:
        return running
    if request.param == "compiled":
        if os.environ.get("VOICE_GATEWAY_PURE_PYTHON", "") not in ("", "0"):
            pytest.skip("this run tests the pure-Python hot path only")
        if os.environ.get("CI"):
            pytest.fail("the compiled listener was not built (gateway/upstream/hotlisten.pyx); CI must test it")
        pytest.skip("the compiled listener is not built here (no C compiler at install?)")
    # one child run per test module, all of its tests of that build; each test checks its own result
    module = request.node.nodeid.split("::")[0]
    runs: dict[str, str] = request.config.stash.setdefault(_CHILD_RUNS, {})
    if module not in runs:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-k", request.param, module],
            cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "VOICE_GATEWAY_PURE_PYTHON": "1"},
            capture_output=True, text=True, timeout=600,
        )
        runs[module] = done.stdout + done.stderr
    assert f"PASSED {request.node.nodeid}" in runs[module], runs[module][-6000:]
    return "ran in a child process"


_CHILD_RUNS = pytest.StashKey[dict[str, str]]()
