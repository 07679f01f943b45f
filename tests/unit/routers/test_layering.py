"""routers stays pure: it imports only gateway.core and itself, never pydantic or YAML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_routers_imports_no_config_libraries() -> None:
    """Importing routers loads neither pydantic, yaml nor gateway.policy."""
    code = (
        "import sys, routers\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', 'yaml'} or m.startswith('gateway.policy'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
