"""The gateways users would otherwise pick, on the same load: Portkey's AI gateway and LiteLLM's proxy.

``make bench-peers`` installs each on first use under ``bench/.peers/`` (Portkey from npm, LiteLLM
from PyPI into its own virtual environment, since its pins clash with ours), starts it pinned to
the relay core in front of the same echo upstream, and measures it like nginx and the gateway.
Neither meters, caps or traces here: they relay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Final

from websockets.sync.client import connect

from bench.phases import Target
from bench.procs import TARGET_CORE, Proc, free_port, probe_session, start, wait_port

PEERS_DIR: Final = Path(__file__).resolve().parent / ".peers"
PORTKEY: Final = "Portkey gateway"
LITELLM: Final = "LiteLLM proxy"
PORTKEY_PACKAGE: Final = "@portkey-ai/gateway@1.15.2"
LITELLM_PACKAGE: Final = "litellm[proxy]"
_MODEL: Final = "gpt-realtime-2"
_UPSTREAM_KEY: Final = "sk-bench-upstream-key"
#: LiteLLM refuses to start without a master key (clients authenticate with it)
LITELLM_MASTER_KEY: Final = "sk-vg-bench-litellm-master-9f3c2a7d41b6e805"


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    """Run an install step; fail with its output when it fails."""
    print(f"bench: installing {what} ({' '.join(argv[:3])} …)", file=sys.stderr, flush=True)
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"installing {what} failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")


def install_portkey() -> Path:
    """Portkey's gateway from npm (Node.js must be installed); the path of its server script."""
    home = PEERS_DIR / "portkey"
    script = home / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not script.exists():
        home.mkdir(parents=True, exist_ok=True)
        _run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(home), PORTKEY_PACKAGE], "Portkey")
    return script


def install_litellm() -> Path:
    """LiteLLM's proxy in its own virtual environment; the path of its ``litellm`` command."""
    venv = PEERS_DIR / "litellm-venv"
    command = venv / "bin" / "litellm"
    if not command.exists():
        _run([sys.executable, "-m", "venv", str(venv)], "LiteLLM's venv")
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", LITELLM_PACKAGE], "LiteLLM")
    return command


def probe_echo(url: str, headers: dict[str, str], timeout_s: float = 15.0) -> None:
    """Open one session through a relay that may drop ``session.created``: one append must come back."""
    with connect(url, additional_headers=headers, open_timeout=timeout_s) as ws:
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if '"response.output_audio.delta"' in str(ws.recv(timeout=max(0.01, deadline - time.monotonic()))):
                return
    raise RuntimeError(f"no echo through {url}")


def start_portkey(upstream: Proc, upstream_port: int, root: Path, key: str) -> Target:
    """Portkey's Node gateway routed to the echo upstream (a provider whose base URL is the custom host).

    Its realtime handler builds the upstream URL from the provider's base URL; ``milvus`` is a
    provider whose base URL is the configured custom host and which sends ``Authorization``.
    Portkey drops upstream frames that arrive before its client socket is attached, and so loses
    ``session.created``: its sessions count as set up when the handshake completes.
    """
    script = install_portkey()
    port = free_port()
    proc = start("portkey", ["node", str(script), f"--port={port}", "--headless"], TARGET_CORE, root,
                 env={**os.environ, "NODE_ENV": "production"})
    wait_port(proc, port, timeout_s=60)
    config = {"provider": "milvus", "api_key": _UPSTREAM_KEY,
              "custom_host": f"http://127.0.0.1:{upstream_port}/v1/realtime?model={_MODEL}"}
    headers = (("x-portkey-config", json.dumps(config, separators=(",", ":"))),)
    url = f"ws://127.0.0.1:{port}/v1/realtime?model={_MODEL}"
    _probe_or_stop(proc, lambda: probe_echo(url, {"Authorization": f"Bearer {key}", **dict(headers)}))
    return Target(PORTKEY, url, key, proc, upstream, headers=headers, ready_on_open=True)


def litellm_config(upstream_port: int) -> str:
    """LiteLLM's proxy config: the realtime model at the echo upstream."""
    return json.dumps({
        "model_list": [{"model_name": _MODEL, "litellm_params": {
            "model": f"openai/{_MODEL}", "api_base": f"http://127.0.0.1:{upstream_port}/v1", "api_key": _UPSTREAM_KEY}}],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
        "litellm_settings": {"set_verbose": False, "json_logs": True},
    })


def start_litellm(upstream: Proc, upstream_port: int, root: Path, key: str) -> Target:
    """LiteLLM's proxy (one worker) with the echo upstream as its realtime model (clients use its master key)."""
    command = install_litellm()
    port = free_port()
    config = root / "litellm.yaml"
    config.write_text(litellm_config(upstream_port))  # JSON is YAML
    env = {**os.environ, "LITELLM_LOG": "ERROR", "DISABLE_ADMIN_UI": "True", "LITELLM_TELEMETRY": "False"}
    proc = start("litellm", [str(command), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], TARGET_CORE, root, env=env)
    wait_port(proc, port, timeout_s=180)
    url = f"ws://127.0.0.1:{port}/v1/realtime?model={_MODEL}"
    _probe_or_stop(proc, lambda: probe_session(url, LITELLM_MASTER_KEY))
    return Target(LITELLM, url, LITELLM_MASTER_KEY, proc, upstream)


def _probe_or_stop(proc: Proc, probe: Callable[[], None]) -> None:
    """Run the probe; a peer that cannot serve is stopped and the error raised."""
    try:
        probe()
    except Exception:
        proc.stop()
        raise


#: ``--peers`` names → starters
STARTERS: Final[dict[str, Callable[[Proc, int, Path, str], Target]]] = {
    "portkey": start_portkey,
    "litellm": start_litellm,
}
