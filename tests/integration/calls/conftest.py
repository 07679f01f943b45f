"""Fixtures for direct-media calls: an emulator in the test loop, gateways pointed at its calls API (the Redis prefix is the integration conftest's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.emulator import EmulatorHandle, start_emulator
from tests.integration.conftest import emulator_env


@pytest.fixture
async def calls_emulator() -> AsyncIterator[EmulatorHandle]:
    """Paced like the real service (audio in real time), short replies, fast transcription."""
    handle = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=1500, chunk_ms=100, pace=True, asr_ms=50)
    yield handle
    await handle.close()


def calls_env(emulator: EmulatorHandle, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """A gateway on the emulator's WebSocket and calls APIs, with a real store."""
    return emulator_env(
        emulator,
        VOICE_GATEWAY_UPSTREAM_CALLS_URL=emulator.calls_url,
        VOICE_GATEWAY_REDIS_URL=redis_url,
        VOICE_GATEWAY_REDIS_KEY_PREFIX=prefix,
        **extra,
    )


def policy_file(tmp_path: Path, *, media: str = "auto", prefix: str = "GATEWAY RULES.", caps: str = "") -> Path:
    """A one-rule policy for voice agents with an instructions prefix (to see the forced session upstream)."""
    path = tmp_path / "calls-policy.yaml"
    path.write_text(
        f"""version: 1
rules:
  - id: agent
    match: {{intent: realtime}}
    route:
      model: gpt-realtime-2
      media: {media}
      overrides: {{instructions_prefix: "{prefix}", voice: marin}}
      {caps}
defaults:
  by_kind:
    transcription: {{model: gpt-realtime-whisper}}
    translation: {{model: gpt-realtime-translate}}
"""
    )
    return path
