"""Fixture: a fast emulator on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.emulator import EmulatorHandle, start_emulator


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorHandle]:
    """A fast emulator (no pacing, no latency, short replies) on a free port."""
    handle = await start_emulator(port=0, ttfa_ms=0, pace=False, reply_ms=600, asr_ms=0)
    yield handle
    await handle.close()
