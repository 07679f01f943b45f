"""The official openai Node SDK holds a session through a real gateway serving TLS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import GatewayFactory

HERE = Path(__file__).resolve().parent


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI for the Node SDK test")
        pytest.skip(f"{tool.upper()} NOT INSTALLED: skipping the Node SDK test")
    return found


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """tests/integration/node with the pinned openai and ws packages installed (npm, once)."""
    npm = _require("npm")
    _require("node")
    if not (HERE / "node_modules" / "openai").is_dir():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=300)
    return HERE


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_node_sdk_voice_agent_turn(gateway_factory: GatewayFactory, node_sdk: Path, certificate: tuple[Path, Path]) -> None:
    """OpenAIRealtimeWS (Node) connects over wss, updates the session and completes a response."""
    cert, key = certificate
    gw = gateway_factory(env={"VOICE_GATEWAY_TLS_CERTFILE": str(cert), "VOICE_GATEWAY_TLS_KEYFILE": str(key)})
    env = {**os.environ, "GATEWAY_KEY": gw.key, "GATEWAY_BASE": f"{gw.http_url}/v1", "NODE_EXTRA_CA_CERTS": str(cert)}
    done = subprocess.run(["node", "realtime.mjs"], cwd=node_sdk, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert {"session.created", "session.updated", "response.created", "response.output_text.delta", "response.done"} <= set(result["types"])
