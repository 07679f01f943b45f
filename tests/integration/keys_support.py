"""Helpers for the keys / client-secrets / admin integration tests: Redis-backed gateways, the CLI, raw sessions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from typing import AsyncIterator, Sequence

import redis
import websockets
from websockets.asyncio.client import ClientConnection

from tests.integration.conftest import REPO, GatewayFactory, GatewayProcess

ADMIN_TOKEN = "admin-token-for-integration-tests"
ORIGIN = "https://app.example.com"


def new_prefix() -> str:
    return f"kt{uuid.uuid4().hex[:10]}"


def gateway_env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Settings for a Redis-backed gateway with the admin API on and one allowed browser Origin."""
    return {
        "VOICE_GATEWAY_REDIS_URL": redis_url,
        "VOICE_GATEWAY_REDIS_KEY_PREFIX": prefix,
        "VOICE_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "VOICE_GATEWAY_ALLOWED_ORIGINS": ORIGIN,
        "VOICE_GATEWAY_JAEGER_UI_URL": "http://jaeger.test:16686",
        **extra,
    }


def start(factory: GatewayFactory, redis_url: str, prefix: str, **extra: str) -> GatewayProcess:
    return factory(env=gateway_env(redis_url, prefix, **extra))


def cleanup(redis_url: str, prefix: str) -> None:
    """Delete every key the test's gateways wrote under its prefix."""
    client = redis.Redis.from_url(redis_url)
    names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if names:
        client.delete(*names)
    client.close()


def cli(args: Sequence[str], redis_url: str | None, prefix: str) -> subprocess.CompletedProcess[str]:
    """Run ``voice-gateway keys …`` as an operator would, with the gateway's Redis settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_GATEWAY_")}
    env["VOICE_GATEWAY_REDIS_KEY_PREFIX"] = prefix
    if redis_url:
        env["VOICE_GATEWAY_REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def create_key(redis_url: str, prefix: str, *extra: str) -> dict[str, object]:
    done = cli(["create", "--tenant", "acme", "--label", "mobile", *extra, "--json"], redis_url, prefix)
    assert done.returncode == 0, done.stderr
    created: dict[str, object] = json.loads(done.stdout)
    return created


@asynccontextmanager
async def session(
    gw: GatewayProcess,
    credential: str,
    *,
    browser: bool = False,
    origin: str | None = None,
    path: str = "/realtime?model=gpt-realtime-2",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientConnection]:
    """A raw WebSocket session: the credential as Bearer, or (browser) as the ``openai-insecure-api-key.`` subprotocol."""
    headers = dict(headers or {})
    subprotocols: list[str] = []
    if browser:
        subprotocols = ["realtime", f"openai-insecure-api-key.{credential}"]
    else:
        headers["Authorization"] = f"Bearer {credential}"
    async with websockets.connect(
        f"{gw.ws_base}{path}", additional_headers=headers, subprotocols=subprotocols or None,  # type: ignore[arg-type]
        origin=origin, open_timeout=10, max_size=None,  # type: ignore[arg-type]
    ) as ws:
        yield ws


async def next_event(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, object]:
    """Read events until one of type ``kind``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        event = json.loads(await asyncio.wait_for(ws.recv(), max(remaining, 0.01)))
        if event.get("type") == kind:
            return event  # type: ignore[no-any-return]


async def close_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Drain until the gateway closes the socket; the close code it sent."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        return None
    return ws.close_code


async def handshake_status(gw: GatewayProcess, credential: str, **kwargs: object) -> int:
    """The HTTP status of a handshake: 101 when accepted, else the refusal's status."""
    try:
        async with session(gw, credential, **kwargs):  # type: ignore[arg-type]
            return 101
    except websockets.InvalidStatus as exc:
        return int(exc.response.status_code)
