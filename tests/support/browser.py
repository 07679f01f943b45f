"""Running browser scenarios (``tests.integration.webrtc.browser_run``) in a fresh network namespace, for pytest.

Shared by the WebRTC browser test modules: each asks for its scenarios and asserts on the JSON
they observed. Fails in CI and skips loudly elsewhere when Chromium or namespaces are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.webrtc.cdp import chromium_path
from tests.integration.webrtc.netns import namespaces_permitted, network_namespace

REPO = Path(__file__).resolve().parents[2]


def _unavailable(reason: str) -> None:
    """Fail in CI, skip loudly elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"WebRTC browser tests cannot run in CI: {reason}")
    pytest.skip(f"WEBRTC BROWSER TESTS SKIPPED: {reason}")


def _ensure_chromium() -> str | None:
    """Debian's chromium; installed with apt-get when missing and we are root (CI machines start bare)."""
    found = chromium_path()
    if found is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], capture_output=True, timeout=900, env=env)
        found = chromium_path()
    return found


def run_browser_scenarios(workdir: Path, scenarios: list[str], timeout: float = 400) -> dict[str, Any]:
    """Run the named scenarios once inside a fresh network namespace; what they observed (failures fail the caller)."""
    if sys.platform != "linux":
        _unavailable("network namespaces need Linux")
    if _ensure_chromium() is None:
        _unavailable("Debian's chromium is not installed and could not be installed")
    why = namespaces_permitted()
    if why is not None:
        _unavailable(f"cannot create a network namespace ({why})")
    out = workdir / "observed.json"
    with network_namespace() as ns:
        run = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.integration.webrtc.browser_run", str(out), str(workdir),
             *scenarios],
            cwd=REPO, capture_output=True, timeout=timeout,
        )
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-4000:]
    results: dict[str, Any] = json.loads(out.read_text())
    assert not results.get("failures"), f"{results.get('failures')}\n{results.get('gateway_log_tail', '')}"
    return results
