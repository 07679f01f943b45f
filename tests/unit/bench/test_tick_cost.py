"""bench.tick_cost: the tick-only harness runs real sessions and observers end to end."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bench.tick_cost import run


def test_every_session_is_ticked_once_a_round_and_no_observer_fails(caplog: pytest.LogCaptureFixture) -> None:
    """Three sessions with caps and a budget, two rounds: six session-ticks, and no observer logs a failure (the
    figures would be a broken session's)."""
    with caplog.at_level(logging.WARNING):
        _, ticks = asyncio.run(run(3, 2, tick=True, caps=True, budget=True))
    assert ticks == 6
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
