"""The official openai Node SDK holds a session through a real gateway serving TLS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import GatewayFactory
from tests.support.audio import said, silence

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
    installed = HERE / "node_modules" / "openai" / "package.json"
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]["openai"]
    if not installed.is_file() or json.loads(installed.read_text())["version"] != wanted:
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


def test_node_sdk_voice_agent_turns(
    gateway_factory: GatewayFactory, node_sdk: Path, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """OpenAIRealtimeWS (Node) over wss: a text turn; a spoken question that calls a tool, then a barge-in that truncates."""
    cert, key = certificate
    gw = gateway_factory(env={"VOICE_GATEWAY_TLS_CERTFILE": str(cert), "VOICE_GATEWAY_TLS_KEYFILE": str(key)})
    question, barge = tmp_path / "question.pcm", tmp_path / "barge.pcm"
    question.write_bytes(silence(300) + said("Where is my order 4417?") + silence(1000))
    barge.write_bytes(said("hold on") + silence(800))
    env = {**os.environ, "GATEWAY_KEY": gw.key, "GATEWAY_BASE": f"{gw.http_url}/v1", "NODE_EXTRA_CA_CERTS": str(cert),
           "QUESTION_PCM": str(question), "BARGE_PCM": str(barge)}
    done = subprocess.run(["node", "realtime.mjs"], cwd=node_sdk, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{done.stderr}\n--- gateway ---\n{gw.log_text()[-3000:]}"
    agent, voice = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert agent["status"] == "completed" and agent["errors"] == []
    assert {"session.created", "session.updated", "response.created", "response.output_text.delta", "response.done"} <= set(agent["types"])
    assert voice["calls"] == [{"name": "lookup_order", "arguments": {"order_id": "example_order_id"}}]
    assert voice["truncated"]["item"] == voice["answerItem"] and voice["truncated"]["audio_end_ms"] > 0
    # the barge-in either found the answer still generating (server cancel, then the client's cancel is
    # refused as not active) or already complete (audio is generated ahead of playback)
    refused = [e for e in voice["errors"] if "response_cancel_not_active" not in e]
    assert refused == [], voice["errors"]
    assert "input_audio_buffer.speech_started" in voice["types"]
