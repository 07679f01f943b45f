"""Starting the upstream, nginx and the gateway, each pinned, and describing them as targets."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from bench import nginx
from bench.phases import Target
from bench.otlp_sink import exporting_env, otlp_sink
from bench.procs import LOADGEN_CORE, TARGET_CORE, Proc, free_port, probe_session, python, start, wait_port
from bench.report import FLOOR, NGINX

MODEL_PATH = "/v1/realtime?model=gpt-realtime-2"
UPSTREAMS = {"picows": "bench.fast_echo", "emulator": "bench.echo_upstream"}


def start_upstream(kind: str, logdir: Path, key: str) -> tuple[Proc, int, Target]:
    """The echo upstream on the load core, and the floor target that talks to it directly."""
    port = free_port()
    proc = start(f"upstream-{kind}", [python(), "-m", UPSTREAMS[kind], "--port", str(port)], LOADGEN_CORE, logdir)
    wait_port(proc, port)
    url = f"ws://127.0.0.1:{port}{MODEL_PATH}"
    probe_session(url, key)
    return proc, port, Target(FLOOR, url, key, proc, proc)


def start_nginx(upstream: Proc, upstream_port: int, root: Path, key: str) -> Target:
    """nginx (one worker) on the relay core, proxying WebSockets to the upstream."""
    binary = nginx.nginx_binary()
    port = free_port()
    conf = nginx.write_config(root / "nginx", port, upstream_port)
    proc = start("nginx", [binary, "-c", str(conf), "-p", str(root / "nginx")], TARGET_CORE, root)
    wait_port(proc, port)
    url = f"ws://127.0.0.1:{port}{MODEL_PATH}"
    probe_session(url, key)
    return Target(NGINX, url, key, proc, upstream)


def gateway_env(key: str, upstream_port: int, redis_url: str | None) -> dict[str, str]:
    """The gateway's environment: our key, every model at the echo upstream, no exporters, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VOICE_GATEWAY_", "OPENAI_"))}
    env.update(VOICE_GATEWAY_API_KEYS=key, VOICE_GATEWAY_UPSTREAM_URL=f"ws://127.0.0.1:{upstream_port}/v1",
               OPENAI_API_KEY="sk-bench-upstream-key",
               VOICE_GATEWAY_LOG_LEVEL="WARNING", OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none",
               # the load generator opens hundreds of sessions from one address in a second
               VOICE_GATEWAY_HANDSHAKE_RATE_PER_ADDRESS="0", VOICE_GATEWAY_HANDSHAKE_RATE_PER_KEY="0")
    if redis_url:
        env.update(VOICE_GATEWAY_REDIS_URL=redis_url, VOICE_GATEWAY_REDIS_KEY_PREFIX=f"vgbench{os.getpid()}")
    return env


def start_gateway(workers: int, upstream: Proc, upstream_port: int, root: Path, key: str,
                  redis_url: str | None, extra_env: dict[str, str] | None = None) -> Target:
    """``voice-gateway serve`` (its ``gateway.server.serve``) with N workers on the relay core, tracing on: spans
    and metrics exported over OTLP to a sink in this process (``extra_env`` may turn exporters off)."""
    port = free_port()
    code = f"import sys; from gateway.server import serve; sys.exit(serve(host='127.0.0.1', port={port}, workers={workers}))"
    workdir = root / f"gateway-{workers}"
    workdir.mkdir(exist_ok=True)
    proc = start(f"gateway-{workers}w", [python(), "-c", code], TARGET_CORE, root,
                 env=gateway_env(key, upstream_port, redis_url) | exporting_env(otlp_sink()) | (extra_env or {})
                 | {"PYTHONPATH": str(Path.cwd())})
    wait_port(proc, port, timeout_s=60)
    url = f"ws://127.0.0.1:{port}{MODEL_PATH}"
    try:
        for _ in range(2 * workers):  # every worker imports lazily on its first session
            probe_session(url, key)
    except Exception:
        proc.stop()
        raise
    name = "gateway" if workers == 1 else f"gateway ×{workers} workers"
    return Target(name, url, key, proc, upstream)


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """Whether a Redis server answers on the usual port."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def nginx_version(binary: str) -> str:
    """``1.22.1`` from ``nginx -v``."""
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().rpartition("/")[2] or "unknown"
