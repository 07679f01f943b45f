"""Third-party realtime clients through a real gateway on its defaults, only the URL changed.

Each client, in its own virtual environment (``venvs.py``), holds a spoken turn that calls a
function tool (chosen by the emulator from the words it heard), returns the tool's output, hears
the answer, and barges in on it. The audio is tone-coded speech (``tests.support.audio.said``) so
the emulator knows what was asked.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.clients.venvs import client_python
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.support.audio import said, silence

SCRIPTS = Path(__file__).resolve().parent / "scripts"
#: the first run installs the client (minutes); later runs reuse its venv
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture
def turn_audio(tmp_path: Path) -> tuple[Path, Path]:
    """PCM16 24 kHz files: the question (with the silence that ends the turn) and a barge-in."""
    question, barge = tmp_path / "question.pcm", tmp_path / "barge.pcm"
    question.write_bytes(silence(300) + said("Where is my order 4417?") + silence(1500))
    barge.write_bytes(said("wait, stop there") + silence(1500))
    return question, barge


def run_client(
    name: str, script: str, gw: GatewayProcess, audio: tuple[Path, Path] | tuple[()], timeout: float = 120, **extra_env: str
) -> dict:
    """Run ``scripts/<script>`` in the client's venv against ``gw``; its last stdout line is a JSON summary."""
    python = client_python(name)
    env = {**os.environ, "GATEWAY_WS": gw.ws_base, "GATEWAY_HTTP": f"{gw.http_url}/v1", "GATEWAY_KEY": gw.key, **extra_env}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(python), str(SCRIPTS / script), *map(str, audio)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{name} client failed:\n{done.stderr[-4000:]}\n--- gateway log ---\n{gw.log_text()[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_openai_agents_realtime_agent_tool_call_and_barge_in(gateway: GatewayProcess, turn_audio: tuple[Path, Path]) -> None:
    """openai-agents: no ?model= (named in session.update), spoken question → tool round trip → barge-in truncates."""
    result = run_client("agents", "agents_turn.py", gateway, turn_audio)
    assert result["errors"] == []
    assert result["calls"] == ["example_order_id"]
    assert {"tool_start", "tool_end", "audio", "audio_interrupted"} <= set(result["events"])
    assert "conversation.item.truncated" in result["raw"]


@pytest.mark.parametrize("opt_out", [True, False])
def test_openai_agents_with_the_opt_out_logs_no_model_error_on_a_cap_warning(gateway_factory: GatewayFactory, opt_out: bool) -> None:
    """openai-agents held to a 4 s duration cap: with ?gateway_events=off only the cut-off error, no validation error or
    ERROR log; without it the gateway.cap_warning becomes the SDK's model error (the reason for the switch)."""
    gw = gateway_factory(env={"VOICE_GATEWAY_MAX_SESSION_SECONDS": "4"})
    result = run_client("agents", "agents_gateway_events.py", gw, (), GATEWAY_QUERY="&gateway_events=off" if opt_out else "")
    assert result["cut"], result
    gateway_noise = [e for e in result["errors"] + result["error_logs"] if "gateway.cap_warning" in e or "validate" in e]
    if opt_out:
        assert gateway_noise == [], result
        assert result["error_logs"] == [], result
    else:
        assert gateway_noise, result


def test_pipecat_openai_realtime_service_tool_call_and_barge_in(gateway: GatewayProcess, turn_audio: tuple[Path, Path]) -> None:
    """Pipecat: minimal pipeline, spoken question → function call → result sent → answer → barge-in truncates."""
    result = run_client("pipecat", "pipecat_turn.py", gateway, turn_audio)
    assert result["errors"] == []
    assert result["calls"] == ["example_order_id"]
    assert {"FunctionCallResultFrame", "TTSAudioRawFrame", "InterruptionFrame"} <= set(result["frames"])
    assert {"response.function_call_arguments.done", "input_audio_buffer.speech_started",
            "conversation.item.truncated"} <= set(result["server"])
    assert {"conversation.item.create", "conversation.item.truncate"} <= set(result["client"])


def test_livekit_openai_realtime_model_tool_call_and_barge_in(gateway: GatewayProcess, turn_audio: tuple[Path, Path]) -> None:
    """LiveKit's RealtimeModel on its default gpt-realtime: tool round trip, then barge-in with interrupt + truncate."""
    result = run_client("livekit", "livekit_turn.py", gateway, turn_audio)
    assert result["model"] == "gpt-realtime"
    # the client's cancel may race the server's own barge-in cancel: that one refusal is the real API's too
    assert [e for e in result["errors"] if "response_cancel_not_active" not in e] == []
    assert result["calls"] == ["example_order_id"]
    assert result["interrupted"] is True
    assert {"session.created", "response.function_call_arguments.done", "conversation.item.truncated"} <= set(result["server"])
