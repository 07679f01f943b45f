"""Hostile-client fixtures: a real gateway process on a free port, an emulator it relays to, a real Redis."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from gateway.core import frames
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.faults.conftest import EmulatorStarter, emulators, gateway_env  # noqa: F401 - fixture


@dataclass
class Deployment:
    """One gateway under attack, the emulator behind it (what the upstream saw) and its Redis key prefix."""

    gw: GatewayProcess
    emu: object
    redis_url: str
    prefix: str

    @property
    def upstream_sessions(self) -> list[object]:
        return self.emu.sessions  # type: ignore[attr-defined, no-any-return]

    async def upstream_responses(self, count: int, timeout_s: float = 10.0) -> list[dict[str, object]]:
        """What the first upstream session's responses ran with, once ``count`` of them started."""
        sessions = self.upstream_sessions
        async with asyncio.timeout(timeout_s):
            while not sessions or len(sessions[0].response_configs) < count:  # type: ignore[attr-defined]
                await asyncio.sleep(0.02)
        return list(sessions[0].response_configs)  # type: ignore[attr-defined]


Deploy = Callable[..., Awaitable[Deployment]]


@pytest.fixture(params=["compiled", "pure"])
def deploy(
    request: pytest.FixtureRequest,
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Deploy:
    """Start an emulator and a gateway on Redis, optionally with a policy file and more settings; every hostile
    test runs against the gateway's compiled hot path and against its pure-Python twin (``VOICE_GATEWAY_PURE_PYTHON``)."""
    pure = request.param == "pure"
    if not pure and frames.B64_COMPILED is None:  # the gateway runs from this same install
        if os.environ.get("CI"):
            pytest.fail("the compiled hot path was not built (gateway/core/b64span.pyx); CI must test it")
        pytest.skip("the compiled hot path is not built here")

    async def start(policy: str | None = None, *, emulator: dict[str, object] | None = None, **settings: str | int | float) -> Deployment:
        emu = await emulators(**(emulator or {}))  # type: ignore[arg-type]
        if policy is not None:
            path = tmp_path / "policy.yaml"
            path.write_text(policy)
            settings["policy_files"] = str(path)
        env = gateway_env(upstream_url=emu.url, **settings)  # type: ignore[attr-defined]
        env.update({"VOICE_GATEWAY_REDIS_URL": redis_url, "VOICE_GATEWAY_REDIS_KEY_PREFIX": redis_prefix})
        if pure:
            env["VOICE_GATEWAY_PURE_PYTHON"] = "1"
        return Deployment(gateway_factory(env=env), emu, redis_url, redis_prefix)

    return start
