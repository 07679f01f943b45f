"""Integration fixtures: a real gateway process on a free port, the emulator, a real Redis."""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VOICE_GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_available(url: str = REDIS_URL) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis server; missing → fail in CI, skip loudly elsewhere."""
    if not redis_available():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}")
        pytest.skip(f"REDIS NOT AVAILABLE at {REDIS_URL}: skipping a test that needs it")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; every key under it is deleted afterwards."""
    import redis

    prefix = f"vgtest-{secrets.token_hex(6)}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass
class GatewayProcess:
    port: int
    key: str
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    extra_keys: list[str] = field(default_factory=list)
    #: serving TLS itself (VOICE_GATEWAY_TLS_CERTFILE/KEYFILE)
    tls: bool = False
    #: worker processes (``voice-gateway serve --workers N``)
    workers: int = 1

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/v1"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout_s: float = 60.0) -> "GatewayProcess":
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early ({self.proc.returncode}):\n{self.log_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=0.5, context=_unverified()):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway did not start in {timeout_s}s:\n{self.log_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def _unverified() -> ssl.SSLContext:
    """Health checks against a test gateway's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


GatewayFactory = Callable[..., GatewayProcess]
#: seconds a gateway worker may take to come up (raise it on a heavily loaded machine)
START_TIMEOUT_S = float(os.environ.get("VG_TEST_GATEWAY_START_S", "60"))


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start real gateway processes with given settings; all are stopped at teardown."""
    started: list[GatewayProcess] = []

    def start(
        *, env: dict[str, str] | None = None, keys: list[str] | None = None, port: int | None = None, workers: int = 1,
        start_timeout_s: float | None = None,
    ) -> GatewayProcess:
        key = f"vg_test_{secrets.token_hex(8)}"
        all_keys = [key, *(keys or [])]
        process_env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_"))}
        process_env.update(
            {
                "VOICE_GATEWAY_API_KEYS": ",".join(all_keys),
                "VOICE_GATEWAY_LOG_LEVEL": "INFO",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_METRICS_EXPORTER": "none",
                "PYTHONUNBUFFERED": "1",
            }
        )
        process_env.update(env or {})
        gw = GatewayProcess(
            port=port or free_port(), key=key, log_path=tmp_path / f"gateway-{len(started)}.log",
            env=process_env, extra_keys=keys or [], tls="VOICE_GATEWAY_TLS_CERTFILE" in process_env, workers=workers,
        )
        started.append(gw)
        # a test may ask for longer than the default (a topology of six Redis servers starting next to it)
        return gw.start(timeout_s=max(start_timeout_s or 0.0, START_TIMEOUT_S) * workers)  # each worker imports the app on its own

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> GatewayProcess:
    """One gateway on its embedded defaults (emulator upstream, in-process store)."""
    return gateway_factory()


@pytest.fixture
async def emulator() -> "AsyncIterator[object]":
    """An emulator in the test's event loop with fast, short replies; tests can inspect what it saw.

    Its audio streams in real time (``speed=1``, no bursts) so a test that barges in after the first
    delta still finds the response generating; the default bursty shape is exercised by the tests
    that run the gateway on its embedded defaults (``tests/integration/clients``, ``test_model_routing_e2e``).
    """
    from gateway.emulator import start_emulator

    handle = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=600, chunk_ms=100, pace=True, asr_ms=50,
                                  speed=1, burst_ms=0)
    try:
        yield handle
    finally:
        await handle.close()


UPSTREAM_TEST_KEY = "sk-upstream-test-0123456789abcdef"


def emulator_env(handle: object, **extra: str) -> dict[str, str]:
    """Settings pointing a gateway at an emulator the test runs (with a fake upstream key)."""
    return {"VOICE_GATEWAY_UPSTREAM_URL": handle.url, "OPENAI_API_KEY": UPSTREAM_TEST_KEY, **extra}  # type: ignore[attr-defined]
