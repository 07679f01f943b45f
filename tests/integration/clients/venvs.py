"""Third-party clients each in their own virtual environment (their pins clash with ours and each other's).

``.venv-clients/<name>`` (gitignored) is created by the tests themselves with ``python -m venv`` and
pip, from the pinned requirements below, and reused while its stamp matches them. In CI (CI=true) a
client that cannot be installed fails the test loudly; locally it is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ROOT = REPO / ".venv-clients"

#: client name -> pinned requirements (newest releases when these tests were written)
CLIENTS: dict[str, tuple[str, ...]] = {
    "agents": ("openai-agents==0.24.0",),
    "pipecat": ("pipecat-ai[openai]==1.14.0",),
    "livekit": ("livekit-agents==1.8.9", "livekit-plugins-openai==1.8.9"),
}


def _stamp_text(requirements: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join((sys.version, *requirements)).encode()).hexdigest()


def _unavailable(name: str, reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"third-party client {name!r} could not be installed in CI: {reason}")
    pytest.skip(f"THIRD-PARTY CLIENT {name.upper()} NOT INSTALLED: {reason}")


def client_python(name: str) -> Path:
    """The Python of ``.venv-clients/<name>``, creating or refreshing the venv when needed."""
    requirements = CLIENTS[name]
    venv = ROOT / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-stamp"
    expected = _stamp_text(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == expected:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            check=True, capture_output=True, text=True, timeout=1200,
        )
    except subprocess.CalledProcessError as exc:
        _unavailable(name, f"{' '.join(map(str, exc.cmd))[:200]} exited {exc.returncode}: {(exc.stderr or '')[-1500:]}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(name, str(exc))
    stamp.write_text(expected)
    return python
